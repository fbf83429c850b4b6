"""Follow how busy the performer plays: the answer's note density (onsets per step).

:class:`OnsetRate` keeps a decaying mean of note onsets per grid step over the steps a
party plays. :class:`DensityFollower` keeps two of them, the performer's (the target) and
the answer's, and changes the answer's *articulation*, never its notes' pitches and never
by a clamp:

* the answer is sparser than the performer: each key it keeps holding is struck again (a
  note-off and a note-on at the same step, no gap) with probability ``p``;
* the answer is busier: a step that would strike new keys keeps sounding the keys already
  sounding instead, with probability ``p``.

``p = 1 - (slower / faster) ** follow``, with ``slower`` and ``faster`` the two rates:
0 when they agree or ``follow`` is 0; with ``follow`` 1, an answer twice (or half) as busy
as the performer is corrected on half of its chances. The model hears what sounds, so a
held chord is what it goes on from (a gap would invite silence: the models, given a gap in
a held note, tended to stay silent rather than strike the key again).

Rates are counted only while each party plays: the performer's over the steps where they
sound something, the answer's over the steps it may answer; so in call mode the target is
the density of the call the answer follows.
"""

from __future__ import annotations

import numpy as np

#: onsets per step below which a rate counts as this (so a silent answer has a finite ratio).
RATE_FLOOR = 0.01


class OnsetRate:
    """A decaying mean of onsets per counted step.

    Args:
        half_life: counted steps after which a step weighs half as much.
    """

    def __init__(self, half_life: float = 32.0) -> None:
        self._keep = float(0.5 ** (1.0 / half_life))
        self._sum = 0.0
        self._weight = 0.0

    def observe(self, onsets: int) -> None:
        """Count one step with ``onsets`` note onsets."""
        self._sum = self._sum * self._keep + float(onsets)
        self._weight = self._weight * self._keep + 1.0

    def rate(self, prior: float | None = None, prior_steps: float = 0.0) -> float | None:
        """Onsets per step; None before any step was counted and without a prior.

        ``prior`` (onsets per step) counts as ``prior_steps`` steps heard before the first,
        so a rate barely heard starts near the prior rather than at its first step's count.
        """
        if prior is None or prior_steps <= 0:
            return None if self._weight <= 0 else self._sum / self._weight
        return (self._sum + prior * prior_steps) / (self._weight + prior_steps)

    def reset(self) -> None:
        self._sum = self._weight = 0.0


def correction_probability(target: float, answer: float, follow: float) -> float:
    """``1 - (slower / faster) ** follow`` of two rates (onsets per step): how often the
    answer's articulation is changed towards ``target`` (0 = never)."""
    if follow <= 0:
        return 0.0
    a, b = max(target, RATE_FLOOR), max(answer, RATE_FLOOR)
    return float(1.0 - (min(a, b) / max(a, b)) ** follow)


def onset_count(roll: np.ndarray) -> np.ndarray:
    """Onsets per step of a ``(T, 88)`` roll (a key on that was off the step before)."""
    on = np.asarray(roll, dtype=bool)
    before = np.vstack([np.zeros((1, on.shape[1]), dtype=bool), on[:-1]])
    counts: np.ndarray = (on & ~before).sum(axis=1)
    return counts


class DensityFollower:
    """The performer's and the answer's onset rates, and the articulation that follows one
    with the other (see the module docstring).

    Args:
        half_life: counted steps after which a step weighs half as much, for both rates.
        prior_steps: steps the answer counts as on target before it has played.
    """

    def __init__(self, half_life: float = 32.0, prior_steps: float = 4.0) -> None:
        self.performer = OnsetRate(half_life)
        self.answer = OnsetRate(half_life)
        self.prior_steps = prior_steps

    def hear_performer(self, onsets: int, playing: bool) -> None:
        """One step of the performer: ``onsets`` keys struck, ``playing`` anything sounds
        (steps where they play nothing leave the target as it was)."""
        if playing or onsets:
            self.performer.observe(onsets)

    def hear_roll(self, roll: np.ndarray) -> None:
        """The performer's ``(T, 88)`` roll (a prime), step by step."""
        on = np.asarray(roll, dtype=bool)
        playing = np.asarray(on.any(axis=1), dtype=bool)
        for count, sounds in zip(onset_count(on), playing, strict=True):
            self.hear_performer(int(count), bool(sounds))

    def hear_answer(self, onsets: int) -> None:
        """One step the answer was free to play, with ``onsets`` note-ons (re-strikes too)."""
        self.answer.observe(onsets)

    def probability(self, follow: float) -> tuple[float, int]:
        """How often the articulation is changed now, and which way: ``+1`` strike again
        (the answer is too sparse), ``-1`` hold (too busy), ``0`` nothing to follow."""
        target = self.performer.rate()
        if target is None or follow <= 0:
            return 0.0, 0
        answer = self.answer.rate(target, self.prior_steps)
        assert answer is not None
        p = correction_probability(target, answer, follow)
        return (p, 1 if answer < target else -1) if p > 0 else (0.0, 0)

    def articulate(self, frame: np.ndarray, sounding: np.ndarray, follow: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """The ``(88,)`` frame to play after ``sounding`` and the keys to strike again.

        Returns ``(frame, restrike)``: ``frame`` is the one given or, when the answer is too
        busy and this step would strike new keys, with probability ``p`` the keys already
        sounding; ``restrike`` marks held keys struck again (each with probability ``p``
        when the answer is too sparse). Draws from ``rng`` only when there is something to
        change, so an answer that keeps the performer's rate draws nothing.
        """
        frame = np.asarray(frame, dtype=bool)
        sounding = np.asarray(sounding, dtype=bool)
        restrike = np.zeros_like(frame)
        p, way = self.probability(follow)
        if way > 0:
            held = frame & sounding
            if held.any():
                restrike = held & (rng.random(frame.shape) < p)
        elif way < 0 and sounding.any() and (frame & ~sounding).any() and rng.random() < p:
            frame = sounding.copy()
        return frame, restrike

    def reset(self) -> None:
        self.performer.reset()
        self.answer.reset()
