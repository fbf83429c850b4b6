"""Per-step latency of each shipped roll model: model step + sampling, batch 1, one thread.

The generator observes real test-set frames (Nottingham, or the model's own data) and samples
the next frame after each, exactly as the live engine does every step. oneDNN is disabled and
torch uses one thread (livegen.nets.runtime.configure_for_stepping), as in `livegen play`.

    python -m benchmarks.step_latency [--steps 3000]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from benchmarks.common import percentiles, record
from livegen.controls.table import ControlState
from livegen.data.polyphonic import load_rolls
from livegen.nets.checkpoint import load_checkpoint
from livegen.nets.manifest import read_manifest, resolve_model
from livegen.nets.runtime import configure_for_stepping
from livegen.sampling.constraints import sampling_view
from livegen.voices.roll import RollGenerator


def measure(model_name: str, steps: int, frames: np.ndarray) -> dict[str, float]:
    model, _ = load_checkpoint(resolve_model(model_name))
    gen = RollGenerator(model, seed=0)
    controls = sampling_view(ControlState(temperature=1.0))
    for t in range(50):  # warm-up
        gen.step(frames[t % len(frames)], controls)
    step_s, sample_s = [], []
    for t in range(steps):
        frame = frames[t % len(frames)]
        t0 = time.perf_counter()
        gen.observe(frame)
        t1 = time.perf_counter()
        gen.sample(controls)
        t2 = time.perf_counter()
        step_s.append(t2 - t0)
        sample_s.append(t2 - t1)
    return {"model": model_name, "kind": model.kind, **percentiles(step_s),
            "sampling_median_ms": percentiles(sample_s)["median_ms"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--models", nargs="*", default=None)
    args = ap.parse_args()
    configure_for_stepping(1)
    manifest = read_manifest()
    names = args.models or [n for n, e in manifest.items() if e["kind"].startswith("roll")]
    frames = np.concatenate(load_rolls("nottingham").split("test")[:20]).astype(bool)
    rows = [measure(n, args.steps, frames) for n in names]
    record("step_latency", {"steps": args.steps, "threads": 1, "rows": rows})
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
