"""Per-step latency of each shipped roll model: model step + sampling, one thread.

Each model is timed as ``livegen play`` runs it, heard in all 12 keys at once (a batch of
12: the mixture over keys, livegen/voices/roll.py), and beside it the net heard in its own
key alone (batch 1), in the same run.

The generator observes real test-set frames (Nottingham) and samples the next frame after
each, exactly as the live engine does every step. oneDNN is disabled and torch uses one
thread (livegen.nets.runtime.configure_for_stepping), as in `livegen play`. A copy head's
memory is filled before timing starts (its step is slowest then). ``--memory`` times the
copy-head models with other memory lengths too, to choose one against the NLL. The
configurations are stepped in turn, one step each, so a change in the machine's load
touches them alike. Goal: median <= 0.5 ms, p99 <= 1 ms.

Each model is timed twice in the same run: back to back, and at the live engine's spacing
(``--gap-ms``, default 62.5: sixteenths at 240 BPM), sleeping between rounds as the engine
sleeps between steps, so caches and the CPU's clock go cold the way they do live
(``--spaced-steps`` rounds).

    python -m benchmarks.step_latency [--steps 3000] [--spaced-steps 400] [--gap-ms 62.5]
                                      [--memory 256 1024 2048]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from benchmarks.common import percentiles, record
from livegen.controls.table import ControlState
from livegen.data.polyphonic import load_rolls
from livegen.nets.checkpoint import load_checkpoint
from livegen.nets.manifest import read_manifest, resolve_model
from livegen.nets.registry import memory_steps, set_memory
from livegen.nets.runtime import configure_for_stepping
from livegen.sampling.constraints import sampling_view
from livegen.voices.follow import hears_shifts
from livegen.voices.roll import RollGenerator

GOAL_MEDIAN_MS, GOAL_P99_MS = 0.5, 1.0


def measure(configs: list[tuple[str, int | None, str]], steps: int, frames: np.ndarray,
            gap_s: float = 0.0) -> list[dict[str, object]]:
    """Time ``steps`` live steps of each ``(model name, memory or None for its own, hears)``
    (``hears``: ``every key`` as ``play`` runs it, or ``own key``: the net alone), sleeping
    ``gap_s`` seconds after each round (0: back to back)."""
    controls = sampling_view(ControlState(temperature=1.0))
    gens, kinds = [], []
    for name, memory, hears in configs:
        model, meta = load_checkpoint(resolve_model(name))
        if memory is not None:
            set_memory(model, memory)
        gen = RollGenerator(model, seed=0, shifts=hears_shifts({**meta, "hears": hears}))
        for t in range(memory_steps(model) + 50):  # fill the memory, warm up
            gen.step(frames[t % len(frames)], controls)
        gens.append(gen)
        kinds.append((model.kind, memory_steps(model)))
    step_s: list[list[float]] = [[] for _ in configs]
    sample_s: list[list[float]] = [[] for _ in configs]
    for t in range(steps):
        frame = frames[t % len(frames)]
        for i, gen in enumerate(gens):
            t0 = time.perf_counter()
            gen.observe(frame)
            t1 = time.perf_counter()
            gen.sample(controls)
            t2 = time.perf_counter()
            step_s[i].append(t2 - t0)
            sample_s[i].append(t2 - t1)
        if gap_s:
            time.sleep(gap_s)
    rows: list[dict[str, object]] = []
    for (name, _, hears), (kind, memory), st, sa in zip(configs, kinds, step_s, sample_s, strict=True):
        p = percentiles(st)
        rows.append({"model": name, "kind": kind, "memory_steps": memory, "hears": hears, **p,
                     "sampling_median_ms": percentiles(sa)["median_ms"],
                     "meets_goal": p["median_ms"] <= GOAL_MEDIAN_MS and p["p99_ms"] <= GOAL_P99_MS})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--spaced-steps", type=int, default=400, help="rounds timed at the engine's spacing (0: none)")
    ap.add_argument("--gap-ms", type=float, default=62.5, help="the engine's spacing between steps")
    ap.add_argument("--models", nargs="*", default=None)
    ap.add_argument("--memory", nargs="*", type=int, default=None,
                    help="also time the copy-head models with these memory lengths")
    ap.add_argument("--no-record", action="store_true", help="print only; leave results.json alone")
    args = ap.parse_args()
    configure_for_stepping(1)
    manifest = read_manifest()
    names = args.models or sorted(n for n, e in manifest.items() if e["kind"].startswith("roll"))
    configs: list[tuple[str, int | None, str]] = []
    for n in names:
        copy_head = bool(manifest[n]["config"].get("copy"))
        for hears in ("every key", "own key"):
            configs += [(n, m, hears) for m in args.memory] if args.memory and copy_head else [(n, None, hears)]
    frames = np.concatenate(load_rolls("nottingham").split("test")[:40]).astype(bool)
    rows = measure(configs, args.steps, frames)
    spaced = measure(configs, args.spaced_steps, frames, args.gap_ms / 1000) if args.spaced_steps else []
    if not args.no_record:
        record("step_latency" if not args.memory else "step_latency_by_memory",
               {"steps": args.steps, "threads": 1, "goal": {"median_ms": GOAL_MEDIAN_MS, "p99_ms": GOAL_P99_MS},
                "rows": rows, "spaced": {"steps": args.spaced_steps, "gap_ms": args.gap_ms, "rows": spaced},
                "load_average": [round(x, 2) for x in os.getloadavg()]})
    print(json.dumps({"back_to_back": rows, "spaced": spaced}, indent=2))


if __name__ == "__main__":
    main()
