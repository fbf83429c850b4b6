"""RNN-NADE with an LSTM: the keys of a frame are modelled jointly.

The time LSTM reads frames and, at each step, emits the biases of a NADE over the next
frame's 88 keys (low to high): ``p(v) = prod_i p(v_i | v_<i, history)`` with
``a_i = c + W[:, :i] v_:i``, ``p(v_i=1) = sigmoid(b_i + V_i . sigmoid(a_i))``. The NLL is
exact (no bound). Training computes all 88 conditionals in parallel with an exclusive
cumulative sum; sampling walks the keys in order, skipping keys that constraints forbid.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from livegen.nets.state import LSTMState
from livegen.sampling import MIN_TEMPERATURE, RollControls, allowed_keys

N_KEYS = 88


@dataclass(frozen=True)
class NadeConfig:
    """Shape of a :class:`RollNADE`.

    Attributes:
        hidden: time-LSTM units per layer.
        layers: time-LSTM layers.
        nade_hidden: NADE hidden units.
        dropout: dropout between LSTM layers and on its output.
        input_dropout: dropout on the input frame (drops whole notes: keep it small).
        n_keys: frame width.
    """

    hidden: int = 256
    layers: int = 2
    nade_hidden: int = 128
    dropout: float = 0.3
    input_dropout: float = 0.0
    n_keys: int = N_KEYS

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class RollNADE(nn.Module):
    """Piano-roll LSTM with a NADE output over each frame.

    ``forward(x (B,T,88), state) -> (params (B,T,88+H), state)`` where ``params`` holds the
    NADE visible biases ``b`` (first 88) and hidden biases ``c`` (last ``nade_hidden``) for
    the next frame. :meth:`frame_nll` scores targets against them; :meth:`sample_frame`
    draws a frame.
    """

    kind = "roll-nade"

    def __init__(self, config: NadeConfig | None = None) -> None:
        super().__init__()
        self.config = config or NadeConfig()
        c = self.config
        self.in_drop = nn.Dropout(c.input_dropout)
        self.lstm = nn.LSTM(c.n_keys, c.hidden, num_layers=c.layers, batch_first=True,
                            dropout=c.dropout if c.layers > 1 else 0.0)
        self.out_drop = nn.Dropout(c.dropout)
        self.to_params = nn.Linear(c.hidden, c.n_keys + c.nade_hidden)
        self.W = nn.Parameter(torch.randn(c.n_keys, c.nade_hidden) * 0.01)  # key -> hidden
        self.V = nn.Parameter(torch.randn(c.n_keys, c.nade_hidden) * 0.01)  # hidden -> key
        self._np_cache: tuple[np.ndarray, np.ndarray, int] | None = None

    def forward(self, x: torch.Tensor, state: LSTMState | None = None,
                cond: torch.Tensor | None = None) -> tuple[torch.Tensor, LSTMState]:
        y, state = self.lstm(self.in_drop(x), state)
        return self.to_params(self.out_drop(y)), state

    def step(self, x: torch.Tensor, state: LSTMState | None = None) -> tuple[torch.Tensor, LSTMState]:
        """One frame ``(B, 88)`` -> NADE params ``(B, 88 + H)`` for the next frame."""
        params, state = self.forward(x.unsqueeze(1), state)
        return params.squeeze(1), state

    def init_state(self, batch: int = 1) -> LSTMState:
        c = self.config
        z = torch.zeros(c.layers, batch, c.hidden, dtype=self.W.dtype)
        return z, z.clone()

    def conditional_logits(self, params: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Logits of ``p(v_i = 1 | v_<i)`` for every key given the true frame ``v``.

        The NADE hidden pre-activation ``a_i = c + sum_{j<i} v_j W_j`` only changes at keys
        that are on, so a frame with K notes has just K+1 distinct hidden states: they are
        computed once (``(N, K+1, H)``) and each key reads the one before it. Exact, and far
        cheaper than materialising 88 hidden vectors per frame.

        Args:
            params: ``(..., 88 + H)``; v: ``(..., 88)`` 0/1 floats. Returns ``(..., 88)``.
        """
        k = self.config.n_keys
        lead = v.shape[:-1]
        p2 = params.reshape(-1, params.shape[-1])
        v2 = v.reshape(-1, k)
        b, c = p2[:, :k], p2[:, k:]
        rank = v2.cumsum(-1) - v2  # notes strictly below each key, (N, 88)
        levels = int(v2.sum(-1).max().item()) + 1 if v2.numel() else 1
        steps = torch.arange(levels, dtype=v2.dtype).view(1, levels, 1)
        # select[n, s, j] = 1 when key j is on and among the first s notes of frame n
        select = v2.unsqueeze(1) * (rank.unsqueeze(1) < steps)
        hidden = torch.sigmoid(c.unsqueeze(1) + select @ self.W)  # (N, levels, H)
        out = hidden @ self.V.T  # (N, levels, 88)
        picked = out.gather(1, rank.long().unsqueeze(1)).squeeze(1)
        return (b + picked).reshape(*lead, k)

    def frame_nll(self, params: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Exact per-frame NLL in nats, ``(...)``: the training loss and the eval metric."""
        logits = self.conditional_logits(params, v)
        return nn.functional.binary_cross_entropy_with_logits(logits, v, reduction="none").sum(-1)

    @torch.no_grad()
    def predict_frame(self, params: torch.Tensor) -> torch.Tensor:
        """Greedy decode ``(..., 88)`` bools: each key on iff its conditional p > 0.5."""
        k = self.config.n_keys
        b, a = params[..., :k], params[..., k:].clone()
        out = torch.zeros(b.shape, dtype=torch.bool)
        for i in range(k):
            on = (b[..., i] + (torch.sigmoid(a) * self.V[i]).sum(-1)) > 0
            out[..., i] = on
            a = a + on.unsqueeze(-1).float() * self.W[i]
        return out

    def _numpy_weights(self) -> tuple[np.ndarray, np.ndarray]:
        version = self.W._version + self.V._version
        if self._np_cache is None or self._np_cache[2] != version:
            self._np_cache = (self.W.detach().numpy().astype(np.float64).copy(),
                              self.V.detach().numpy().astype(np.float64).copy(), version)
        return self._np_cache[0], self._np_cache[1]

    @torch.no_grad()
    def sample_frame(self, params: torch.Tensor, state: LSTMState | None, controls: RollControls,
                     generator: torch.Generator) -> torch.Tensor:
        """Draw one ``(88,)`` bool frame from ``params`` ``(1, 88 + H)`` under ``controls``.

        Keys walk low to high. Each conditional logit gets the density bias and the
        temperature; forbidden keys (range, key mask) are skipped (they stay off and add
        nothing to the NADE state, which is exact); once ``max_polyphony`` keys are on the
        rest stay off.
        """
        k = self.config.n_keys
        W, V = self._numpy_weights()
        p = params.reshape(-1).double().numpy()
        b, a = p[:k], p[k:].copy()
        keys = np.flatnonzero(allowed_keys(controls).numpy())
        u = torch.rand(len(keys), generator=generator, dtype=torch.float64).numpy()
        temp, bias, cap = controls.temperature, controls.density, controls.max_polyphony
        out = np.zeros(k, dtype=bool)
        count = 0
        h = 1.0 / (1.0 + np.exp(-a))  # changes only when a key turns on
        for n, i in enumerate(keys):
            z = b[i] + V[i] @ h + bias
            on = z > 0 if temp <= MIN_TEMPERATURE else u[n] < 1.0 / (1.0 + np.exp(-z / temp))
            if on:
                out[i] = True
                a += W[i]
                h = 1.0 / (1.0 + np.exp(-a))
                count += 1
                if cap and count >= cap:
                    break
        return torch.from_numpy(out)
