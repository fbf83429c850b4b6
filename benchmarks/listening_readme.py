"""Write the README's listening section from the results files (nothing typed by hand).

Reads benchmarks/results/keys_nll.json (``python -m benchmarks.keys_nll``),
benchmarks/results/continuations.json (``python -m benchmarks.continuations``) and
benchmarks/results/listening.json (``python -m benchmarks.listening``) and rewrites the
README between ``<!-- listening:start -->`` and ``<!-- listening:end -->``.

    python -m benchmarks.listening_readme
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchmarks.continuations import table as continuations_table
from benchmarks.keys_nll import table as keys_table
from benchmarks.listening import density_table

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
START, END = "<!-- listening:start -->", "<!-- listening:end -->"


def _rows(name: str) -> list[dict[str, Any]]:
    path = RESULTS / name
    return list(json.loads(path.read_text())["rows"]) if path.exists() else []


def dynamics_table(rows: list[dict[str, Any]]) -> str:
    """Dynamics and register after this benchmark's own primes (defaults, and ``follow`` off)."""
    lines = ["| model | follow | velocity after a prime at 40 / 110 | mean pitch after a low / high prime "
             "(two octaves apart) |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {'on' if r['follow'] else 'off'} | {r['velocity_soft']:.0f} / "
                     f"{r['velocity_loud']:.0f} | {r['register_low_prime']:.0f} / {r['register_high_prime']:.0f} |")
    return "\n".join(lines)


def section() -> str:
    keys, cont, listen = _rows("keys_nll.json"), _rows("continuations.json"), _rows("listening.json")
    listen = [r for r in listen if "density_follow1_after_sparse" in r]  # written by this version
    out = ["### Listening: answers beside the real music, in all 12 keys", ""]
    if keys:
        out += ["Test-set NLL through the live listening path in each of the 12 keys (nats/frame, frames "
                "2..T; `livegen eval MODEL --data DATA --keys all`), and the same net heard in its own key "
                "alone, as it was before it heard in every key. Goal: worst key at most 0.05 above the "
                "own key, and the own key at each model's goal.", "", keys_table(keys), "",
                "`python -m benchmarks.keys_nll` (results/keys_nll.json).", ""]
    if cont:
        pieces = ", ".join(f"{r['model']} {r['pieces']}" for r in cont)
        seeds = sorted({int(r.get("seeds", 1)) for r in cont})
        answers = " or ".join(str(n) for n in seeds)
        out += ["The first 4 bars of test pieces (" + pieces + ") moved into each of the 12 keys prime "
                "every shipped model, which answers 8 bars with every control at its default (the render "
                f"path: the live engine), {answers} times each (seeds); the pieces' real next 8 bars, moved "
                "alike, stand beside the answers. Each cell is the answer / the real music in the key where "
                "the answer is furthest from it (✗: outside the goal: in scale within 3 points, outside the "
                "triad and pitch classes a bar within 15%, entropy within 0.3 bits, onsets within 25%, key "
                "kept at least as often). Key kept is the share of answers (of pieces, for the real music) "
                "whose 8 bars have the opening's Krumhansl-Kessler key. The worst of 12 keys leans "
                "against the answers: the real music's share is one figure, the same in every key, while "
                "each key's answers are a sample of their own (90 answers: a share moves by about 5 "
                "points from one sample to the next), so the mean of the 12 keys stands beside it.",
                "", continuations_table(cont), "",
                "`python -m benchmarks.continuations` (results/continuations.json; `--set "
                "density_follow=1` and the like to compare a control).", "",
                "![livegen's answer in F# major beside the real continuation](docs/answer-f-sharp.png)", "",
                "`python -m benchmarks.answer_picture`: the first Nottingham test piece with a major "
                "opening, moved to F# major; above, `nottingham`'s answer (every control at its "
                "default, seed 0), below, the piece's real continuation.", ""]
    if listen:
        out += ["Dynamics and register after this benchmark's own primes (24 keys, melody, chords and "
                "melody over an arpeggio):", "", dynamics_table(listen), "",
                "Onsets a beat after a sparse prime and a busy one:", "", density_table(listen), "",
                "`python -m benchmarks.listening` (results/listening.json).", ""]
    return "\n".join(out)


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    readme = ROOT / "README.md"
    doc = readme.read_text()
    a, b = doc.index(START) + len(START), doc.index(END)
    readme.write_text(doc[:a] + "\n" + section() + doc[b:])
    print(section())


if __name__ == "__main__":
    main()
