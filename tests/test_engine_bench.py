"""The engine benchmark's pure parts: the wrapping voice and the timing analysis."""

from __future__ import annotations

import numpy as np
import pytest

from livegen.bench.engine import ECHO_SHIFT, TICK_PITCH, BenchVoice, analyze, format_table
from livegen.sampling.constraints import RollControls

PERIOD = 0.0625


class Everything:
    """A voice that plays every key (so the wrapper's masking is visible)."""

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def step(self, frame, controls):
        self.seen.append(frame.copy())
        return np.ones(88, dtype=bool)

    def reset(self) -> None:
        pass


def frame_of(*pitches: int) -> np.ndarray:
    f = np.zeros(88, dtype=bool)
    for p in pitches:
        f[p - 21] = True
    return f


def pitches(frame: np.ndarray) -> list[int]:
    return [int(j) + 21 for j in np.flatnonzero(frame)]


def test_bench_voice_ticks_echoes_and_keeps_the_model_above_b1():
    inner = Everything()
    voice = BenchVoice(inner)
    out0 = voice.step(frame_of(23, 40, 60), RollControls())
    out1 = voice.step(frame_of(), RollControls())
    # the model sees only what is above B1, and plays only there
    assert pitches(inner.seen[0]) == [40, 60]
    assert min(p for p in pitches(out0) if p > TICK_PITCH) == 36
    # performer key 23 is echoed a fifth up; the tick is on at even steps only
    assert 23 + ECHO_SHIFT in pitches(out0) and 23 + ECHO_SHIFT not in pitches(out1)
    assert TICK_PITCH in pitches(out0) and TICK_PITCH not in pitches(out1)
    assert [p for p in pitches(out1) if p < 36] == []


def note(on: bool, pitch: int) -> bytes:
    return bytes([0x90 if on else 0x80, pitch, 100 if on else 0])


def test_analysis_of_a_synthetic_run():
    t0, steps = 100.0, 8
    batches, arrivals = [], []
    for n in range(steps):
        if n == 5:  # nothing sent at step 5: a missed step
            continue
        deadline = t0 + n * PERIOD
        msgs = [note(n % 2 == 0, TICK_PITCH)]
        if n == 3:  # the echo of a performer note sent between steps 1 and 2
            msgs.append(note(True, 21 + ECHO_SHIFT))
        batches.append((deadline, deadline + 0.00001, len(msgs)))
        delay = 0.0005 if n != 6 else 0.004  # step 6 arrives 4 ms late
        arrivals += [(deadline + delay, m) for m in msgs]
    batches.append((t0 + steps * PERIOD + 0.001, t0 + steps * PERIOD + 0.001, 1))  # final release
    arrivals.append((t0 + steps * PERIOD + 0.0015, note(False, 60)))
    performer = [(t0 + 1.5 * PERIOD, 21), (t0 + 50.0, 22)]  # the second is after the run: ignored
    r = analyze(arrivals, batches, performer, PERIOD, steps)
    assert r["missed_steps"] == 1 and r["lost"] == 0
    assert r["out_error_ms"]["median"] == pytest.approx(0.5)
    assert r["out_error_ms"]["max"] == pytest.approx(4.0)
    assert r["worst_steps"][0] == [6, pytest.approx(4.0), pytest.approx(4.5 * PERIOD * 1000, abs=0.1)]
    assert r["out_error_first_anchor_ms"]["max"] == pytest.approx(3.5)
    assert r["transport_ms"]["median"] == pytest.approx(0.49)
    # sent at 1.5 periods, echoed at step 3 (+0.5 ms): 1.5 periods later, 1 step after step 2
    assert r["reaction_ms"]["median"] == pytest.approx(1.5 * PERIOD * 1000 + 0.5)
    assert r["reaction_steps"] == {"1": 1} and r["unanswered"] == 0
    doc = {"idle": {**r, "send_error_ms": r["out_error_ms"], "late_steps": 0, "load_average": [1.0]}}
    assert "idle" in format_table(doc)


def test_analysis_counts_lost_messages_and_unanswered_notes():
    batches = [(10.0 + n * PERIOD, 10.0 + n * PERIOD, 1) for n in range(10)]
    arrivals = [(d + 0.001, note(True, TICK_PITCH)) for d, _, _ in batches[:-2]]
    r = analyze(arrivals, batches, [(10.0 + 2.2 * PERIOD, 24)], PERIOD, 10)
    assert r["lost"] == 2 and r["unanswered"] == 1
    assert np.isnan(r["out_error_ms"]["median"])  # unmatched messages: no per-message timing
