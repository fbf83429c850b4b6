"""ABC parsing (livegen.music.abc.parse) and the ABC collection reader (livegen.data.abc).

Hand-written tunes with known notes, every tune of the shared irish.abc (or of a synthetic
stand-in), the deterministic train/valid/test split, repair of generated garbage, and a
cross-check against abc2midi.
"""

from __future__ import annotations

import ast
import random
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import pretty_midi
import pytest
from shared_data import SYNTHETIC_CROSS_CHECK, SYNTHETIC_REPAIRED, SYNTHETIC_TUNES, DataSets

from livegen.data.abc import load_abc_splits, read_abc_tunes, split_tunes
from livegen.errors import LivegenError
from livegen.music.abc.header import parse_key, parse_meter
from livegen.music.abc.parse import AbcTune, parse_abc, split_abc, tune_to_midi, write_midi
from livegen.music.abc.timeline import BEAT_VELOCITY, DOWNBEAT_VELOCITY, OFFBEAT_VELOCITY

TINY = Path(__file__).parent / "data" / "tiny.abc"


def tune(body: str, header: str = "M:4/4\nL:1/8\nK:C") -> AbcTune:
    return parse_abc(f"X:1\nT:test\n{header}\n{body}")


def pitches(t: AbcTune) -> list[int]:
    return [n.pitch for n in t.notes]


def starts(t: AbcTune) -> list[float]:
    return [n.start for n in t.notes]


def durations(t: AbcTune) -> list[float]:
    return [n.duration for n in t.notes]


@pytest.fixture(scope="module")
def irish_tunes(datasets: DataSets) -> list[str]:
    return read_abc_tunes(datasets.irish)


# -- pitches --------------------------------------------------------------------------------
def test_key_signature_and_bar_scoped_accidentals() -> None:
    # F major: B is B flat until a natural; the natural lasts to the bar line
    assert pitches(tune("B =B B|B", "L:1/8\nK:F")) == [70, 71, 71, 70]
    # an explicit sharp carries within the bar for the same letter and octave only
    assert pitches(tune("^F F F, f|F", "L:1/8\nK:F")) == [66, 66, 53, 77, 65]
    # D major sharps F and C in every octave; naturals and double accidentals
    assert pitches(tune("F c F, =F F|F ^^C __B _E", "L:1/8\nK:D")) == [66, 73, 54, 65, 65, 66, 62, 69, 63]


def test_octaves() -> None:
    assert pitches(tune("C, C c c' C,, c'' c,")) == [48, 60, 72, 84, 36, 96, 60]


@pytest.mark.parametrize(("value", "accidentals"), [
    ("D Major", {"F": 1, "C": 1}),
    ("G", {"F": 1}),
    ("Ador", {"F": 1}),
    ("Ddor", {}),
    ("Edor", {"F": 1, "C": 1}),
    ("Gmix", {}),
    ("D Mixolydian", {"F": 1}),
    ("Amin", {}),
    ("Am", {}),
    ("F#m", {"F": 1, "C": 1, "G": 1}),
    ("Bb", {"B": -1, "E": -1}),
    ("G Dorian", {"B": -1}),
    ("G Minor", {"B": -1, "E": -1}),
    ("E Phrygian", {}),
    ("F Lydian", {}),
    ("HP", {"F": 1, "C": 1}),
    ("none", {}),
    ("D exp ^c", {"C": 1}),
    ("C ^f", {"F": 1}),
    ("", {}),
])
def test_key_modes(value: str, accidentals: dict[str, int]) -> None:
    assert parse_key(value).accidentals == accidentals


def test_unknown_key_is_an_error() -> None:
    with pytest.raises(LivegenError, match="K:"):
        parse_key("H minor")


def test_meters() -> None:
    assert (parse_meter("C").numerator, parse_meter("C").denominator) == (4, 4)
    cut = parse_meter("C|")
    assert (cut.numerator, cut.denominator, cut.text) == (2, 2, "C|")
    jig = parse_meter("6/8")
    assert jig.compound and jig.beat_length == Fraction(3, 8)
    assert not parse_meter("3/4").compound


# -- time -------------------------------------------------------------------------------------
def test_lengths() -> None:
    t = tune("A2 A/2 A/ A3/2 A// A A3 A/4")
    assert durations(t) == [1, 0.25, 0.25, 0.75, 0.125, 0.5, 1.5, 0.125]
    assert starts(t) == [0, 1, 1.25, 1.5, 2.25, 2.375, 2.875, 4.375]
    assert durations(tune("A B2", "L:1/4\nK:C")) == [1, 2]


def test_default_unit_length_follows_the_meter() -> None:
    assert tune("A", "M:2/4\nK:C").unit_length == Fraction(1, 16)
    assert tune("A", "M:6/8\nK:C").unit_length == Fraction(1, 8)


def test_broken_rhythm() -> None:
    t = tune("A>B A<B A>>B c")
    assert durations(t) == [0.75, 0.25, 0.25, 0.75, 0.875, 0.125, 0.5]
    assert starts(t)[-1] == 3.0


def test_rests() -> None:
    t = tune("z2 A z/ B x C Z D")
    assert pitches(t) == [69, 71, 60, 62]
    assert starts(t) == [1.0, 1.75, 2.75, 7.25]
    assert t.length == 7.75


def test_triplets() -> None:
    t = tune("(3ABc d (3:2:2 ef g")
    third = 1 / 3
    assert starts(t) == pytest.approx([0, third, 2 * third, 1, 1.5, 1.5 + third, 1.5 + 2 * third])
    assert durations(t) == pytest.approx([third, third, third, 0.5, third, third, 0.5])
    # duplets in 6/8: two notes in the time of three
    assert starts(tune("(2AB c", "M:6/8\nL:1/8\nK:C")) == [0, 0.75, 1.5]


def test_chords() -> None:
    t = tune("[CEG]2 [D/F/] A [CE]3/2 B")
    assert [(n.pitch, n.start, n.duration) for n in t.notes] == [
        (60, 0, 1), (64, 0, 1), (67, 0, 1), (62, 1, 0.25), (65, 1, 0.25), (69, 1.25, 0.5),
        (60, 1.75, 0.75), (64, 1.75, 0.75), (71, 2.5, 0.5)]


def test_ties_merge_into_one_note() -> None:
    t = tune("A2-A2 B-|B c-c [CE]-[CE] A-B")
    assert [(n.pitch, n.start, n.duration) for n in t.notes] == [
        (69, 0, 2), (71, 2, 1), (72, 3, 1), (60, 4, 1), (64, 4, 1), (69, 5, 0.5), (71, 5.5, 0.5)]


# -- repeats ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "expected"), [
    ("|:G A|[1 B c:|[2 d e|]", "G A B c G A d e"),
    ("|:G A|1 B c:|2 d e|]", "G A B c G A d e"),
    ("G A:|B c:|", "G A G A B c B c"),            # no |: : back to the start / the last :|
    ("G A|]B c:|", "G A B c B c"),                 # ... or to the last double bar
    ("|:G::A:|", "G G A A"),
    ("G|[1 A:|[2 B|][1 c:|[2 d|]", "G A G B c d"),
    ("|:G|[1,3 A:|[2 B:|[4 c|]", "G A G B G A G c"),
    ("|:G A|[1 B:|[2 c|] d e:|", "G A B G A c d e d e"),
])
def test_repeats_and_endings(body: str, expected: str) -> None:
    names = {67: "G", 69: "A", 71: "B", 72: "c", 74: "d", 76: "e"}
    t = tune(body, "L:1/4\nK:C")
    assert " ".join(names[p] for p in pitches(t)) == expected
    assert starts(t) == list(range(len(t.notes)))  # back to back, one beat each


def test_repeat_keeps_accidentals_and_ties_in_playback_order() -> None:
    t = tune("|:^F F G2-:|G2", "L:1/4\nK:C")
    assert [(n.pitch, n.start, n.duration) for n in t.notes] == [
        (66, 0, 1), (66, 1, 1), (67, 2, 2), (66, 4, 1), (66, 5, 1), (67, 6, 4)]


# -- what is skipped or applied ------------------------------------------------------------------
def test_decorations_chord_symbols_graces_and_slurs_are_skipped() -> None:
    t = tune('"Am"~A !trill!B .c {g}d (de) +fermata+f Hg T a u b v c\'')
    assert pitches(t) == [69, 71, 72, 74, 74, 76, 77, 79, 81, 83, 84]
    assert t.repairs == ()


def test_bang_at_line_end_is_a_line_break() -> None:
    t = tune("ABc|!\ndef|]!\n")
    assert pitches(t) == [69, 71, 72, 74, 76, 77]
    assert t.repairs == ()


def test_inline_fields_and_body_field_lines() -> None:
    t = tune("F [K:D] F [L:1/4] F [M:3/4] F|\nK:Bb\nB\nL:1/8\nB")
    assert pitches(t) == [65, 66, 66, 66, 70, 70]
    assert durations(t) == [0.5, 0.5, 1, 1, 1, 0.5]


def test_header_values() -> None:
    t = parse_abc("X:7\nT:First\nT:Second\nZ:someone\nR:reel\nC:trad\nM:C|\nL:1/8\nQ:1/4=96\nK:Ador\nABc|]")
    assert (t.number, t.title, t.meter.text, str(t.key), t.unit_length, t.tempo) == (
        7, "First", "C|", "A dorian", Fraction(1, 8), 96.0)
    assert tune("A", "L:1/8\nQ:3/8=60\nK:C").tempo == 90.0
    assert tune("A", "L:1/8\nQ:120\nK:C").tempo == 60.0  # legacy: unit notes per minute
    assert tune("A", 'L:1/8\nQ:"Allegro" 1/4=140\nK:C').tempo == 140.0
    assert tune("A").tempo is None and tune("A").bpm == 120.0


def test_velocity_accents_follow_the_meter() -> None:
    t = tune("ABcd efga|A")
    assert [n.velocity for n in t.notes] == [DOWNBEAT_VELOCITY, OFFBEAT_VELOCITY, BEAT_VELOCITY,
                                             OFFBEAT_VELOCITY, BEAT_VELOCITY, OFFBEAT_VELOCITY,
                                             BEAT_VELOCITY, OFFBEAT_VELOCITY, DOWNBEAT_VELOCITY]


# -- repair ---------------------------------------------------------------------------------
GARBAGE = "T:Fo\n|:gfg ag|]e2 d#B [GB A2|!\nz3 &&J %junk\n"


def test_strict_parse_rejects_text_that_needs_repair() -> None:
    with pytest.raises(LivegenError, match="no X: field"):
        parse_abc(GARBAGE)
    with pytest.raises(LivegenError, match="unclosed chord"):
        parse_abc("X:1\nK:G\n[GB A2|")
    with pytest.raises(LivegenError, match="MIDI range"):
        parse_abc("X:1\nK:G\nc''''''''")


def test_repair_fills_headers_drops_symbols_and_closes_chords() -> None:
    t = parse_abc(GARBAGE, repair=True)
    assert (t.number, t.meter.text, t.unit_length, str(t.key)) == (1, "4/4", Fraction(1, 8), "C major")
    # "|]" ends the unclosed repeat; the chord [GB A2 is closed at the bar line
    assert pitches(t) == [79, 77, 79, 81, 79, 76, 74, 71, 67, 69, 71]
    assert t.length == 6.5
    text = "\n".join(t.repairs)
    for expected in ("dropped 4 unknown symbols", "'&' x2", "added missing header X:1",
                     "added missing header K:C", "added missing header M:4/4",
                     "added missing header L:1/8", "unclosed chord bracket '[': closed it"):
        assert expected in text
    assert "\n" not in "".join(t.repairs[0])


def test_repair_keeps_the_first_of_several_tunes_and_drops_impossible_notes() -> None:
    t = parse_abc("X:1\nK:C\nCDE c''''''''\nX:2\nK:C\nFGA", repair=True)
    assert pitches(t) == [60, 62, 64]
    assert any("second tune" in r for r in t.repairs)
    assert any("MIDI range: dropped it" in r for r in t.repairs)


@pytest.mark.parametrize("text", ["", "X:1\nK:C\n", "X:1\nK:C\n| :: |] %", "@@@ ### ***"])
def test_text_without_notes_is_rejected_even_in_repair_mode(text: str) -> None:
    with pytest.raises(LivegenError, match="no notes"):
        parse_abc(text, repair=True)


# -- MIDI -------------------------------------------------------------------------------------
def test_tune_to_midi_timing_tempo_and_program(tmp_path: Path) -> None:
    t = tune("C2 E G|c4", "L:1/8\nQ:1/4=60\nK:C")
    midi = tune_to_midi(t, program=73)
    (inst,) = midi.instruments
    assert inst.program == 73
    assert [(n.pitch, n.start, n.end) for n in inst.notes] == [(60, 0, 1), (64, 1, 1.5), (67, 1.5, 2), (72, 2, 4)]
    assert midi.get_tempo_changes()[1][0] == pytest.approx(60)
    faster = tune_to_midi(t, bpm=120)
    assert faster.instruments[0].notes[-1].end == 2.0
    out = write_midi(t, tmp_path / "t.mid")
    back = pretty_midi.PrettyMIDI(str(out))
    assert [(n.pitch, round(n.start, 3), round(n.end, 3), n.velocity) for n in back.instruments[0].notes] == [
        (n.pitch, n.start, n.end, n.velocity) for n in t.notes]
    assert tune_to_midi(tune("A")).get_tempo_changes()[1][0] == pytest.approx(120)
    with pytest.raises(LivegenError, match="does not exist"):
        write_midi(t, tmp_path / "no" / "such" / "t.mid")


# -- collections --------------------------------------------------------------------------------
def test_split_abc_keeps_tunes_verbatim_and_trims_trailing_blank_lines() -> None:
    text = TINY.read_text()
    tunes = split_abc(text)
    assert [t.splitlines()[1] for t in tunes] == ["T:Scale", "T:Repeat with endings", "T:Jig"]
    assert tunes[0].endswith("CDEF GABc|]") and tunes[2].endswith("d2:|!")
    assert all(t in text for t in tunes)
    assert read_abc_tunes(TINY) == tunes
    jig = parse_abc(tunes[2])
    assert jig.tempo == 180.0 and jig.meter.compound and len(jig.notes) == 2 * 11


def test_reader_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(LivegenError, match="not found") as missing:
        read_abc_tunes(tmp_path / "nope.abc")
    empty = tmp_path / "empty.abc"
    empty.write_text("% just a comment\nT:no tune here\n")
    with pytest.raises(LivegenError, match="no ABC tunes") as no_tunes:
        read_abc_tunes(empty)
    for err in (missing, no_tunes):
        assert "\n" not in str(err.value)


def test_split_is_whole_tunes_deterministic_and_ten_percent_test(irish_tunes: list[str],
                                                                 datasets: DataSets) -> None:
    n = len(irish_tunes)
    assert n == datasets.pick(804, SYNTHETIC_TUNES)
    test, valid = datasets.pick((80, 40), (12, 6))
    splits = split_tunes(irish_tunes)
    assert {k: len(v) for k, v in splits.items()} == {"train": n - test - valid, "valid": valid, "test": test}
    assert sorted(t for part in splits.values() for t in part) == sorted(irish_tunes)
    assert all(t in set(irish_tunes) for t in splits["test"])
    assert split_tunes(irish_tunes) == splits
    assert load_abc_splits(datasets.irish) == splits
    shuffled = list(irish_tunes)
    random.Random(1).shuffle(shuffled)
    assert {k: set(v) for k, v in split_tunes(shuffled).items()} == {k: set(v) for k, v in splits.items()}
    assert set(split_tunes(irish_tunes, seed=1)["test"]) != set(splits["test"])
    with pytest.raises(LivegenError, match="split fractions"):
        split_tunes(irish_tunes, valid=0.5, test=0.6)


def test_every_irish_tune_parses(irish_tunes: list[str], datasets: DataSets) -> None:
    repaired = set()
    for text in irish_tunes:
        t = parse_abc(text)
        assert t.notes and t.length >= t.notes[-1].end - 1e-9
        assert all(48 <= n.pitch <= 96 and n.duration > 0 for n in t.notes)
        if t.repairs:
            repaired.add(t.title)
    # the tunes with oddities: meter lines followed by music, one stray letter
    assert repaired == datasets.pick({"Swedish", "Guns of the Magnificent Seven", "Jug of Punch No. 2"},
                                     SYNTHETIC_REPAIRED)


# -- cross-check against abc2midi ---------------------------------------------------------------
#: (X number, title) of irish.abc tunes covering triplets, naturals and sharps, first and second
#: endings, broken rhythm, ties, and the C|, 6/8, 2/4, 9/8 and 3/4 meters.
CROSS_CHECK = [(1, "Alexander's"), (4, "Blackbird"), (41, "Frieze Britches"), (4, "Ballydesmond No. 3"),
               (47, "Where Lilies Bloom"), (5, "Choice Wife"), (3, "Gan Ainm")]

HAND_WRITTEN = """X:1
T:features
M:6/8
L:1/8
Q:3/8=80
K:Edor
|:B>AG (3FGA B2|^d2e =d2c|[EB]3 [GB]2 z|e3-e2 B/c/:|
|:d>cB _B2A|"Em"G3 {a}g3|[1 f2e d2B:|[2 fed e3|]
"""


def _abc2midi_notes(text: str, tmp_path: Path) -> list[tuple[float, int, float]]:
    """(onset beats, pitch, duration beats) from abc2midi, accidentals scoped per octave."""
    lines = text.split("\n")
    src = tmp_path / "tune.abc"
    out = tmp_path / "tune.mid"
    src.write_text("\n".join([lines[0], "%%propagate-accidentals octave", *lines[1:]]) + "\n")
    # -NGUI: don't play chord symbols, -NGRA: don't play grace notes (both skipped here)
    subprocess.run(["abc2midi", str(src), "-o", str(out), "-quiet", "-silent", "-NGUI", "-NGRA"],
                   check=True, capture_output=True, timeout=30)
    midi = pretty_midi.PrettyMIDI(str(out))
    (bpm,) = midi.get_tempo_changes()[1][:1]
    beat = 60.0 / bpm
    return sorted((n.start / beat, n.pitch, (n.end - n.start) / beat)
                  for inst in midi.instruments for n in inst.notes)


def _assert_same_notes(text: str, tmp_path: Path) -> int:
    theirs = _abc2midi_notes(text, tmp_path)
    mine = sorted((n.start, n.pitch, n.duration) for n in parse_abc(text).notes)
    assert [p for _, p, _ in mine] == [p for _, p, _ in theirs]
    # abc2midi starts notes ~1 ms late, staggers chord notes by 10 ms and ends them early
    assert [s for s, _, _ in mine] == pytest.approx([s for s, _, _ in theirs], abs=0.05)
    assert [d for _, _, d in mine] == pytest.approx([d for _, _, d in theirs], abs=0.05)
    return len(mine)


needs_abc2midi = pytest.mark.skipif(shutil.which("abc2midi") is None,
                                    reason="abc2midi (Debian package abcmidi) is not installed")


@needs_abc2midi
def test_matches_abc2midi_on_irish_tunes(irish_tunes: list[str], tmp_path: Path, datasets: DataSets) -> None:
    by_key = {}
    for text in irish_tunes:
        head = text.split("\n")
        by_key[(int(head[0][2:]), head[1][2:])] = text
    for key in datasets.pick(CROSS_CHECK, SYNTHETIC_CROSS_CHECK):
        assert _assert_same_notes(by_key[key], tmp_path) > 100, key


@needs_abc2midi
def test_matches_abc2midi_on_a_hand_written_tune(tmp_path: Path) -> None:
    # 18 notes in the repeated first part; 7 common + 4 in each ending in the second
    assert _assert_same_notes(HAND_WRITTEN, tmp_path) == 2 * 18 + (7 + 4) + (7 + 4)


def test_music_code_does_not_import_io_libraries() -> None:
    root = Path(__file__).parent.parent / "livegen" / "music"
    for path in sorted(root.glob("abc*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert name.split(".")[0] not in {"mido", "pythonosc", "asyncio", "rtmidi"}, path
