"""Between notes and frames: the performer's notes folded into frames, frames into notes.

Pure python/numpy (no ports): :class:`FrameBuilder` turns timed note on/off events into one
``(88,)`` frame per tick; :class:`NoteTracker` turns a sequence of frames into note on/off
events, guaranteeing every note-on its note-off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livegen.music.keyboard import LOWEST_PITCH, N_KEYS


def key_of(pitch: int) -> int | None:
    """Column of a MIDI pitch in an 88-key frame, or None off the keyboard."""
    j = pitch - LOWEST_PITCH
    return j if 0 <= j < N_KEYS else None


class FrameBuilder:
    """Fold note events into frames.

    A key is on in the frame built at a tick if it is held at the tick *or* was struck since
    the previous tick (so a short staccato note between two ticks is not lost).
    """

    def __init__(self) -> None:
        self.held = np.zeros(N_KEYS, dtype=bool)
        self._struck = np.zeros(N_KEYS, dtype=bool)
        self.struck = np.zeros(N_KEYS, dtype=bool)  # the keys struck during the last tick's step
        self._onsets = 0
        #: note-ons on the keyboard during the last tick's step (a key struck twice counts twice)
        self.onsets = 0
        self.events_since_tick = 0
        self.last_event_time: float | None = None

    def note_on(self, pitch: int, t: float) -> None:
        j = key_of(pitch)
        if j is None:
            return
        self.held[j] = True
        self._struck[j] = True
        self._onsets += 1
        self.events_since_tick += 1
        self.last_event_time = t

    def note_off(self, pitch: int, t: float) -> None:
        j = key_of(pitch)
        if j is None:
            return
        self.held[j] = False
        self.events_since_tick += 1
        self.last_event_time = t

    def all_off(self) -> None:
        """Forget held notes (All Notes Off from the performer, or a reset)."""
        self.held[:] = False

    def tick(self) -> np.ndarray:
        """The ``(88,)`` bool frame for the step ending now; starts the next step."""
        frame = self.held | self._struck
        self.struck = self._struck
        self._struck = np.zeros(N_KEYS, dtype=bool)
        self.onsets, self._onsets = self._onsets, 0
        self.events_since_tick = 0
        return frame


@dataclass(frozen=True)
class NoteEvent:
    """A note on (``on=True``) or off, MIDI ``pitch``, ``velocity`` 1..127 (0 for offs)."""

    on: bool
    pitch: int
    velocity: int = 0


class NoteTracker:
    """Turn frames into note events and remember what sounds.

    Args:
        max_steps: longest note in steps before it is re-struck (0 = no limit).
    """

    def __init__(self, max_steps: int = 0) -> None:
        self.sounding = np.zeros(N_KEYS, dtype=bool)
        self.age = np.zeros(N_KEYS, dtype=np.int64)
        self.max_steps = max_steps

    def update(self, frame: np.ndarray, velocity: int = 80,
               restrike: np.ndarray | None = None) -> list[NoteEvent]:
        """Events turning the sounding set into ``frame``: offs first, then ons, low to high.

        A key held longer than ``max_steps``, or marked in the ``(88,)`` ``restrike`` mask
        and held on, is released and struck again at this step (no gap in the frames).
        """
        frame = np.asarray(frame, dtype=bool)
        expired = np.zeros(N_KEYS, dtype=bool)
        if self.max_steps > 0:
            expired = self.sounding & frame & (self.age >= self.max_steps)
        if restrike is not None:
            expired |= self.sounding & frame & np.asarray(restrike, dtype=bool)
        offs = np.flatnonzero((self.sounding & ~frame) | expired)
        ons = np.flatnonzero((frame & ~self.sounding) | expired)
        events = [NoteEvent(False, int(j) + LOWEST_PITCH) for j in offs]
        events += [NoteEvent(True, int(j) + LOWEST_PITCH, velocity) for j in ons]
        self.age = np.where(frame, self.age + 1, 0)
        self.age[expired] = 1
        self.sounding = frame.copy()
        return events

    def release_all(self) -> list[NoteEvent]:
        """Note-offs for everything sounding; afterwards nothing sounds."""
        events = [NoteEvent(False, int(j) + LOWEST_PITCH) for j in np.flatnonzero(self.sounding)]
        self.sounding[:] = False
        self.age[:] = 0
        return events
