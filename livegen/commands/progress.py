"""A one-line training progress bar on stderr (loss, NLL, speed, ETA)."""

from __future__ import annotations

import sys
from typing import TextIO

from livegen.training.loop import Progress


def _clock(seconds: float) -> str:
    s = int(max(seconds, 0))
    return f"{s // 3600:d}:{s % 3600 // 60:02d}:{s % 60:02d}"


class ProgressBar:
    """Callable for :func:`livegen.training.loop.train`'s ``progress`` hook."""

    def __init__(self, unit: str = "frames", stream: TextIO | None = None, width: int = 24) -> None:
        self.unit = unit
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()

    def __call__(self, p: Progress) -> None:
        if p.valid_nll is not None:
            mark = " *best*" if p.improved else ""
            self.stream.write(
                f"\repoch {p.epoch}/{p.epochs}  train NLL {p.loss:.4f}  valid NLL {p.valid_nll:.4f}"
                f"  (best {p.best_nll:.4f})  {p.steps_per_s:,.0f} {self.unit}/s{mark}\033[K\n"
                if self.tty else
                f"epoch {p.epoch}/{p.epochs} train NLL {p.loss:.4f} valid NLL {p.valid_nll:.4f} "
                f"(best {p.best_nll:.4f}) {p.steps_per_s:,.0f} {self.unit}/s{mark}\n"
            )
            self.stream.flush()
            return
        if not self.tty and p.batch % max(p.batches // 4, 1):
            return  # logs and pipes get a few lines per epoch, not a carriage-return storm
        done = int(self.width * p.batch / max(p.batches, 1))
        bar = "#" * done + "." * (self.width - done)
        line = (f"epoch {p.epoch}/{p.epochs} [{bar}] {p.batch}/{p.batches}  loss {p.loss:.4f}"
                f"  {p.steps_per_s:,.0f} {self.unit}/s  ETA {_clock(p.eta_s)}")
        self.stream.write(f"\r{line}\033[K" if self.tty else line + "\n")
        self.stream.flush()
