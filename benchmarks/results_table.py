"""The results table: livegen's shipped models beside the published anchors.

Runs ``livegen eval MODEL --data SET --json`` (a subprocess per model, the real CLI) for
every shipped roll model on the test split of the set it was trained on, and writes
benchmarks/results.md plus the README section between ``<!-- models:start -->`` and
``<!-- models:end -->``. Nothing in the table is typed by hand except the published
anchors below, each with its source.

    python -m benchmarks.results_table
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.common import record
from livegen.nets.manifest import read_manifest

ROOT = Path(__file__).resolve().parent.parent
SETS = ("nottingham", "jsb", "musedata", "piano-midi")
TITLES = {"nottingham": "Nottingham", "jsb": "JSB Chorales", "musedata": "MuseData",
          "piano-midi": "Piano-midi.de"}

#: published test NLL (nats/frame, frame-weighted); None where the source gives none.
ANCHORS: list[tuple[str, str, dict[str, float | None]]] = [
    ("RNN", "Bai et al. 2018", {"nottingham": 4.05, "jsb": 8.91, "musedata": None, "piano-midi": None}),
    ("LSTM", "Bai et al. 2018", {"nottingham": 3.29, "jsb": 8.45, "musedata": None, "piano-midi": None}),
    ("TCN", "Bai et al. 2018", {"nottingham": 3.07, "jsb": 8.10, "musedata": None, "piano-midi": None}),
    ("RNN-RBM", "Boulanger-Lewandowski et al. 2012",
     {"nottingham": 2.39, "jsb": 6.27, "musedata": 6.01, "piano-midi": 7.09}),
    ("RNN-NADE", "Boulanger-Lewandowski et al. 2012",
     {"nottingham": 2.31, "jsb": 5.56, "musedata": 5.60, "piano-midi": 7.05}),
    ("DMM-Aug-NADE", "Krishnan et al. 2017", {"nottingham": 2.305, "jsb": 5.12, "musedata": None, "piano-midi": None}),
]


def evaluate(name: str, data: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-m", "livegen", "eval", name, "--data", data, "--json"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    manifest = read_manifest()
    measured: dict[str, dict[str, dict[str, float]]] = {}
    for name, entry in sorted(manifest.items()):
        if not entry["kind"].startswith("roll") or entry.get("data") not in SETS:
            continue
        measured.setdefault(name, {})[entry["data"]] = evaluate(name, entry["data"])
        print(f"{name}: {measured[name]}", file=sys.stderr)

    def cell(v: float | None) -> str:
        return "—" if v is None else f"{v:g}"

    header = "| model | " + " | ".join(TITLES[s] for s in SETS) + " | source |"
    lines = [header, "|" + "---|" * (len(SETS) + 2)]
    for label, source, values in ANCHORS:
        lines.append(f"| {label} | " + " | ".join(cell(values[s]) for s in SETS) + f" | {source} |")
    for name in sorted(measured):
        entry = manifest[name]
        row = {s: measured[name].get(s, {}).get("nll_per_frame") for s in SETS}
        head = "NADE" if entry["kind"] == "roll-nade" else "Bernoulli"
        if entry["config"].get("copy"):
            head += " + copy head"
        lines.append(f"| **livegen `{name}`** ({head}) | "
                     + " | ".join(f"**{row[s]:.3f}**" if row[s] is not None else "—" for s in SETS)
                     + " | `livegen eval` (this repo) |")
    details = ["", "| shipped model | kind | test NLL/frame | NLL/sequence | frame accuracy | frames | size |",
               "|---|---|---|---|---|---|---|"]
    for name in sorted(measured):
        entry = manifest[name]
        for data, r in measured[name].items():
            details.append(f"| `{name}` | {entry['kind']} on {data} | {r['nll_per_frame']:.3f} | "
                           f"{r['nll_per_sequence']:.3f} | {r['frame_accuracy']:.3f} | {r['frames']} | "
                           f"{entry['bytes'] / 1e6:.1f} MB |")
    body = ("## Shipped models\n\nTest-set negative log-likelihood in nats per frame (lower is better): "
            "frame-weighted, summed over the 88 keys, frame t predicted from frames < t, frames 2..T "
            "scored. The NADE models' figures are exact likelihoods, not bounds; a copy head (README, "
            "Training) mixes in exact copies of frames that followed similar moments earlier in the same "
            "piece, which the published models do not do. Produced by "
            "`python -m benchmarks.results_table` from `livegen eval` runs.\n\n"
            + "\n".join(lines + details) + "\n")
    (ROOT / "benchmarks" / "results.md").write_text(body)
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = "<!-- models:start -->", "<!-- models:end -->"
    a, b = text.index(start) + len(start), text.index(end)
    readme.write_text(text[:a] + "\n" + body + text[b:])
    record("models", {"measured": measured})
    print(body)


if __name__ == "__main__":
    main()
