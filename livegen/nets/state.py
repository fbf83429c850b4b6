"""Explicit recurrent state shared by every livegen LSTM."""

from __future__ import annotations

import torch

#: ``(h, c)``, each ``(num_layers, batch, hidden)``; a net with a copy head appends its
#: memory (``(keys, frames)`` or ``(keys, ids)``, see the nets), so the tuple may be longer.
LSTMState = tuple[torch.Tensor, ...]


def detach_state(state: LSTMState | None) -> LSTMState | None:
    """Cut the graph behind a state (the truncation in truncated BPTT); states that carry
    more than ``(h, c)`` (a copy head's memory) are detached whole."""
    if state is None:
        return None
    return tuple(t.detach() for t in state)


def zero_state(num_layers: int, batch: int, hidden: int) -> LSTMState:
    """A fresh all-zero state of shape ``(num_layers, batch, hidden)`` twice."""
    z = torch.zeros(num_layers, batch, hidden)
    return z, z.clone()
