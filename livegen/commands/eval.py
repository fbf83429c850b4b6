"""``livegen eval MODEL --data NAME|PATH``: score a model on a held-out split."""

from __future__ import annotations

import argparse
import json

import torch

from livegen.data.polyphonic import load_rolls
from livegen.nets.char import CharLSTM
from livegen.nets.checkpoint import load_checkpoint
from livegen.nets.manifest import resolve_model
from livegen.nets.runtime import disable_onednn
from livegen.offline.evaluate import evaluate_roll
from livegen.training.char_tasks import evaluate_char_model


def register(p: argparse.ArgumentParser) -> None:
    """Add this command's options to its parser ``p`` and set ``func``."""
    p.add_argument("model", help="shipped model name or checkpoint path")
    p.add_argument("--data", required=True, help="dataset name or path")
    p.add_argument("--split", default="test", choices=["train", "valid", "test"])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:


    disable_onednn()
    if args.threads:
        torch.set_num_threads(args.threads)
    path = resolve_model(args.model)
    model, meta = load_checkpoint(path)
    if isinstance(model, CharLSTM):

        result = evaluate_char_model(model, meta, args.data, args.split)
        if "nats_per_char" in result:
            result = {"nll_per_char": result["nats_per_char"], **result}
    else:

        data = load_rolls(args.data, meta.get("steps_per_beat"))
        result = evaluate_roll(model, data, args.split).to_dict()
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for key, value in result.items():
            print(f"{key:>18}: {value}")
    return 0
