"""Gradient checkpointing over time vs plain BPTT on one 2,000-frame sequence.

Each configuration runs in a fresh subprocess (so peak RSS is its own); activation memory
is the peak RSS during forward+backward minus the RSS just before it (weights, inputs and
the torch runtime are already resident then), measured with glibc's mmap threshold fixed.
Time is the median of three forward+backward passes in another process with default
malloc settings. Goal: >= 4x less activation memory for <= 35 % more time.

    python -m benchmarks.checkpointing
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from benchmarks.common import record

FRAMES = 2000
CHILD = r"""
import json, resource, statistics, sys, time, torch
torch.backends.mkldnn.enabled = False
torch.set_num_threads(1)
from livegen.nets.roll import RollConfig, RollLSTM, roll_loss
from livegen.training.loop import segment_loss
every, frames, batch, hidden = (int(a) for a in sys.argv[1:5])
torch.manual_seed(0)
m = RollLSTM(RollConfig(hidden=hidden, layers=2, dropout=0.0)).train()
x = (torch.rand(batch, frames, 88) < 0.05).float()
y = (torch.rand(batch, frames, 88) < 0.05).float()
mask = torch.ones(batch, frames)
def once():
    loss, _ = segment_loss(m, roll_loss, x, y, mask, None, None, every)
    loss.backward()
    m.zero_grad(set_to_none=True)
once()  # warm-up: allocator and grads exist before measuring
import gc; gc.collect()
def rss_kb():
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS'):
                return int(line.split()[1])
before = rss_kb()
# reset the high-water mark so ru_maxrss-like peak covers only the measured passes
open('/proc/self/clear_refs', 'w').write('5')
times = []
for _ in range(3):
    t0 = time.perf_counter(); once(); times.append(time.perf_counter() - t0)
peak = None
with open('/proc/self/status') as f:
    for line in f:
        if line.startswith('VmHWM'):
            peak = int(line.split()[1])
print(json.dumps({"before_kb": before, "peak_kb": peak, "median_s": statistics.median(times)}))
"""


def run(every: int, batch: int, hidden: int, for_memory: bool) -> dict[str, float]:
    """One measurement in a fresh process.

    For memory, a fixed mmap threshold makes glibc hand large freed blocks back to the OS, so
    the RSS high-water mark tracks live tensors rather than what the warm-up pass left cached;
    that setting slows allocation, so times come from a second process with the default.
    """
    env = dict(os.environ)
    if for_memory:
        env["MALLOC_MMAP_THRESHOLD_"] = "131072"
    out = subprocess.run([sys.executable, "-c", CHILD, str(every), str(FRAMES), str(batch), str(hidden)],
                         capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    batch, hidden = 16, 256
    segments = (45, 250)  # 45 ~ sqrt(2000)
    rows = []
    # plain and checkpointed runs alternate so that machine noise hits both alike
    for segment in segments:
        mem_plain, mem_ckpt = run(0, batch, hidden, True), run(segment, batch, hidden, True)
        plain, ckpt = run(0, batch, hidden, False), run(segment, batch, hidden, False)
        act_plain = (mem_plain["peak_kb"] - mem_plain["before_kb"]) / 1024
        act_ckpt = (mem_ckpt["peak_kb"] - mem_ckpt["before_kb"]) / 1024
        rows.append({
            "segment": segment,
            "plain_activation_mb": round(act_plain, 1), "checkpointed_activation_mb": round(act_ckpt, 1),
            "memory_ratio": round(act_plain / max(act_ckpt, 1e-6), 2),
            "plain_s": round(plain["median_s"], 3), "checkpointed_s": round(ckpt["median_s"], 3),
            "time_overhead_pct": round(100 * (ckpt["median_s"] / plain["median_s"] - 1), 1),
        })
    result = {"frames": FRAMES, "batch": batch, "hidden": hidden, "layers": 2, "rows": rows}
    record("gradient_checkpointing", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
