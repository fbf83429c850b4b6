"""Key estimation: which of the 24 major and minor keys a passage is in.

A Krumhansl-Kessler key-profile estimator: the pitch-class weights of what sounded are
correlated with the 24 rotated major and minor profiles (Krumhansl & Kessler 1982), and the
best fit wins. :class:`KeyTracker` keeps the weights live, frame by frame, with an
exponential decay, so the estimate follows a performer who changes key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livegen.music.keyboard import LOWEST_PITCH, N_KEYS
from livegen.music.scales import NOTE_NAMES

#: Krumhansl-Kessler probe-tone profiles, C first.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

#: semitone steps of the scales used to judge "in key": major, and natural minor plus the
#: leading tone (what minor-key melodies and harmony use).
KEY_SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10, 11)}

_PROFILES = np.stack([np.roll(MAJOR_PROFILE, k) for k in range(12)]
                     + [np.roll(MINOR_PROFILE, k) for k in range(12)])  # (24, 12)
#: ``(88, 12)`` one-hot pitch class of each key.
_KEY_TO_PITCH_CLASS = np.eye(12)[(np.arange(N_KEYS) + LOWEST_PITCH) % 12]

_PROFILES_Z = (_PROFILES - _PROFILES.mean(1, keepdims=True)) / _PROFILES.std(1, keepdims=True)


@dataclass(frozen=True)
class Key:
    """A key: ``tonic`` pitch class 0..11 (C = 0) and ``mode`` ``major`` or ``minor``."""

    tonic: int
    mode: str

    @property
    def name(self) -> str:
        """``"F# major"``, ``"D minor"``."""
        return f"{NOTE_NAMES[self.tonic]} {self.mode}"

    def scale_mask(self) -> tuple[bool, ...]:
        """12 bools, C first: the pitch classes of this key's scale (see :data:`KEY_SCALES`)."""
        allowed = {(self.tonic + s) % 12 for s in KEY_SCALES[self.mode]}
        return tuple(pc in allowed for pc in range(12))


def all_keys() -> list[Key]:
    """The 24 keys: C major .. B major, then C minor .. B minor."""
    return list(_ALL_KEYS)


_ALL_KEYS = tuple([Key(t, "major") for t in range(12)] + [Key(t, "minor") for t in range(12)])


def key_scores(weights: np.ndarray) -> np.ndarray:
    """Correlation ``(24,)`` of 12 pitch-class weights with each key profile (see
    :func:`all_keys` for the order); all zeros for silence."""
    w = np.asarray(weights, dtype=np.float64)
    centred = w - w.sum() / 12.0
    spread = float(np.sqrt(centred @ centred / 12.0))
    if spread == 0.0:
        return np.zeros(24)
    scores: np.ndarray = _PROFILES_Z @ centred / (12.0 * spread)
    return scores


def estimate_key(weights: np.ndarray) -> Key | None:
    """The best-fitting key for 12 pitch-class weights, or None for silence."""
    scores = key_scores(weights)
    if not scores.any():
        return None
    return _ALL_KEYS[int(np.argmax(scores))]


def pitch_class_weights(roll: np.ndarray) -> np.ndarray:
    """``(12,)`` time-weighted pitch-class histogram of a ``(T, 88)`` roll (frames a note sounds)."""
    per_key = np.asarray(roll, dtype=np.float64).reshape(-1, N_KEYS).sum(0)
    weights: np.ndarray = per_key @ _KEY_TO_PITCH_CLASS
    return weights


def tonic_scores(weights: np.ndarray) -> np.ndarray:
    """``(12,)``: for each tonic (C first), the better correlation of 12 pitch-class weights
    with its major or its minor profile (all zeros for silence)."""
    scores = key_scores(weights)
    best: np.ndarray = np.maximum(scores[:12], scores[12:])
    return best


def tonic_score_track(roll: np.ndarray, half_life: float = 32.0, onset_weight: float = 1.0) -> np.ndarray:
    """``(T, 12)``: :func:`tonic_scores` of a :class:`KeyTracker`'s weights after each frame
    of a ``(T, 88)`` roll (what the tracker holds, frame by frame)."""
    tracker = KeyTracker(half_life, onset_weight)
    out = np.zeros((len(roll), 12))
    for t, frame in enumerate(np.asarray(roll, dtype=bool)):
        tracker.observe(frame)
        out[t] = tonic_scores(tracker.weights)
    return out


def roll_key(roll: np.ndarray) -> Key | None:
    """The key of a whole ``(T, 88)`` roll, or None if it is silent."""
    return estimate_key(pitch_class_weights(roll))


class KeyTracker:
    """The key of what is sounding, updated frame by frame.

    Args:
        half_life: steps after which a sounded note counts half (older music fades).
        onset_weight: extra weight of a note's first frame (new notes say more than held
            ones).
    """

    def __init__(self, half_life: float = 32.0, onset_weight: float = 1.0) -> None:
        self.decay = 0.5 ** (1.0 / half_life)
        self.onset_weight = onset_weight
        self.weights = np.zeros(12)
        self._previous = np.zeros(N_KEYS, dtype=bool)
        self._key: Key | None = None
        self._stale = False

    def observe(self, frame: np.ndarray) -> None:
        """Fold one ``(88,)`` frame that sounded into the decaying weights."""
        frame = np.asarray(frame, dtype=bool).reshape(N_KEYS)
        self.weights *= self.decay  # the same for every pitch class: the best key stays
        if frame.any():
            onsets = frame & ~self._previous
            self.weights += pitch_class_weights(frame + self.onset_weight * onsets)
            self._stale = True
        self._previous = frame.copy()

    def key(self) -> Key | None:
        """The key in force, or None before anything sounded."""
        if self._stale:
            self._key, self._stale = estimate_key(self.weights), False
        return self._key

    def reset(self) -> None:
        self.weights[:] = 0.0
        self._previous = np.zeros(N_KEYS, dtype=bool)
        self._key, self._stale = None, False
