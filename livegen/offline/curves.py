"""Training curves: the loss and validation NLL per epoch, drawn with matplotlib."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: never a window

import matplotlib.pyplot as plt  # noqa: E402

from livegen.errors import LivegenError  # noqa: E402


@dataclass(frozen=True)
class EpochRecord:
    """One epoch: its mean training NLL, its validation NLL and the best so far (nats per
    frame or character)."""

    epoch: int
    train_nll: float
    valid_nll: float
    best_nll: float


def plot_curves(path: Path, history: list[EpochRecord], *, unit: str = "frame", title: str = "") -> None:
    """Draw training and validation NLL against the epoch to ``path`` (PNG, 1200x700 px).

    Raises:
        LivegenError: nothing to draw (no epoch finished), or a file that cannot be written.
    """
    if not history:
        raise LivegenError(f"no epoch finished: nothing to plot in {path}")
    epochs = [r.epoch for r in history]
    fig, ax = plt.subplots(figsize=(12, 7), dpi=100)
    try:
        ax.plot(epochs, [r.train_nll for r in history], marker="o", label="training")
        ax.plot(epochs, [r.valid_nll for r in history], marker="o", label="validation")
        best = min(history, key=lambda r: r.valid_nll)
        ax.scatter([best.epoch], [best.valid_nll], s=120, facecolors="none", edgecolors="k",
                   label=f"best validation {best.valid_nll:.4f} (epoch {best.epoch})", zorder=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"NLL (nats per {unit})")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        try:
            fig.savefig(path)
        except OSError as exc:
            raise LivegenError(f"cannot write {path}: {exc.strerror}; choose another --plot path") from exc
    finally:
        plt.close(fig)
