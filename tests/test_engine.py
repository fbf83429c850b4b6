"""The live engine on a manual clock with memory ports: exact, deterministic, zero wall time."""

from __future__ import annotations

import asyncio

import mido
import numpy as np
import pytest
from engine_helpers import ScriptVoice, balanced, make_engine

from livegen.controls.state import LiveControls
from livegen.controls.table import ControlState
from livegen.engine.clock import ManualClock
from livegen.engine.engine import Engine


def run(engine, bars=None):
    return asyncio.run(engine.run(bars))


def notes(out, kind="note_on"):
    return [(round(t, 6), m.note) for t, m in out.sent if m.type == kind and (kind != "note_on" or m.velocity)]


def test_grid_times_and_exact_messages() -> None:
    engine, out, _ = make_engine(ScriptVoice([60, 60, 62, 62]), spb=2)
    run(engine, bars=1)  # 8 steps of 0.25 s starting at 0.5
    assert notes(out) == [(0.5, 60), (1.0, 62), (1.5, 60), (2.0, 62)]
    assert notes(out, "note_off") == [(1.0, 60), (1.5, 62), (2.0, 60), (2.5, 62)]
    assert balanced(out.sent)
    assert engine.stats.steps == 8 and engine.stats.late_steps == 0


def test_performer_notes_reach_the_model_as_frames() -> None:
    voice = ScriptVoice()
    engine, out, _ = make_engine(voice, spb=2)
    # a short staccato note between two ticks must still appear in a frame
    engine.feed_midi(mido.Message("note_on", note=48, velocity=100), 0.80)
    engine.feed_midi(mido.Message("note_off", note=48), 0.85)
    engine.feed_midi(mido.Message("note_on", note=50, velocity=100), 1.10)
    engine.feed_midi(mido.Message("note_off", note=50), 1.70)
    run(engine, bars=1)
    # observed[0] is at start, observed[k] is the frame at step k-1's tick (t = 0.5 + 0.25 (k-1))
    heard = [sorted(int(j) + 21 for j in np.flatnonzero(f)) for f in voice.observed]
    assert 48 in heard[3] and 48 not in heard[2] and 48 not in heard[4]  # struck in (0.75, 1.0]
    assert 50 in heard[4] and 50 in heard[5] and 50 not in heard[3] and 50 not in heard[6]
    # livegen's own sounding notes are part of what it observes
    assert 60 in heard[1]
    take = engine.take
    assert [n[0] for n in take.notes("performer")] == [48, 50]


def test_call_mode_listens_then_answers_then_yields() -> None:
    controls = LiveControls(ControlState.default().apply_many({"tempo": 120.0, "mode": "call", "silence": 1.0}))
    engine, out, _ = make_engine(ScriptVoice([72]), spb=2, controls=controls)
    # performer plays 0.5..1.5, is silent, then plays again at 3.6
    engine.feed_midi(mido.Message("note_on", note=60, velocity=90), 0.55)
    engine.feed_midi(mido.Message("note_off", note=60), 1.45)
    engine.feed_midi(mido.Message("note_on", note=62, velocity=90), 3.6)
    engine.feed_midi(mido.Message("note_off", note=62), 3.9)
    run(engine, bars=2)
    ons = notes(out)
    assert ons, "livegen never answered"
    first = ons[0][0]
    # silent while the performer plays, answers after 1 beat (0.5 s) of silence
    assert 1.5 + 0.5 <= first <= 1.5 + 0.5 + 0.25 + 1e-9
    # released as soon as the performer plays again, silent afterwards until they stop
    offs = notes(out, "note_off")
    assert any(abs(t - 3.75) < 1e-9 for t, _ in offs)
    assert not any(3.75 < t < 3.9 + 0.5 for t, _ in ons)
    assert balanced(out.sent)


def test_mode_switch_and_mute_release_notes() -> None:
    engine, out, _ = make_engine(ScriptVoice([(60, 64)]), spb=2, mode="solo")

    async def scenario():
        task = asyncio.ensure_future(engine.run(bars=2))
        while engine.stats.steps < 3:
            await asyncio.sleep(0)
        engine.controls.set("mute", 1.0)
        while engine.stats.steps < 6:
            await asyncio.sleep(0)
        assert engine.tracker.sounding.sum() == 0
        engine.controls.set("mute", 0.0)
        engine.controls.set("mode", "accompany")
        await task

    asyncio.run(scenario())
    assert balanced(out.sent)
    assert engine.status()["mode"] == "accompany"


def test_tempo_change_applies_next_step_without_drift() -> None:
    engine, out, clock = make_engine(ScriptVoice([60, 62]), spb=2)

    async def scenario():
        task = asyncio.ensure_future(engine.run(bars=1))
        while engine.stats.steps < 4:
            await asyncio.sleep(0)
        engine.controls.set("tempo", 60.0)  # from 0.25 s to 0.5 s per step
        await task

    asyncio.run(scenario())
    ons = [t for t, _ in notes(out)]
    gaps = np.diff(ons)
    assert np.allclose(gaps[:3], 0.25)
    assert np.allclose(gaps[4:], 0.5)
    assert ons[0] == 0.5


def test_bad_controls_are_rejected_without_changing_state() -> None:
    engine, _, _ = make_engine()
    for name, value in [("temperature", float("nan")), ("tempo", 5000), ("mode", "karaoke"), ("nope", 1)]:
        with pytest.raises(ValueError):
            engine.controls.set(name, value)
    assert engine.controls.state.temperature == 1.0 and engine.controls.state.tempo == 120.0


def test_panic_and_reset() -> None:
    voice = ScriptVoice([(60, 64, 67)])
    engine, out, _ = make_engine(voice)

    async def scenario():
        task = asyncio.ensure_future(engine.run(bars=1))
        while engine.stats.steps < 2:
            await asyncio.sleep(0)
        engine.controls.set("panic", True)
        engine.controls.set("reset", True)
        await task

    asyncio.run(scenario())
    ccs = [m for _, m in out.sent if m.type == "control_change"]
    assert ccs and ccs[0].control == 123
    assert voice.resets == 1
    assert balanced(out.sent)


class SlowVoice(ScriptVoice):
    """Advances the manual clock as if a step took ``cost`` seconds at step ``at``."""

    def __init__(self, clock, at: int, cost: float) -> None:
        super().__init__([60, 62])
        self.clock, self.at, self.cost = clock, at, cost

    def step(self, frame, controls):
        if self.i == self.at:
            self.clock.advance_to(self.clock.now() + self.cost)
        return super().step(frame, controls)


def test_late_steps_are_skipped_not_bunched() -> None:
    engine, out, clock = make_engine(spb=2)
    engine.voice = SlowVoice(clock, at=3, cost=0.6)  # 0.6 s stall = 2+ steps of 0.25 s
    run(engine, bars=2)
    times = sorted({t for t, m in out.sent if m.type == "note_on"})
    assert engine.stats.late_steps >= 2
    assert all(abs(((t - 0.5) / 0.25) - round((t - 0.5) / 0.25)) < 1e-9 for t in times)  # on the grid
    assert min(np.diff(times)) >= 0.25 - 1e-9  # never bunched
    assert balanced(out.sent)


class Boom(ScriptVoice):
    def step(self, frame, controls):
        if self.i == 5:
            raise RuntimeError("model exploded")
        return super().step(frame, controls)


def test_exception_releases_every_note() -> None:
    engine, out, _ = make_engine(Boom([(60, 64)]))
    with pytest.raises(RuntimeError):
        run(engine, bars=4)
    assert balanced(out.sent)
    assert engine.tracker.sounding.sum() == 0


def test_follows_external_midi_clock_start_stop_songpos() -> None:
    engine, out, clock = make_engine(ScriptVoice([60, 62]), spb=2, clock_source="midi")
    tick = 0.5 / 24  # 120 BPM

    async def scenario():
        task = asyncio.ensure_future(engine.run(bars=1))
        await asyncio.sleep(0)
        t = 1.0
        engine.feed_midi(mido.Message("start"), t)
        for k in range(24 * 2):  # two beats = 4 steps
            clock.advance_to(t + k * tick)
            engine.feed_midi(mido.Message("clock"), t + k * tick)
            for _ in range(20):
                await asyncio.sleep(0)
        engine.feed_midi(mido.Message("stop"), t + 48 * tick)
        for _ in range(20):
            await asyncio.sleep(0)
        assert engine.tracker.sounding.sum() == 0  # transport Stop released everything
        engine.feed_midi(mido.Message("songpos", pos=8), t + 2)  # bar 3 in sixteenths
        engine.feed_midi(mido.Message("continue"), t + 2)
        for k in range(24 * 2):
            clock.advance_to(t + 2 + k * tick)
            engine.feed_midi(mido.Message("clock"), t + 2 + k * tick)
            for _ in range(20):
                await asyncio.sleep(0)
        await task

    asyncio.run(scenario())
    ons = [t for t, _ in notes(out)]
    assert np.allclose(ons[:4], [1.0, 1.25, 1.5, 1.75])
    assert np.allclose(ons[4:8], [3.0, 3.25, 3.5, 3.75])
    # song position 8 sixteenths = 2 beats = step 4; four more steps were played from there
    assert engine.step_index == 4 + 3
    assert balanced(out.sent)


def test_send_clock_master() -> None:
    engine, out, _ = make_engine(spb=2, send_clock=True)
    run(engine, bars=1)
    kinds = [m.type for _, m in out.sent]
    assert kinds[0] == "start" and kinds[-1] == "stop"
    clocks = [t for t, m in out.sent if m.type == "clock"]
    assert len(clocks) == 8 * 12
    assert np.allclose(np.diff(clocks), 0.5 / 24)


def test_switching_to_solo_after_listening_to_silence_plays_at_once() -> None:
    """Call mode with no performer for 8 bars, then solo at temperature 0.5: the shipped
    model, which has heard nothing but silence, answers from the first step after the switch
    (it used to stay silent for bars: its state had settled on silence)."""
    from livegen.nets.checkpoint import load_checkpoint
    from livegen.nets.manifest import resolve_model
    from livegen.voices.roll import RollGenerator

    model, _ = load_checkpoint(resolve_model("nottingham"))
    for seed in range(3):
        controls = LiveControls(ControlState.default().apply_many({"mode": "call", "temperature": 0.5}))
        engine, out, clock = make_engine(RollGenerator(model, seed=seed), spb=2, controls=controls)

        async def scenario(engine: Engine, controls: LiveControls, clock: ManualClock) -> float:
            task = asyncio.ensure_future(engine.run(bars=10))
            while engine.stats.steps < 64:
                await asyncio.sleep(0)
            switched = clock.now()
            controls.set("mode", "solo")
            await task
            return switched

        switched = asyncio.run(scenario(engine, controls, clock))
        onsets = [t for t, m in out.sent if m.type == "note_on" and m.velocity > 0]
        assert onsets and onsets[0] - switched == pytest.approx(0.25), seed  # the next step that can sound


@pytest.mark.parametrize("velocity", [30, 120])
def test_answers_follow_the_performers_velocity_live(velocity: int) -> None:
    """The same engine path as render: note-ons heard set the answer's loudness."""
    controls = LiveControls(ControlState.default().apply_many(
        {"mode": "call", "silence": 0.5, "dynamics": 1.0, "accent": 0.0}))
    engine, out, _ = make_engine(ScriptVoice([72]), spb=2, controls=controls)
    for i in range(4):
        engine.feed_midi(mido.Message("note_on", note=60 + i, velocity=velocity), 0.55 + 0.5 * i)
        engine.feed_midi(mido.Message("note_off", note=60 + i), 0.95 + 0.5 * i)
    asyncio.run(engine.run(bars=3))
    answered = {m.velocity for _, m in out.sent if m.type == "note_on" and m.velocity > 0}
    assert answered == {velocity}
