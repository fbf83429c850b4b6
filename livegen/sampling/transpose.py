"""Moving frames and the sampler's constraints by whole semitones.

A voice that hears the performer in another key than its net's own moves what the net hears
down and what it plays back up; the constraints the answer must obey (range, key mask, held
keys, biases) are moved the same way, so they still hold for the notes that sound.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from livegen.music.keyboard import HIGHEST_PITCH, LOWEST_PITCH, N_KEYS
from livegen.sampling.constraints import RollControls


def shift_frame(frame: np.ndarray, semitones: int) -> np.ndarray:
    """``(..., 88)`` frame(s) moved up by ``semitones`` (down if negative); keys pushed off
    the keyboard are dropped, never wrapped."""
    frame = np.asarray(frame, dtype=bool)
    out = np.zeros_like(frame)
    if semitones >= 0:
        out[..., semitones:] = frame[..., :N_KEYS - semitones]
    else:
        out[..., :semitones] = frame[..., -semitones:]
    return out


@functools.lru_cache(maxsize=64)
def _shift_index(shifts: tuple[int, ...]) -> np.ndarray:
    """``(K, 88)`` int: where each key of each moved frame reads from a frame padded with one
    silent key at the end (index 88: pushed off the keyboard)."""
    keys = np.arange(N_KEYS)
    src = keys[None, :] + np.asarray(shifts, dtype=np.int64)[:, None]
    idx = np.where((src >= 0) & (src < N_KEYS), src, N_KEYS)
    idx.setflags(write=False)
    return idx


def shifted_frames(frame: np.ndarray, shifts: tuple[int, ...]) -> np.ndarray:
    """``(K, 88)`` float32 0/1: the ``(88,)`` frame moved down by each of ``shifts`` (row
    ``k`` is ``shift_frame(frame, -shifts[k])``), in one gather. A fresh array each call."""
    padded = np.zeros(N_KEYS + 1, dtype=np.float32)
    padded[:N_KEYS] = np.asarray(frame, dtype=bool).reshape(N_KEYS)
    out: np.ndarray = padded[_shift_index(shifts)]
    return out


@functools.lru_cache(maxsize=512)
def shift_controls(controls: RollControls, semitones: int) -> RollControls:
    """The constraints as seen ``semitones`` higher: what the model's space must obey so that
    its answer, moved back down, obeys ``controls``."""
    low = min(max(controls.low + semitones, LOWEST_PITCH), HIGHEST_PITCH)
    high = min(max(controls.high + semitones, LOWEST_PITCH), HIGHEST_PITCH)
    if controls.high + semitones < LOWEST_PITCH or controls.low + semitones > HIGHEST_PITCH:
        low, high = HIGHEST_PITCH, LOWEST_PITCH  # the whole range fell off the keyboard
    pcs, bias = controls.pitch_classes, controls.pc_bias
    centre = controls.register_centre
    return dataclasses.replace(
        controls, low=low, high=high, register_centre=None if centre is None else centre + semitones,
        pitch_classes=None if pcs is None else tuple(pcs[(p - semitones) % 12] for p in range(12)),
        pc_bias=None if bias is None else tuple(bias[(p - semitones) % 12] for p in range(12)),
        excluded=frozenset(p + semitones for p in controls.excluded))
