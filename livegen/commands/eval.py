"""``livegen eval MODEL --data NAME|PATH``: score a model on a held-out split."""

from __future__ import annotations

import argparse
import json

import torch

from livegen.commands.options import number
from livegen.data.polyphonic import load_rolls
from livegen.errors import LivegenError
from livegen.nets.char import CharLSTM
from livegen.nets.checkpoint import load_checkpoint
from livegen.nets.manifest import resolve_model
from livegen.nets.registry import set_memory
from livegen.nets.runtime import disable_onednn
from livegen.offline.evaluate import evaluate_roll
from livegen.training.char_tasks import evaluate_char_model


def register(p: argparse.ArgumentParser) -> None:
    """Add this command's options to its parser ``p`` and set ``func``."""
    p.add_argument("model", help="shipped model name or checkpoint path")
    p.add_argument("--data", required=True, help="dataset name or path")
    p.add_argument("--split", default="test", choices=["train", "valid", "test"])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--threads", type=number(int, 0, 1024), default=0, help="torch threads (0 = default)")
    p.add_argument("--stream", action="store_true",
                   help="step the live runtime one frame (character) at a time, as the engine does, "
                        "instead of batched chunks; the figures must agree")
    p.add_argument("--max-sequences", type=number(int, 1, 10**9), default=None, metavar="N",
                   help="score only the first N sequences (songs, tunes) of the split")
    p.add_argument("--chunk", type=number(int, 1, 10**6), default=512,
                   help="steps per chunk of the batched run (any size gives the same figures)")
    p.add_argument("--memory", type=number(int, 1, 10**6), default=None, metavar="STEPS",
                   help="score with a copy memory of STEPS steps instead of the checkpoint's (to "
                        "choose one; `livegen models ship --memory` stores it); memory_steps says "
                        "which was used")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    disable_onednn()
    if args.threads:
        torch.set_num_threads(int(args.threads))
    path = resolve_model(args.model)
    model, meta = load_checkpoint(path)
    if args.memory is not None:
        try:
            set_memory(model, int(args.memory))
        except ValueError as exc:
            raise LivegenError(f"--memory: {exc}") from None
    max_seqs = int(args.max_sequences) if args.max_sequences is not None else None
    if isinstance(model, CharLSTM):
        result = evaluate_char_model(model, meta, args.data, args.split, stream=args.stream,
                                     max_sequences=max_seqs, chunk=int(args.chunk))
        if "nats_per_char" in result:
            result = {"nll_per_char": result["nats_per_char"], **result}
    else:
        data = load_rolls(args.data, meta.get("steps_per_beat"))
        result = evaluate_roll(model, data, args.split, stream=args.stream, max_sequences=max_seqs,
                               chunk=int(args.chunk)).to_dict()
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for key, value in result.items():
            print(f"{key:>28}: {value}")
    return 0
