"""The docs check (tests/docs_check.py): pytest collects README.md and docs/*.md through Sybil,
one item per shell block, run on the test JACK server with stand-in devices."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sybil import Sybil

sys.path.insert(0, str(Path(__file__).parent / "tests"))

from docs_check import DEVICES, parse  # noqa: E402

from livegen.io.jack import INSTALL_HINT, JackServer, jackd_path  # noqa: E402


@pytest.fixture(scope="session")
def docs_devices() -> Iterator[None]:
    """The test JACK server, and a client holding an input and an output port for every device
    the docs name ."""
    if jackd_path() is None:
        pytest.skip(f"jackd is not installed ({INSTALL_HINT})")
    import jack

    server = JackServer()
    server.start()
    devices = jack.Client("docs-devices", no_start_server=True, servername=server.name)
    try:
        for name in DEVICES:
            devices.midi_inports.register(name + " in")
            devices.midi_outports.register(name)
        devices.activate()
        yield
    finally:
        devices.deactivate()
        devices.close()
        server.stop()


pytest_collect_file = Sybil(parsers=[parse], patterns=["README.md", "docs/*.md"],
                            fixtures=["docs_devices"]).pytest()
