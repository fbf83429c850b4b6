"""Who plays when: the call / accompany / solo modes as a small pure state machine."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TurnDecision:
    """What one step does: whether livegen sounds, and whether it must release first."""

    play: bool
    release: bool = False


class TurnTaking:
    """Decide each step whether livegen answers.

    - ``call``: call and response. While the performer plays livegen listens silently;
      once they have played something and then left ``silence_s`` seconds of silence it
      answers, until they play again (its notes are released at once).
    - ``accompany``: livegen plays every step beside the performer.
    - ``solo``: livegen plays every step; the performer's notes still steer its state.
    """

    def __init__(self) -> None:
        self.last_performer_time: float | None = None
        self.heard_call = False
        self.answering = False

    def reset(self) -> None:
        self.last_performer_time = None
        self.heard_call = False
        self.answering = False

    def decide(self, mode: str, t: float, performer_active: bool, silence_s: float) -> TurnDecision:
        """Args: ``t`` step time (s); ``performer_active`` any performer key in this step."""
        if performer_active:
            self.last_performer_time = t
            self.heard_call = True
        if mode != "call":
            self.answering = False
            return TurnDecision(play=True)
        if performer_active:
            was = self.answering
            self.answering = False
            return TurnDecision(play=False, release=was)
        quiet = self.last_performer_time is not None and t - self.last_performer_time >= silence_s
        if self.heard_call and quiet:
            self.answering = True
        return TurnDecision(play=self.answering)
