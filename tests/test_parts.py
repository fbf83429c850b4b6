"""Parts: one stream of notes split into voices (livegen.music.parts), the ``livegen split``
command and ``render --parts``, checked on what is written to real MIDI files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pretty_midi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livegen.controls.table import ControlState
from livegen.music.parts import LAYOUTS, Note, PartSplitter, rank_split, split_notes
from livegen.nets.checkpoint import load_checkpoint
from livegen.nets.manifest import read_manifest, resolve_model
from livegen.offline.render import RenderRequest, render_roll_files

ROOT = Path(__file__).resolve().parent.parent
#: a four-part phrase, one chord a beat (soprano, alto, tenor, bass), with the tenor crossing
#: nothing and the bass leaping
PHRASE = [(72, 67, 64, 48), (74, 67, 65, 47), (76, 67, 64, 48), (77, 69, 65, 53), (76, 67, 64, 48)]


def phrase_notes() -> tuple[list[Note], list[int]]:
    notes, truth = [], []
    for t, chord in enumerate(PHRASE):
        for voice, pitch in enumerate(chord):
            notes.append(Note(pitch, float(t), float(t + 1)))
            truth.append(voice)
    return notes, truth


@pytest.mark.parametrize("beam", [1, 8])
def test_a_four_part_phrase_goes_back_to_its_voices(beam: int) -> None:
    notes, truth = phrase_notes()
    assert split_notes(notes, LAYOUTS["satb"], beam=beam) == truth


def test_a_held_note_keeps_its_part_while_the_others_move() -> None:
    # the soprano holds C5 for two beats while the alto moves from G4 up to A4 (above the bass
    # and tenor, below the soprano): the held note is never moved
    s = PartSplitter(LAYOUTS["satb"])
    first = s.onset([72, 67, 64, 48])
    assert first == {72: 0, 67: 1, 64: 2, 48: 3}
    for p in (67, 64, 48):
        s.note_off(p)
    second = s.onset([69, 65, 53])
    assert second == {69: 1, 65: 2, 53: 3} and s.part_of(72) == 0


def test_melody_and_bass_take_the_outer_notes_and_chords_the_rest() -> None:
    s = PartSplitter(LAYOUTS["melody-chords-bass"])
    assert s.onset([79, 67, 64, 60, 43]) == {79: 0, 67: 1, 64: 1, 60: 1, 43: 2}


def test_more_notes_than_voices_are_a_counted_divisi() -> None:
    s = PartSplitter(LAYOUTS["satb"])
    given = s.onset([79, 76, 72, 67, 60])
    assert sorted(given) == [60, 67, 72, 76, 79] and s.divisi == 1


notes_strategy = st.lists(
    st.tuples(st.integers(36, 84), st.integers(0, 31), st.integers(1, 8)), min_size=1, max_size=60)


def _notes(raw: list[tuple[int, int, int]]) -> list[Note]:
    seen: dict[tuple[int, int], Note] = {}
    for pitch, start, length in raw:  # one note per (pitch, start), as a MIDI stream has
        seen[(pitch, start)] = Note(pitch, float(start), float(start + length))
    return list(seen.values())


def _overlaps(notes: list[Note], given: list[int], part: int) -> int:
    mine = sorted((n.start, n.end) for n, g in zip(notes, given, strict=True) if g == part)
    return sum(1 for (_, e1), (s2, _) in zip(mine, mine[1:], strict=False) if s2 < e1)


def _max_sounding(notes: list[Note]) -> int:
    times = {n.start for n in notes}
    return max(sum(1 for n in notes if n.start <= t < n.end) for t in times)


@settings(max_examples=150, deadline=None)
@given(raw=notes_strategy, layout=st.sampled_from(sorted(LAYOUTS)), beam=st.sampled_from([1, 4]))
def test_every_note_goes_to_one_part_and_a_one_voice_part_sings_one_note(raw, layout, beam) -> None:
    notes = _notes(raw)
    parts = LAYOUTS[layout]
    given_parts = split_notes(notes, parts, beam=beam)
    assert len(given_parts) == len(notes) and all(0 <= g < len(parts) for g in given_parts)
    mono = [i for i, p in enumerate(parts) if p.voices == 1]
    # a pitch struck again while it sounds ends the earlier note (as MIDI does): so compare
    # sounding notes as a stream of one note per pitch at a time
    if layout == "melody-chords-bass" or _max_sounding(notes) <= len(mono):
        trimmed = []
        for n in notes:
            later = [m.start for m in notes if m.pitch == n.pitch and n.start < m.start < n.end]
            trimmed.append(Note(n.pitch, n.start, min(later, default=n.end)))
        for i in mono:
            assert _overlaps(trimmed, given_parts, i) == 0, (layout, i)
    assert rank_split(notes, parts) and len(rank_split(notes, parts)) == len(notes)


def _midi(path: Path, chords) -> None:
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(0, name="flat")
    for t, chord in enumerate(chords):
        for pitch in chord:
            inst.notes.append(pretty_midi.Note(80, pitch, t * 0.5, t * 0.5 + 0.5))
    pm.instruments.append(inst)
    pm.write(str(path))


def test_livegen_split_writes_one_named_track_per_part(tmp_path: Path) -> None:
    src, out = tmp_path / "flat.mid", tmp_path / "satb.mid"
    _midi(src, PHRASE)
    done = subprocess.run([sys.executable, "-m", "livegen", "split", str(src), "--parts", "satb", "-o", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    pm = pretty_midi.PrettyMIDI(str(out))
    assert [i.name for i in pm.instruments] == ["soprano", "alto", "tenor", "bass"]
    assert [[n.pitch for n in i.notes] for i in pm.instruments] == [list(v) for v in zip(*PHRASE, strict=True)]
    assert "crossings per bar 0.00" in done.stdout


def test_livegen_split_of_a_missing_file_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "livegen", "split", str(tmp_path / "nope.mid"), "--parts", "satb",
                           "-o", str(tmp_path / "o.mid")], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "not found" in done.stderr


ROLL_MODELS = sorted(name for name, entry in read_manifest().items() if str(entry.get("kind")).startswith("roll"))


@pytest.mark.parametrize(("model", "layout"), [(m, "melody-chords-bass") for m in ROLL_MODELS] + [("jsb", "satb")])
def test_render_parts_are_exactly_the_render_without_them(model: str, layout: str, tmp_path: Path) -> None:
    net, meta = load_checkpoint(resolve_model(model))
    files = {}
    for parts in ("one", layout):
        out = tmp_path / f"{parts}.mid"
        render_roll_files(net, meta, RenderRequest(state=ControlState(), out=out, bars=4, seed=11, parts=parts))
        files[parts] = pretty_midi.PrettyMIDI(str(out))
    names = [i.name for i in files[layout].instruments]
    assert names == [p.name for p in LAYOUTS[layout]]

    def notes(pm: pretty_midi.PrettyMIDI) -> list[tuple[int, float, float, int]]:
        return sorted((n.pitch, round(n.start, 6), round(n.end, 6), n.velocity) for i in pm.instruments for n in i.notes)

    assert notes(files[layout]) == notes(files["one"]) and notes(files["one"])
    for i, part in enumerate(LAYOUTS[layout]):
        if part.voices == 1:
            mine = sorted((n.start, n.end) for n in files[layout].instruments[i].notes)
            assert all(b[0] >= a[1] - 1e-9 for a, b in zip(mine, mine[1:], strict=False)) or layout == "satb"


# ---- live: the engine splits as it plays -------------------------------------------------------

@pytest.mark.parametrize(("model", "layout"), [("jsb", "satb"), ("nottingham", "melody-chords-bass"),
                                               ("piano-midi", "melody-chords-bass")])
def test_the_engine_plays_each_part_on_its_channel_and_the_same_notes(model: str, layout: str) -> None:
    from livegen.offline.render import render_roll

    net, meta = load_checkpoint(resolve_model(model))
    spb = int(meta.get("steps_per_beat", 2))
    one = render_roll(net, 4, ControlState(), seed=5, steps_per_beat=spb, meta=meta)
    split = render_roll(net, 4, ControlState(), seed=5, steps_per_beat=spb, meta=meta, parts=layout)
    parts = LAYOUTS[layout]
    sent = [m for _, m in split.timed]
    assert [m.type for m in sent[:len(parts)]] == ["program_change"] * len(parts)
    assert [(m.channel, m.program) for m in sent[:len(parts)]] == [(i, p.program) for i, p in enumerate(parts)]

    def notes(timed, channels: bool):
        return [(round(t, 9), m.type, m.note, m.velocity) + ((m.channel,) if channels else ())
                for t, m in timed if m.type in ("note_on", "note_off")]

    assert notes(split.timed, False) == notes(one.timed, False) and notes(one.timed, False)
    by_channel: dict[int, set[int]] = {}
    sounding_most = 0
    for _, kind, note, velocity, channel in notes(split.timed, True):
        assert channel < len(parts)
        held = by_channel.setdefault(channel, set())
        if kind == "note_on" and velocity:
            held.add(note)
        else:
            assert note in held, f"a note-off on channel {channel + 1} for a note it never got"
            held.discard(note)
        sounding_most = max(sounding_most, sum(map(len, by_channel.values())))
        for i, part in enumerate(parts):
            if part.voices == 1 and (layout != "satb" or sounding_most <= 4):
                assert len(by_channel.get(i, ())) <= 1, f"{part.name} sang two notes at once"


def test_the_picture_draws_each_part_in_its_colour(tmp_path) -> None:
    """render --parts --png: each note of the answer takes its part's colour, the prime its own."""
    import numpy as np
    import pretty_midi
    from matplotlib.colors import to_rgb

    from livegen.offline.render import part_map
    from livegen.offline.roll_plot import PART_COLORS, PRIME_COLOR, plot_roll, roll_image

    period = 0.25
    melody, bass = pretty_midi.Instrument(0, name="melody"), pretty_midi.Instrument(32, name="bass")
    melody.notes.append(pretty_midi.Note(100, 72, 1.0, 1.5))  # steps 4, 5
    bass.notes.append(pretty_midi.Note(127, 40, 1.0, 2.0))  # steps 4..7
    which = part_map([melody, bass], 8, period)
    assert list(which[:, 72 - 21]) == [-1] * 4 + [0, 0] + [-1, -1]
    assert list(which[:, 40 - 21]) == [-1] * 4 + [1] * 4
    roll = np.zeros((8, 88), dtype=bool)
    roll[4:6, 72 - 21] = roll[4:8, 40 - 21] = True
    roll[0:2, 60 - 21] = True  # the prime
    image = roll_image(roll, None, 4, 40, 72, which)
    shade = lambda c, v: 1 - (0.25 + 0.75 * v / 127) * (1 - np.array(to_rgb(c)))  # noqa: E731
    assert np.allclose(image[72 - 40, 4], shade(PART_COLORS[0], 100))
    assert np.allclose(image[0, 6], shade(PART_COLORS[1], 100))
    assert np.allclose(image[60 - 40, 0], shade(PRIME_COLOR, 100))
    picture = plot_roll(tmp_path / "p.png", roll, steps_per_beat=2, prime_steps=4, parts=(("melody", "bass"), which))
    assert (tmp_path / "p.png").stat().st_size > 1000 and picture.low <= 40


def test_each_parts_controls_change_exactly_its_own_notes() -> None:
    """The same answer (same seed) with the bass an octave down on channel 9 with program 33,
    the melody at 0.5 velocity and the chords muted: every bass note is the same note 12
    semitones lower on channel 9, every melody note-on has half its velocity, no chord
    sounds, and nothing else changes."""
    from livegen.controls.parts import PartsState
    from livegen.offline.render import render_roll

    net, meta = load_checkpoint(resolve_model("nottingham"))
    layout = LAYOUTS["melody-chords-bass"]
    plain = render_roll(net, 8, ControlState(), seed=3, meta=meta, parts="melody-chords-bass")
    state = PartsState.for_layout(layout).apply_many({"bass": {"octave": -1, "channel": 9, "program": 33},
                                                      "melody": {"velocity": 0.5}, "chords": {"mute": True}})
    moved = render_roll(net, 8, ControlState(), seed=3, meta=meta, parts="melody-chords-bass", part_state=state)

    def notes(timed):
        return [(round(t, 9), m.type, m.channel, m.note, m.velocity) for t, m in timed
                if m.type in ("note_on", "note_off")]

    expected = []
    for t, kind, channel, note, velocity in notes(plain.timed):
        if channel == 1:  # chords: muted
            continue
        if channel == 2:  # bass
            expected.append((t, kind, 8, note - 12, velocity))
        elif kind == "note_on":
            expected.append((t, kind, channel, note, max(1, round(velocity * 0.5))))
        else:
            expected.append((t, kind, channel, note, velocity))
    assert notes(moved.timed) == expected
    assert sum(1 for e in expected if e[2] == 8) >= 4 and sum(1 for e in expected if e[2] == 0) >= 4
    programs = [(m.channel, m.program) for _, m in moved.timed if m.type == "program_change"]
    assert programs == [(0, layout[0].program), (1, layout[1].program), (8, 33)]


@pytest.mark.parametrize(("what", "value", "reason"), [
    ("octave", 4, "outside -3..3"), ("velocity", 0, "outside 0.1..2"), ("channel", 2, "the chords part's already"),
    ("channel", 1.5, "whole number"), ("volume", 1, "has no control"), ("mute", "loud", "0/1 or on/off"),
])
def test_a_bad_part_control_is_refused_with_its_reason_and_changes_nothing(what, value, reason) -> None:
    from livegen.controls.parts import PartsState
    from livegen.controls.state import LiveControls
    from livegen.controls.table import ControlError

    controls = LiveControls(parts=PartsState.for_layout(LAYOUTS["melody-chords-bass"]))
    before = controls.parts
    with pytest.raises(ControlError, match=reason):
        controls.set_parts({"bass": {what: value}})
    assert controls.parts == before


def test_part_outputs_send_each_channel_to_its_parts_port_and_keep_it_after_a_move() -> None:
    import mido

    from livegen.controls.parts import PartsState
    from livegen.controls.state import LiveControls
    from livegen.io.memory import MemoryOutput
    from livegen.session.part_outputs import PartOutputs

    controls = LiveControls(parts=PartsState.for_layout(LAYOUTS["melody-chords-bass"]))
    outs = [MemoryOutput(f"livegen {p.name}") for p in LAYOUTS["melody-chords-bass"]]
    band = PartOutputs(outs, controls)
    band.send(mido.Message("note_on", channel=2, note=40, velocity=90))
    controls.set_parts({"bass": {"channel": 9}})
    band.send(mido.Message("note_on", channel=8, note=41, velocity=90))
    band.send(mido.Message("note_off", channel=2, note=40))  # the old channel: still the bass's port
    band.send(mido.Message("clock"))
    band.send(mido.Message("note_on", channel=0, note=72, velocity=90))
    sent = [[m for _, m in out.sent] for out in outs]
    assert [m.type for m in sent[0]] == ["clock", "note_on"]
    assert [m.type for m in sent[1]] == ["clock"]
    assert [(m.type, m.channel, m.note) for m in sent[2] if m.type != "clock"] == [
        ("note_on", 2, 40), ("note_on", 8, 41), ("note_off", 2, 40)]


@pytest.mark.parametrize(("argv", "needle"), [
    (["--parts-out", "--virtual"], "add --parts"),
    (["--parts", "satb", "--parts-out"], "add --virtual"),
    (["--parts", "satb", "--parts-out", "--virtual", "--midi-backend", "jack"], "through rtmidi"),
    (["--parts", "satb", "--parts-out", "--demo"], "demo performer"),
])
def test_parts_out_without_what_it_needs_is_one_line(argv, needle, capsys) -> None:
    from livegen.cli import main

    assert main(["play", *argv, "--bars", "1", "--no-view"]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1, err


def test_render_wav_sounds_each_part_with_its_program(tmp_path: Path) -> None:
    """``render --parts --wav``: the MIDI FluidSynth renders carries each part's program change
    on its channel, and the audio is audible."""
    import mido

    from livegen.music.audio import wav_rms

    out = tmp_path / "band.mid"
    done = subprocess.run([sys.executable, "-m", "livegen", "render", "--model", "nottingham", "--parts",
                           "melody-chords-bass", "--bars", "4", "--seed", "2", "--wav", str(tmp_path / "band.wav"),
                           "-o", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    programs = {(m.channel, m.program) for track in mido.MidiFile(str(out)).tracks for m in track
                if m.type == "program_change"}
    assert {(i, p.program) for i, p in enumerate(LAYOUTS["melody-chords-bass"])} <= programs
    assert wav_rms(tmp_path / "band.wav") > 0.01


_PLAIN: dict[str, object] = {}


def _plain(model: str):  # type: ignore[no-untyped-def]
    """The answer of ``model`` (8 bars, seed 4) split into melody, chords and bass with every
    part control at its default (computed once a model)."""
    from livegen.offline.render import render_roll

    if model not in _PLAIN:
        net, meta = load_checkpoint(resolve_model(model))
        spb = int(meta.get("steps_per_beat", 2))
        _PLAIN[model] = (net, meta, spb, render_roll(net, 8, ControlState(), seed=4, steps_per_beat=spb, meta=meta,
                                                       parts="melody-chords-bass"))
    return _PLAIN[model]


_SETTING = st.fixed_dictionaries({"octave": st.integers(-3, 3), "velocity": st.sampled_from([0.1, 0.5, 1.0, 1.3, 2.0]),
                                  "mute": st.booleans(), "solo": st.booleans(), "program": st.integers(0, 127)})


@settings(max_examples=12, deadline=None)
@given(model=st.sampled_from(ROLL_MODELS), chosen=st.lists(_SETTING, min_size=3, max_size=3),
       channels=st.permutations([1, 2, 3, 11, 16][:3] + [11]).map(lambda c: c[:3]))
def test_any_part_controls_on_any_model_play_exactly_their_transformation(model, chosen, channels) -> None:
    """Property: for every shipped roll model and any settings of the three parts' controls,
    what the engine plays is the default answer with each part's notes moved by its octave
    (dropped off the MIDI range), scaled by its velocity, on its channel, silent when muted or
    not soloed while another is; each part's program goes out first on its channel."""
    from livegen.controls.parts import PartsState
    from livegen.offline.render import render_roll

    net, meta, spb, plain = _plain(model)
    layout = LAYOUTS["melody-chords-bass"]
    values = {p.name: {**chosen[i], "channel": channels[i]} for i, p in enumerate(layout)}
    state = PartsState.for_layout(layout).apply_many(values)
    moved = render_roll(net, 8, ControlState(), seed=4, steps_per_beat=spb, meta=meta, parts="melody-chords-bass",
                        part_state=state)
    expected: list[tuple[float, str, int, int, int]] = []
    sent: set[tuple[int, int]] = set()
    for t, m in plain.timed:
        if m.type not in ("note_on", "note_off"):
            continue
        i, s = m.channel, state.settings[m.channel]
        pitch = m.note + 12 * s.octave
        if m.type == "note_on" and m.velocity:
            if state.audible(i) and 0 <= pitch <= 127:
                expected.append((round(t, 9), "note_on", s.channel - 1, pitch,
                                 max(1, min(127, round(m.velocity * s.velocity)))))
                sent.add((i, m.note))
        elif (i, m.note) in sent:
            sent.discard((i, m.note))
            expected.append((round(t, 9), m.type, s.channel - 1, pitch, m.velocity))
    got = [(round(t, 9), m.type, m.channel, m.note, m.velocity) for t, m in moved.timed
           if m.type in ("note_on", "note_off")]
    assert got == expected
    programs = [(m.channel, m.program) for _, m in moved.timed if m.type == "program_change"]
    assert programs == [(s.channel - 1, s.program) for s in state.settings]


def test_the_take_keeps_each_parts_program_on_its_track() -> None:
    """``--record`` with parts: one named track a part, each starting with its program change
    (a DAW opening the take gets the band's instruments, not a piano each)."""
    import asyncio

    from livegen.controls.parts import PartsState
    from livegen.controls.state import LiveControls
    from livegen.engine.clock import ManualClock
    from livegen.engine.engine import Engine
    from livegen.engine.parts import PartRouter
    from livegen.engine.recorder import Take
    from livegen.engine.scheduler import ManualScheduler
    from livegen.io.memory import MemoryOutput
    from livegen.voices.follow import roll_voice

    net, meta = load_checkpoint(resolve_model("nottingham"))
    layout = LAYOUTS["melody-chords-bass"]
    state = PartsState.for_layout(layout).apply_many({"bass": {"program": 34}})
    controls = LiveControls(ControlState().apply("mode", "solo"), parts=state)
    clock = ManualClock(0.0)
    take = Take(0.0, 120.0)
    engine = Engine(roll_voice(net, meta, 1), controls, ManualScheduler(MemoryOutput("m", clock=clock.now), clock),
                    clock, 2, start_delay=0.0, seed=1, take=take, parts=PartRouter(layout, state))
    asyncio.run(engine.run(4))
    tracks = {t.name: t for t in take.to_midi().tracks[1:]}
    assert set(tracks) == {p.name for p in layout}
    for part in layout:
        programs = [m.program for m in tracks[part.name] if m.type == "program_change"]
        assert programs == [state.of(part.name).program], (part.name, programs)
    assert sum(1 for t in tracks.values() for m in t if m.type == "note_on") > 0


def test_a_flood_of_part_messages_costs_the_loop_one_pass_and_the_last_value_wins() -> None:
    """20,000 ``/livegen/part/bass/velocity`` messages from the OSC thread: the loop is woken
    once per pass, not once a message, and the value in force is the last one sent."""
    import asyncio
    import threading

    from livegen.controls.parts import PartsState
    from livegen.controls.state import LiveControls
    from livegen.session.part_commands import part_commands

    async def flood() -> tuple[float, int]:
        loop = asyncio.get_running_loop()
        controls = LiveControls(parts=PartsState.for_layout(LAYOUTS["melody-chords-bass"]))
        changes: list[object] = []
        controls.on_part_change(lambda c, _: changes.append(c))
        handler = part_commands(["melody", "chords", "bass"], loop, controls)["/livegen/part/bass/velocity"]
        values = [0.1 + (i % 190) / 100 for i in range(20_000)] + [0.75]
        sender = threading.Thread(target=lambda: [handler((v,)) for v in values])
        sender.start()
        while sender.is_alive():
            await asyncio.sleep(0)
        sender.join()
        for _ in range(3):  # the last pass the sender asked for
            await asyncio.sleep(0)
        assert controls.parts is not None
        return controls.parts.of("bass").velocity, len(changes)

    velocity, passes = asyncio.run(flood())
    assert velocity == 0.75
    assert passes < 20_000 / 10, passes
