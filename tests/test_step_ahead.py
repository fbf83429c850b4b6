"""Stepping ahead (livegen/engine/ahead.py): a step prepared before its deadline plays
exactly what computing it at the deadline plays, and is used only when the frame, the
controls and the state are the ones prepared. No timing here (benchmarks/: livegen bench)."""

from __future__ import annotations

import asyncio

import mido
import numpy as np
import torch
from engine_helpers import make_engine

from livegen.bench.engine import format_table, step_summary
from livegen.controls.table import ControlState
from livegen.engine.ahead import StepAhead
from livegen.nets.nade import NadeConfig, RollNADE
from livegen.nets.roll import RollLSTM
from livegen.sampling.constraints import sampling_view
from livegen.voices.follow import KeyFollowingVoice
from livegen.voices.roll import EVERY_SHIFT, RollGenerator

CONTROLS = sampling_view(ControlState.default())
WARMER = sampling_view(ControlState.default().apply_many({"temperature": 1.5}))


def nade(seed: int = 0) -> RollNADE:
    torch.manual_seed(seed)
    net = RollNADE(NadeConfig(hidden=16, layers=1, nade_hidden=8, dropout=0.0, copy=6, copy_soft=True)).eval()
    with torch.no_grad():  # lively enough to play notes from a random init
        net.to_params.bias[:88] += 1.0
    return net


def frame_of(*pitches: int) -> np.ndarray:
    f = np.zeros(88, dtype=bool)
    for p in pitches:
        f[p - 21] = True
    return f


def states_equal(a: RollGenerator, b: RollGenerator) -> bool:
    assert a.state is not None and b.state is not None
    return all(torch.equal(x, y) for x, y in zip(a.state, b.state, strict=True)) \
        and torch.equal(a.generator.get_state(), b.generator.get_state())


def test_prepared_steps_play_what_computed_steps_play() -> None:
    net = nade()
    plain, ahead = RollGenerator(net, seed=3), RollGenerator(net, seed=3)
    f_plain = f_ahead = np.zeros(88, dtype=bool)
    struck_late = 0
    # per step: what is prepared (frame, controls) against what comes
    for n in range(40):
        controls = WARMER if n % 7 == 3 else CONTROLS
        performer = frame_of(40 + n % 5) if n % 5 == 1 else np.zeros(88, dtype=bool)
        observed_ahead = f_ahead | performer
        expected = f_ahead if n % 5 == 1 else observed_ahead  # a key struck after the prepare
        struck_late += not np.array_equal(expected, observed_ahead)
        ahead.prepare(expected, CONTROLS if n % 11 != 4 else WARMER)
        if n % 13 == 6:
            ahead.prepare(expected, CONTROLS)  # prepared twice from one state (a copy head's memory)
        f_plain = plain.step(f_plain | performer, controls)
        f_ahead = ahead.step(observed_ahead, controls)
        assert np.array_equal(f_plain, f_ahead), n
        assert states_equal(plain, ahead), n
    assert ahead.ahead_hits + ahead.ahead_misses == 40
    assert ahead.ahead_misses == struck_late > 0  # the steps with a key struck after the prepare
    assert 0 < ahead.drawn_ahead < ahead.ahead_hits  # other controls: only the model step was reused
    assert f_plain.any()  # the comparison saw notes


def test_a_reset_or_a_sample_after_the_prepare_is_not_overtaken() -> None:
    net = nade(1)
    plain, ahead = RollGenerator(net, seed=5), RollGenerator(net, seed=5)
    for gen in (plain, ahead):
        gen.step(frame_of(60), CONTROLS)
    ahead.prepare(frame_of(62), CONTROLS)
    plain.reset()
    ahead.reset()  # the prepare was from the old state
    assert np.array_equal(plain.step(frame_of(62), CONTROLS), ahead.step(frame_of(62), CONTROLS))
    assert ahead.ahead_hits == 0 and states_equal(plain, ahead)
    ahead.prepare(frame_of(64), CONTROLS)
    plain.sample(CONTROLS)
    ahead.sample(CONTROLS)  # the generator moved on: the prepared draw is stale
    assert np.array_equal(plain.step(frame_of(64), CONTROLS), ahead.step(frame_of(64), CONTROLS))
    assert ahead.ahead_hits == 1 and ahead.drawn_ahead == 0 and states_equal(plain, ahead)


def test_bernoulli_head_and_key_following_voice_step_ahead_alike() -> None:
    torch.manual_seed(2)
    net = RollLSTM().eval()
    plain = KeyFollowingVoice(RollGenerator(net, seed=1, shifts=EVERY_SHIFT))  # heard in every key
    ahead = KeyFollowingVoice(RollGenerator(net, seed=1, shifts=EVERY_SHIFT))
    f_plain = f_ahead = np.zeros(88, dtype=bool)
    for n in range(24):
        performer = frame_of(62, 66, 69) if 4 <= n < 12 else np.zeros(88, dtype=bool)  # D major heard
        ahead.prepare(f_ahead | performer, CONTROLS)
        f_plain = plain.step(f_plain | performer, CONTROLS)
        f_ahead = ahead.step(f_ahead | performer, CONTROLS)
        assert np.array_equal(f_plain, f_ahead), n
    assert np.array_equal(plain.inner.log_w, ahead.inner.log_w)
    assert plain.inner.log_w.max() - plain.inner.log_w.min() > 0.1  # the key posterior moved
    assert ahead.inner.drawn_ahead > 0


def test_worker_thread_prepares_off_the_callers_thread() -> None:
    net = nade(4)
    plain, gen = RollGenerator(net, seed=9), RollGenerator(net, seed=9)
    worker = StepAhead(gen, threaded=True)
    worker.warm_up(np.zeros(88, dtype=bool), CONTROLS)  # returns once prepared
    f = gen.step(np.zeros(88, dtype=bool), CONTROLS)
    assert gen.drawn_ahead == 1
    assert np.array_equal(f, plain.step(np.zeros(88, dtype=bool), CONTROLS))
    for _ in range(10):
        worker.submit(f, CONTROLS)
        worker.wait()  # whether or not the worker began, the voice is ours again
        f_plain = plain.step(f, CONTROLS)
        f = gen.step(f, CONTROLS)
        assert np.array_equal(f, f_plain)
    worker.close()
    assert worker.submitted == 11 and len(worker.prepare_s) >= 1


def run_engine(step_ahead: str, performer: bool) -> tuple[list[tuple[float, str]], RollGenerator]:
    """Four bars of a NADE voice on a manual clock; with ``performer``, a key struck and
    released between steps every third step."""
    voice = RollGenerator(nade(6), seed=11)
    engine, out, _ = make_engine(voice, spb=4, step_ahead=step_ahead, seed=0)

    async def scenario() -> None:
        task = asyncio.ensure_future(engine.run(bars=4))
        played = 0
        while not task.done():
            await asyncio.sleep(0)
            if performer and engine.stats.steps > played:  # a key struck between two steps
                played = engine.stats.steps
                if played % 3 == 0:
                    t = engine.clock.now()
                    engine.feed_midi(mido.Message("note_on", note=48 + played % 12, velocity=90), t)
                    engine.feed_midi(mido.Message("note_off", note=48 + played % 12), t)
        await task

    asyncio.run(scenario())
    assert (engine.stats.performer_events > 0) == performer
    return [(round(t, 9), str(m)) for t, m in out.sent], voice


def test_engine_plays_the_same_with_and_without_stepping_ahead() -> None:
    for performer in (False, True):
        off, plain = run_engine("off", performer)
        inline, ahead = run_engine("inline", performer)
        assert off == inline and len(off) > 10
        assert plain.ahead_hits == 0 and ahead.ahead_hits > 0
        if performer:  # the struck keys reached the prepare before the step
            assert ahead.ahead_misses == 0
        assert ahead.drawn_ahead == ahead.ahead_hits


def test_engine_steps_ahead_by_default_on_a_live_clock_only() -> None:
    engine, _, _ = make_engine(RollGenerator(nade(), seed=0))
    assert engine.ahead is None  # a manual clock: render and tests compute at the step
    thread, _, _ = make_engine(RollGenerator(nade(), seed=0), step_ahead="thread")
    assert thread.ahead is not None and thread.ahead.threaded
    thread.ahead.close()


def test_bench_reports_the_step_in_the_engine_beside_the_step_outside() -> None:
    st = step_summary([0.0004, 0.0003, 0.003], [0.0003, 0.0002, 0.002], [True, True, False], [0.002, 0.0021])
    assert (st["ahead"], st["computed"]) == (2, 1)
    assert st["computed_wall_ms"]["median"] == 3.0 and st["ahead_wall_ms"]["max"] == 0.4
    assert st["prepare_ms"]["n"] == 2
    outside = {"back_to_back_ms": {"median": 1.0, "p99": 2.0}, "spaced_ms": {"median": 2.0, "p99": 4.0},
               "load_average": [0.5]}
    table = format_table({"step_outside": outside, "idle": {
        "step": st, "out_error_ms": st["wall_ms"], "out_error_first_anchor_ms": st["wall_ms"],
        "send_error_ms": st["wall_ms"], "transport_ms": st["wall_ms"], "reaction_ms": st["wall_ms"],
        "reaction_steps": {}, "late_steps": 0, "missed_steps": 0, "lost": 0, "load_average": [0.5]}})
    assert "back to back 1.000/2.000" in table and "(2.00x)" in table
    row = table.splitlines()[-1].split()
    assert row[0] == "idle" and row[1].startswith("0.400/") and row[2].startswith("0.300/")
    assert row[3:6] == ["0.40", "2", "1"]  # in engine / back to back, taken ahead, computed
