"""RNN-NADE with an LSTM: the keys of a frame are modelled jointly.

The time LSTM reads frames and, at each step, emits the biases of a NADE over the next
frame's 88 keys (low to high): ``p(v) = prod_i p(v_i | v_<i, history)`` with
``a_i = c + W[:, :i] v_:i``, ``p(v_i=1) = sigmoid(b_i + V_i . sigmoid(a_i))``. The NLL is
exact (no bound). Training computes all 88 conditionals in parallel with an exclusive
cumulative sum; sampling walks the keys in order, skipping keys that constraints forbid.

With ``copy > 0`` a frame copy head joins the NADE (music repeats: a third of JSB's test
frames already sounded earlier in the same chorale). It remembers the LSTM output at each
past step and the frame that followed it, attends over them from the current output and
mixes: ``p(v) = (1 - g) p_NADE(v) + g sum_i a_i [v = frame after step i]``, with a learned
gate ``g``. Still an exact, normalised distribution over frames; the model's output is then
a :class:`CopyOutput` instead of a tensor, and :meth:`RollNADE.frame_nll`,
:meth:`RollNADE.predict_frame` and :func:`livegen.sampling.nade.sample_nade` take either.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from livegen.music.keyboard import N_KEYS
from livegen.nets.copy_head import attend_memory, extend_memory
from livegen.nets.lstm_step import LSTMStepper, can_step_fast
from livegen.nets.state import LSTMState


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
        copy: frames remembered by the frame copy head (0 = none; then the state is
            ``(h, c)``, else ``(h, c, keys (B, M, hidden), frames (B, M, 88), codes (B, M))``,
            ``codes`` the frames' :func:`frame_codes`).
        copy_dim: width of learned query/key projections of the LSTM output and the input
            frame for the copy head's attention (0 = attend with the raw LSTM outputs).
        copy_soft: also feed the attended frame (the attention-weighted average of the
            remembered frames, ``(B, T, 88)``) into the NADE biases, so partial repeats help
            too (the frame still depends only on the past: exact).
    """

    hidden: int = 256
    layers: int = 2
    nade_hidden: int = 128
    dropout: float = 0.3
    input_dropout: float = 0.0
    n_keys: int = N_KEYS
    copy: int = 0
    copy_dim: int = 0
    copy_soft: bool = False

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class CopyOutput(NamedTuple):
    """What a :class:`RollNADE` with a copy head predicts for the next frames.

    Attributes:
        params: ``(B, T, 88 + H)`` NADE biases.
        attn: ``(B, T, J)`` attention over remembered steps (rows sum to 1, or 0 on the first
            step of a stream).
        gate: ``(B, T, 1)`` weight of the copy distribution (0 where nothing is remembered).
        frames: ``(B, J, 88)`` the frame that followed each remembered step.
        codes: ``(B, J)`` their :func:`frame_codes` (how :meth:`RollNADE.frame_nll`
            finds the remembered frames equal to a frame without reading them), or None.
    """

    params: torch.Tensor
    attn: torch.Tensor
    gate: torch.Tensor
    frames: torch.Tensor
    codes: torch.Tensor | None = None


#: keys per code word: a word holds up to 2^44 (< 2^53: exact in float64)
_CODE_BITS = 44
#: the value of each key's bit in its word
_CODE_POWERS = torch.pow(2.0, torch.arange(_CODE_BITS, dtype=torch.float64))


def frame_codes(frames: torch.Tensor) -> torch.Tensor:
    """Each 0/1 frame ``(..., n_keys)`` (at most 88 keys) as one complex128 number ``(...)``:
    keys 0-43 as the bits of its real part, keys 44-87 of its imaginary part. Exact
    (integers below 2^53, summed in any order), so two 0/1 frames are equal exactly when
    their codes are: one 16-byte comparison (``==`` compares both parts) instead of 88
    floats read."""
    n = frames.shape[-1]
    if n > 2 * _CODE_BITS:
        raise ValueError(f"frame codes hold at most {2 * _CODE_BITS} keys, not {n}")
    bits = frames.detach().to(torch.float64)
    if n < 2 * _CODE_BITS:
        bits = torch.nn.functional.pad(bits, (0, 2 * _CODE_BITS - n))
    words = bits.reshape(*frames.shape[:-1], 2, _CODE_BITS) @ _CODE_POWERS
    return torch.view_as_complex(words)


class RollNADE(nn.Module):
    """Piano-roll LSTM with a NADE output over each frame.

    ``forward(x (B,T,88), state) -> (params (B,T,88+H), state)`` where ``params`` holds the
    NADE visible biases ``b`` (first 88) and hidden biases ``c`` (last ``nade_hidden``) for
    the next frame. :meth:`frame_nll` scores targets against them;
    :func:`livegen.sampling.nade.sample_nade` draws a frame.
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
        self._stepper = LSTMStepper()
        if c.copy > 0:
            self.copy_log_theta = nn.Parameter(torch.tensor(math.log(0.2)))
            self.copy_gate = nn.Linear(c.hidden, 1)
            nn.init.zeros_(self.copy_gate.weight)
            nn.init.constant_(self.copy_gate.bias, -2.0)
            if c.copy_soft:
                self.copy_to_params = nn.Linear(c.n_keys, c.n_keys + c.nade_hidden)
                nn.init.zeros_(self.copy_to_params.weight)
                nn.init.zeros_(self.copy_to_params.bias)
            if c.copy_dim > 0:
                self.copy_query = nn.Linear(c.hidden + c.n_keys, c.copy_dim)
                self.copy_key = nn.Linear(c.hidden + c.n_keys, c.copy_dim)

    def forward(self, x: torch.Tensor, state: LSTMState | None = None,
                cond: torch.Tensor | None = None) -> tuple[torch.Tensor | CopyOutput, LSTMState]:
        """``(B, T, 88)`` frames -> NADE params ``(B, T, 88 + H)`` (a :class:`CopyOutput`
        with a copy head) for each next frame, and the new state."""
        y, (h, c) = self.lstm(self.in_drop(x), None if state is None else (state[0], state[1]))
        return self._heads(x, y, h, c, state)

    def _heads(self, x: torch.Tensor, y: torch.Tensor, h: torch.Tensor, c: torch.Tensor,
               state: LSTMState | None) -> tuple[torch.Tensor | CopyOutput, LSTMState]:
        """The NADE biases (and the copy head) from the LSTM's outputs ``y`` ``(B, T, hidden)``
        for frames ``x`` ``(B, T, 88)``; ``h``, ``c`` its new state, ``state`` the old one."""
        params = self.to_params(self.out_drop(y))
        if self.config.copy <= 0:
            return params, (h, c)
        b, t, _ = y.shape
        if state is not None and len(state) >= 4:
            mem_keys, mem_frames = state[2], state[3]
            mem_codes = state[4] if len(state) >= 5 else frame_codes(mem_frames)
        else:
            width = self.config.copy_dim or y.shape[2]
            mem_keys, mem_frames = y.new_zeros(b, 0, width), x.new_zeros(b, 0, x.shape[2])
            mem_codes = frame_codes(mem_frames)
        if self.config.copy_dim > 0:
            yx = torch.cat([y, x], dim=-1)
            query, new_keys = self.copy_query(yx), self.copy_key(yx)
        else:
            query, new_keys = y, y
        size = self.config.copy
        grow = not self.training
        keys, kept_keys = extend_memory(mem_keys, new_keys, size, grow)  # (B, M+T, K): a key for each step
        frames, kept_frames = extend_memory(mem_frames, x, size, grow)  # (B, M+T, 88): input at each step
        codes, kept_codes = extend_memory(mem_codes, frame_codes(x), size, grow)  # (B, M+T, 2): their codes
        attn, has = attend_memory(query, keys, self.copy_log_theta.exp(), size)  # key j -> frame j + 1
        gate = torch.sigmoid(self.copy_gate(y)) * has
        if self.config.copy_soft:
            params = params + self.copy_to_params(attn @ frames[:, 1:])
        return CopyOutput(params, attn, gate, frames[:, 1:], codes[:, 1:]), (h, c, kept_keys, kept_frames, kept_codes)

    def step(self, x: torch.Tensor, state: LSTMState | None = None
             ) -> tuple[torch.Tensor | CopyOutput, LSTMState]:
        """One frame ``(B, 88)`` -> NADE params ``(B, 88 + H)`` (or a one-step
        :class:`CopyOutput`) for the next frame. In inference the LSTM is stepped by
        :class:`~livegen.nets.lstm_step.LSTMStepper` (the same ops, without the module's
        per-call checks)."""
        if can_step_fast(self):
            y, (h, c) = self._stepper(self.lstm, x, None if state is None else (state[0], state[1]))
            out, state = self._heads(x.unsqueeze(1), y.unsqueeze(1), h, c, state)
        else:
            out, state = self.forward(x.unsqueeze(1), state)
        if isinstance(out, CopyOutput):
            return out._replace(params=out.params.squeeze(1), attn=out.attn.squeeze(1), gate=out.gate.squeeze(1)), state
        return out.squeeze(1), state

    def init_state(self, batch: int = 1) -> LSTMState:
        c = self.config
        z = torch.zeros(c.layers, batch, c.hidden, dtype=self.W.dtype)
        if c.copy > 0:
            frames = z.new_zeros(batch, 0, c.n_keys)
            return (z, z.clone(), z.new_zeros(batch, 0, c.copy_dim or c.hidden), frames, frame_codes(frames))
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

    def frame_nll(self, params: torch.Tensor | CopyOutput, v: torch.Tensor) -> torch.Tensor:
        """Exact per-frame NLL in nats, ``(...)``: the training loss and the eval metric.

        With a :class:`CopyOutput` (``(B, T)`` frames ``v``): ``-log((1 - g) p_NADE(v) + g
        copy(v))`` where ``copy(v)`` sums the attention on remembered frames equal to ``v``.
        """
        if isinstance(params, CopyOutput):
            nade_logp = -self.frame_nll(params.params, v)
            if params.codes is not None:  # equal frames have equal codes (0/1 frames: exact)
                same = (frame_codes(v).unsqueeze(-1) == params.codes.unsqueeze(1)).to(v.dtype)
            else:
                # a remembered frame f equals v when they differ on no key:
                # |v| + |f| - 2 v.f = |v| - (2v - 1).f = 0 (0/1 floats: small integers, exact)
                differ = v.sum(-1, keepdim=True) - (2 * v - 1) @ params.frames.transpose(1, 2)
                same = (differ < 0.5).to(v.dtype)  # (B, T, J)
            copy = (params.attn * same).sum(-1)
            g = params.gate.squeeze(-1).clamp(1e-6, 1 - 1e-6)
            # log 0 where no remembered frame is v (exact; the clamp keeps the gradient finite)
            log_copy = torch.where(copy > 0, torch.log(copy.clamp_min(1e-38)), torch.full_like(copy, -math.inf))
            mixed = torch.logaddexp(torch.log1p(-g) + nade_logp, torch.log(g) + log_copy)
            return -mixed
        logits = self.conditional_logits(params, v)
        return nn.functional.binary_cross_entropy_with_logits(logits, v, reduction="none").sum(-1)

    @torch.no_grad()
    def predict_frame(self, params: torch.Tensor | CopyOutput) -> torch.Tensor:
        """Greedy decode ``(..., 88)`` bools: each key on iff its NADE conditional p > 0.5
        (the copy head, if any, is left out)."""
        if isinstance(params, CopyOutput):
            params = params.params
        k = self.config.n_keys
        b, a = params[..., :k], params[..., k:].clone()
        out = torch.zeros(b.shape, dtype=torch.bool)
        for i in range(k):
            on = (b[..., i] + (torch.sigmoid(a) * self.V[i]).sum(-1)) > 0
            out[..., i] = on
            a = a + on.unsqueeze(-1).float() * self.W[i]
        return out

    def numpy_weights(self) -> tuple[np.ndarray, np.ndarray]:
        """``W``, ``V`` as float64 arrays ``(88, H)`` (cached until the weights change)."""
        version = self.W._version + self.V._version
        if self._np_cache is None or self._np_cache[2] != version:
            self._np_cache = (self.W.detach().numpy().astype(np.float64).copy(),
                              self.V.detach().numpy().astype(np.float64).copy(), version)
        return self._np_cache[0], self._np_cache[1]
