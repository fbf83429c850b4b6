"""Shared helpers for engine tests: a manual-clock engine factory (the scripted voice is
:class:`livegen.voices.script.ScriptVoice`)."""

from __future__ import annotations

from livegen.controls.state import LiveControls
from livegen.controls.table import ControlState
from livegen.engine.clock import ManualClock
from livegen.engine.engine import Engine
from livegen.engine.recorder import Take
from livegen.engine.scheduler import ManualScheduler
from livegen.io.memory import MemoryOutput
from livegen.voices.script import ScriptVoice


def make_engine(voice=None, spb: int = 2, **kw) -> tuple[Engine, MemoryOutput, ManualClock]:
    clock = ManualClock(0.0)
    out = MemoryOutput(clock=clock.now)
    sched = ManualScheduler(out, clock)
    controls = kw.pop("controls", None) or LiveControls(
        ControlState.default().apply_many({"tempo": 120.0, "mode": kw.pop("mode", "solo")}))
    take = kw.pop("take", Take(0.0, controls.state.tempo))
    engine = Engine(voice or ScriptVoice(), controls, sched, clock, spb, start_delay=0.5, take=take, **kw)
    return engine, out, clock


def balanced(sent) -> bool:
    """Every note-on closed by a note-off, per channel and pitch."""
    open_: dict[tuple[int, int], int] = {}
    for _, m in sent:
        if m.type == "note_on" and m.velocity > 0:
            open_[(m.channel, m.note)] = open_.get((m.channel, m.note), 0) + 1
        elif m.type in ("note_off", "note_on"):
            key = (m.channel, m.note)
            if open_.get(key):
                open_[key] -= 1
    return not any(open_.values())
