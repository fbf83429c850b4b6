"""The terminal view while playing: mode, bar/beat, temperature, notes, timing."""

from __future__ import annotations

import sys
from typing import TextIO

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def note_name(pitch: int) -> str:
    return f"{NOTE_NAMES[pitch % 12]}{pitch // 12 - 1}"


class LiveView:
    """Redraws one status line on a terminal; prints a line per bar to pipes and logs."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last_bar = -1

    def line(self, s: dict) -> str:
        playing = " ".join(note_name(p) for p in s["sounding"][:8]) or "-"
        held = " ".join(note_name(p) for p in s["held"][:6]) or "-"
        return (f"{s['status']:>9} | {s['mode']:<9} | bar {s['bar']:>3}.{s['beat']} | "
                f"{s['bpm']:5.1f} bpm | T {s['temperature']:.2f} | you: {held:<14} | "
                f"livegen: {playing:<22} | step {s['compute_ms']:.2f} ms | "
                f"late {s['late_steps']} ({s['lateness_ms']:.1f} ms)")

    def __call__(self, status: dict) -> None:
        if self.tty:
            self.stream.write("\r" + self.line(status)[:200] + "\033[K")
            self.stream.flush()
        elif status["bar"] != self._last_bar:
            self._last_bar = status["bar"]
            self.stream.write(self.line(status) + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
