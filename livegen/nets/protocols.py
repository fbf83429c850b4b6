"""What the rest of livegen may ask of a net: complete interfaces, never capability probes.

Every livegen net is an ``nn.Module`` with one call convention, ``net(x, state, cond) ->
(output, state)`` over ``(B, T, ...)`` inputs, and an explicit recurrent state (see
:mod:`livegen.nets.state`). :class:`SeqNet` is that convention plus the module methods the
training loop and the checkpoint writer use; :class:`RollNet` adds what a piano-roll net
offers on top (one-step stepping, exact frame NLL, greedy frames), so scoring and voices
call it directly instead of asking ``getattr(net, "predict_frame", None)``.

A net's output is ``Any`` here because ``nn.Module.__call__`` is untyped in torch: it is a
``(B, T, K)`` tensor of logits, or a :class:`~livegen.nets.nade.CopyOutput` for a
:class:`~livegen.nets.nade.RollNADE` with a copy head. A net's own ``forward`` spells out
which.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import torch
from torch import nn

from livegen.nets.state import LSTMState


class NetConfig(Protocol):
    """A net's shape: a frozen dataclass that turns into the plain dict a checkpoint stores."""

    def to_dict(self) -> dict[str, object]: ...


class LoadedKeys(Protocol):
    """What ``nn.Module.load_state_dict`` reports: parameter names it missed or did not know."""

    @property
    def missing_keys(self) -> list[str]: ...

    @property
    def unexpected_keys(self) -> list[str]: ...


class SeqNet(Protocol):
    """A stateful sequence net as the training loop, the scorer and checkpoints drive it."""

    @property
    def kind(self) -> str:
        """Checkpoint kind (``roll``, ``roll-nade``, ``char``)."""
        ...

    @property
    def config(self) -> NetConfig: ...

    def __call__(
        self, x: torch.Tensor, state: LSTMState | None = None, cond: torch.Tensor | None = None
    ) -> tuple[Any, LSTMState]:
        """``(B, T, ...)`` inputs -> next-step predictions ``(B, T, ...)`` and the new state."""
        ...

    def init_state(self, batch: int = 1) -> LSTMState:
        """Zero state for ``batch`` independent streams."""
        ...

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> LoadedKeys: ...

    def train(self, mode: bool = True) -> nn.Module: ...

    def eval(self) -> nn.Module: ...


class RollNet(SeqNet, Protocol):
    """A piano-roll net (:class:`~livegen.nets.roll.RollLSTM`, :class:`~livegen.nets.nade.RollNADE`).

    ``output`` below is what the net returns for a frame (see the module docstring).
    """

    def step(self, x: torch.Tensor, state: LSTMState | None = None) -> tuple[Any, LSTMState]:
        """One ``(B, 88)`` frame -> the prediction for the next frame and the new state."""
        ...

    def frame_nll(self, output: Any, v: torch.Tensor) -> torch.Tensor:
        """Exact NLL in nats of frames ``v`` ``(..., 88)`` under ``output``, shape ``(...)``."""
        ...

    def predict_frame(self, output: Any) -> torch.Tensor:
        """Greedy ``(..., 88)`` bool frame: each key on iff its (conditional) p > 0.5."""
        ...
