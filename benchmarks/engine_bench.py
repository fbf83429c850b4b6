"""The live engine over real JACK ports, idle and with the other core loaded.

Runs :func:`livegen.bench.engine.run_benchmark` (the same code as ``livegen bench``; see
that module for what is measured and how), prints the table and records the figures in
``benchmarks/results.json`` under ``engine``. Goals: output error p99 <= 1 ms idle and
<= 2 ms loaded, no missed steps; the voice's step inside the engine at most 1.5x the
back-to-back step measured in the same run (median) and p99 <= 1.5 ms.

    python -m benchmarks.engine_bench --model PATH [--seconds 60]
"""

from __future__ import annotations

import argparse
import logging
import sys

from benchmarks.common import record
from livegen.bench.engine import format_table, run_benchmark
from livegen.commands.bench import add_arguments, options_from
from livegen.errors import LivegenError

GOALS_MS = {"idle": 1.0, "loaded": 2.0}
#: the voice's step inside the engine: median within this factor of the back-to-back step
#: measured in the same run, and p99 at most STEP_P99_MS (issue 16)
STEP_RATIO, STEP_P99_MS = 1.5, 1.5


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.engine_bench", description=__doc__.splitlines()[0])
    add_arguments(ap)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        doc = run_benchmark(options_from(args))
    except LivegenError as exc:
        print(f"engine_bench: error: {exc}", file=sys.stderr)
        return 2
    doc["command"] = "python -m benchmarks.engine_bench " + " ".join(argv if argv is not None else sys.argv[1:])
    doc["goals"] = {}
    for name, goal in GOALS_MS.items():
        if name in doc:
            r = doc[name]
            doc["goals"][name] = {"p99_goal_ms": goal, "met": bool(r["out_error_ms"]["p99"] <= goal
                                                                  and r["missed_steps"] == 0 and r["lost"] == 0)}
        if name in doc and "step" in doc[name]:
            wall = doc[name]["step"]["wall_ms"]
            ratio = wall["median"] / doc["step_outside"]["back_to_back_ms"]["median"]
            doc["goals"][f"{name}_step"] = {"ratio_to_back_to_back": round(ratio, 3), "ratio_goal": STEP_RATIO,
                                            "p99_goal_ms": STEP_P99_MS,
                                            "met": bool(ratio <= STEP_RATIO and wall["p99"] <= STEP_P99_MS)}
    record("engine", doc)
    print(format_table(doc))
    print("goals:", ", ".join(f"{k} {'met' if v['met'] else 'MISSED'} (p99 <= {v['p99_goal_ms']:g} ms"
                             + (f", median <= {v['ratio_goal']:g}x back to back" if "ratio_goal" in v else "") + ")"
                             for k, v in doc["goals"].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
