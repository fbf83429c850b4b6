"""The piano-roll LSTM: a multi-hot frame in, 88 per-key Bernoulli logits out."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from livegen.music.keyboard import N_KEYS
from livegen.nets.lstm_step import LSTMStepper, can_step_fast
from livegen.nets.state import LSTMState


@dataclass(frozen=True)
class RollConfig:
    """Shape of a :class:`RollLSTM`.

    Attributes:
        hidden: LSTM units per layer.
        layers: stacked LSTM layers.
        dropout: dropout between LSTM layers and before the output layer.
        input_dropout: dropout on the input frame (drops whole notes: keep it small).
        n_keys: frame width (88 keys, A0..C8).
    """

    hidden: int = 256
    layers: int = 2
    dropout: float = 0.3
    input_dropout: float = 0.0
    n_keys: int = N_KEYS

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class RollLSTM(nn.Module):
    """Multi-layer LSTM over piano-roll frames with one Bernoulli logit per key.

    ``forward`` takes ``(B, T, 88)`` float frames and returns ``(B, T, 88)`` logits for the
    *next* frame, plus the new state. ``step`` does the same for one ``(B, 88)`` frame and
    agrees with ``forward`` exactly (same kernels, same weights).
    """

    kind = "roll"

    def __init__(self, config: RollConfig | None = None) -> None:
        super().__init__()
        self.config = config or RollConfig()
        c = self.config
        self.in_drop = nn.Dropout(c.input_dropout)
        self.lstm = nn.LSTM(
            c.n_keys, c.hidden, num_layers=c.layers, batch_first=True,
            dropout=c.dropout if c.layers > 1 else 0.0,
        )
        self.out_drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.hidden, c.n_keys)
        self._stepper = LSTMStepper()

    def forward(
        self, x: torch.Tensor, state: LSTMState | None = None, cond: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, LSTMState]:
        """Run a sequence.

        Args:
            x: ``(B, T, 88)`` frames (0/1 floats).
            state: ``(h, c)``, each ``(layers, B, hidden)``; ``None`` for zeros.
            cond: unused (the roll model is unconditioned); kept for a uniform interface.

        Returns:
            ``(B, T, 88)`` logits and the state after the last step.
        """
        y, state = self.lstm(self.in_drop(x), state)
        logits: torch.Tensor = self.head(self.out_drop(y))
        return logits, state

    def step(self, x: torch.Tensor, state: LSTMState | None = None) -> tuple[torch.Tensor, LSTMState]:
        """One time step: ``(B, 88)`` frame -> ``(B, 88)`` logits for the next frame. In
        inference the LSTM is stepped by :class:`~livegen.nets.lstm_step.LSTMStepper` (the
        same ops, without the module's per-call checks)."""
        if can_step_fast(self):
            y, (h, c) = self._stepper(self.lstm, x, None if state is None else (state[0], state[1]))
            logits: torch.Tensor = self.head(y.unsqueeze(1))
            return logits.squeeze(1), (h, c)
        logits, state = self.forward(x.unsqueeze(1), state)
        return logits.squeeze(1), state

    def init_state(self, batch: int = 1) -> LSTMState:
        """Zero state for ``batch`` independent streams."""
        c = self.config
        z = torch.zeros(c.layers, batch, c.hidden, dtype=self.head.weight.dtype)
        return z, z.clone()

    def frame_nll(self, logits: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Per-frame NLL in nats of 0/1 frames ``v`` ``(..., 88)`` under ``logits``: ``(...)``."""
        return roll_loss(logits, v)

    @torch.no_grad()
    def predict_frame(self, logits: torch.Tensor) -> torch.Tensor:
        """Greedy ``(..., 88)`` bool frame: each key on iff its p > 0.5 (logit > 0)."""
        return logits > 0


def roll_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-frame NLL in nats: BCE summed over the 88 keys, shape ``(B, T)``."""
    return nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)
