"""Character sampling speed of the shipped text models: chars/s on one thread, batch 1.

Each character is one LSTM step plus a draw (softmax multinomial or Gumbel-max), exactly as
``livegen lyrics`` and the ABC voice generate. Goal: >= 2,000 chars/s.

    python -m benchmarks.char_sampling
"""

from __future__ import annotations

import argparse
import json
import time

from benchmarks.common import record
from livegen.nets.manifest import resolve_model
from livegen.nets.runtime import configure_for_stepping
from livegen.training.char_tasks import load_char_model
from livegen.voices.text import TextGenerator

CHARS = 4000


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    configure_for_stepping(1)
    rows = []
    for name in ("lyrics", "irish"):
        model, vocab, labels, _ = load_char_model(resolve_model(name))
        for sampler in ("softmax", "gumbel"):
            gen = TextGenerator(model, vocab, labels, seed=0, sampler=sampler)
            if labels:
                gen.set_label(labels[0])
            gen.sample_chars(200, 1.0)  # warm-up
            runs = []
            for _ in range(3):
                t0 = time.perf_counter()
                gen.sample_chars(CHARS, 1.0)
                runs.append(CHARS / (time.perf_counter() - t0))
            rows.append({"model": name, "sampler": sampler, "chars_per_s": round(sorted(runs)[1])})
    record("char_sampling", {"chars": CHARS, "threads": 1, "rows": rows})
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
