"""``livegen eval MODEL --data NAME|PATH``: score a model on a held-out split."""

from __future__ import annotations

import argparse
import json

import torch

from livegen.commands.options import add_control_options, control_values, live_state, number
from livegen.data.polyphonic import load_rolls
from livegen.errors import LivegenError
from livegen.nets.char import CharLSTM
from livegen.nets.checkpoint import load_checkpoint
from livegen.nets.manifest import resolve_model
from livegen.nets.registry import set_memory
from livegen.nets.runtime import disable_onednn
from livegen.offline.evaluate import evaluate_roll
from livegen.offline.keys_eval import KEY_SHIFTS, evaluate_keys
from livegen.training.char_tasks import evaluate_char_model
from livegen.voices.follow import hears_shifts, home_prior, home_register

#: the controls ``--keys`` scores under (those that change what the voice may draw), with the
#: same flags and bounds as ``play`` and ``render``; left out, each keeps its default.
KEYS_CONTROLS = ["temperature", "density", "repeat", "low", "high", "key", "scale", "follow", "key_pull",
                 "register_follow"]


def register(p: argparse.ArgumentParser) -> None:
    """Add this command's options to its parser ``p`` and set ``func``."""
    p.add_argument("model", help="shipped model name or checkpoint path")
    p.add_argument("--data", required=True, help="dataset name or path")
    p.add_argument("--split", default="test", choices=["train", "valid", "test"])
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--threads", type=number(int, 0, 1024), default=1,
                   help="torch threads (default 1: livegen's nets score fastest on one, and far slower on "
                        "two while another program keeps a core busy; 0 = torch's default, one per core)")
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
    p.add_argument("--keys", default=None, metavar="all|K,K,...",
                   help="roll models: score the split transposed into each of the 12 keys (all: -6..+5 "
                        "semitones; or a list such as -3,0,4) through the live listening path with the "
                        "listening controls at their defaults; JSON gives each key's NLL, the worst and "
                        "the data's own key")
    add_control_options(p, KEYS_CONTROLS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    disable_onednn()
    if args.threads:  # 0: torch's default
        torch.set_num_threads(int(args.threads))
    path = resolve_model(args.model)
    model, meta = load_checkpoint(path)
    if args.memory is not None:
        try:
            set_memory(model, int(args.memory))
        except ValueError as exc:
            raise LivegenError(f"--memory: {exc}") from None
    max_seqs = int(args.max_sequences) if args.max_sequences is not None else None
    given = control_values(args)
    if given and args.keys is None:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in given)
        raise LivegenError(f"{flags}: the listening controls are scored through the live path: add --keys 0 "
                           f"(the data's own key) or --keys all; without --keys eval scores the net as trained")
    if isinstance(model, CharLSTM):
        result = evaluate_char_model(model, meta, args.data, args.split, stream=args.stream,
                                     max_sequences=max_seqs, chunk=int(args.chunk))
        if "nats_per_char" in result:
            result = {"nll_per_char": result["nats_per_char"], **result}
    elif args.keys is not None:
        data = load_rolls(args.data, meta.get("steps_per_beat"))
        try:
            result = evaluate_keys(model, meta, data, args.split, state=live_state(args), stream=args.stream,
                                   max_sequences=max_seqs, shifts=_key_shifts(args.keys))
        except ValueError as exc:
            raise LivegenError(f"--keys: {exc}") from None
    else:
        data = load_rolls(args.data, meta.get("steps_per_beat"))
        shifts = hears_shifts(meta)
        result = evaluate_roll(model, data, args.split, stream=args.stream, max_sequences=max_seqs,
                               chunk=int(args.chunk), shifts=shifts,
                               home=home_prior(meta),
                               register=home_register(meta)).to_dict()
        result["hears"] = list(shifts)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for key, value in result.items():
            print(f"{key:>28}: {value}")
    return 0


def _key_shifts(text: str) -> tuple[int, ...]:
    """``--keys``: ``all`` or a comma list of semitones in -6..5."""
    if text.strip().lower() == "all":
        return KEY_SHIFTS
    try:
        shifts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise LivegenError(f"--keys {text!r}: give all or semitones from -6 to 5, e.g. --keys -3,0,4") from None
    bad = [s for s in shifts if s not in KEY_SHIFTS]
    if bad or not shifts:
        raise LivegenError(f"--keys {text!r}: semitones go from -6 to 5 (the 12 keys), e.g. --keys -3,0,4")
    return shifts
