"""``livegen lyrics``: print lines from a character-level lyrics model.

The first line begins with ``--prime``; each further line continues the same kept state.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from livegen.commands.options import number
from livegen.nets.manifest import resolve_model
from livegen.nets.runtime import disable_onednn
from livegen.training.char_tasks import load_char_model
from livegen.voices.text import SEPARATOR, TextGenerator


def register(p: argparse.ArgumentParser) -> None:
    """Add this command's options to its parser ``p`` and set ``func``."""
    p.add_argument("--model", "-m", default="lyrics",
                   help="shipped model name or checkpoint path (default: lyrics)")
    p.add_argument("--artist", "--label", dest="artist", default=None,
                   help="label to condition on (artist or collection; see --list-labels)")
    p.add_argument("--prime", default="", help="text the first line starts with")
    p.add_argument("--lines", "-n", type=number(int, 1, 100_000), default=8,
                   help="number of lines to print (default 8)")
    p.add_argument("--temperature", "-t", type=number(float, 0.0, 10.0), default=0.8,
                   help="sampling temperature: ~0 = most likely chars, 1 = as trained, >1 wilder")
    p.add_argument("--seed", type=number(int, 0, 2**31 - 1), default=0, help="random seed (same seed, same lines)")
    p.add_argument("--sampler", choices=["softmax", "gumbel"], default="softmax",
                   help="draw by softmax or by the Gumbel-max trick (same distribution)")
    p.add_argument("--max-chars", type=number(int, 1, 10_000), default=200, help="longest line before it is cut")
    p.add_argument("--list-labels", action="store_true", help="print the model's labels and exit")
    p.set_defaults(func=run)


def resolve(name_or_path: str) -> Path:
    """Shipped model name or checkpoint path -> checkpoint path (:mod:`livegen.nets.manifest`)."""
    return resolve_model(name_or_path)


def run(args: argparse.Namespace) -> int:


    torch.set_num_threads(1)
    disable_onednn()  # batch-1 steps are several times faster without oneDNN
    model, vocab, labels, meta = load_char_model(resolve(args.model))
    if args.list_labels:
        print("\n".join(labels) if labels else "(this model has no labels)")
        return 0
    gen = TextGenerator(model, vocab, labels, seed=args.seed, sampler=args.sampler,
                        separator=meta.get("separator", SEPARATOR))
    if args.artist is not None:
        gen.set_label(args.artist)
    gen.reset()
    gen.prime(args.prime)
    out = sys.stdout
    first = args.prime + gen.next_line(args.temperature, args.max_chars, skip_blank=not args.prime)
    print(first, file=out)
    for _ in range(args.lines - 1):
        print(gen.next_line(args.temperature, args.max_chars), file=out)
    return 0
