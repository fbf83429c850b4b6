"""Offline rendering through the live engine.

``livegen render`` runs exactly the live code path: the same
:class:`~livegen.voices.roll.RollGenerator` inside the same
:class:`~livegen.engine.engine.Engine`, on a :class:`~livegen.engine.clock.ManualClock`
with an in-memory output port, so a render takes no wall time and is deterministic.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import mido
import numpy as np

from livegen.controls.state import LiveControls
from livegen.controls.table import ControlState
from livegen.engine.clock import ManualClock
from livegen.engine.engine import Engine
from livegen.engine.scheduler import ManualScheduler
from livegen.io.memory import MemoryOutput
from livegen.music.keyboard import N_KEYS
from livegen.nets.nade import RollNADE
from livegen.nets.roll import RollLSTM
from livegen.voices.roll import RollGenerator


@dataclass(frozen=True)
class RenderResult:
    """``prime`` ``(P, 88)`` and ``generated`` ``(G, 88)`` bool rolls at ``steps_per_beat``."""

    prime: np.ndarray
    generated: np.ndarray
    steps_per_beat: int


def messages_to_roll(sent: list[tuple[float, mido.Message]], t0: float, period: float,
                     steps: int) -> np.ndarray:
    """Rebuild a ``(steps, 88)`` roll from timed note messages on a grid of ``period`` s."""
    roll = np.zeros((steps, N_KEYS), dtype=bool)
    start: dict[int, int] = {}
    for t, msg in sent:
        if msg.type not in ("note_on", "note_off"):
            continue
        step = int(round((t - t0) / period))
        j = msg.note - 21
        if msg.type == "note_on" and msg.velocity > 0:
            start[j] = step
        elif j in start:
            roll[start.pop(j) : min(step, steps), j] = True
    for j, s in start.items():
        roll[s:, j] = True
    return roll


def render_roll(model: RollLSTM | RollNADE, bars: int, state: ControlState, seed: int = 0,
                prime: np.ndarray | None = None, steps_per_beat: int = 2,
                beats_per_bar: int = 4) -> RenderResult:
    """Generate ``bars`` bars after observing ``prime`` (``(P, 88)``, may be None).

    ``state`` holds the controls in force (its mode is taken as ``solo``: nobody else
    is playing).
    """
    gen = RollGenerator(model, seed=seed)
    prime_roll = np.zeros((0, N_KEYS), dtype=bool) if prime is None else np.asarray(prime, dtype=bool)
    if len(prime_roll):
        gen.prime(prime_roll)
    controls = LiveControls(state.apply("mode", "solo"))
    clock = ManualClock(0.0)
    out = MemoryOutput("render", clock=clock.now)
    engine = Engine(gen, controls, ManualScheduler(out, clock), clock, steps_per_beat,
                    beats_per_bar=beats_per_bar, start_delay=0.0, primed=len(prime_roll) > 0)
    asyncio.run(engine.run(bars))
    steps = bars * beats_per_bar * steps_per_beat
    period = 60.0 / state.tempo / steps_per_beat
    return RenderResult(prime_roll, messages_to_roll(out.sent, 0.0, period, steps), steps_per_beat)
