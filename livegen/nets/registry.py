"""Every net kind a checkpoint can hold, by name: the one list the loader reads.

Adding a kind means adding its class to :data:`Net` and its builder to :data:`BUILDERS`;
nothing registers itself on import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
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


def memory_steps(model: Net) -> int:
    """How many past steps the net's copy head attends to (0: no copy head; the LSTM state
    itself is unbounded). This one number, stored in the checkpoint's config (``copy``), is
    what training, ``eval``, ``render`` and the live engine all use."""
    return 0 if isinstance(model, RollLSTM) else model.config.copy


def set_memory(model: Net, steps: int) -> None:
    """Give a net with a copy head a memory of ``steps`` steps, in place.

    The copy head's attention is content-based with no positional parameters, so its memory
    length can change without retraining; save the net to keep it (the config holds it).

    Raises:
        ValueError: the net has no copy head, or ``steps`` < 1.
    """
    if steps < 1:
        raise ValueError(f"a copy memory holds at least 1 step, not {steps}")
    if memory_steps(model) <= 0:
        raise ValueError(f"this {model.kind} net has no copy head, so no memory to set")
    if isinstance(model, RollNADE):
        model.config = replace(model.config, copy=steps)
    elif isinstance(model, CharLSTM):
        model.config = replace(model.config, copy=steps)
        assert model.copy_head is not None
        model.copy_head.size = steps
