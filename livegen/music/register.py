"""Follow where and how much the performer plays: their register and their note density.

Both trackers work on piano-roll frames, one ``(88,)`` bool frame per grid step, and tell a
voice how to lean its sampler, softly (logit biases in nats, never a clamp):

* :class:`RegisterTracker` keeps a decaying mean of the pitches the performer strikes. A
  voice adds ``-pull * (((pitch - centre) / 12) ** 2 - 1/4)`` to each key's logit: a note
  an octave from the performer's register loses ``3/4 * pull`` nats against one half an
  octave away, two octaves ``15/4 * pull``; notes within half an octave gain a little, so the
  pull moves the answer without thinning it.
* :class:`DensityFollower` compares the performer's onsets per step with the answer's and
  integrates the log ratio into a density bias (nats added to every key), so an answer to
  sparse playing thins out and an answer to busy playing fills in. It learns only from
  steps where the performer is playing, so their silence (call mode's answer) does not
  thin the answer to nothing.
"""

from __future__ import annotations

import math

import numpy as np

from livegen.music.keyboard import LOWEST_PITCH

#: semitones from the performer's register that cost ``pull`` nats (an octave).
REGISTER_SPAN = 12.0
#: semitones around the performer's register where the pull costs nothing (half an octave).
REGISTER_FREE = 6.0
#: the density bias never goes beyond the density control's own range (nats).
DENSITY_BIAS_LIMIT = 3.0
#: onsets per step added to both rates before their ratio (a silent answer is not -inf).
DENSITY_FLOOR = 0.05


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


class DensityFollower:
    """Integrates ``log(performer rate / answer rate)`` into a density bias.

    Args:
        half_life: steps of memory of each rate (onsets per step).
        gain: nats added to the bias per step per unit of log ratio.
        quiet_steps: steps after the performer's last onset still counted as playing.
    """

    def __init__(self, half_life: float = 16.0, gain: float = 0.05, quiet_steps: int = 8) -> None:
        self._k = _decay(half_life)
        self.gain = gain
        self.quiet_steps = quiet_steps
        self.performer_rate: float | None = None
        self.answer_rate: float | None = None
        self.bias = 0.0
        self._since_onset = quiet_steps + 1

    def _mix(self, rate: float | None, value: float) -> float:
        return value if rate is None else self._k * rate + (1 - self._k) * value

    def observe(self, performer_onsets: int, answer_onsets: int) -> None:
        """One step: how many keys the performer and the answer struck."""
        self._since_onset = 0 if performer_onsets else self._since_onset + 1
        if self._since_onset > self.quiet_steps:
            return  # the performer rests: nothing to follow, the bias holds
        self.performer_rate = self._mix(self.performer_rate, float(performer_onsets))
        self.answer_rate = self._mix(self.answer_rate, float(answer_onsets))
        ratio = math.log((self.performer_rate + DENSITY_FLOOR) / (self.answer_rate + DENSITY_FLOOR))
        self.bias = min(DENSITY_BIAS_LIMIT, max(-DENSITY_BIAS_LIMIT, self.bias + self.gain * ratio))

    def reset(self) -> None:
        self.performer_rate = self.answer_rate = None
        self.bias = 0.0
        self._since_onset = self.quiet_steps + 1
