"""``livegen train roll|lyrics|abc``: fit a model and keep its best checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

from livegen.errors import LivegenError


def _common(p: argparse.ArgumentParser, out: str, epochs: int, window: int, batch: int,
            lr: float) -> None:
    p.add_argument("--out", "-o", default=out, help=f"checkpoint to write (default {out})")
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=batch, help="sequences per batch (per process)")
    p.add_argument("--window", type=int, default=window, help="truncated-BPTT window in steps")
    p.add_argument("--lr", type=float, default=lr, help="Adam learning rate")
    p.add_argument("--clip", type=float, default=5.0, help="gradient-norm clip")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--patience", type=int, default=6, help="early stop after N epochs without improvement")
    p.add_argument("--lr-decay", type=float, default=0.5, help="LR factor after an epoch without improvement")
    p.add_argument("--checkpoint-every", type=int, default=0, metavar="STEPS",
                   help="gradient checkpointing over time: segment length (0 = off)")
    p.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                   help="validate and keep exponentially averaged weights (e.g. 0.999; 0 = off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    p.add_argument("--resume", action="store_true", help="continue from OUT's .train-state.pt")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--dropout", type=float, default=0.3)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model (roll, lyrics or abc)")
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)

    r = kinds.add_parser("roll", help="piano-roll LSTM on a polyphonic set or a MIDI folder")
    r.add_argument("--data", required=True,
                   help="nottingham | jsb | musedata | piano-midi | path to .mat/.pickle/folder of .mid")
    r.add_argument("--steps-per-beat", type=int, default=None, help="grid for MIDI folders (default 4)")
    r.add_argument("--transpose", type=int, default=0, metavar="N",
                   help="augment: random transposition within +-N semitones each epoch")
    r.add_argument("--head", choices=["bernoulli", "nade"], default="bernoulli",
                   help="independent per-key Bernoulli, or a NADE modelling each frame's keys jointly")
    r.add_argument("--nade-hidden", type=int, default=128, help="NADE hidden units (with --head nade)")
    r.add_argument("--input-dropout", type=float, default=0.0, help="dropout on input frames")
    r.add_argument("--copy", type=int, default=0, metavar="N",
                   help="with --head nade: a frame copy head remembering the last N steps (0 = none)")
    r.add_argument("--copy-dim", type=int, default=0, metavar="D",
                   help="learned D-wide query/key projections for the copy head's attention (0 = raw outputs)")
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
        c.add_argument("--embed", type=int, default=256 if kind == "abc" else 64)
        c.add_argument("--label-mode", choices=["embedding", "onehot", "none"], default="embedding")
        if kind == "abc":
            c.add_argument("--transpose-keys", default=None, metavar="LO:HI",
                           help="augment: each epoch show every tune in a random key of its mode with "
                                "LO..HI sharps (negative = flats), e.g. --transpose-keys=-2:4")
        c.add_argument("--copy", type=int, default=0, metavar="N",
                       help="add a copy head remembering the last N positions (repeated phrases; 0 = none)")
        c.add_argument("--init", default=None, metavar="CKPT",
                       help="start from this checkpoint's weights (same data; a new copy head starts fresh)")
        _common(c, out, epochs=30, window=100, batch=32, lr=2e-3)
        c.set_defaults(func=_train_char)


def _config(args: argparse.Namespace):
    from livegen.training.loop import TrainConfig

    for flag, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size), ("--window", args.window)):
        if value < 1:
            raise LivegenError(f"{flag} must be at least 1, got {value}")
    if getattr(args, "copy", 0) < 0:
        raise LivegenError(f"--copy must be 0 (off) or a memory size, got {args.copy}")
    if getattr(args, "copy_dim", 0) < 0:
        raise LivegenError(f"--copy-dim must be 0 (raw outputs) or a width, got {args.copy_dim}")
    if (getattr(args, "copy_dim", 0) or getattr(args, "copy_soft", False)) and not getattr(args, "copy", 0):
        raise LivegenError("--copy-dim and --copy-soft shape a copy head: add --copy N (e.g. --copy 256)")
    if not 0 <= args.ema < 1:
        raise LivegenError(f"--ema must be in [0, 1), got {args.ema}")
    if not args.lr > 0:
        raise LivegenError(f"--lr must be positive, got {args.lr}")

    return TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, window=args.window, lr=args.lr,
        clip=args.clip, weight_decay=args.weight_decay, patience=args.patience,
        checkpoint_every=args.checkpoint_every, seed=args.seed, threads=args.threads,
        lr_decay=args.lr_decay, ema=args.ema,
    )


def _train_roll(args: argparse.Namespace) -> int:
    import torch

    from livegen.commands.progress import ProgressBar
    from livegen.data.polyphonic import load_rolls
    from livegen.nets.nade import NadeConfig, RollNADE
    from livegen.nets.roll import RollConfig, RollLSTM
    from livegen.training.loop import init_distributed, train
    from livegen.training.tasks import init_output_bias, key_frequencies, roll_task

    distributed = init_distributed()
    torch.backends.mkldnn.enabled = False
    data = load_rolls(args.data, args.steps_per_beat)
    if not data.split("train"):
        raise LivegenError(f"dataset {data.name!r} has no training sequences")
    cfg = _config(args)
    torch.manual_seed(cfg.seed)
    if args.copy and args.head != "nade":
        raise LivegenError("--copy needs the joint head: add --head nade")
    if args.head == "nade":
        model = RollNADE(NadeConfig(hidden=args.hidden, layers=args.layers, dropout=args.dropout,
                                    nade_hidden=args.nade_hidden, input_dropout=args.input_dropout,
                                    copy=args.copy, copy_dim=args.copy_dim,
                                    copy_soft=args.copy_soft))
    else:
        model = RollLSTM(RollConfig(hidden=args.hidden, layers=args.layers, dropout=args.dropout,
                                    input_dropout=args.input_dropout))
    if args.init and not args.resume:
        from livegen.nets.checkpoint import warm_start

        warm_start(model, args.init)
    elif not args.resume:
        init_output_bias(model, key_frequencies(data.split("train")))
    task = roll_task(data, args.transpose)
    if args.head == "nade":
        task.loss_fn = model.frame_nll
    meta = {"data": data.name, "steps_per_beat": data.steps_per_beat,
            "train": {"transpose": args.transpose, "init": args.init}}
    result = train(model, task, cfg, args.out, meta,
                   progress=ProgressBar("frames"), resume=args.resume)
    rank = torch.distributed.get_rank() if distributed else 0
    if distributed:  # leave together: a rank exiting early aborts its peers' gloo sockets
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    if rank == 0:
        print(f"best valid NLL {result.best_valid_nll:.4f} nats/frame at epoch {result.best_epoch}; "
              f"{result.steps_per_s:,.0f} frames/s; wrote {Path(args.out)}")
    return 0


def _key_range(spec: str | None) -> tuple[int, int] | None:
    """``"-2:4"`` -> ``(-2, 4)`` (signatures from 2 flats to 4 sharps); None stays None."""
    if spec is None:
        return None
    try:
        lo, hi = (int(v) for v in spec.split(":"))
    except ValueError:
        raise LivegenError(f"--transpose-keys wants LO:HI sharps such as -2:4, got {spec!r}") from None
    if not -7 <= lo <= hi <= 7:
        raise LivegenError(f"--transpose-keys {spec}: need -7 <= LO <= HI <= 7 (flats negative)")
    return lo, hi


def _train_char(args: argparse.Namespace) -> int:
    import torch

    from livegen.commands.progress import ProgressBar

    try:
        from livegen.training.char_tasks import train_char_model
    except ModuleNotFoundError:
        raise LivegenError("character models are not available in this build") from None
    torch.backends.mkldnn.enabled = False
    result = train_char_model(
        kind=args.kind, data=args.data, out=args.out, cfg=_config(args), hidden=args.hidden,
        layers=args.layers, embed=args.embed, label_mode=args.label_mode,
        progress=ProgressBar("chars"), dropout=args.dropout, resume=args.resume,
        transpose_keys=_key_range(getattr(args, "transpose_keys", None)), copy=args.copy,
        init=args.init,
    )
    print(f"best valid NLL {result.best_valid_nll:.4f} nats/char at epoch {result.best_epoch}; "
          f"wrote {Path(args.out)}")
    return 0
