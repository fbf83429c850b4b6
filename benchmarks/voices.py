"""Parts measured against real voices: Bach's chorales, flattened and split back into SATB.

Each four-part chorale of music21's corpus (soprano, alto, tenor, bass, as Bach wrote them) is
flattened into one MIDI track, split by ``livegen split --parts satb`` (the same function), and
each note's part is checked against the voice that sang it (a unison counts for every voice
that sang it). Beside it, the plain baseline: each note's rank by pitch among the notes
sounding when it starts. Also: crossings per bar and divisi notes of both.

    python -m benchmarks.voices [--chorales N]

Results: benchmarks/results/voices.json, the "voices" section of results.json and the README
(between <!-- voices:start --> and <!-- voices:end -->).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import pretty_midi

from benchmarks.common import machine, record
from livegen.controls.table import ControlState
from livegen.music.keyboard import LOWEST_PITCH
from livegen.music.parts import LAYOUTS, Note, rank_split
from livegen.music.roll_midi import roll_to_notes, split_at_strikes
from livegen.nets.checkpoint import load_checkpoint
from livegen.nets.manifest import read_manifest, resolve_model
from livegen.offline.render import render_roll
from livegen.offline.split import figures, split_midi, split_pretty_notes

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "voices.json"
#: seconds a quarter note lasts in the flattened files (120 BPM)
QUARTER_S = 0.5
VOICES = ("soprano", "alto", "tenor", "bass")


def chorale_notes(score: Any) -> dict[tuple[float, int], tuple[float, set[int]]] | None:
    """``{(start s, pitch): (end s, voices that sang it)}`` of a four-part chorale (None:
    not four parts)."""
    parts = list(score.parts)
    if len(parts) != 4:
        return None
    notes: dict[tuple[float, int], tuple[float, set[int]]] = {}
    for v, part in enumerate(parts):
        for n in part.stripTies().flatten().notes:
            if float(n.quarterLength) <= 0:  # grace notes: no time of their own
                continue
            start = round(float(n.offset) * QUARTER_S, 6)
            end = start + float(n.quarterLength) * QUARTER_S
            for p in n.pitches:
                key = (start, int(p.midi))
                old = notes.get(key)
                notes[key] = (end if old is None else max(old[0], end), ({v} if old is None else old[1] | {v}))
    return notes


def flattened(notes: dict[tuple[float, int], tuple[float, set[int]]], path: Path) -> None:
    """One track, every note of the chorale, 120 BPM."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=60.0 / QUARTER_S)
    inst = pretty_midi.Instrument(0, name="chorale")
    for (start, pitch), (end, _) in sorted(notes.items()):
        inst.notes.append(pretty_midi.Note(80, pitch, start, end))
    pm.instruments.append(inst)
    pm.write(str(path))


def measure(chorales: int) -> dict[str, Any]:
    from music21 import corpus  # the reference voices (the bench extra)

    parts = LAYOUTS["satb"]
    right = base_right = live_right = total = pieces = 0
    crossings, base_crossings, divisi = [], [], 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for score in corpus.chorales.Iterator(returnType="stream"):
            if pieces >= chorales:
                break
            notes = chorale_notes(score)
            if not notes:
                continue
            pieces += 1
            flat, split = Path(tmp) / "flat.mid", Path(tmp) / "split.mid"
            flattened(notes, flat)
            _, fig = split_midi(flat, "satb", split)
            got = _parts_of(split)
            split_midi(flat, "satb", split, beam=1)
            live = _parts_of(split)
            ordered = sorted(notes.items())
            base = rank_split([Note(p, s, e) for (s, p), (e, _) in ordered], parts)
            for ((start, pitch), (_, sang)), b in zip(ordered, base, strict=True):
                total += 1
                right += got.get((round(start, 3), pitch), -1) in sang
                live_right += live.get((round(start, 3), pitch), -1) in sang
                base_right += b in sang
            crossings.append(fig.crossings_per_bar)
            divisi += fig.divisi
            base_crossings.append(_crossings_per_bar(ordered, base))
    return {"chorales": pieces, "notes": total, "satb_true_voice": right / total,
            "baseline_true_voice": base_right / total, "live_true_voice": live_right / total,
            "satb_crossings_per_bar": statistics.mean(crossings),
            "baseline_crossings_per_bar": statistics.mean(base_crossings),
            "satb_divisi_notes": divisi, "seconds": time.perf_counter() - started}


def _parts_of(path: Path) -> dict[tuple[float, int], int]:
    """(start s, pitch) -> part index, from a split file (its tracks in layout order)."""
    names = [p.name for p in LAYOUTS["satb"]]
    got = {}
    for inst in pretty_midi.PrettyMIDI(str(path)).instruments:
        for n in inst.notes:
            got[(round(n.start, 3), n.pitch)] = names.index(inst.name)
    return got


def answers(seeds: int) -> list[dict[str, Any]]:
    """livegen's own answers split: each shipped roll model (jsb in SATB, the others in
    melody, chords and bass), 8 bars from silence with the defaults, ``seeds`` seeds."""
    rows = []
    for name, entry in sorted(read_manifest().items()):
        if not str(entry.get("kind")).startswith("roll"):
            continue
        layout = "satb" if name == "jsb" else "melody-chords-bass"
        parts = LAYOUTS[layout]
        net, meta = load_checkpoint(resolve_model(name))
        spb = int(meta.get("steps_per_beat", 2))
        cross, div, notes_total, top, top_live = [], 0, 0, [], []
        low = [128] * len(parts)
        high = [-1] * len(parts)
        for seed in range(seeds):
            r = render_roll(net, 8, ControlState(), seed=seed, steps_per_beat=spb, meta=meta)
            step = 60.0 / ControlState().tempo / spb
            notes = [pretty_midi.Note(v, p, s * step, e * step) for p, s, e, v in _roll_notes(r.generated, r.velocities)]
            if not notes:
                continue
            _, given = split_pretty_notes(notes, parts)
            fig = figures(notes, given, parts, 4 * 60.0 / ControlState().tempo)
            cross.append(fig.crossings_per_bar)
            top.append(fig.top_share)
            _, live = split_pretty_notes(notes, parts, beam=1)  # as the engine splits while it plays
            top_live.append(figures(notes, live, parts, 4 * 60.0 / ControlState().tempo).top_share)
            div += fig.divisi
            notes_total += len(notes)
            for i, (lo, hi) in enumerate(fig.ranges):
                if fig.notes[i]:
                    low[i], high[i] = min(low[i], lo), max(high[i], hi)
        rows.append({"model": name, "parts": layout, "notes": notes_total,
                     "crossings_per_bar": statistics.mean(cross) if cross else 0.0, "divisi_notes": div,
                     "top_share": statistics.mean(top) if top else 0.0,
                     "top_share_live": statistics.mean(top_live) if top_live else 0.0,
                     "ranges": {p.name: [pretty_midi.note_number_to_name(lo), pretty_midi.note_number_to_name(hi)]
                                if hi >= 0 else None for p, lo, hi in zip(parts, low, high, strict=True)}})
    return rows


def _roll_notes(roll: Any, velocities: Any) -> list[tuple[int, int, int, int]]:
    out = []
    for pitch, start, end in split_at_strikes(roll_to_notes(roll), velocities):
        v = int(velocities[start, pitch - LOWEST_PITCH]) if 1 <= int(velocities[start, pitch - LOWEST_PITCH]) <= 127 else 80
        out.append((pitch, start, end, v))
    return out


def _crossings_per_bar(ordered: list[tuple[tuple[float, int], tuple[float, set[int]]]], given: list[int]) -> float:
    crossings = 0
    for k, ((start, pitch), _) in enumerate(ordered):
        for j in range(k):
            (s2, p2), (e2, _) = ordered[j]
            if s2 <= start < e2 and (pitch - p2) * (given[j] - given[k]) < 0:
                crossings += 1
    span = max(e for (_, (e, _)) in ordered)
    return crossings / max(span / (4 * QUARTER_S), 1e-9)


def table(r: dict[str, Any]) -> str:
    return "\n".join([
        f"Bach's four-part chorales from music21's corpus ({r['chorales']} chorales, {r['notes']} notes), "
        "flattened into one track and split again: the share of notes given to the voice that sang them.",
        "",
        "| split | notes to their true voice | crossings per bar | notes in divisi |",
        "|---|---|---|---|",
        f"| `livegen split --parts satb` | {r['satb_true_voice']:.1%} | {r['satb_crossings_per_bar']:.2f} | "
        f"{r['satb_divisi_notes']} |",
        f"| the same splitter as it runs live (each onset decided as it sounds) | {r['live_true_voice']:.1%} | — | — |",
        f"| baseline: rank by pitch at each onset | {r['baseline_true_voice']:.1%} | "
        f"{r['baseline_crossings_per_bar']:.2f} | 0 |",
        "",
        f"livegen's own answers split the same way (8 bars from silence, every control at its default, "
        f"{r['seeds']} seeds each):",
        "",
        "| model | parts | notes | crossings per bar | notes in divisi | top note in the top part: offline / live "
        "| range of each part |",
        "|---|---|---|---|---|---|---|",
        *[f"| {a['model']} | {a['parts']} | {a['notes']} | {a['crossings_per_bar']:.2f} | {a['divisi_notes']} | "
          f"{a.get('top_share', 0.0):.0%} / {a.get('top_share_live', 0.0):.0%} | "
          + ", ".join(f"{k} {v[0]}-{v[1]}" if v else f"{k} —" for k, v in a["ranges"].items()) + " |"
          for a in r["answers"]],
        "",
        "*Top note in the top part*: of the onsets with two notes or more sounding, the share whose highest "
        "sounding note is the melody's (the soprano's), split offline (a beam of 8) and as the engine splits "
        "live (each onset as it sounds).",
        "",
        "`python -m benchmarks.voices` (results/voices.json).",
    ])


def write_readme(text: str) -> None:
    readme = ROOT / "README.md"
    doc = readme.read_text()
    start, end = "<!-- voices:start -->", "<!-- voices:end -->"
    if start in doc and end in doc:
        a, b = doc.index(start) + len(start), doc.index(end)
        readme.write_text(doc[:a] + "\n" + text + "\n" + doc[b:])


def main() -> None:
    ap = argparse.ArgumentParser(description="Parts against real voices: Bach's chorales split back into SATB.")
    ap.add_argument("--chorales", type=int, default=1000, help="at most this many four-part chorales")
    ap.add_argument("--seeds", type=int, default=10, help="answers per shipped model")
    ap.add_argument("--no-readme", action="store_true", help="do not write the README section")
    args = ap.parse_args()
    r = {**measure(args.chorales), "seeds": args.seeds, "answers": answers(args.seeds)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({**r, "machine": machine()}, indent=2) + "\n")
    record("voices", r)
    text = table(r)
    if not args.no_readme:
        write_readme(text)
    print(text)


if __name__ == "__main__":
    main()
