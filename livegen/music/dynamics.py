"""Dynamics: answer at the performer's loudness, with accents by beat position.

:class:`PerformerDynamics` keeps a decaying average of the performer's note-on velocities;
:func:`answer_velocity` mixes it with the fixed velocity control and adds an accent on the
bar's first beat (full) and on the other beats (half), nothing off the beat.
"""

from __future__ import annotations


class PerformerDynamics:
    """The performer's recent loudness: an average of note-on velocities (1..127) in which a
    note counts half after ``half_life`` newer notes."""

    def __init__(self, half_life: float = 6.0) -> None:
        self.keep = 0.5 ** (1.0 / half_life)
        self._sum = 0.0
        self._weight = 0.0

    def hear(self, velocity: int) -> None:
        """Fold in one note-on's velocity (1..127)."""
        self._sum = self._sum * self.keep + velocity
        self._weight = self._weight * self.keep + 1.0

    @property
    def level(self) -> float | None:
        """The average velocity, or None before the performer played a note."""
        return self._sum / self._weight if self._weight else None

    def reset(self) -> None:
        self._sum = self._weight = 0.0


def answer_velocity(base: int, performer: float | None, follow: float, accent: float,
                    step_in_bar: int, steps_per_beat: int) -> int:
    """The velocity (1..127) of notes struck at ``step_in_bar``.

    Args:
        base: the velocity control (used alone when ``follow`` is 0 or nobody has played).
        performer: the performer's recent average velocity, or None.
        follow: 0..1, how far the answer moves from ``base`` to the performer's level.
        accent: velocity steps added on the bar's first step; half on other beats.
        step_in_bar: grid step within the bar (0 = the downbeat).
        steps_per_beat: grid steps per beat.
    """
    level = float(base) if performer is None else (1.0 - follow) * base + follow * performer
    if step_in_bar == 0:
        level += accent
    elif step_in_bar % steps_per_beat == 0:
        level += accent / 2
    return max(1, min(127, round(level)))
