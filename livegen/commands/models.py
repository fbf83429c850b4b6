"""``livegen models``: list the shipped models; ``livegen models ship``: add one (maintainers)."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from livegen.data.polyphonic import load_rolls
from livegen.errors import LivegenError
from livegen.nets.char import CharLSTM
from livegen.nets.checkpoint import load_checkpoint, sha256_file
from livegen.nets.manifest import models_dir, read_manifest, write_manifest
from livegen.nets.runtime import disable_onednn
from livegen.offline.evaluate import evaluate_roll
from livegen.training.char_tasks import evaluate_char_model


def register(p: argparse.ArgumentParser) -> None:
    """Add this command's options to its parser ``p`` and set ``func``."""
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.set_defaults(func=run_list)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    s = actions.add_parser("ship", help="score a checkpoint on its test split and add it to models/")
    s.add_argument("checkpoint", type=Path)
    s.add_argument("--name", required=True, help="name to address it by (e.g. nottingham)")
    s.add_argument("--data", default=None, help="dataset to score on (default: the one it was trained on)")
    s.add_argument("--description", default="")
    s.add_argument("--folder", type=Path, default=None, help="models folder (default: the package's)")
    s.set_defaults(func=run_ship)


def run_list(args: argparse.Namespace) -> int:
    manifest = read_manifest()
    if args.json:
        print(json.dumps(manifest, indent=2, sort_keys=True))
        return 0
    if not manifest:
        print("no shipped models")
        return 0
    for name, e in sorted(manifest.items()):
        metrics = ", ".join(f"{k} {v}" for k, v in sorted(e.get("metrics", {}).items())
                            if isinstance(v, float))
        print(f"{name:<22} {e['kind']:<10} {e.get('data', ''):<14} {metrics}")
    return 0


def run_ship(args: argparse.Namespace) -> int:

    disable_onednn()
    model, meta = load_checkpoint(args.checkpoint)
    data = args.data or meta.get("data")
    if not data:
        raise LivegenError(f"{args.checkpoint} records no training data; pass --data")
    if isinstance(model, CharLSTM):

        metrics = evaluate_char_model(model, meta, data, "test")
    else:

        metrics = evaluate_roll(model, load_rolls(data, meta.get("steps_per_beat")), "test").to_dict()
    folder = args.folder or models_dir()
    dest = folder / f"{args.name}.pt"
    if args.checkpoint.resolve() != dest.resolve():
        shutil.copyfile(args.checkpoint, dest)
    entries = read_manifest(folder)
    params = sum(p.numel() for p in model.parameters())
    entries[args.name] = {
        "name": args.name, "kind": model.kind, "file": dest.name, "data": data,
        "description": args.description, "config": model.config.to_dict(),
        "steps_per_beat": meta.get("steps_per_beat"), "parameters": params,
        "metrics": {**{f"test_{k}": v for k, v in metrics.items() if isinstance(v, (int, float))},
                    **{k: v for k, v in meta.get("metrics", {}).items() if isinstance(v, (int, float))}},
        "train": meta.get("train", {}), "sha256": sha256_file(dest),
        "bytes": dest.stat().st_size,
    }
    write_manifest(entries, folder)
    print(f"shipped {args.name}: {dest} ({dest.stat().st_size / 1e6:.1f} MB), "
          + ", ".join(f"{k} {v}" for k, v in metrics.items()))
    return 0
