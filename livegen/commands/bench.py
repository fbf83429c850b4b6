"""``livegen bench``: measure the live engine's timing over real JACK ports."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from livegen.bench.engine import BenchOptions, format_table, run_benchmark
from livegen.errors import LivegenError


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The benchmark's options (shared with ``benchmarks/engine_bench.py``)."""
    p.add_argument("--model", default="nottingham", help="shipped model name or roll checkpoint path")
    p.add_argument("--seconds", type=float, default=60.0, help="length of each condition in seconds")
    p.add_argument("--bpm", type=float, default=240.0)
    p.add_argument("--steps-per-beat", type=int, default=4, help="grid steps per beat (4 = sixteenths)")
    p.add_argument("--conditions", default="idle,loaded",
                   help="comma list: idle (nothing added) and/or loaded (a busy-loop process on the other core)")
    p.add_argument("--jack-period", type=int, default=32,
                   help="JACK frames per period at 48 kHz: the MIDI transport quantum (32 = 0.67 ms)")
    p.add_argument("--jack-realtime", action=argparse.BooleanOptionalAction, default=True,
                   help="run the benchmark's jackd with -R (SCHED_FIFO threads, as a live rig does) "
                        "or with --no-realtime")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--step-ahead", action=argparse.BooleanOptionalAction, default=True,
                   help="compute each step ahead on a worker thread, as livegen play does "
                        "(--no-step-ahead: compute the whole step at its deadline, for comparison)")
    p.add_argument("--spaced-steps", type=int, default=200,
                   help="model steps timed outside the engine at its period (1000 more back to back)")


def options_from(args: argparse.Namespace) -> BenchOptions:
    """The benchmark's options from parsed arguments; raises LivegenError on bad values."""

    if args.seconds < 2:
        raise LivegenError("--seconds must be at least 2")
    if not 16 <= args.jack_period <= 4096:
        raise LivegenError("--jack-period must be 16..4096 frames")
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    return BenchOptions(model=args.model, seconds=args.seconds, bpm=args.bpm,
                        steps_per_beat=args.steps_per_beat, jack_period=args.jack_period,
                        jack_realtime=args.jack_realtime, seed=args.seed, conditions=conditions,
                        step_ahead=args.step_ahead, spaced_steps=max(1, args.spaced_steps))


def register(p: argparse.ArgumentParser) -> None:
    """Add this command's options to its parser ``p`` and set ``func``."""
    add_arguments(p)
    p.add_argument("--json", type=Path, default=None, metavar="PATH", help="also write the figures here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    options = options_from(args)
    print(f"livegen bench: {options.model} at {options.bpm:g} BPM, {options.steps_per_beat} steps/beat, "
          f"{options.seconds:g} s per condition ({', '.join(options.conditions)})", file=sys.stderr)
    doc = run_benchmark(options)
    print(format_table(doc))
    if args.json is not None:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")
    return 0
