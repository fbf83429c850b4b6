"""The README's listening picture: livegen's answer in F# major beside the real continuation.

The first Nottingham test piece (with 12 bars or more) whose 4-bar opening is in a major key
is moved to F# major, a key no training piece is in. The shipped ``nottingham`` model hears
the opening and answers 8 bars with every control at its default (``render_roll``: the live
engine's path); below it, the same opening and the piece's real next 8 bars, moved alike.
The figures of both (as benchmarks/continuations.py measures them) go in the title.

    python -m benchmarks.answer_picture [--model nottingham] [--seed 0] [-o docs/answer-f-sharp.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.continuations import ANSWER_BARS, BEATS_PER_BAR, PRIME_BARS, features  # noqa: E402
from livegen.controls.table import ControlState  # noqa: E402
from livegen.data.polyphonic import load_rolls, transpose  # noqa: E402
from livegen.music.keyboard import LOWEST_PITCH  # noqa: E402
from livegen.music.keys import Key, roll_key  # noqa: E402
from livegen.nets.checkpoint import load_checkpoint  # noqa: E402
from livegen.nets.manifest import resolve_model  # noqa: E402
from livegen.nets.runtime import configure_for_stepping  # noqa: E402
from livegen.offline.render import render_roll  # noqa: E402
from livegen.offline.roll_plot import note_name, roll_image  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "answer-f-sharp.png"
TARGET = Key(6, "major")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="nottingham")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--out", type=Path, default=OUT)
    args = ap.parse_args()
    configure_for_stepping(1)
    model, meta = load_checkpoint(resolve_model(args.model))
    spb = int(meta.get("steps_per_beat") or 2)
    bar = BEATS_PER_BAR * spb
    need = (PRIME_BARS + ANSWER_BARS) * bar
    pieces = load_rolls(str(meta["data"]), spb).split("test")
    openings = [(i, p, roll_key(p[:PRIME_BARS * bar].astype(bool))) for i, p in enumerate(pieces) if len(p) >= need]
    found = next(((i, p, k) for i, p, k in openings if k is not None and k.mode == "major"), None)
    if found is None:
        raise SystemExit("no test piece with a major opening")
    index, piece, key = found
    shift = (TARGET.tonic - key.tonic + 6) % 12 - 6
    moved = transpose(piece, shift).astype(bool)[:need]
    opening, real = moved[:PRIME_BARS * bar], moved[PRIME_BARS * bar:]
    heard = roll_key(opening)
    assert heard is not None
    result = render_roll(model, ANSWER_BARS, ControlState(), seed=args.seed, prime=opening, steps_per_beat=spb,
                         beats_per_bar=BEATS_PER_BAR, meta=meta)
    rows = (("livegen's answer", result.generated), ("the real continuation", real))
    both = np.concatenate([opening, result.generated, real])
    used = np.flatnonzero(both.any(axis=0))
    low, high = int(used.min()) + LOWEST_PITCH - 2, int(used.max()) + LOWEST_PITCH + 2
    beats = need / spb
    fig, axes = plt.subplots(2, 1, figsize=(14, 8.5), dpi=90, sharex=True)
    for ax, (label, cont) in zip(axes, rows, strict=True):
        f = features(cont, heard, spb)
        image = roll_image(np.concatenate([opening, cont]), None, len(opening), low, high)
        ax.imshow(image, origin="lower", aspect="auto", interpolation="nearest",
                  extent=(0, beats, low - 0.5, high + 0.5))
        for beat in range(int(beats) + 1):
            ax.axvline(beat, color="#555555" if beat % BEATS_PER_BAR == 0 else "#dddddd",
                       linewidth=1.2 if beat % BEATS_PER_BAR == 0 else 0.6, zorder=0.5)
        ax.axvline(len(opening) / spb, color="#c81e1e", linewidth=1.5)
        ticks = [p for p in range(low, high + 1) if p % 12 in (0, 6)]
        ax.set_yticks(ticks, [note_name(p) for p in ticks])
        notes = max(f["notes"], 1.0)
        ax.set_title(f"{label}: in F# major's scale {f['in_scale_notes'] / notes:.0%}, outside the tonic triad "
                     f"{f['outside_triad_notes'] / notes:.0%}, pitch-class entropy {f['entropy_bits']:.2f} bits, "
                     f"{f['notes'] / f['beats']:.2f} onsets a beat, key {roll_key(cont).name if cont.any() else '-'}",
                     fontsize=10)
        ax.set_ylabel("pitch")
    bar_ticks = list(range(0, int(beats) + 1, BEATS_PER_BAR))
    axes[1].set_xticks(bar_ticks, [str(b // BEATS_PER_BAR + 1) for b in bar_ticks])
    axes[1].set_xlabel("bar (the first 4: the opening the model heard, in the prime's colour)")
    fig.suptitle(f"`{args.model}` (trained on pieces in C) answering Nottingham test piece {index + 1} moved to "
                 f"{heard.name}, seed {args.seed}, every control at its default")
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    plt.close(fig)
    print(f"wrote {args.out}: piece {index + 1}, shift {shift:+d}, opening in {heard.name}")


if __name__ == "__main__":
    main()
