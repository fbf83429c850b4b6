"""Ctrl-C at any moment ends livegen quietly: ``livegen play`` on a real JACK server gets
SIGINT on its whole process group (as a terminal sends it) at random moments, from its
imports to its playing; no process of livegen's prints a traceback, the JACK helper is never
started again while livegen stops, and nothing of livegen's stays on the server."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

import pytest
from play_rig import processes_of

pytestmark = [pytest.mark.jack, pytest.mark.slow]

RUNS = 20
SEED = 27
#: random moments from launch: imports (torch), model, JACK helper and ports, playing. Before
#: EARLIEST_S the interpreter itself is starting (~0.2 s here), before any line of livegen runs
EARLIEST_S, LATEST_S = 0.3, 6.0
GONE_S = 30.0


def test_sigint_at_random_moments_ends_livegen_quietly(jack_server) -> None:
    rng = random.Random(SEED)
    for run in range(RUNS):
        marker = f"LIVEGEN_SIGINT_TEST=run{run}-{os.getpid()}"
        demo = run % 4 == 3  # the demo's performer is a second process of livegen's
        argv = ["--demo", "--bars", "40"] if demo else ["--virtual", "--mode", "solo", "--bpm", "240"]
        proc = subprocess.Popen([sys.executable, "-m", "livegen", "play", *argv, "--osc-port", "0", "--no-view"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True,
                                env={**os.environ, marker.split("=")[0]: marker.split("=")[1]})
        moment = rng.uniform(EARLIEST_S, LATEST_S)
        threading.Event().wait(moment)  # the stimulus: a random moment, not a wait for an event
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            pytest.fail(f"run {run} (SIGINT at {moment:.2f} s) did not end: {err[-2000:]}")
        said = f"run {run} ({' '.join(argv)}), SIGINT at {moment:.2f} s: exit {proc.returncode}\n{err[-3000:]}"
        assert "Traceback" not in err and "KeyboardInterrupt" not in err, said
        assert "starting a new one" not in err, said
        assert proc.returncode in (0, 130), said  # 130: interrupted before livegen plays ("livegen: interrupted")
        if proc.returncode == 130:
            assert err.strip().endswith("livegen: interrupted"), said
        end = time.monotonic() + GONE_S  # the helper quits when its pipe from livegen ends
        while processes_of(marker):
            assert time.monotonic() < end, f"{said}\nstill running: {processes_of(marker)}"
            threading.Event().wait(0.1)
