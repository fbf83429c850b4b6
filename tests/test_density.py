"""Density following: the onset-rate estimator, the articulation it chooses, and what a render
plays with the ``density_follow`` control on and off (the live engine's code path)."""

from __future__ import annotations

import asyncio
import io

import mido
import numpy as np
import pytest
from engine_helpers import ScriptVoice, make_engine
from hypothesis import given, settings
from hypothesis import strategies as st

from livegen.controls.table import CONTROLS, ControlState
from livegen.music.density import DensityFollower, OnsetRate, correction_probability, onset_count
from livegen.music.frames import NoteTracker
from livegen.music.keyboard import LOWEST_PITCH, N_KEYS
from livegen.music.roll_midi import midi_bytes, roll_to_midi, split_at_strikes
from livegen.nets.checkpoint import load_checkpoint
from livegen.nets.manifest import read_manifest, resolve_model
from livegen.offline.render import RenderRequest, RenderResult, render_roll, render_roll_files

ROLL_MODELS = sorted(n for n, e in read_manifest().items() if e["kind"].startswith("roll"))


class NoDraws(np.random.Generator):
    """A generator that fails the test if anything is drawn from it."""

    def __init__(self) -> None:
        super().__init__(np.random.PCG64(0))

    def random(self, *args: object, **kwargs: object) -> float:  # type: ignore[override]
        raise AssertionError("nothing should be drawn")


def _keys(*pitches: int) -> np.ndarray:
    frame = np.zeros(N_KEYS, dtype=bool)
    frame[[p - LOWEST_PITCH for p in pitches]] = True
    return frame


# -- the estimator ---------------------------------------------------------------------------

def test_onset_rate_is_a_decaying_mean_per_counted_step() -> None:
    rate = OnsetRate(half_life=1.0)
    assert rate.rate() is None
    assert rate.rate(prior=0.5, prior_steps=4.0) == 0.5  # nothing heard: the prior
    for _ in range(10):
        rate.observe(2)
    assert rate.rate() == pytest.approx(2.0)
    rate.observe(0)  # half-life one step: the last step weighs as much as all before it
    assert rate.rate() == pytest.approx(1.0, abs=1e-3)
    rate.reset()
    assert rate.rate() is None


def test_onset_count_of_a_roll() -> None:
    roll = np.zeros((4, N_KEYS), dtype=bool)
    roll[0:2, 10] = True  # one note held two steps
    roll[3, 10] = True  # struck again after a gap
    roll[1, 20:23] = True  # a chord
    assert onset_count(roll).tolist() == [1, 3, 0, 1]


def test_performer_rate_counts_only_steps_they_play() -> None:
    follower = DensityFollower(half_life=1e9)  # no decay: a plain mean
    roll = np.zeros((8, N_KEYS), dtype=bool)
    roll[0:4, 40:43] = True  # a chord of three held four steps: 3 onsets over 4 steps
    follower.hear_roll(roll)  # then four silent steps, which do not count
    assert follower.performer.rate() == pytest.approx(0.75)


def test_the_live_engine_counts_every_note_on_even_two_on_one_key_in_a_step() -> None:
    """Live, the performer's rate counts note-ons, not keys: a key struck twice within one
    step (a trill faster than the grid) is two onsets, as the answer's re-strikes are."""
    engine, _, _ = make_engine(ScriptVoice(), spb=2)  # steps of 0.25 s from 0.5
    engine.density = DensityFollower(half_life=1e9)  # a plain mean
    for k in range(4):  # four steps, each: C4 struck twice and E4 once, released in the step
        t = 0.55 + 0.25 * k
        for dt, msg in [(0.00, mido.Message("note_on", note=60, velocity=90)), (0.05, mido.Message("note_off", note=60)),
                        (0.10, mido.Message("note_on", note=60, velocity=90)), (0.12, mido.Message("note_on", note=64, velocity=90)),
                        (0.15, mido.Message("note_off", note=60)), (0.16, mido.Message("note_off", note=64))]:
            engine.feed_midi(msg, t + dt)
    asyncio.run(engine.run(1))
    assert engine.density.performer.rate() == pytest.approx(3.0)


def test_correction_probability() -> None:
    assert correction_probability(1.0, 2.0, 1.0) == pytest.approx(0.5)  # twice as busy
    assert correction_probability(1.0, 0.5, 1.0) == pytest.approx(0.5)  # half as busy
    assert correction_probability(1.0, 0.5, 2.0) == pytest.approx(0.75)
    assert correction_probability(1.0, 1.0, 4.0) == 0.0
    assert correction_probability(1.0, 3.0, 0.0) == 0.0  # the control off
    assert 0.98 < correction_probability(1.0, 0.0, 1.0) < 1.0  # a silent answer: never certain


# -- the articulation ------------------------------------------------------------------------

def _follower(target: float, answer: float) -> DensityFollower:
    """A follower that heard the performer at ``target`` and the answer at ``answer`` onsets a step."""
    follower = DensityFollower(half_life=1e9, prior_steps=0.0)  # no decay: plain means
    for i in range(100):
        follower.hear_performer(int(i < target * 100), True)
        follower.hear_answer(int(i < answer * 100))
    return follower


def test_too_sparse_strikes_held_keys_again() -> None:
    follower = _follower(target=1.0, answer=0.25)
    p, way = follower.probability(1.0)
    assert way == 1 and p == pytest.approx(0.75)
    sounding, frame = _keys(60, 64), _keys(60, 64, 67)  # 60 and 64 held on, 67 new
    counts = np.zeros(N_KEYS)
    rng = np.random.default_rng(0)
    for _ in range(2000):
        out, restrike = follower.articulate(frame, sounding, 1.0, rng)
        assert (out == frame).all()  # the notes are the model's: only their articulation changes
        counts += restrike
    assert not counts[67 - LOWEST_PITCH] and not counts[:60 - LOWEST_PITCH].any()
    assert counts[60 - LOWEST_PITCH] / 2000 == pytest.approx(0.75, abs=0.04)
    assert counts[64 - LOWEST_PITCH] / 2000 == pytest.approx(0.75, abs=0.04)


def test_too_busy_holds_what_sounds() -> None:
    follower = _follower(target=0.25, answer=1.0)
    p, way = follower.probability(1.0)
    assert way == -1 and p == pytest.approx(0.75)
    sounding, frame = _keys(60, 64), _keys(62, 65)
    rng = np.random.default_rng(1)
    held = 0
    for _ in range(2000):
        out, restrike = follower.articulate(frame, sounding, 1.0, rng)
        assert not restrike.any()
        assert (out == sounding).all() or (out == frame).all()
        held += bool((out == sounding).all())
    assert held / 2000 == pytest.approx(0.75, abs=0.04)
    # nothing new struck: nothing to hold back
    out, _ = follower.articulate(_keys(60), sounding, 1.0, NoDraws())
    assert (out == _keys(60)).all()


def test_on_target_or_off_changes_nothing_and_draws_nothing() -> None:
    sounding, frame = _keys(60, 64), _keys(60, 67)
    for follower, follow in ((_follower(0.5, 0.5), 1.0), (_follower(0.25, 1.0), 0.0), (DensityFollower(), 1.0)):
        out, restrike = follower.articulate(frame, sounding, follow, NoDraws())
        assert (out == frame).all() and not restrike.any()


def test_note_tracker_strikes_again_without_a_gap() -> None:
    tracker = NoteTracker()
    tracker.update(_keys(60, 64), 70)
    events = tracker.update(_keys(60, 64), 70, restrike=_keys(60, 67))  # 67 is not held: ignored
    assert [(e.on, e.pitch) for e in events] == [(False, 60), (True, 60)]
    assert tracker.sounding[60 - LOWEST_PITCH] and tracker.sounding[64 - LOWEST_PITCH]


def test_roll_to_midi_splits_a_held_note_where_it_is_struck_again() -> None:
    roll = np.zeros((6, N_KEYS), dtype=bool)
    roll[0:6, 60 - LOWEST_PITCH] = True
    vel = np.zeros((6, N_KEYS), dtype=np.uint8)
    vel[0, 60 - LOWEST_PITCH], vel[3, 60 - LOWEST_PITCH] = 50, 90
    assert split_at_strikes([(60, 0, 6)], vel) == [(60, 0, 3), (60, 3, 6)]
    pm = roll_to_midi(roll, 2, 120.0, velocities={"livegen": vel})
    notes = [(n.pitch, n.velocity) for n in pm.instruments[0].notes]
    assert notes == [(60, 50), (60, 90)]


# -- renders through the engine --------------------------------------------------------------

def _prime(spb: int, busy: bool) -> np.ndarray:
    """Four bars in C: block chords (3 onsets a bar) or a melody over a walking bass
    (2 onsets a beat)."""
    roll = np.zeros((16 * spb, N_KEYS), dtype=bool)
    chords = ((48, 52, 55), (53, 57, 60), (55, 59, 62), (48, 52, 55))
    melody = (64, 62, 60, 62, 65, 64, 62, 60, 67, 65, 64, 62, 60, 62, 64, 60)
    for bar, chord in enumerate(chords):
        for beat in range(4):
            i = 4 * bar + beat
            if busy:
                roll[i * spb, melody[i] - LOWEST_PITCH] = True
                roll[i * spb:(i + 1) * spb, chord[beat % 3] - 12 - LOWEST_PITCH] = True
            else:
                roll[i * spb:(i + 1) * spb, [p - LOWEST_PITCH for p in chord]] = True
    return roll


def _note_ons(result: RenderResult) -> int:
    return int((result.velocities > 0).sum())


def test_render_follows_a_busy_prime_and_is_deterministic() -> None:
    model, meta = load_checkpoint(resolve_model("nottingham"))
    spb = int(meta["steps_per_beat"])
    busy = _prime(spb, busy=True)
    on, off = ControlState(density_follow=1.0), ControlState(density_follow=0.0)
    count = {True: 0, False: 0}
    for seed in range(3):
        a = render_roll(model, 4, on, seed=seed, prime=busy, steps_per_beat=spb)
        b = render_roll(model, 4, on, seed=seed, prime=busy, steps_per_beat=spb)
        assert np.array_equal(a.generated, b.generated) and np.array_equal(a.velocities, b.velocities)
        assert a.timed == b.timed
        count[True] += _note_ons(a)
        count[False] += _note_ons(render_roll(model, 4, off, seed=seed, prime=busy, steps_per_beat=spb))
    beats = 3 * 4 * 4
    prime_rate = int((np.diff(np.vstack([np.zeros((1, 88), bool), busy]).astype(int), axis=0) > 0).sum()) / (len(busy) / spb)
    # the answer is about as busy as the prime (measured: 2.25 a beat after 2.0), never sparser for following
    assert abs(count[True] / beats - prime_rate) <= 0.25 * prime_rate
    assert count[True] >= count[False]


def test_render_with_following_answers_a_busy_prime_busier_than_a_sparse_one() -> None:
    model, meta = load_checkpoint(resolve_model("jsb"))
    spb = int(meta["steps_per_beat"])
    count = {}
    for busy in (False, True):
        count[busy] = sum(_note_ons(render_roll(model, 4, ControlState(density_follow=1.0), seed=seed,
                                                prime=_prime(spb, busy),
                                                steps_per_beat=spb)) for seed in range(3))
    assert count[True] > 1.3 * count[False]


def test_render_file_counts_a_strike_again_as_a_note(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """What the engine sent (note-ons) is what the written MIDI file holds."""
    model, meta = load_checkpoint(resolve_model("nottingham"))
    prime = tmp_path / "busy.mid"
    roll = _prime(int(meta["steps_per_beat"]), busy=True)
    prime.write_bytes(midi_bytes(roll_to_midi(roll, int(meta["steps_per_beat"]), 120.0)))
    out = tmp_path / "a.mid"
    request = RenderRequest(state=ControlState(), out=out, bars=4, seed=1, prime=prime)
    render_roll_files(model, meta, request)
    first = out.read_bytes()
    render_roll_files(model, meta, request)
    assert out.read_bytes() == first  # deterministic under the seed
    mid = mido.MidiFile(file=io.BytesIO(first))
    track = next(t for t in mid.tracks if any(m.type == "track_name" and m.name == "livegen" for m in t))
    ons = sum(m.type == "note_on" and m.velocity > 0 for m in track)
    result = render_roll(model, 4, ControlState(), seed=1, prime=roll, steps_per_beat=int(meta["steps_per_beat"]))
    assert ons == _note_ons(result) > 0


def test_the_control_is_in_the_table() -> None:
    c = CONTROLS["density_follow"]
    assert (c.minimum, c.maximum, c.default, c.cc) == (0.0, 4.0, 0.0, 93)
    assert ControlState.default().density_follow == 0.0  # off: it made answers sparser than the real music (benchmarks/continuations.py)
    assert ControlState().apply("density_follow", 2.5).density_follow == 2.5


@pytest.mark.parametrize("name", ROLL_MODELS)
@settings(max_examples=4, deadline=None)
@given(follow=st.floats(0.0, 4.0), seed=st.integers(0, 2**31 - 1), busy=st.booleans())
def test_every_shipped_roll_model_takes_the_control(name: str, follow: float, seed: int, busy: bool) -> None:
    model, meta = load_checkpoint(resolve_model(name))
    spb = int(meta["steps_per_beat"])
    result = render_roll(model, 1, ControlState().apply("density_follow", follow), seed=seed,
                         prime=_prime(spb, busy), steps_per_beat=spb)
    assert result.generated.shape == (4 * spb, N_KEYS)
    assert ((result.velocities > 0) <= result.generated).all()  # a strike only where a key sounds
