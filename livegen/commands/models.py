"""``livegen models``: list the shipped models and the user's own; ``livegen models ship``: score a
checkpoint and add it under a name, in the user's models folder (``--folder models`` for the
package's own, maintainers)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from livegen.commands.options import number
from livegen.data.catalog import CATALOG
from livegen.data.locations import locate
from livegen.data.polyphonic import load_rolls
from livegen.errors import LivegenError
from livegen.nets.calibrate import bake_temperature
from livegen.nets.char import CharLSTM
from livegen.nets.checkpoint import load_checkpoint, save_checkpoint, sha256_file
from livegen.nets.manifest import read_manifest, user_models_dir, write_manifest
from livegen.nets.nade import RollNADE
from livegen.nets.registry import Net, memory_steps, set_memory
from livegen.nets.runtime import disable_onednn
from livegen.offline.evaluate import evaluate_roll
from livegen.training.char_tasks import ABC_SPLIT_METHOD, evaluate_char_model
from livegen.voices.follow import hears_shifts, home_prior, home_register


def register(p: argparse.ArgumentParser) -> None:
    """Add this command's options to its parser ``p`` and set ``func``."""
    p.add_argument("--json", action="store_true", help="print the manifest as JSON")
    p.set_defaults(func=run_list)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    s = actions.add_parser("ship", help="score a checkpoint on its test and valid splits and add it to your models "
                                        f"folder ({user_models_dir()})")
    s.add_argument("checkpoint", type=Path)
    s.add_argument("--name", required=True, help="name to address it by (e.g. nottingham)")
    s.add_argument("--data", default=None, help="dataset to score on (default: the one it was trained on)")
    s.add_argument("--description", default="")
    s.add_argument("--folder", type=Path, default=None,
                   help=f"models folder (default: {user_models_dir()}, searched before the shipped models; "
                        "maintainers pass the checkout's models/ to ship with livegen)")
    s.add_argument("--memory", type=number(int, 1, 10**6), default=None, metavar="STEPS",
                   help="give the copy head a memory of STEPS steps, stored in the shipped checkpoint "
                        "(training, eval, render and play all use it; choose it by NLL against step time)")
    s.add_argument("--temperature", type=number(float, 0.1, 2.0), default=None, metavar="T",
                   help="NADE roll models: bake temperature T into the weights, so the shipped net at "
                        "temperature 1 is the checkpoint at T (livegen/nets/calibrate.py; choose T on the "
                        "valid split with `livegen eval --split valid --keys all --stream --temperature T`)")
    s.add_argument("--note", default="", help="how the model was made or chosen, kept in its metadata")
    s.set_defaults(func=run_ship)


def run_list(args: argparse.Namespace) -> int:
    manifest, user = read_manifest(), read_manifest(user_models_dir())
    if args.json:
        print(json.dumps(manifest | user, indent=2, sort_keys=True))
        return 0
    if not manifest and not user:
        print("no shipped models")
        return 0
    for name, e in sorted((manifest | user).items()):
        metrics = ", ".join(f"{k} {v}" for k, v in sorted(e.get("metrics", {}).items())
                            if isinstance(v, float))
        mine = f"  (yours: {user_models_dir()})" if name in user else ""
        print(f"{name:<22} {e['kind']:<10} {e.get('data', ''):<14} {metrics}{mine}")
    return 0


def data_name(data: str) -> str:
    """The data set's name (``irish``) when ``data`` is the path of a known set's file, so a
    manifest records no machine's paths; otherwise ``data`` unchanged."""
    path = Path(data).expanduser()
    if not path.exists():
        return data
    for ds in CATALOG.values():
        for f in ds.files:
            hit = locate(f.path)
            if hit is not None and hit[1].exists() and hit[1].samefile(path):
                return ds.name
    return data


def run_ship(args: argparse.Namespace) -> int:
    disable_onednn()
    model, meta = load_checkpoint(args.checkpoint)
    data = args.data or meta.get("data")
    if not data:
        raise LivegenError(f"{args.checkpoint} records no training data; pass --data")
    data = data_name(str(data))
    if args.memory is not None:
        trained_with = meta.get("memory", {}).get("trained_with", memory_steps(model))
        try:
            set_memory(model, int(args.memory))
        except ValueError as exc:
            raise LivegenError(f"--memory: {exc}") from None
        meta["memory"] = {"steps": int(args.memory), "trained_with": trained_with}
    if args.temperature is not None:
        if not isinstance(model, RollNADE):
            raise LivegenError(f"--temperature: {args.checkpoint} is a {model.kind} model; only NADE roll "
                               "models take a baked temperature (leave it out)")
        bake_temperature(model, float(args.temperature))
        baked = float(meta.get("calibration", {}).get("temperature", 1.0)) * float(args.temperature)
        meta["calibration"] = {"temperature": round(baked, 6)}
    if args.note:
        meta["note"] = args.note
    metrics = _score(model, meta, data)
    meta["metrics"] = {k: v for k, v in meta.get("metrics", {}).items()
                       if not k.startswith(("test_", "valid_"))} | metrics
    folder = args.folder or user_models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"{args.name}.pt"
    save_checkpoint(dest, model, meta)  # config (with its memory) and fresh metrics in the file
    entries = read_manifest(folder)
    params = sum(p.numel() for p in model.parameters())
    entries[args.name] = {
        "name": args.name, "kind": model.kind, "file": dest.name, "data": data,
        "description": args.description, "config": model.config.to_dict(),
        "memory_steps": memory_steps(model),
        "steps_per_beat": meta.get("steps_per_beat"), "parameters": params,
        "metrics": {k: v for k, v in meta["metrics"].items() if isinstance(v, (int, float))},
        "train": meta.get("train", {}), "sha256": sha256_file(dest),
        "bytes": dest.stat().st_size,
    }
    for key in ("note", "memory", "split", "calibration", "register"):
        if key in meta:
            entries[args.name][key] = meta[key]
    write_manifest(entries, folder)
    print(f"shipped {args.name}: {dest} ({dest.stat().st_size / 1e6:.1f} MB), memory {memory_steps(model)}, "
          + ", ".join(f"{k} {v}" for k, v in metrics.items() if k.startswith("test_")))
    return 0


#: figures of an evaluation that are settings, not results
_NOT_FIGURES = ("memory_steps", "chunk")


def _score(model: Net, meta: dict[str, Any], data: str) -> dict[str, Any]:
    """Fresh ``test_*`` and ``valid_*`` figures of ``model`` as it now is (its memory)."""
    out: dict[str, Any] = {}
    for split in ("test", "valid"):
        if isinstance(model, CharLSTM):
            result = evaluate_char_model(model, meta, data, split)
            if meta.get("text_kind") == "abc":
                meta["split"] = {**meta.get("split", {}), "method": ABC_SPLIT_METHOD, f"{split}": result["songs"]}
            main = "nats_per_char"
        else:
            result = evaluate_roll(model, load_rolls(data, meta.get("steps_per_beat")), split,
                                   shifts=hears_shifts(meta), home=home_prior(meta),
                               register=home_register(meta)).to_dict()
            main = "nll_per_frame"
        out |= {f"{split}_{k}": v for k, v in result.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in _NOT_FIGURES}
        if split == "valid":
            out["valid_nll"] = result[main]  # the figure training selects on
    return out
