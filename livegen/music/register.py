"""Follow where the performer plays: their register.

The tracker works on piano-roll frames, one ``(88,)`` bool frame per grid step, and tells a
voice how to lean its sampler, softly (a logit bias in nats, never a clamp):

* :class:`RegisterTracker` keeps a decaying mean of the pitches the performer strikes. A
  voice adds ``-pull * (((pitch - centre) / 12) ** 2 - 1/4)`` to each key's logit: a note
  an octave from the performer's register loses ``3/4 * pull`` nats against one half an
  octave away, two octaves ``15/4 * pull``; notes within half an octave gain a little, so the
  pull moves the answer without thinning it.
"""

from __future__ import annotations

import numpy as np

from livegen.music.keyboard import LOWEST_PITCH

#: semitones from the performer's register that cost ``pull`` nats (an octave).
REGISTER_SPAN = 12.0
#: semitones around the performer's register where the pull costs nothing (half an octave).
REGISTER_FREE = 6.0


def _decay(half_life: float) -> float:
    return float(0.5 ** (1.0 / half_life))


class RegisterTracker:
    """A decaying mean of the performer's onset pitches.

    Args:
        half_life: steps after which an onset weighs half as much.
    """

    def __init__(self, half_life: float = 32.0) -> None:
        self._k = _decay(half_life)
        self._sum = 0.0
        self._weight = 0.0

    def observe(self, onsets: np.ndarray) -> None:
        """One step's ``(88,)`` bool onsets of the performer."""
        self._sum *= self._k
        self._weight *= self._k
        keys = np.flatnonzero(onsets)
        if keys.size:
            self._sum += float(keys.sum() + LOWEST_PITCH * keys.size)
            self._weight += float(keys.size)

    @property
    def centre(self) -> float | None:
        """The performer's register (MIDI pitch), None before they played."""
        return None if self._weight < 1e-6 else self._sum / self._weight

    def reset(self) -> None:
        self._sum = self._weight = 0.0


def register_bias(pitches: np.ndarray, centre: float, pull: float) -> np.ndarray:
    """Logit bias (nats) of each MIDI pitch in ``pitches`` towards ``centre``."""
    return -pull * (((pitches - centre) / REGISTER_SPAN) ** 2 - (REGISTER_FREE / REGISTER_SPAN) ** 2)
