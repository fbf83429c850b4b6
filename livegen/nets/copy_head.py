"""A copy head for character LSTMs: mix the softmax with "what followed similar moments".

Folk tunes and songs repeat themselves: a phrase heard two bars ago is the best guess for
the next bar. The copy head (a neural cache, trained end to end) remembers the LSTM's output
``y_i`` at every past position ``i`` of the stream together with the character that came
next, ``x_{i+1}``. At step ``t`` it attends over those memories,

    a_ti = softmax_i(theta * y_t . y_i)          over i < t
    p_copy(v) = sum_i a_ti [x_{i+1} = v]
    g_t = sigmoid(w . y_t + b)
    p(v) = (1 - g_t) softmax(logits_t)(v) + g_t p_copy(v)

so the next character is copied from earlier contexts that "felt" like this one, with a
learned, context-dependent gate. The result is an exact, normalised next-character
distribution: the model returns ``log p`` in place of logits (``log_softmax`` of it is
itself, so losses, temperature and Gumbel sampling work unchanged).

The memory (the last ``size`` outputs and the inputs that followed them) is part of the
recurrent state, and every step attends over at most ``size`` of them however the steps are
chunked, so chunked runs equal one long run stepped frame by frame (what plays live), and a
reset state forgets it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

#: floor inside the log of the mixture (the mixture itself is never below this in practice)
_TINY = 1e-30


class CopyHead(nn.Module):
    """Attention over remembered outputs that copies the character which followed them.

    Args:
        hidden: width of the LSTM outputs ``y`` (keys and queries).
        vocab_size: number of character ids.
        size: how many past positions are remembered (older ones are forgotten).
    """

    def __init__(self, hidden: int, vocab_size: int, size: int) -> None:
        super().__init__()
        self.vocab_size, self.size = vocab_size, size
        self.log_theta = nn.Parameter(torch.tensor(math.log(0.2)))
        self.gate = nn.Linear(hidden, 1)
        nn.init.zeros_(self.gate.weight)
        nn.init.constant_(self.gate.bias, -2.0)  # starts by trusting the softmax (g ~ 0.12)

    def empty_memory(self, batch: int, hidden: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, 0, hidden)`` keys and ``(B, 0)`` ids: nothing remembered."""
        return like.new_zeros(batch, 0, hidden), torch.zeros(batch, 0, dtype=torch.long)

    def forward(
        self,
        logits: torch.Tensor,
        y: torch.Tensor,
        x: torch.Tensor,
        memory: tuple[torch.Tensor, torch.Tensor],
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Mix the softmax of ``logits`` with the copy distribution.

        Args:
            logits: ``(B, T, V)`` the softmax layer's logits.
            y: ``(B, T, H)`` LSTM outputs at the same steps (keys and queries).
            x: ``(B, T)`` the input ids of these steps.
            memory: ``(keys (B, M, H), ids (B, M))`` from earlier steps: outputs and the
                inputs they were computed at (the value of key ``j`` is input ``j + 1``).

        Returns:
            ``(B, T, V)`` log-probabilities of the next character and the new memory.
        """
        mem_keys, mem_ids = memory
        keys, kept_keys = extend_memory(mem_keys, y, self.size, not self.training)  # (B, M+T, H)
        ids, kept_ids = extend_memory(mem_ids, x, self.size, not self.training)  # (B, M+T)
        attn, has = attend_memory(y, keys, self.log_theta.exp(), self.size)
        copy = logits.new_zeros(*attn.shape[:2], self.vocab_size)  # key j is followed by input j + 1
        copy.scatter_add_(2, ids[:, 1:].unsqueeze(1).expand(-1, attn.shape[1], -1), attn)
        g = torch.sigmoid(self.gate(y)) * has  # (B, T, 1); 0 where nothing is remembered
        log_p = torch.log((1 - g) * torch.softmax(logits, dim=-1) + g * copy + _TINY)
        return log_p, (kept_keys, kept_ids)


def attend_memory(query: torch.Tensor, keys: torch.Tensor, theta: torch.Tensor,
                  window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Causal attention of ``T`` new steps over the last ``window`` steps before each of them.

    Args:
        query: ``(B, T, K)`` the new steps' queries.
        keys: ``(B, M+T, K)`` the remembered keys followed by the new steps' own keys; key
            ``j`` stands for "what followed step ``j``", so query ``t`` (global step
            ``M + t``) may attend to keys ``j < M + t`` (``keys[:, -1]`` is never attended).
        theta: scalar inverse temperature of the dot-product scores.
        window: the memory length: query ``t`` sees keys ``M + t - window <= j < M + t``.
            A stream stepped one frame at a time keeps exactly ``window`` keys, so this
            makes a chunk of ``T`` steps see what the live engine sees at each of them:
            chunked scoring equals streaming, whatever the chunk size.

    Returns:
        ``attn`` ``(B, T, M+T-1)`` (rows sum to 1, or are all 0 on the first step of a
        stream) and ``has`` ``(1, T, 1)``: 1.0 where a row has something to attend to.
    """
    t = query.shape[1]
    m = keys.shape[1] - t
    scores = torch.matmul(query, keys[:, :-1].transpose(1, 2)) * theta  # (B, T, M+T-1)
    if t == 1 and 0 < m <= window:  # one live step over a memory that fits: nothing to mask
        return torch.softmax(scores, dim=-1), query.new_ones(1, 1, 1)
    j = torch.arange(m + t - 1).unsqueeze(0)
    now = torch.arange(t).unsqueeze(1) + m  # global index of each query
    seen = (j < now) & (j >= now - window)  # (T, M+T-1)
    attn = torch.softmax(scores.masked_fill(~seen, -math.inf), dim=-1).nan_to_num(0.0)
    return attn, seen.any(dim=1).view(1, t, 1).to(query.dtype)


#: attribute of a memory buffer holding how many of its rows are written (see extend_memory)
_FILLED = "livegen_memory_filled"


def extend_memory(memory: torch.Tensor, new: torch.Tensor, size: int,
                  grow: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Append ``T`` new steps to a copy head's memory without copying the memory each step.

    Args:
        memory: ``(B, M, ...)`` the remembered steps (from the state; may be a view of a
            buffer written by an earlier call).
        new: ``(B, T, ...)`` the new steps.
        size: the memory length kept for the next call.
        grow: may grow a buffer in place (a net in eval mode); False (training, where
            gradient checkpointing re-runs steps) always concatenates.

    Returns:
        ``joined`` ``(B, M+T, ...)`` (memory then new) and ``kept``, its last ``size`` steps
        (the next state's memory).

    With gradients flowing (or ``grow`` False) this is ``torch.cat``. Otherwise (eval, the live engine) both
    results are views of one buffer with room to grow: the next step writes its row in
    place after the last one written, and the buffer is copied only when it is full (once
    every ``size`` or more steps), so a step costs the same for a long memory as for a short
    one. Rows below the buffer's fill mark are never written again, so every view handed out
    stays valid; a state stepped twice (two continuations of one moment) sees the mark
    already past its end and gets a fresh buffer.
    """
    m, t = memory.shape[1], new.shape[1]
    if not grow or (torch.is_grad_enabled() and (memory.requires_grad or new.requires_grad)):
        joined = torch.cat([memory, new], dim=1)
        return joined, joined[:, max(0, m + t - size):]
    base = memory._base
    start = _row_in(base, memory) if base is not None else None
    if base is not None and start is not None and getattr(base, _FILLED, -1) == start + m \
            and start + m + t <= base.shape[1] and base.dtype == new.dtype:
        base[:, start + m : start + m + t] = new
    else:
        base = memory.new_empty((memory.shape[0], m + t + max(size, t), *memory.shape[2:]))
        base[:, :m] = memory
        base[:, m : m + t] = new
        start = 0
    setattr(base, _FILLED, start + m + t)
    joined = base[:, start : start + m + t]
    return joined, joined[:, max(0, m + t - size):]


def _row_in(base: torch.Tensor, view: torch.Tensor) -> int | None:
    """The row (index along dim 1) of ``base`` where ``view`` starts, if ``view`` is a run of
    whole rows of ``base`` (as :func:`extend_memory` makes them), else None."""
    if view.dim() != base.dim() or view.shape[0] != base.shape[0] or view.shape[2:] != base.shape[2:] \
            or view.stride() != base.stride() or not base.is_contiguous():
        return None
    offset = view.storage_offset() - base.storage_offset()
    row = base.stride(1)
    return offset // row if row > 0 and offset % row == 0 else None
