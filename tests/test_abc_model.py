"""The shipped ABC tune model: generated tunes, ``livegen render`` for it, and the AbcVoice."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from engine_helpers import balanced, make_engine

from livegen.cli import main as cli_main
from livegen.errors import LivegenError
from livegen.music.abc.parse import parse_abc
from livegen.music.frames import NoteTracker
from livegen.nets.checkpoint import load_checkpoint
from livegen.sampling.constraints import RollControls
from livegen.voices.abc import AbcVoice, octave_shift, tune_to_roll
from livegen.voices.abc_tunes import AbcTuneSampler, key_from_pitch_classes, key_from_pitches, key_name

MODEL = Path(__file__).resolve().parents[1] / "models" / "irish.pt"
E_DORIAN = [64, 66, 67, 69, 71, 73, 74]




@pytest.fixture(scope="module")
def irish():
    if not MODEL.is_file():
        pytest.skip(f"{MODEL} is not there yet (train it: livegen train abc --data irish)")
    return load_checkpoint(MODEL)


# -- no model needed --------------------------------------------------------------------------

def _spans(roll: np.ndarray, pitch: int) -> list[tuple[int, int]]:
    col = np.concatenate([[False], roll[:, pitch - 21], [False]]).astype(int)
    d = np.diff(col)
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist(), strict=True))


def test_tune_to_roll_leaves_a_silent_step_before_a_restruck_note() -> None:
    tune = parse_abc("X:1\nM:4/4\nL:1/8\nK:C\nCC C2 D/D E/E/|]")
    roll, dropped = tune_to_roll(tune, 4)
    assert _spans(roll, 60) == [(0, 1), (2, 3), (4, 8)]  # eighths shortened by a step
    assert _spans(roll, 62) == [(8, 9), (10, 11)]  # a 1-step note: the next starts a step late
    assert _spans(roll, 64) == [(11, 12)]  # two 1-step notes: the second cannot be struck again
    assert dropped == 1
    assert roll.shape == (16, 88) and not roll[-1].any()  # one whole 4/4 bar, silent at the end


def test_tune_to_roll_pads_to_the_tunes_own_bars() -> None:
    roll, _ = tune_to_roll(parse_abc("X:1\nM:6/8\nL:1/8\nK:D\ndef gfe|d3 d3|]"), 4)
    assert len(roll) == 36  # 6/8 bars are 12 sixteenths; two bars + the silent step -> three
    assert _spans(roll, 74) == [(0, 2), (12, 17), (18, 24)]


def test_octave_shift_moves_whole_octaves_into_range() -> None:
    assert octave_shift(48, 60, 60, 84) == 12
    assert octave_shift(62, 79, 21, 108) == 0
    assert octave_shift(62, 86, 36, 60) == -24
    assert octave_shift(0, -1, 60, 72) == 0  # nothing to move


def test_key_from_pitch_classes() -> None:
    d_major = [62, 64, 66, 67, 69, 71, 73, 62, 66, 69, 74]
    assert key_from_pitches(d_major) == "D Major"
    assert key_from_pitches(E_DORIAN + [64, 71, 64, 76]) == "E Dorian"
    assert key_from_pitches([62, 65, 69, 62, 69, 74, 60, 67]) == "D Dorian"  # D F A, C, G: no F#/Bb
    assert key_from_pitch_classes([0] * 12) is None
    assert key_name("f#", "minor") == "F# Minor"
    with pytest.raises(LivegenError, match="ABC key mode"):
        key_name("C", "blues")


# -- the trained model ------------------------------------------------------------------------

def test_generated_tunes_parse_and_repeat_for_a_seed(irish) -> None:
    model, meta = irish
    first = AbcTuneSampler.from_checkpoint(model, meta, seed=11)
    tunes = [first.generate() for _ in range(5)]
    again = AbcTuneSampler.from_checkpoint(model, meta, seed=11)
    assert [again.generate().text for _ in range(5)] == [t.text for t in tunes]
    for gen in tunes:
        assert gen.text.startswith("X:") and "\x1e" not in gen.text
        assert len(gen.tune.notes) >= 8
        assert parse_abc(gen.text, repair=True).notes == gen.tune.notes
        assert all(21 <= n.pitch <= 108 and n.duration > 0 for n in gen.tune.notes)
        assert gen.rejected == len(gen.reasons)
    assert first.rejected_total == sum(g.rejected for g in tunes) and first.accepted_total == 5
    other = AbcTuneSampler.from_checkpoint(model, meta, seed=12).generate()
    assert other.text != tunes[0].text


def test_forced_key_and_header_prime(irish) -> None:
    model, meta = irish
    sampler = AbcTuneSampler.from_checkpoint(model, meta, seed=3)
    gen = sampler.generate(fields={"K": "E Dorian"})
    assert (gen.tune.key.tonic, gen.tune.key.mode) == ("E", "dorian")
    assert "\nK:E Dorian\n" in gen.text
    jig = sampler.generate(header="X:7\nT:Test Jig\nM:6/8\n")
    assert jig.text.startswith("X:7\nT:Test Jig\nM:6/8\n")
    assert jig.tune.title == "Test Jig" and jig.tune.meter.text == "6/8"


def test_a_rejected_draft_is_counted_and_the_next_one_drawn(irish) -> None:
    model, meta = irish
    sampler = AbcTuneSampler.from_checkpoint(model, meta, seed=0, max_chars=40, max_tries=3)
    with pytest.raises(LivegenError, match="3 generated tunes in a row were rejected"):
        sampler.generate()  # no tune ends within 40 characters
    assert sampler.rejected_total == 3


def test_not_an_abc_model_is_refused(irish) -> None:
    model, meta = irish
    with pytest.raises(LivegenError, match="lyrics model, not an ABC"):
        AbcVoice.from_checkpoint(model, {**meta, "text_kind": "lyrics"}, 0, sync=True)


def test_render_is_byte_identical_for_a_seed(irish, tmp_path: Path) -> None:
    def render(seed: int, name: str) -> tuple[bytes, str]:
        mid, abc = tmp_path / f"{name}.mid", tmp_path / f"{name}.abc"
        code = cli_main(["render", "--model", str(MODEL), "--seed", str(seed), "-o", str(mid),
                         "--abc", str(abc), "--bpm", "100"])
        assert code == 0
        return mid.read_bytes(), abc.read_text()

    a, abc_a = render(4, "a")
    b, abc_b = render(4, "b")
    c, _ = render(5, "c")
    assert a == b and abc_a == abc_b
    assert a != c
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(tmp_path / "a.mid"))
    tune = parse_abc(abc_a, repair=True)
    assert len(pm.instruments[0].notes) == len(tune.notes)
    assert pm.get_tempo_changes()[1][0] == pytest.approx(100.0)


def test_render_forces_the_key_from_the_options(irish, tmp_path: Path) -> None:
    abc = tmp_path / "t.abc"
    assert cli_main(["render", "--model", str(MODEL), "--seed", "1", "-o", str(tmp_path / "t.mid"),
                     "--abc", str(abc), "--key", "A", "--scale", "mixolydian"]) == 0
    assert "\nK:A Mixolydian\n" in abc.read_text()


def _expected_note_ons(rolls: list[np.ndarray], steps: int, t0: float, period: float) -> list[tuple[float, int]]:
    frames = np.concatenate(rolls)[:steps]
    tracker, out = NoteTracker(), []
    for n, frame in enumerate(frames):
        out += [(round(t0 + n * period, 6), e.pitch) for e in tracker.update(frame) if e.on]
    return out


def test_voice_plays_the_tune_on_the_sixteenth_grid_and_closes_every_note(irish) -> None:
    model, meta = irish
    voice = AbcVoice.from_checkpoint(model, meta, seed=2, sync=True)
    engine, out, _ = make_engine(voice, spb=4)
    asyncio.run(engine.run(8))  # 128 steps of 0.125 s from 0.5 s
    ons = [(round(t, 6), m.note) for t, m in out.sent if m.type == "note_on" and m.velocity]
    assert ons and balanced(out.sent)
    assert all(abs((t - 0.5) / 0.125 - round((t - 0.5) / 0.125)) < 1e-9 for t, _ in ons)
    played = [tr.roll for tr in voice.tunes]
    assert voice.rest_steps == 0 and 1 <= len(played) < 16
    assert ons == _expected_note_ons(played, 128, 0.5, 0.125)
    assert engine.stats.notes_on == engine.stats.notes_off


def test_voice_moves_tunes_by_octaves_into_the_pitch_range(irish) -> None:
    model, meta = irish
    voice = AbcVoice.from_checkpoint(model, meta, seed=2, sync=True)
    controls = RollControls(low=84, high=108)
    frames = [voice.step(np.zeros(88, bool), controls) for _ in range(64)]
    tune = voice.tunes[0]
    k = octave_shift(tune.low, tune.high, 84, 108)
    assert k >= 12
    pitches = [int(j) + 21 for f in frames for j in np.flatnonzero(f)]
    assert pitches and min(pitches) >= 84
    expected = [int(j) + 21 + k for f in tune.roll[:64] for j in np.flatnonzero(f) if 84 <= int(j) + 21 + k <= 108]
    assert pitches == expected


def test_performer_notes_choose_the_next_tunes_key(irish) -> None:
    model, meta = irish
    voice = AbcVoice.from_checkpoint(model, meta, seed=5, sync=True)
    controls = RollControls()
    last = np.zeros(88, bool)
    phrase = [64, 71, 67, 64, 66, 64, 74, 71, 69, 64, 73, 64]  # E dorian, leaning on E
    for i in range(48):  # the performer plays it, a note every other step
        frame = last.copy()
        if i % 2 == 0:
            frame[phrase[(i // 2) % len(phrase)] - 21] = True
        last = voice.step(frame, controls)
    assert voice.performer_key() == "E Dorian"
    voice.reset()
    voice.step(np.zeros(88, bool), controls)
    tune = voice.current.generated.tune
    assert (tune.key.tonic, tune.key.mode) == ("E", "dorian")


def test_voice_worker_thread_prepares_tunes_in_the_background(irish) -> None:
    model, meta = irish
    voice = AbcVoice.from_checkpoint(model, meta, seed=9)
    try:
        assert voice.wait_ready(60.0)
        frames = [voice.step(np.zeros(88, bool), RollControls()) for _ in range(32)]
        assert any(f.any() for f in frames)
        assert voice.tunes_played == 1 and voice.rest_steps == 0
    finally:
        voice.close()
    assert voice._thread is None
