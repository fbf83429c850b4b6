"""abc2midi as an independent peer: what another ABC program makes of livegen's tunes.

``abc2midi`` (Debian package ``abcmidi``) converts ABC to MIDI and prints a warning for every
bar whose length does not fit the meter::

    Warning in line-char 7-14 : Track 0 Bar 2 has 2 time units while the time signature has 6

(a second warning ending ``in repeat`` comes when a repeat plays the same written bar again).
:func:`run_abc2midi` converts one tune and returns those warnings, its errors and the notes of
its MIDI file, so that the bars livegen generates and the notes it plays can be checked by a
program that shares none of livegen's code.

Bars off the meter are counted once per written bar (a warning's ``line-char`` position),
whichever passes of a repeat warn about it; a short first bar (a pickup) draws no warning.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pretty_midi

from livegen.errors import LivegenError

#: how to get the peer when it is missing.
INSTALL_HINT = "install abc2midi (apt-get install abcmidi)"

_BAR_WARNING_RE = re.compile(r"in line-char (\d+)-(\d+) : Track \d+ Bar (\d+) has (\S+) time units "
                             r"while the time signature has (\S+)( in repeat)?")

#: onsets closer than this (in quarter-note beats) are the same onset: abc2midi starts notes
#: about 1 ms late and staggers the notes of a chord by 10 ms.
ONSET_TOLERANCE = 0.05


@dataclass(frozen=True)
class BarWarning:
    """One abc2midi bar-length warning: ``line`` and ``column`` (1-based, of the bar's end)
    in the file abc2midi read, its ``bar`` number, the bar's length and the meter's (both as
    abc2midi prints them, in the meter's beats) and whether a repeat pass drew it."""

    line: int
    column: int
    bar: int
    length: str
    meter: str
    repeat: bool


@dataclass(frozen=True)
class PeerResult:
    """What abc2midi made of one tune.

    Attributes:
        bar_warnings: its bar-length warnings, in the order printed.
        errors: its ``Error`` lines.
        notes: ``(onset in quarter-note beats, MIDI pitch)`` of every note of its MIDI file,
            sorted.
        output: everything it printed.
    """

    bar_warnings: tuple[BarWarning, ...]
    errors: tuple[str, ...]
    notes: tuple[tuple[float, int], ...]
    output: str

    @property
    def bars_off(self) -> int:
        """Written bars off the meter: distinct positions among the bar warnings."""
        return len({(w.line, w.column) for w in self.bar_warnings})


def abc2midi_path() -> str | None:
    """The ``abc2midi`` executable, or None when it is not installed."""
    return shutil.which("abc2midi")


def run_abc2midi(text: str, workdir: str | Path | None = None, timeout_s: float = 30.0) -> PeerResult:
    """Convert one ABC tune with abc2midi and read back its warnings and notes.

    Args:
        text: one tune (``X:`` header to the end), exactly as it is to be checked.
        workdir: folder for the ``.abc`` and ``.mid`` files (a temporary one by default).
        timeout_s: seconds abc2midi may take.

    Chord symbols and grace notes are not played (``-NGUI -NGRA``), as livegen skips them.

    Raises:
        LivegenError: abc2midi is not installed, fails, or writes no MIDI file.
    """
    exe = abc2midi_path()
    if exe is None:
        raise LivegenError(f"abc2midi is not installed; {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        src, out = Path(tmp) / "tune.abc", Path(tmp) / "tune.mid"
        src.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        try:
            done = subprocess.run([exe, str(src), "-o", str(out), "-NGUI", "-NGRA"], capture_output=True,
                                  text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise LivegenError(f"abc2midi took more than {timeout_s:g} s on one tune") from None
        printed = done.stdout + done.stderr
        if not out.is_file():
            raise LivegenError(f"abc2midi wrote no MIDI file (exit {done.returncode}): {printed.strip()[-300:]}")
        notes = _midi_notes(out)
    warnings = tuple(BarWarning(int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4), m.group(5),
                                m.group(6) is not None)
                     for m in _BAR_WARNING_RE.finditer(printed))
    errors = tuple(line.strip() for line in printed.splitlines() if line.lstrip().startswith("Error"))
    return PeerResult(warnings, errors, notes, printed)


def _midi_notes(path: Path) -> tuple[tuple[float, int], ...]:
    """``(onset beats, pitch)`` of a MIDI file's notes at its first tempo, sorted."""
    midi = pretty_midi.PrettyMIDI(str(path))
    tempi = midi.get_tempo_changes()[1]
    beat_s = 60.0 / float(tempi[0]) if len(tempi) else 0.5
    return tuple(sorted((n.start / beat_s, n.pitch) for inst in midi.instruments for n in inst.notes))


def midi_notes(midi: pretty_midi.PrettyMIDI) -> tuple[tuple[float, int], ...]:
    """``(onset beats, pitch)`` of a PrettyMIDI's notes at its first tempo, sorted."""
    tempi = midi.get_tempo_changes()[1]
    beat_s = 60.0 / float(tempi[0]) if len(tempi) else 0.5
    return tuple(sorted((n.start / beat_s, n.pitch) for inst in midi.instruments for n in inst.notes))


def same_notes(ours: tuple[tuple[float, int], ...], theirs: tuple[tuple[float, int], ...],
               tolerance: float = ONSET_TOLERANCE) -> str | None:
    """None when both note lists have the same pitches at the same onsets (within
    ``tolerance`` beats), else a one-line description of the first difference."""
    if len(ours) != len(theirs):
        return f"{len(ours)} notes against abc2midi's {len(theirs)}" + _first_diff(ours, theirs, tolerance)
    diff = _first_diff(ours, theirs, tolerance)
    return diff or None


def _first_diff(ours: tuple[tuple[float, int], ...], theirs: tuple[tuple[float, int], ...],
                tolerance: float) -> str:
    a = sorted(ours, key=lambda n: (round(n[0] / tolerance), n[1]))
    b = sorted(theirs, key=lambda n: (round(n[0] / tolerance), n[1]))
    for k, (x, y) in enumerate(zip(a, b, strict=False)):
        if x[1] != y[1] or abs(x[0] - y[0]) > tolerance:
            return f"; note {k}: livegen pitch {x[1]} at beat {x[0]:.3f}, abc2midi pitch {y[1]} at beat {y[0]:.3f}"
    return ""
