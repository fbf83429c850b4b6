"""The polyphony cap over every shipped roll model, through ``livegen render``.

A four-note chord prime pushes the models towards full chords; every cap 1..4 must still
exit 0 and never sound more than the cap at once. The cap keeps the most probable keys,
the same way for the Bernoulli and the NADE heads (and the NADE's copy branch).
"""

from __future__ import annotations

from pathlib import Path

import pretty_midi
import pytest

from livegen.cli import main
from livegen.nets.manifest import read_manifest

ROLL_MODELS = sorted(name for name, e in read_manifest().items() if e["kind"].startswith("roll"))


def chord_prime(path: Path) -> Path:
    """Two bars of four-note chords (C major, then A minor), velocity 90."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(0, name="prime")
    for bar, chord in enumerate([(48, 60, 64, 67, 72), (45, 57, 60, 64, 69)]):
        for p in chord:
            inst.notes.append(pretty_midi.Note(90, p, bar * 2.0, bar * 2.0 + 2.0))
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


def most_at_once(notes: list[pretty_midi.Note]) -> int:
    """Largest number of notes sounding at one instant (a note-off at t ends before an on at t)."""
    events = sorted([(n.start, 1) for n in notes] + [(n.end, -1) for n in notes])
    count = best = 0
    for _, step in events:
        count += step
        best = max(best, count)
    return best


def test_the_shipped_roll_models_are_all_covered() -> None:
    assert {"nottingham", "nottingham-bernoulli", "jsb", "musedata", "piano-midi"} <= set(ROLL_MODELS)


@pytest.mark.parametrize("model", ROLL_MODELS)
def test_render_with_a_polyphony_cap_obeys_it_for_every_model(model: str, tmp_path: Path) -> None:
    prime = chord_prime(tmp_path / "chords.mid")
    for cap in (1, 2, 3, 4):
        for temperature in ("0", "1", "1.5"):
            out = tmp_path / f"{model}-{cap}-{temperature}.mid"
            rc = main(["render", "--model", model, "--prime", str(prime), "--polyphony", str(cap),
                       "--temperature", temperature, "--density", "1", "--bars", "2",
                       "--seed", str(cap), "-o", str(out)])
            assert rc == 0
            parts = {i.name: i.notes for i in pretty_midi.PrettyMIDI(str(out)).instruments}
            assert most_at_once(parts["livegen"]) <= cap, (model, cap, temperature)
