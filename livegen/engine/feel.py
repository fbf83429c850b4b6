"""Feel: swing and humanized timing and velocity, applied after the grid.

The engine decides each step's notes on the grid; :class:`Feel` then says when each
message leaves and how loud each note-on is:

* **Swing** delays every second step (odd step index) by ``swing`` percent of a step: 0 is
  straight, 33 a triplet feel, 75 the most. Everything of that step moves, note-offs too.
* **Humanize** moves each note-on by a uniform random amount of up to ``humanize_ms``
  either way (never more than a third of a step) and its velocity by up to
  ``humanize_velocity`` either way (kept within 1..127, MIDI's range).

Order is kept per pitch: a note-off never leaves before the note-on it ends, and a note
struck again on the step it was released is struck after that release. The random numbers
come from one generator seeded with the session's ``--seed``, so a render with a seed is
the same every time. The times are deadlines handed to the scheduler, so a sample-accurate
output places them exactly.
"""

from __future__ import annotations

import random
from collections import defaultdict

import mido

from livegen.controls.table import ControlState

#: seconds kept between a note-off and a note-on of the same pitch that the feel moved.
ORDER_GAP_S = 0.0005
#: the most a note-on is moved by humanize, as a share of a step.
MAX_JITTER_STEPS = 1.0 / 3.0


def swing_delay(step: int, period: float, swing: float) -> float:
    """Seconds step ``step`` is delayed by ``swing`` percent (every second step)."""
    return period * swing / 100.0 if step % 2 else 0.0


class Feel:
    """Places one step's messages in time (see the module docstring).

    Args:
        seed: seeds the humanize generator (None: a fresh one each session).
    """

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._last_on: dict[int, float] = {}  # pitch -> when its last note-on leaves

    def place(self, messages: list[mido.Message], deadline: float, step: int, period: float,
              state: ControlState) -> list[tuple[float, list[mido.Message]]]:
        """``(time, messages)`` groups, in time order, for a step due at ``deadline`` (s)."""
        base = deadline + swing_delay(step, period, state.swing)
        if state.humanize_ms <= 0 and state.humanize_velocity <= 0 and state.swing <= 0:
            self._remember(messages, base)
            return [(deadline, messages)] if messages else []
        jitter = min(state.humanize_ms / 1000.0, period * MAX_JITTER_STEPS)
        timed: dict[float, list[mido.Message]] = defaultdict(list)
        released: dict[int, float] = {}
        ons = [m for m in messages if m.type == "note_on" and m.velocity > 0]
        for msg in [m for m in messages if not (m.type == "note_on" and m.velocity > 0)] + ons:
            if msg.type == "note_on" and msg.velocity > 0:
                t = base + (self._rng.uniform(-jitter, jitter) if jitter > 0 else 0.0)
                t = max(t, released.get(msg.note, t - 1.0) + ORDER_GAP_S)
                if state.humanize_velocity > 0:
                    v = msg.velocity + self._rng.randint(-state.humanize_velocity, state.humanize_velocity)
                    msg = msg.copy(velocity=min(127, max(1, v)))
                self._last_on[msg.note] = t
            elif msg.type in ("note_on", "note_off"):
                t = max(base, self._last_on.get(msg.note, base - 1.0) + ORDER_GAP_S)
                released[msg.note] = t
            else:
                t = base
            timed[t].append(msg)
        return sorted(timed.items())

    def _remember(self, messages: list[mido.Message], t: float) -> None:
        ons = [m for m in messages if m.type == "note_on" and m.velocity > 0]
        for msg in [m for m in messages if not (m.type == "note_on" and m.velocity > 0)] + ons:
            if msg.type == "note_on" and msg.velocity > 0:
                self._last_on[msg.note] = t
