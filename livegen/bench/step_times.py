"""The model step timed outside the engine, for ``livegen bench`` to set beside the engine's.

:func:`time_steps` steps a fresh :class:`~livegen.voices.roll.RollGenerator` on its own
output (what a solo engine feeds it), one full ``step`` (observe + sample) per call, either
back to back or with ``gap_s`` of sleep between calls as the engine sleeps between steps.
``benchmarks/step_latency.py`` does the same on test-set frames for every shipped model.
"""

from __future__ import annotations

import time

import numpy as np

from livegen.controls.table import ControlState
from livegen.music.keyboard import N_KEYS
from livegen.nets.nade import RollNADE
from livegen.nets.roll import RollLSTM
from livegen.sampling.constraints import sampling_view
from livegen.voices.roll import RollGenerator

WARMUP_STEPS = 50


def time_steps(model: RollLSTM | RollNADE, steps: int, gap_s: float = 0.0, seed: int = 0,
               state: ControlState | None = None) -> list[float]:
    """Seconds per ``RollGenerator.step`` for ``steps`` steps after a warm-up.

    Args:
        model: a roll net (``RollLSTM`` or ``RollNADE``).
        steps: steps timed.
        gap_s: seconds slept before each timed step (0: back to back).
        seed: the generator's seed.
        state: the controls (default: the table's defaults).
    """
    controls = sampling_view(state or ControlState.default())
    gen = RollGenerator(model, seed=seed)
    frame = np.zeros(N_KEYS, dtype=bool)
    for _ in range(WARMUP_STEPS):
        frame = gen.step(frame, controls)
    times: list[float] = []
    for _ in range(steps):
        if gap_s > 0:
            time.sleep(gap_s)
        t0 = time.perf_counter()
        frame = gen.step(frame, controls)
        times.append(time.perf_counter() - t0)
    return times
