"""Piano-roll pictures as PNG files, written with numpy and zlib only.

Time runs left to right (``px_per_step`` pixels per step), pitch bottom to top
(``px_per_key`` pixels per key), cropped to the used keys plus a margin. The prime (the
performer's or seed part, the first ``prime_steps`` steps) is drawn in blue on a tinted
background, the generated part in orange; each note's first pixel column is darker so
repeated notes stay visible. Thin lines mark beats, darker ones bars, and a blue-grey line
runs under every C. Output bytes depend only on the inputs.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np

from livegen.errors import LivegenError
from livegen.music.keyboard import LOWEST_PITCH, N_KEYS

#: RGB colours (uint8) used in the picture.
COLORS: dict[str, tuple[int, int, int]] = {
    "white_key": (252, 252, 250),
    "black_key": (238, 238, 236),
    "prime_white_key": (232, 240, 252),
    "prime_black_key": (220, 229, 244),
    "beat": (222, 222, 222),
    "bar": (150, 150, 150),
    "octave": (170, 180, 205),
    "boundary": (200, 30, 30),
    "prime_note": (40, 90, 200),
    "prime_onset": (15, 45, 120),
    "generated_note": (235, 120, 25),
    "generated_onset": (150, 60, 0),
}

_BLACK_PITCH_CLASSES = {1, 3, 6, 8, 10}


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 of type + data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(image: np.ndarray) -> bytes:
    """Encode an ``(H, W, 3)`` uint8 RGB image as PNG bytes (8-bit truecolour, no filter)."""
    img = np.ascontiguousarray(image, dtype=np.uint8)
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 1 or img.shape[1] < 1:
        raise LivegenError(f"a PNG image must have shape (H, W, 3) with H, W >= 1; got {img.shape}")
    height, width = img.shape[:2]
    raw = np.zeros((height, 1 + width * 3), dtype=np.uint8)  # filter byte 0 per row
    raw[:, 1:] = img.reshape(height, width * 3)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw.tobytes(), 9))
        + _chunk(b"IEND", b"")
    )


def roll_image(
    roll: np.ndarray,
    prime_steps: int = 0,
    steps_per_beat: int = 4,
    *,
    beats_per_bar: int = 4,
    px_per_step: int = 4,
    px_per_key: int = 4,
    margin_keys: int = 3,
    max_width: int = 16384,
) -> np.ndarray:
    """Draw a ``(T, 88)`` roll as an ``(H, W, 3)`` uint8 RGB image (see the module doc).

    Args:
        roll: the piano roll; nonzero = key held.
        prime_steps: the first ``prime_steps`` steps are the prime (blue), the rest generated.
        steps_per_beat: steps per quarter note (beat lines every beat).
        beats_per_bar: beats per bar (darker line every bar).
        px_per_step: pixels per time step, lowered (to 1 at least) to keep within ``max_width``.
        px_per_key: pixels per key; notes leave a 1-pixel gap between keys when >= 3.
        margin_keys: keys shown above and below the used range.
    """
    on = np.asarray(roll)
    if on.ndim != 2 or on.shape[1] != N_KEYS:
        raise LivegenError(f"a piano roll must have shape (T, 88); got {on.shape}")
    if steps_per_beat < 1 or beats_per_bar < 1 or px_per_step < 1 or px_per_key < 1:
        raise LivegenError("steps_per_beat, beats_per_bar and pixel sizes must be >= 1")
    on = on.astype(bool)
    n_steps = max(1, on.shape[0])
    if on.shape[0] == 0:
        on = np.zeros((1, N_KEYS), dtype=bool)
    px_step = max(1, min(px_per_step, max_width // n_steps))
    used = np.flatnonzero(on.any(axis=0))
    if used.size:
        lo, hi = int(used[0]) - margin_keys, int(used[-1]) + margin_keys
    else:  # nothing played: show the two octaves around middle C
        lo, hi = 60 - 12 - LOWEST_PITCH, 60 + 12 - LOWEST_PITCH
    lo, hi = max(0, lo), min(N_KEYS - 1, hi)
    keys = np.arange(hi, lo - 1, -1)  # image row order: highest key on top
    n_rows = keys.size
    height, width = n_rows * px_per_key, n_steps * px_step
    prime_px = min(max(0, int(prime_steps)), n_steps) * px_step
    col = {k: np.array(v, dtype=np.uint8) for k, v in COLORS.items()}

    # background: key colour per pixel row, tinted over the prime region
    is_black = np.isin((keys + LOWEST_PITCH) % 12, list(_BLACK_PITCH_CLASSES))
    row_black = np.repeat(is_black, px_per_key)
    img = np.empty((height, width, 3), dtype=np.uint8)
    img[:, :] = np.where(row_black[:, None], col["black_key"], col["white_key"])[:, None, :]
    img[:, :prime_px] = np.where(row_black[:, None], col["prime_black_key"], col["prime_white_key"])[:, None, :]

    # grid: beat and bar lines at the left edge of their step, a line under every C
    beat_x = np.arange(0, n_steps, steps_per_beat) * px_step
    img[:, beat_x] = col["beat"]
    img[:, np.arange(0, n_steps, steps_per_beat * beats_per_bar) * px_step] = col["bar"]
    c_rows = np.flatnonzero((keys + LOWEST_PITCH) % 12 == 0)
    img[c_rows * px_per_key + px_per_key - 1] = col["octave"]
    if 0 < prime_px < width:  # where the generated part begins
        img[:, prime_px] = col["boundary"]

    # notes: cell mask -> pixel mask; colour by region; onset column darker
    cells = on[:n_steps, keys].T  # (rows, steps)
    onset = cells & ~np.concatenate([np.zeros((n_rows, 1), dtype=bool), cells[:, :-1]], axis=1)
    body_h = px_per_key - 1 if px_per_key >= 3 else px_per_key
    keep_row = np.tile(np.arange(px_per_key) < body_h, n_rows)
    pix = np.repeat(np.repeat(cells, px_per_key, axis=0), px_step, axis=1) & keep_row[:, None]
    first_col = np.tile(np.arange(px_step) == 0, n_steps)
    pix_on = np.repeat(np.repeat(onset, px_per_key, axis=0), px_step, axis=1) & keep_row[:, None] & first_col
    in_prime = np.arange(width) < prime_px
    for mask, region, name in (
        (pix, in_prime, "prime_note"),
        (pix, ~in_prime, "generated_note"),
        (pix_on, in_prime, "prime_onset"),
        (pix_on, ~in_prime, "generated_onset"),
    ):
        img[mask & region[None, :]] = col[name]
    return img


def write_roll_png(
    path: str | os.PathLike[str],
    roll: np.ndarray,
    prime_steps: int = 0,
    steps_per_beat: int = 4,
    **options: int,
) -> bytes:
    """Write the piano-roll picture of ``roll`` to ``path``; return the PNG bytes.

    ``options`` are passed to :func:`roll_image` (``beats_per_bar``, ``px_per_step``,
    ``px_per_key``, ``margin_keys``, ``max_width``).
    """
    data = encode_png(roll_image(roll, prime_steps, steps_per_beat, **options))
    target = Path(path)
    try:
        target.write_bytes(data)
    except OSError as exc:
        raise LivegenError(f"cannot write PNG file {target}: {exc.strerror or exc}") from None
    return data
