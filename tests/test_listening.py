"""Listening to the performer: the key estimator, following the key, and the controls."""

from __future__ import annotations

import numpy as np
import pytest

from livegen.controls.table import ControlState
from livegen.music.keyboard import LOWEST_PITCH, N_KEYS
from livegen.music.keys import Key, KeyTracker, all_keys, roll_key
from livegen.nets.checkpoint import load_checkpoint
from livegen.nets.manifest import resolve_model
from livegen.offline.render import render_roll
from livegen.sampling.constraints import RollControls, allowed_keys, sampling_view
from livegen.sampling.transpose import shift_controls, shift_frame
from livegen.voices.follow import KeyFollowingVoice
from livegen.voices.roll import RollGenerator

#: share of notes in the key's scale in each corpus's test set (DESIGN.md, musicianship)
CORPUS_IN_SCALE = {"nottingham": 0.968, "jsb": 0.942}
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)


def cadence(key: Key, steps_per_chord: int = 4) -> np.ndarray:
    """Block chords I-IV-V-I (minor: i-iv-V-i with the leading tone), root position."""
    scale = MAJOR if key.mode == "major" else MINOR
    roll = np.zeros((4 * steps_per_chord, N_KEYS), dtype=bool)
    for n, degrees in enumerate([(0, 2, 4), (3, 5, 7), (4, 6, 8), (0, 2, 4)]):
        for d in degrees:
            step = scale[d % 7] + (1 if key.mode == "minor" and d % 7 == 6 else 0)
            pitch = 48 + key.tonic + 12 * (d // 7) + step
            roll[n * steps_per_chord:(n + 1) * steps_per_chord, pitch - LOWEST_PITCH] = True
    return roll


@pytest.mark.parametrize("key", all_keys(), ids=lambda k: k.name)
def test_the_estimator_names_the_key_of_a_cadence(key: Key) -> None:
    assert roll_key(cadence(key)) == key


def test_the_tracker_follows_a_change_of_key() -> None:
    tracker = KeyTracker(half_life=8)
    assert tracker.key() is None
    for frame in np.concatenate([cadence(Key(0, "major"))] * 2):
        tracker.observe(frame)
    assert tracker.key() == Key(0, "major")
    for frame in np.concatenate([cadence(Key(6, "minor"))] * 3):
        tracker.observe(frame)
    assert tracker.key() == Key(6, "minor")


def test_shifting_frames_drops_keys_off_the_keyboard_and_never_wraps() -> None:
    frame = np.zeros(N_KEYS, dtype=bool)
    frame[[0, 40, 87]] = True
    assert np.flatnonzero(shift_frame(frame, 3)).tolist() == [3, 43]
    assert np.flatnonzero(shift_frame(frame, -3)).tolist() == [37, 84]
    assert (shift_frame(shift_frame(frame, 5), -5) == frame & (np.arange(N_KEYS) < N_KEYS - 5)).all()


@pytest.mark.parametrize("shift", [-6, -1, 0, 4, 5])
def test_constraints_moved_into_the_models_key_still_hold_for_what_sounds(shift: int) -> None:
    controls = sampling_view(ControlState.default().apply_many(
        {"low": 50, "high": 80, "key": "D", "scale": "minor"}), frozenset({62, 65}))
    allowed = allowed_keys(controls).numpy()
    seen = allowed_keys(shift_controls(controls, -shift)).numpy()
    # a model key is allowed iff the real key it sounds as is allowed (inside the keyboard)
    assert (shift_frame(seen, shift) == allowed & shift_frame(np.ones(N_KEYS, bool), shift)).all()


def test_follow_off_is_the_plain_model() -> None:
    model, _ = load_checkpoint(resolve_model("nottingham-bernoulli"))
    controls = RollControls(follow=False)
    plain, following = RollGenerator(model, seed=3), KeyFollowingVoice(RollGenerator(model, seed=3))
    frame = cadence(Key(6, "major"))[0]
    for _ in range(12):
        a, b = plain.step(frame, controls), following.step(frame, controls)
        assert (a == b).all()
        frame = a


@pytest.mark.parametrize("model_name", ["nottingham", "jsb"])
@pytest.mark.parametrize("key", [Key(6, "major"), Key(1, "minor"), Key(10, "major")], ids=lambda k: k.name)
def test_render_answers_in_the_key_of_the_prime(model_name: str, key: Key) -> None:
    """Primed in a key the models never saw in training, the answer stays in it (no mask) as
    much as the music it learned does: the corpus's own in-scale share (DESIGN.md) less four
    standard errors of this small sample."""
    model, meta = load_checkpoint(resolve_model(model_name))
    spb = int(meta["steps_per_beat"])
    prime = np.concatenate([cadence(key, 2 * spb)] * 2)
    pcs = np.zeros(0, dtype=int)
    for seed in range(3):  # the defaults follow this sparse cadence's density: few notes a seed
        result = render_roll(model, 4, ControlState(), seed=seed, prime=prime, steps_per_beat=spb)
        onsets = np.diff(np.vstack([np.zeros((1, N_KEYS), bool), result.generated]).astype(int), axis=0) > 0
        pcs = np.concatenate([pcs, (np.nonzero(onsets)[1] + LOWEST_PITCH) % 12])
    assert len(pcs) >= 8
    real = CORPUS_IN_SCALE[model_name]
    assert np.array(key.scale_mask())[pcs].mean() >= real - 4 * np.sqrt(real * (1 - real) / len(pcs))
    plain = render_roll(model, 4, ControlState(follow=False), seed=2, prime=prime, steps_per_beat=spb)
    assert not (plain.generated == result.generated).all()


def test_answer_velocity_mixes_follows_and_accents() -> None:
    from livegen.music.dynamics import answer_velocity

    assert answer_velocity(90, None, 0.8, 0.0, 3, 2) == 90  # nobody played yet
    assert answer_velocity(90, 40.0, 0.0, 0.0, 3, 2) == 90  # follow 0: the fixed velocity
    assert answer_velocity(90, 40.0, 1.0, 0.0, 3, 2) == 40
    assert answer_velocity(90, 40.0, 0.5, 0.0, 3, 2) == 65
    assert answer_velocity(90, 40.0, 1.0, 10.0, 0, 2) == 50  # the downbeat: the full accent
    assert answer_velocity(90, 40.0, 1.0, 10.0, 2, 2) == 45  # another beat: half
    assert answer_velocity(90, 40.0, 1.0, 10.0, 1, 2) == 40  # off the beat: none
    assert answer_velocity(120, 127.0, 1.0, 40.0, 0, 2) == 127  # never above 127


def _prime_file(path, velocity: int):  # type: ignore[no-untyped-def]
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(0)
    for i, p in enumerate([60, 62, 64, 65, 67, 65, 64, 62] * 2):
        inst.notes.append(pretty_midi.Note(velocity, p, i * 0.5, i * 0.5 + 0.45))
    for b in range(4):
        inst.notes.append(pretty_midi.Note(velocity, 48, b * 2.0, b * 2.0 + 2.0))
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


@pytest.mark.parametrize("model_name", ["nottingham", "jsb"])
def test_render_answers_soft_playing_softly_and_loud_playing_loudly(model_name: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pretty_midi

    from livegen.cli import main

    means = {}
    for velocity in (40, 110):
        out = tmp_path / f"{velocity}.mid"
        assert main(["render", "--model", model_name, "--prime", str(_prime_file(tmp_path / f"p{velocity}.mid",
                     velocity)), "--bars", "4", "--seed", "1", "-o", str(out)]) == 0
        notes = [n.velocity for i in pretty_midi.PrettyMIDI(str(out)).instruments if i.name == "livegen"
                 for n in i.notes]
        assert notes
        means[velocity] = float(np.mean(notes))
    assert means[110] - means[40] >= 30
    out = tmp_path / "fixed.mid"  # dynamics 0: the velocity control, accents aside
    assert main(["render", "--model", model_name, "--prime", str(tmp_path / "p40.mid"), "--bars", "4",
                 "--dynamics", "0", "--accent", "0", "--velocity", "77", "-o", str(out)]) == 0
    assert {n.velocity for i in pretty_midi.PrettyMIDI(str(out)).instruments if i.name == "livegen"
            for n in i.notes} == {77}
