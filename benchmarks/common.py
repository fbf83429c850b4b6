"""Helpers shared by the benchmarks: results file, percentiles, machine facts."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results.json"


def percentiles(values_s: list[float] | np.ndarray) -> dict[str, float]:
    """Median, p99 and max of times given in seconds, reported in milliseconds."""
    a = np.asarray(values_s, dtype=np.float64) * 1000.0
    return {"median_ms": round(float(np.median(a)), 4), "p99_ms": round(float(np.percentile(a, 99)), 4),
            "max_ms": round(float(a.max()), 4), "n": int(a.size)}


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def record(section: str, data: dict[str, Any]) -> None:
    """Merge ``data`` under ``section`` in benchmarks/results.json."""
    doc: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    doc[section] = {**data, "machine": machine()}
    RESULTS.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
