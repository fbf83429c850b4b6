"""ABC that fits its meter: the bar rules, the guard that keeps the ``abc`` model within them
while it writes, the tune written back as played, and abc2midi as an independent peer."""

from __future__ import annotations

import shutil
from pathlib import Path

import pretty_midi
import pytest

from livegen.cli import main as cli_main
from livegen.music.abc.body import parse_length
from livegen.music.abc.meter import MeterGuard, check_tune
from livegen.music.abc.parse import parse_abc, write_midi
from livegen.music.abc.write import print_tune
from livegen.nets.checkpoint import load_checkpoint
from livegen.offline.abc_peer import midi_notes, run_abc2midi, same_notes
from livegen.voices.abc_tunes import AbcTuneSampler

MODEL = Path(__file__).resolve().parents[1] / "models" / "irish.pt"
HEADER = "X:1\nT:t\nM:4/4\nL:1/8\nK:G\n"

needs_abc2midi = pytest.mark.skipif(shutil.which("abc2midi") is None,
                                    reason="abc2midi is not installed (apt-get install abcmidi)")


@pytest.fixture(scope="module")
def irish():
    if not MODEL.is_file():
        pytest.skip(f"{MODEL} is not there (train it: livegen train abc --data irish)")
    return load_checkpoint(MODEL)


# -- the bar rules ------------------------------------------------------------------------------
#: (body in 4/4 with L:1/8, bars off, ending breaks): what a musician and abc2midi accept.
CASES = [
    ("GABc dedc|BAGF G4|]", 0, 0),  # two full bars
    ("AB|cdef gabc|cdef g2:|", 0, 0),  # a pickup; the repeat's last bar completes it
    ("|:GABc dedc|[1 BAGF G4:|[2 BAGF E4|]", 0, 0),  # first and second endings
    ("GABc dedc|BAG G4|GABc dedc|]", 1, 0),  # seven eighths in a 4/4 bar
    ("GABc dedc|BAGF G4 A|GABc dedc|]", 1, 0),  # nine eighths
    ("GABc dedc|[1 BAGF G4|]", 0, 1),  # a first ending closed by |]: never repeated
    ("|:GABc dedc|[1 BAGF G4:|cdef g4|]", 0, 1),  # music where the second ending must come
    ("|:GABc dedc|[2 BAGF G4|]", 0, 1),  # a second ending with no first
    ("|:GABc dedc|[1 BAGF G4:|", 0, 1),  # the tune ends inside its endings
]


@pytest.mark.parametrize(("body", "off", "broken"), CASES)
def test_bar_rules_count_bars_off_the_meter_and_ending_breaks(body: str, off: int, broken: int) -> None:
    rules = check_tune(HEADER + body)
    assert (rules.off, rules.broken) == (off, broken), rules.problems


@needs_abc2midi
@pytest.mark.parametrize(("body", "off"), [(b, o) for b, o, br in CASES if not br])
def test_abc2midi_counts_the_same_bars_off(body: str, off: int) -> None:
    assert run_abc2midi(HEADER + body).bars_off == off


def test_a_zero_length_suffix_is_skipped_not_a_crash() -> None:
    assert parse_length("/0") == 0
    tune = parse_abc(HEADER + "C/0 D|", repair=True)
    assert [n.pitch for n in tune.notes] == [62]
    assert any("zero-length" in r for r in tune.repairs)


# -- the guard -------------------------------------------------------------------------------------
def _guard(text: str) -> MeterGuard:
    guard = MeterGuard(end="\x00")
    guard.push(text)
    return guard


def test_guard_refuses_a_note_that_overfills_the_bar_but_lets_it_be_shortened() -> None:
    g = _guard(HEADER + "GABc dedc|GABc ded")
    assert g.allows("c")  # c then "/" would still fit ...
    assert not g.allows("|")  # ... but the bar is one eighth short
    g.push("c")
    assert g.allows("|") and not g.allows("4") and g.allows("/")
    assert _guard(HEADER + "GABc ded").allows("|")  # a first bar may be short: a pickup
    g = _guard(HEADER + "GABc dedc|GABc dedc ")
    assert not g.allows("A")  # a full bar takes nothing more, not even a sixteenth
    assert g.allows("|")


def test_guard_refuses_symbols_a_reader_would_skip() -> None:
    g = _guard(HEADER + "GABc ")
    assert not g.allows("3")  # a length with no note
    assert g.allows("^") and g.allows("[") and g.allows('"')  # may still become a note, chord ...
    g.push("^")
    assert not g.allows(" ") and not g.allows("\n")  # an accidental without its note
    g = _guard(HEADER + "GABc [c")
    assert not _guard(HEADER + "GABc [cc").allows("]")  # no note twice in a chord
    assert not g.allows("2")  # lengths go after the ]
    assert not _guard(HEADER + "GABc [cegb").allows("d")  # at most four notes


def test_guard_keeps_header_fields_fields() -> None:
    g = _guard("X:1\nT:")
    assert not g.allows(":") and not g.allows("|")
    assert g.allows("A")


def test_guard_keeps_the_ending_structure_and_ends_only_between_bars() -> None:
    g = _guard(HEADER + "|:GABc dedc|[1 BAGF G4:|")
    assert not g.allows("c") and not g.allows("\x00")
    assert g.allows("2") and g.allows("[")
    g = _guard(HEADER + "GABc dedc|[1 BAGF G4")
    assert not g.allows("\x00")
    g.push("|")
    assert not g.allows("]")  # |] would close a first ending that never repeats
    g = _guard(HEADER + "GABc dedc|")
    assert g.allows("\x00")
    g.push("A")
    assert not g.allows("\x00")


# -- written back as played --------------------------------------------------------------------
WRITTEN = [
    HEADER + "|:B>AG (3FGA B3|^d2e2 =d2c2|e3-e2 B/c/ dc:|\n|:d>cB _B2A G2|[1 f2e d2B dc:|[2 fed e3 z2|]\n",
    "X:2\nT:j\nM:6/8\nL:1/8\nK:D\nA|dAF dAF|ABc d2:|\n|:f|afd ^gec|d3 d2:|\n",
]


@needs_abc2midi
@pytest.mark.parametrize("text", WRITTEN)
def test_printed_tune_reads_back_the_same_in_livegen_and_abc2midi(text: str, tmp_path: Path) -> None:
    tune = parse_abc(text)
    printed = print_tune(tune)
    assert parse_abc(printed).notes == tune.notes
    path = tmp_path / "t.mid"
    write_midi(tune, path, bpm=120)
    peer = run_abc2midi(printed)
    assert not peer.errors and peer.bars_off == 0
    assert same_notes(midi_notes(pretty_midi.PrettyMIDI(str(path))), peer.notes) is None


# -- the model, with abc2midi as the judge -----------------------------------------------------
@needs_abc2midi
def test_ten_generated_tunes_keep_their_meter_and_abc2midi_plays_the_same_notes(irish, tmp_path: Path) -> None:
    model, meta = irish
    bars = off = 0
    for seed in range(10):
        gen = AbcTuneSampler.from_checkpoint(model, meta, seed=seed).generate()
        peer = run_abc2midi(gen.text)
        assert not peer.errors, (seed, peer.errors)
        bars += check_tune(gen.text).bars
        off += peer.bars_off
        path = tmp_path / f"{seed}.mid"
        write_midi(gen.tune, path, bpm=120)
        assert same_notes(midi_notes(pretty_midi.PrettyMIDI(str(path))), peer.notes) is None, seed
    assert bars >= 100
    assert off <= 0.03 * bars


def test_unguarded_drafts_break_the_meter_where_guarded_ones_do_not(irish) -> None:
    model, meta = irish
    loose = kept = 0
    for seed in range(4):
        loose += check_tune(AbcTuneSampler.from_checkpoint(model, meta, seed=seed, meter=False)
                            .generate().draft).off
        kept += check_tune(AbcTuneSampler.from_checkpoint(model, meta, seed=seed).generate().text).off
    assert kept == 0 < loose


@needs_abc2midi
def test_render_abc_writes_the_tune_that_was_played(irish, tmp_path: Path) -> None:
    mid, abc = tmp_path / "t.mid", tmp_path / "t.abc"
    assert cli_main(["render", "--model", str(MODEL), "--seed", "3", "-o", str(mid), "--abc", str(abc)]) == 0
    text = abc.read_text()
    ours = midi_notes(pretty_midi.PrettyMIDI(str(mid)))
    assert same_notes(ours, run_abc2midi(text).notes) is None
    assert len(parse_abc(text).notes) == len(ours)  # livegen reads its own file without repairs
