"""Closing a real JACK MIDI input while a flood still arrives, then ending the process.

python-rtmidi's JACK input reads its port on JACK's thread; unregistering the port or
cancelling the callback under a flood freed memory that thread was using, and the process
died with SIGSEGV (9 of 20 runs). Each run here opens ``livegen``'s input in a fresh process,
floods it, closes it and exits through :func:`livegen.cli.run`, as ``livegen play`` does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
import rtmidi

pytestmark = pytest.mark.jack

CHILD = """
import sys, time
from livegen.io import ports
import livegen.cli as cli
got = [0]
inp = ports.open_input(sys.argv[1], lambda m, t: got.__setitem__(0, got[0] + 1), client_name="closer")
deadline = time.monotonic() + 10
while got[0] < 200 and time.monotonic() < deadline:
    time.sleep(0.01)
inp.close()
print("received", got[0], "closed", inp.closed, flush=True)
cli.main = lambda argv=None: 0
cli.run()
"""

RUNS = 6


def test_an_input_closed_under_a_flood_ends_its_process_cleanly(jack_server):
    out = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="flooder")
    out.open_virtual_port("flood")
    stop = threading.Event()

    def flood() -> None:
        while not stop.is_set():
            for i in range(50):
                out.send_message([0x90, 60 + i % 12, 100])
                out.send_message([0x80, 60 + i % 12, 0])
            time.sleep(0.001)

    thread = threading.Thread(target=flood, daemon=True)
    thread.start()
    env = dict(os.environ, **jack_server.env)
    try:
        runs = [subprocess.run([sys.executable, "-c", CHILD, "flooder"], env=env, capture_output=True,
                               text=True, timeout=60) for _ in range(RUNS)]
    finally:
        stop.set()
        thread.join()
        out.close_port()
        out.delete()
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
        words = run.stdout.split()
        assert words[:1] == ["received"] and int(words[1]) >= 200 and words[3] == "True", run.stdout
