"""``livegen train roll|lyrics|abc``: fit a model and keep its best checkpoint.

Every numeric option is checked while the command line is parsed (bounds in the parser,
through :func:`livegen.commands.options.number`), so a bad value is one line and exit
status 2 before any data is loaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from livegen.commands.options import number
from livegen.commands.progress import ProgressBar
from livegen.errors import LivegenError
from livegen.nets.runtime import disable_onednn
from livegen.offline.curves import plot_curves
from livegen.training.char_tasks import train_char_model
from livegen.training.loop import TrainConfig
from livegen.training.roll import RollModelSpec, train_roll_model

#: largest sizes, counts and lengths the parser accepts; far above anything trained on CPU.
MAX_UNITS = 8192
MAX_STEPS = 100_000
MAX_COPY = 65_536


def _num(p: argparse.ArgumentParser, flag: str, kind: type[int] | type[float], low: float, high: float,
         default: Any, help: str = "", unit: str = "", **kw: Any) -> None:
    """Add a bounded numeric option; its range ends up in ``--help`` too."""
    ends = [f"{int(v)}" if kind is int else f"{v:g}" for v in (low, high)]
    range_text = f"{ends[0]}..{ends[1]}{' ' + unit if unit else ''}"
    text = f"{help} ({range_text})" if help else range_text
    p.add_argument(flag, type=number(kind, low, high, unit), default=default, help=text, **kw)


def _common(p: argparse.ArgumentParser, out: str, epochs: int, window: int, batch: int,
            lr: float) -> None:
    p.add_argument("--out", "-o", default=out, help=f"checkpoint to write (default {out})")
    _num(p, "--epochs", int, 1, MAX_STEPS, epochs, "passes over the training set")
    _num(p, "--batch-size", int, 1, 4096, batch, "sequences per batch (per process)")
    _num(p, "--window", int, 1, MAX_STEPS, window, "truncated-BPTT window", "steps")
    _num(p, "--lr", float, 1e-7, 1.0, lr, "Adam learning rate")
    _num(p, "--clip", float, 1e-3, 1e4, 5.0, "gradient-norm clip")
    _num(p, "--weight-decay", float, 0.0, 1.0, 0.0, "Adam L2 penalty")
    _num(p, "--patience", int, 1, MAX_STEPS, 6, "early stop after N epochs without improvement")
    _num(p, "--lr-decay", float, 0.01, 1.0, 0.5, "LR factor after an epoch without improvement")
    _num(p, "--checkpoint-every", int, 0, MAX_STEPS, 0,
         "gradient checkpointing over time: segment length (0 = off)", "steps", metavar="STEPS")
    _num(p, "--ema", float, 0.0, 0.999999, 0.0,
         "validate and keep exponentially averaged weights (e.g. 0.999; 0 = off)", metavar="DECAY")
    _num(p, "--seed", int, 0, 2**32 - 1, 0)
    _num(p, "--threads", int, 0, 1024, 0, "torch threads (0 = default)")
    p.add_argument("--resume", action="store_true", help="continue from OUT's .train-state.pt")
    p.add_argument("--plot", type=Path, default=None, metavar="PNG",
                   help="also draw the training and validation NLL per epoch to this PNG")
    _num(p, "--hidden", int, 1, MAX_UNITS, 256, "LSTM units per layer")
    _num(p, "--layers", int, 1, 16, 2, "stacked LSTM layers")
    _num(p, "--dropout", float, 0.0, 0.9, 0.3)


def register(p: argparse.ArgumentParser) -> None:
    """Add this command's options to its parser ``p`` and set ``func``."""
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)

    r = kinds.add_parser("roll", help="piano-roll LSTM on a polyphonic set or a MIDI folder")
    r.add_argument("--data", required=True,
                   help="nottingham | jsb | musedata | piano-midi | path to .mat/.pickle/folder of .mid")
    _num(r, "--steps-per-beat", int, 1, 96, None, "grid for MIDI folders (default 4)")
    _num(r, "--transpose", int, 0, 12, 0, "augment: random transposition within +-N semitones each epoch",
         metavar="N")
    r.add_argument("--head", choices=["bernoulli", "nade"], default="bernoulli",
                   help="independent per-key Bernoulli, or a NADE modelling each frame's keys jointly")
    _num(r, "--nade-hidden", int, 1, MAX_UNITS, 128, "NADE hidden units (with --head nade)")
    _num(r, "--input-dropout", float, 0.0, 0.9, 0.0, "dropout on input frames")
    _num(r, "--copy", int, 0, MAX_COPY, 0,
         "with --head nade: a frame copy head remembering the last N steps (0 = none)", metavar="N")
    _num(r, "--copy-dim", int, 0, MAX_UNITS, 0,
         "learned D-wide query/key projections for the copy head's attention (0 = raw outputs)", metavar="D")
    r.add_argument("--copy-soft", action="store_true",
                   help="also feed the copy head's attended frame into the NADE (partial repeats)")
    r.add_argument("--init", default=None, metavar="CKPT",
                   help="start from this checkpoint's weights (same kind and sizes; a new copy head starts fresh)")
    _common(r, "roll.pt", epochs=100, window=50, batch=8, lr=2e-3)
    r.set_defaults(func=_train_roll)

    for kind, help_text, out in (
        ("lyrics", "char-level lyrics LSTM (CSV or text files/folders, one label per file)", "lyrics.pt"),
        ("abc", "char-level ABC LSTM on an .abc tune collection", "abc.pt"),
    ):
        c = kinds.add_parser(kind, help=help_text)
        c.add_argument("--data", required=True, help="path to the data (file or folder)")
        _num(c, "--embed", int, 1, MAX_UNITS, 256 if kind == "abc" else 64, "character embedding width")
        c.add_argument("--label-mode", choices=["embedding", "onehot", "none"], default="embedding")
        if kind == "abc":
            c.add_argument("--transpose-keys", type=_key_range, default=None, metavar="LO:HI",
                           help="augment: each epoch show every tune in a random key of its mode with "
                                "LO..HI sharps (negative = flats), e.g. --transpose-keys=-2:4")
        _num(c, "--copy", int, 0, MAX_COPY, 0,
             "add a copy head remembering the last N positions (repeated phrases; 0 = none)", metavar="N")
        c.add_argument("--init", default=None, metavar="CKPT",
                       help="start from this checkpoint's weights (same data; a new copy head starts fresh)")
        _common(c, out, epochs=30, window=100, batch=32, lr=2e-3)
        c.set_defaults(func=_train_char)


def _config(args: argparse.Namespace) -> TrainConfig:
    """The training config; also checks the options that only make sense together.

    Single values were checked by the parser; this runs before any data is loaded.
    """

    if (getattr(args, "copy_dim", 0) or getattr(args, "copy_soft", False)) and not getattr(args, "copy", 0):
        raise LivegenError("--copy-dim and --copy-soft shape a copy head: add --copy N (e.g. --copy 256)")
    if getattr(args, "copy", 0) and getattr(args, "head", "nade") != "nade":
        raise LivegenError("--copy needs the joint head: add --head nade")
    return TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, window=args.window, lr=args.lr,
        clip=args.clip, weight_decay=args.weight_decay, patience=args.patience,
        checkpoint_every=args.checkpoint_every, seed=args.seed, threads=args.threads,
        lr_decay=args.lr_decay, ema=args.ema,
    )


def _plot(args: argparse.Namespace, bar: ProgressBar, unit: str) -> None:
    """Draw ``--plot`` from the epochs the progress bar saw."""
    if args.plot is not None:
        plot_curves(args.plot, bar.history, unit=unit, title=f"livegen train {args.kind} --data {args.data}")
        print(f"wrote {args.plot}")


def _train_roll(args: argparse.Namespace) -> int:
    spec = RollModelSpec(head=args.head, hidden=args.hidden, layers=args.layers, dropout=args.dropout,
                         nade_hidden=args.nade_hidden, input_dropout=args.input_dropout, copy=args.copy,
                         copy_dim=args.copy_dim, copy_soft=args.copy_soft)
    bar = ProgressBar("frames")
    try:
        outcome = train_roll_model(args.data, args.out, _config(args), spec, steps_per_beat=args.steps_per_beat,
                                   transpose=args.transpose, init=args.init, resume=args.resume, progress=bar)
    finally:
        bar.close()  # an error's one line starts on a line of its own
    if outcome.rank == 0:
        r = outcome.result
        print(f"best valid NLL {r.best_valid_nll:.4f} nats/frame at epoch {r.best_epoch}; "
              f"{r.steps_per_s:,.0f} frames/s; wrote {Path(args.out)}")
        _plot(args, bar, "frame")
    return 0


def _key_range(spec: str) -> tuple[int, int]:
    """Option type of ``--transpose-keys``: ``"-2:4"`` -> ``(-2, 4)`` (2 flats to 4 sharps)."""
    try:
        lo, hi = (int(v) for v in spec.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"wants LO:HI sharps such as -2:4, got {spec!r}") from None
    if not -7 <= lo <= hi <= 7:
        raise argparse.ArgumentTypeError(f"{spec}: need -7 <= LO <= HI <= 7 (flats negative)")
    return lo, hi


def _train_char(args: argparse.Namespace) -> int:
    disable_onednn()
    bar = ProgressBar("chars")
    try:
        result = train_char_model(
            kind=args.kind, data=args.data, out=args.out, cfg=_config(args), hidden=args.hidden,
            layers=args.layers, embed=args.embed, label_mode=args.label_mode,
            progress=bar, dropout=args.dropout, resume=args.resume,
            transpose_keys=args.transpose_keys if args.kind == "abc" else None, copy=args.copy,
            init=args.init,
        )
    finally:
        bar.close()
    print(f"best valid NLL {result.best_valid_nll:.4f} nats/char at epoch {result.best_epoch}; "
          f"wrote {Path(args.out)}")
    _plot(args, bar, "character")
    return 0
