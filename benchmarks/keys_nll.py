"""Listening scored by likelihood: every shipped roll model's test NLL in all 12 keys.

For each shipped roll model, ``livegen eval MODEL --data DATA --keys all`` (the live
listening path with the listening controls at their defaults; density following is not
scored), and beside it the same net heard in its own key alone (``hears own``: what a net
trained in C did before it heard in every key, the transposition by a key tracker aside).
Goal (issue 23): worst key <= own key + 0.05 nats/frame, and the own-key figure at each
model's goal.

    python -m benchmarks.keys_nll [--models nottingham jsb] [--max-sequences N] [--no-own]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from livegen.data.polyphonic import load_rolls
from livegen.nets.checkpoint import load_checkpoint
from livegen.nets.manifest import read_manifest, resolve_model
from livegen.nets.runtime import configure_for_stepping
from livegen.offline.keys_eval import evaluate_keys

RESULTS = Path(__file__).resolve().parent / "results" / "keys_nll.json"
#: own-key test NLL goals (nats/frame, frames 2..T).
GOALS = {"nottingham": 1.19, "musedata": 4.80, "piano-midi": 4.70, "jsb": 4.95}
#: how far the worst key may lie above the own key (nats/frame).
SPREAD = 0.05


def measure(name: str, max_sequences: int | None, own_too: bool) -> dict[str, Any]:
    model, meta = load_checkpoint(resolve_model(name))
    data = load_rolls(str(meta["data"]), meta.get("steps_per_beat"))
    t0 = time.perf_counter()
    live = evaluate_keys(model, meta, data, max_sequences=max_sequences)
    row: dict[str, Any] = {"model": name, "data": meta["data"], "seconds": round(time.perf_counter() - t0, 1),
                           "live": live}
    goal = GOALS.get(name)
    own = live["own_key_nll_per_frame"]
    row["goal_own"] = goal
    row["meets"] = bool(live["worst_minus_own"] <= SPREAD and (goal is None or own <= goal))
    if own_too and live["hears"] != [0]:
        row["own_key_alone"] = evaluate_keys(model, {**meta, "hears": "own key"}, data,
                                             max_sequences=max_sequences)
    return row


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| model | hears | own key | worst key | worst - own | mean of 12 | goal (own) | met | "
             "heard in its own key alone: own / worst |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        live = r["live"]
        alone = r.get("own_key_alone")
        hears = "every key" if live["hears"] != [0] else "its own (trained in every key)"
        lines.append(
            f"| {r['model']} | {hears} | {live['own_key_nll_per_frame']:.3f} | {live['worst_key_nll_per_frame']:.3f} "
            f"({live['worst_key']}) | {live['worst_minus_own']:+.3f} | {live['mean_nll_per_frame']:.3f} | "
            f"{'≤ ' + format(r['goal_own'], '.2f') if r['goal_own'] else '—'} | {'yes' if r['meets'] else 'no'} | "
            + (f"{alone['own_key_nll_per_frame']:.3f} / {alone['worst_key_nll_per_frame']:.3f} ({alone['worst_key']})"
               if alone else "—") + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=None)
    ap.add_argument("--max-sequences", type=int, default=None)
    ap.add_argument("--no-own", action="store_true", help="skip the own-key-alone comparison")
    args = ap.parse_args()
    configure_for_stepping(1)
    names = args.models or sorted(n for n, e in read_manifest().items() if e["kind"].startswith("roll"))
    rows = []
    for n in names:
        rows.append(measure(n, args.max_sequences, not args.no_own))
        print(f"{n}: {json.dumps({k: v for k, v in rows[-1]['live'].items() if k != 'keys'})}", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    old = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    merged = {r["model"]: r for r in old.get("rows", [])} | {r["model"]: r for r in rows}
    RESULTS.write_text(json.dumps({"command": "python -m benchmarks.keys_nll " + " ".join(sys.argv[1:]),
                                   "rows": [merged[k] for k in sorted(merged)]}, indent=2) + "\n")
    print(table([merged[k] for k in sorted(merged)]))


if __name__ == "__main__":
    main()
