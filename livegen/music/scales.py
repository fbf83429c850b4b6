"""Keys and scales as pitch-class masks."""

from __future__ import annotations

from livegen.errors import LivegenError

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLATS = {"DB": "C#", "EB": "D#", "GB": "F#", "AB": "G#", "BB": "A#", "CB": "B", "FB": "E",
          "E#": "F", "B#": "C"}

#: scale name -> semitone steps from the tonic.
SCALES: dict[str, tuple[int, ...]] = {
    "chromatic": tuple(range(12)),
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "harmonic-minor": (0, 2, 3, 5, 7, 8, 11),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "pentatonic": (0, 2, 4, 7, 9),
    "minor-pentatonic": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
}


def tonic_pitch_class(name: str) -> int:
    """``"C"`` -> 0, ``"f#"`` -> 6, ``"Bb"`` -> 10."""
    key = name.strip().upper().replace("♯", "#").replace("♭", "B")
    if len(key) == 2 and key[1] == "B" and key[0] in "ABCDEFG":
        key = _FLATS.get(key, key)
    key = _FLATS.get(key, key)
    if key not in NOTE_NAMES:
        raise LivegenError(f"unknown key {name!r}; use one of {', '.join(NOTE_NAMES)} (or flats like Bb)")
    return NOTE_NAMES.index(key)


def pitch_class_mask(tonic: str | int, scale: str = "major") -> tuple[bool, ...]:
    """12 bools, C first, true for the pitch classes of ``scale`` on ``tonic``."""
    if scale not in SCALES:
        raise LivegenError(f"unknown scale {scale!r}; use one of {', '.join(SCALES)}")
    root = tonic if isinstance(tonic, int) else tonic_pitch_class(tonic)
    allowed = {(root + step) % 12 for step in SCALES[scale]}
    return tuple(pc in allowed for pc in range(12))
