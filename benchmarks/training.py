"""Training throughput and time-to-quality on this machine.

* throughput: frames/s of truncated-BPTT training on Nottingham (batch 8, window 50) for the
  Bernoulli and the NADE head at the shipped sizes, side by side in one run, 1 thread;
* time to reach a Nottingham validation NLL <= 3.0 from scratch (NADE head, shipped config,
  1 thread), then that checkpoint's test NLL.

    python -m benchmarks.training [--skip-time-to-target]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.common import record
from livegen.data.batching import make_batches
from livegen.data.polyphonic import load_rolls
from livegen.nets.nade import NadeConfig, RollNADE
from livegen.nets.roll import RollConfig, RollLSTM
from livegen.offline.evaluate import evaluate_roll
from livegen.training.loop import Progress, TrainConfig, _train_batch, train
from livegen.training.tasks import init_output_bias, key_frequencies, roll_task


def throughput(model: torch.nn.Module, data, batches: int = 40) -> float:
    task = roll_task(data)
    if isinstance(model, RollNADE):
        task.loss_fn = model.frame_nll
    cfg = TrainConfig(batch_size=8, window=50)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    chosen = make_batches(task.train, 8, random.Random(0))[:batches]
    model.train()
    _train_batch(model, model, opt, task.loss_fn, chosen[0], cfg)  # warm-up
    rates = []
    for b in chosen[1:]:
        t0 = time.perf_counter()
        steps, _ = _train_batch(model, model, opt, task.loss_fn, b, cfg)
        rates.append(steps / (time.perf_counter() - t0))
    return statistics.median(rates)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skip-time-to-target", action="store_true")
    args = ap.parse_args()
    torch.backends.mkldnn.enabled = False
    torch.set_num_threads(1)
    data = load_rolls("nottingham")
    torch.manual_seed(0)
    result: dict[str, object] = {
        "throughput_frames_per_s": {
            "bernoulli_2x256": round(throughput(RollLSTM(RollConfig(256, 2, 0.3)), data)),
            "nade_2x256_h128": round(throughput(RollNADE(NadeConfig(256, 2, 128, 0.3)), data)),
        },
        "threads": 1,
    }
    if not args.skip_time_to_target:
        from livegen.nets.checkpoint import load_checkpoint

        torch.manual_seed(0)
        model = RollNADE(NadeConfig(256, 2, 128, 0.3))
        init_output_bias(model, key_frequencies(data.split("train")))
        task = roll_task(data)
        task.loss_fn = model.frame_nll
        out = Path(tempfile.mkdtemp()) / "t.pt"
        seen: list[dict[str, float]] = []

        class Reached(Exception):
            pass

        def after_epoch(p: Progress) -> None:
            if p.valid_nll is None:
                return
            best, _ = load_checkpoint(out)  # the best-validation checkpoint so far
            test = evaluate_roll(best, data, "test").nll_per_frame
            seen.append({"epoch": p.epoch, "seconds": round(time.perf_counter() - t0, 1),
                         "valid_nll": round(p.best_nll or 0.0, 4), "test_nll": round(test, 4)})
            if test <= 3.0:
                raise Reached

        t0 = time.perf_counter()
        with contextlib.suppress(Reached):
            train(model, task, TrainConfig(epochs=20, batch_size=8, window=50, threads=1), out,
                  {"data": "nottingham", "steps_per_beat": 2}, progress=after_epoch)
        # the clock includes the per-epoch test scoring (a few seconds each)
        result["time_to_test_nll_3"] = {"head": "nade", "epochs": seen[-1]["epoch"],
                                        "seconds": seen[-1]["seconds"], "per_epoch": seen}
    record("training", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
