"""The terminal view while playing: mode, bar/beat, temperature, notes, timing."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TextIO

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_name(pitch: int) -> str:
    """``60`` -> ``C4``."""
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


def _pitches(value: object) -> list[int]:
    """The MIDI pitches of a status entry (``sounding``/``held``: a list of ints)."""
    return [p for p in value if isinstance(p, int)] if isinstance(value, list) else []


def _names(value: object) -> list[str]:
    """The names of a status entry (``parts``, ``parts_muted``: a list of str)."""
    return [n for n in value if isinstance(n, str)] if isinstance(value, list) else []


class LiveView:
    """Redraws one status line on a terminal; prints a line per bar to pipes and logs, and
    one at once when the status changes (``output lost: <name>``, ``muted``, ...).

    It is called with the engine's status snapshot (``Engine.status()``): ``status``,
    ``mode``, ``bar``, ``beat``, ``bpm``, ``temperature``, ``sounding`` and ``held`` (MIDI
    pitches), ``compute_ms`` (last step's model time, ms), ``late_steps`` and
    ``lateness_ms`` (ms); with ``--clock link`` also ``link_peers``, ``link_tempo`` (BPM)
    and ``link_phase`` (beats into the session's bar); with ``--set`` also ``preset`` (the
    preset in force, or None); with ``--parts`` also ``parts``, ``parts_muted`` and
    ``parts_soloed`` (names).
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last_bar: object = -1
        self._last_status: object = None

    def line(self, s: Mapping[str, object]) -> str:
        """One status line (no newline)."""
        playing = " ".join(note_name(p) for p in _pitches(s["sounding"])[:8]) or "-"
        held = " ".join(note_name(p) for p in _pitches(s["held"])[:6]) or "-"
        link = ""
        if "link_peers" in s:
            peers = s["link_peers"]
            link = (f"Link {peers} peer{'' if peers == 1 else 's'} {s['link_tempo']:5.1f} bpm "
                    f"phase {s['link_phase']:4.2f} | ")
        preset = f"preset {s['preset'] or '-'} | " if "preset" in s else ""
        parts = ""
        names, muted, soloed = (_names(s.get(k)) for k in ("parts", "parts_muted", "parts_soloed"))
        if names:
            parts = "parts " + " ".join(
                f"{name}{' (muted)' if name in muted else ''}{' (solo)' if name in soloed else ''}"
                for name in names) + " | "
        return (f"{s['status']:>9} | {preset}{parts}{s['mode']:<9} | bar {s['bar']:>3}.{s['beat']} | "
                f"{s['bpm']:5.1f} bpm | {link}T {s['temperature']:.2f} | you: {held:<14} | "
                f"livegen: {playing:<22} | step {s['compute_ms']:.2f} ms | "
                f"late {s['late_steps']} ({s['lateness_ms']:.1f} ms)")

    def __call__(self, status: Mapping[str, object]) -> None:
        if self.tty:
            self.stream.write("\r" + self.line(status)[:200] + "\033[K")
            self.stream.flush()
        elif status["bar"] != self._last_bar or status["status"] != self._last_status:
            self._last_bar, self._last_status = status["bar"], status["status"]
            self.stream.write(self.line(status) + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
