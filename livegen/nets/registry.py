"""Every net kind a checkpoint can hold, by name: the one list the loader reads.

Adding a kind means adding its class to :data:`Net` and its builder to :data:`BUILDERS`;
nothing registers itself on import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from livegen.nets.char import CharConfig, CharLSTM
from livegen.nets.nade import NadeConfig, RollNADE
from livegen.nets.roll import RollConfig, RollLSTM

#: any net :func:`livegen.nets.checkpoint.load_checkpoint` can return.
Net = RollLSTM | RollNADE | CharLSTM


def _build_roll(config: dict[str, Any]) -> RollLSTM:
    return RollLSTM(RollConfig(**config))


def _build_nade(config: dict[str, Any]) -> RollNADE:
    return RollNADE(NadeConfig(**config))


def _build_char(config: dict[str, Any]) -> CharLSTM:
    return CharLSTM(CharConfig(**config))


#: checkpoint kind -> builder(stored config dict) -> a fresh net of that shape.
BUILDERS: dict[str, Callable[[dict[str, Any]], Net]] = {
    RollLSTM.kind: _build_roll,
    RollNADE.kind: _build_nade,
    CharLSTM.kind: _build_char,
}
