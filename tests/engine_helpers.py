"""Shared fakes for engine tests: a scripted voice and a manual-clock engine factory."""

from __future__ import annotations

import numpy as np

from livegen.engine.clock import ManualClock
from livegen.engine.engine import Engine
from livegen.engine.params import LiveParams
from livegen.engine.recorder import Take
from livegen.engine.scheduler import ManualScheduler
from livegen.io.memory import MemoryOutput
from livegen.sampling.constraints import RollControls


class ScriptVoice:
    """Plays ``pitches[i % len]`` at step i (one note per step, or a chord tuple) and
    records every frame it observes and the controls it was given."""

    def __init__(self, pitches: list[int | tuple[int, ...]] | None = None) -> None:
        self.pitches = pitches or [60, 64, 67, 72]
        self.observed: list[np.ndarray] = []
        self.controls: list[RollControls] = []
        self.resets = 0
        self.i = 0

    def step(self, frame: np.ndarray, controls: RollControls) -> np.ndarray:
        self.observed.append(np.asarray(frame, dtype=bool).copy())
        self.controls.append(controls)
        out = np.zeros(88, dtype=bool)
        p = self.pitches[self.i % len(self.pitches)]
        for q in (p if isinstance(p, tuple) else (p,)):
            out[q - 21] = True
        self.i += 1
        return out

    def reset(self) -> None:
        self.resets += 1


def make_engine(voice=None, spb: int = 2, **kw) -> tuple[Engine, MemoryOutput, ManualClock]:
    clock = ManualClock(0.0)
    out = MemoryOutput(clock=clock.now)
    sched = ManualScheduler(out, clock)
    params = kw.pop("params", None) or LiveParams(bpm=120.0, mode=kw.pop("mode", "solo"))
    take = kw.pop("take", Take(0.0, params.bpm))
    engine = Engine(voice or ScriptVoice(), params, sched, clock, spb, start_delay=0.5, take=take, **kw)
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
