"""Piano-roll pictures a person can read, drawn with matplotlib (Agg, no display).

Time runs left to right in beats, pitch bottom to top with note names on the y-axis (every
C, and every note when the range is small). Bar lines are dark, beat lines light. The
performer's prime and livegen's answer are drawn in two colours (with ``--parts``, each part
of the answer in its own colour, :data:`PART_COLORS`); each note's shade is its
velocity (soft notes pale, loud ones full). The title carries the model, seed, temperature
and tempo. Eight bars are at least :data:`MIN_WIDTH_PX` pixels wide, longer pieces wider.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: never a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from livegen.errors import LivegenError  # noqa: E402
from livegen.music.keyboard import LOWEST_PITCH, N_KEYS  # noqa: E402
from livegen.music.scales import NOTE_NAMES  # noqa: E402

#: pixels for 8 bars of 4 beats at least (longer pieces get wider pictures).
MIN_WIDTH_PX = 1400
DPI = 100
#: the prime's and the answer's colours.
PRIME_COLOR = "#2a5bc8"
ANSWER_COLOR = "#e8781a"
#: the colours of livegen's parts (``--parts``), in the layout's order (the first is the answer's).
PART_COLORS = (ANSWER_COLOR, "#1a9850", "#8e44ad", "#c0392b", "#7f8c8d", "#b8860b")
#: shade of the softest note (velocity 1) between white (0) and the full colour (1).
MIN_SHADE = 0.25


def note_name(pitch: int) -> str:
    """``C4`` for MIDI pitch 60."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


@dataclass(frozen=True)
class RollPicture:
    """What was drawn: the RGB image ``(keys, steps, 3)`` (lowest key in row 0), the pitch
    range shown and the picture's size in pixels."""

    image: np.ndarray
    low: int
    high: int
    width_px: int
    height_px: int


def roll_image(roll: np.ndarray, velocities: np.ndarray | None, prime_steps: int,
               low: int, high: int, part_of: np.ndarray | None = None) -> np.ndarray:
    """``(high - low + 1, T, 3)`` RGB in 0..1: white where nothing sounds, the prime's or
    the answer's colour shaded by velocity where a key sounds; with ``part_of`` (``(T, 88)``
    part index of each sounding key of the answer, -1: none) each part in its colour."""
    on = np.asarray(roll, dtype=bool)[:, low - LOWEST_PITCH:high - LOWEST_PITCH + 1].T
    if velocities is None:
        vel = np.full(on.shape, 100.0)
    else:
        vel = held_velocities(np.asarray(roll, dtype=bool), np.asarray(velocities))[:, low - LOWEST_PITCH:
                                                                                   high - LOWEST_PITCH + 1].T
    shade = MIN_SHADE + (1 - MIN_SHADE) * np.clip(vel, 1, 127) / 127.0
    image = np.ones(on.shape + (3,))
    steps = np.arange(on.shape[1])
    for color, part in ((PRIME_COLOR, steps < prime_steps), (ANSWER_COLOR, steps >= prime_steps)):
        rgb = np.array(to_rgb(color))
        mask = on & part[None, :]
        image[mask] = 1 - shade[mask][:, None] * (1 - rgb)
    if part_of is not None:
        which = np.asarray(part_of)[:, low - LOWEST_PITCH:high - LOWEST_PITCH + 1].T
        for i in range(int(which.max(initial=-1)) + 1):
            rgb = np.array(to_rgb(PART_COLORS[i % len(PART_COLORS)]))
            mask = on & (which == i) & (steps >= prime_steps)[None, :]
            image[mask] = 1 - shade[mask][:, None] * (1 - rgb)
    return image


def held_velocities(roll: np.ndarray, velocities: np.ndarray) -> np.ndarray:
    """Each sounding step takes the velocity of its note's first step (``(T, 88)``); a note
    with no recorded velocity counts as 100."""
    out = np.zeros(roll.shape)
    current = np.full(roll.shape[1], 100.0)
    for t in range(roll.shape[0]):
        starts = roll[t] & ~roll[t - 1] if t else roll[t]
        v = velocities[t] if t < len(velocities) else np.zeros(roll.shape[1])
        current = np.where(starts, np.where(v > 0, v, 100.0), current)
        out[t] = np.where(roll[t], current, 0.0)
    return out


def plot_roll(path: Path, roll: np.ndarray, *, steps_per_beat: int, beats_per_bar: int = 4,
              prime_steps: int = 0, velocities: np.ndarray | None = None, title: str = "",
              parts: tuple[tuple[str, ...], np.ndarray] | None = None) -> RollPicture:
    """Draw ``roll`` (``(T, 88)``, bool or velocities) to ``path`` (PNG) and say what was drawn.

    ``parts``: the answer's parts, ``(names, part_of)`` with ``part_of`` the ``(T, 88)`` part
    index of each sounding key (-1: none): each part in its colour, named in the legend.

    Raises:
        LivegenError: a roll that is not ``(T, 88)``, or a file that cannot be written.
    """
    roll = np.asarray(roll)
    if roll.ndim != 2 or roll.shape[1] != N_KEYS:
        raise LivegenError(f"a piano roll is (steps, {N_KEYS}); got shape {roll.shape}")
    if len(roll) == 0:  # nothing at all: one silent step, still a picture
        roll = np.zeros((1, N_KEYS), dtype=bool)
    if velocities is None and roll.dtype != bool and roll.max(initial=0) > 1:
        velocities = roll
    sounding = roll.astype(bool)
    used = np.flatnonzero(sounding.any(axis=0))
    low = max(LOWEST_PITCH, int(used.min()) + LOWEST_PITCH - 3) if used.size else 60 - 6
    high = min(LOWEST_PITCH + N_KEYS - 1, int(used.max()) + LOWEST_PITCH + 3) if used.size else 60 + 6
    steps = len(roll)
    beats = steps / steps_per_beat
    width_px = max(MIN_WIDTH_PX, int(MIN_WIDTH_PX * beats / 32))
    height_px = max(500, min(1400, 14 * (high - low + 1) + 160))
    image = roll_image(sounding, velocities, prime_steps, low, high, None if parts is None else parts[1])
    fig, ax = plt.subplots(figsize=(width_px / DPI, height_px / DPI), dpi=DPI)
    try:
        ax.imshow(image, origin="lower", aspect="auto", interpolation="nearest",
                  extent=(0, beats, low - 0.5, high + 0.5))
        for beat in range(int(np.ceil(beats)) + 1):
            bar = beat % beats_per_bar == 0
            ax.axvline(beat, color="#555555" if bar else "#dddddd", linewidth=1.2 if bar else 0.6, zorder=0.5)
        if 0 < prime_steps < steps:
            ax.axvline(prime_steps / steps_per_beat, color="#c81e1e", linewidth=1.5)
        names = range(low, high + 1) if high - low <= 24 else [p for p in range(low, high + 1) if p % 12 == 0]
        ax.set_yticks(list(names), [note_name(p) for p in names])
        for p in range(low, high + 1):
            if p % 12 == 0:
                ax.axhline(p - 0.5, color="#aab4cd", linewidth=0.6, zorder=0.5)
        bar_ticks = list(range(0, int(beats) + 1, beats_per_bar))
        ax.set_xticks(bar_ticks, [str(b // beats_per_bar + 1) for b in bar_ticks])
        ax.set_xlabel("bar")
        ax.set_ylabel("pitch")
        ax.set_title(title)
        answer = [Patch(color=ANSWER_COLOR, label="livegen")] if parts is None else [
            Patch(color=PART_COLORS[i % len(PART_COLORS)], label=name) for i, name in enumerate(parts[0])]
        ax.legend(handles=[Patch(color=PRIME_COLOR, label="prime (performer)"), *answer], loc="upper right",
                  fontsize="small")
        fig.tight_layout()
        try:
            fig.savefig(path, dpi=DPI)
        except OSError as exc:
            raise LivegenError(f"cannot write {path}: {exc.strerror}; choose another --png path") from exc
    finally:
        plt.close(fig)
    return RollPicture(image, low, high, width_px, height_px)
