"""Training progress on stderr with tqdm (a bar per epoch: loss, speed, ETA), a line per
epoch's validation, and the history a ``--plot`` draws."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from tqdm import tqdm

from livegen.offline.curves import EpochRecord
from livegen.training.loop import Progress


class ProgressBar:
    """Callable for :func:`livegen.training.loop.train`'s ``progress`` hook.

    Each epoch gets a tqdm bar over its batches (on a terminal it redraws in place; in a
    log tqdm writes a few lines); each validation is one line, and goes into
    :attr:`history` (one :class:`~livegen.offline.curves.EpochRecord` per epoch).
    """

    def __init__(self, unit: str = "frames", stream: TextIO | None = None) -> None:
        self.unit = unit
        self.stream = stream or sys.stderr
        self.history: list[EpochRecord] = []
        self._bar: Any = None
        self._epoch = 0

    def __call__(self, p: Progress) -> None:
        if p.valid_nll is not None:
            self._close()
            best = p.best_nll if p.best_nll is not None else p.valid_nll
            self.history.append(EpochRecord(p.epoch, p.loss, p.valid_nll, best))
            mark = " *best*" if p.improved else ""
            tqdm.write(f"epoch {p.epoch}/{p.epochs} train NLL {p.loss:.4f} valid NLL {p.valid_nll:.4f} "
                       f"(best {best:.4f}) {p.steps_per_s:,.0f} {self.unit}/s{mark}", file=self.stream)
            return
        if self._bar is None or self._epoch != p.epoch:
            self._close()
            self._epoch = p.epoch
            self._bar = tqdm(total=p.batches, desc=f"epoch {p.epoch}/{p.epochs}", unit="batch",
                             file=self.stream, leave=False, mininterval=0.5 if self.stream.isatty() else 30.0)
        self._bar.set_postfix_str(f"loss {p.loss:.4f}, {p.steps_per_s:,.0f} {self.unit}/s", refresh=False)
        self._bar.update(p.batch - self._bar.n)

    def close(self) -> None:
        """Clear an epoch's bar left open (training stopped inside an epoch)."""
        self._close()

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
