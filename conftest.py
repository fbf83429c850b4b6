"""The docs check (tests/docs_check.py): pytest collects README.md and docs/*.md through Sybil,
one item per shell block, run on the test JACK server with stand-in devices."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sybil import Sybil

sys.path.insert(0, str(Path(__file__).parent / "tests"))

import docs_check  # noqa: E402
from docs_check import DEVICES, parse  # noqa: E402
from shared_data import build, shared  # noqa: E402

from livegen.io.jackd import INSTALL_HINT, JackServer, jackd_path  # noqa: E402


@pytest.fixture(scope="session")
def docs_devices() -> Iterator[None]:
    """The docs' JACK server (``livegen-jack``, the one the docs name), and a stand-in client in
    a process of its own holding an input and an output port for every device the docs name."""
    if jackd_path() is None:
        pytest.skip(f"jackd is not installed ({INSTALL_HINT})")
    # its environment goes to the documented commands alone (docs_check.JACK_ENV): the tests a
    # worker runs beside the check keep their own server (tests/conftest.py's jack_server)
    server = JackServer(set_environ=False)
    server.start()
    docs_check.JACK_ENV = server.env
    devices = None
    try:
        devices = docs_check.StandIn("docs-devices", inputs=[name + " in" for name in DEVICES], outputs=DEVICES)
        yield
    finally:
        if devices is not None:
            devices.close()
        server.stop()
        docs_check.JACK_ENV = {}


@pytest.fixture(scope="session")
def docs_data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The data sets the documented commands read (``--data nottingham``): the shared ones
    beside the checkout, or in a fresh clone the tests' small synthetic stand-ins, through
    ``LIVEGEN_DATA``."""
    found = shared() or build(tmp_path_factory.mktemp("docs-data"))
    docs_check.DATA_ROOT = found.root
    yield
    docs_check.DATA_ROOT = None


pytest_collect_file = Sybil(parsers=[parse], patterns=["README.md", "docs/*.md"],
                            fixtures=["docs_devices", "docs_data"]).pytest()


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Groups for ``pytest -n 2 --dist loadgroup`` (``scripts/test.sh -n 2 --dist loadgroup``): every
    test over real JACK ports or on the live clock runs in one worker, one at a time, as
    written (two at once, one on each core, each loads the other's clock: late steps); the
    docs check's blocks share one server (``livegen-jack``) and run together. The other tests
    go to whichever worker is free."""
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix == ".md":
            item.add_marker(pytest.mark.xdist_group("docs"))
        elif item.get_closest_marker("jack") or item.get_closest_marker("realtime"):
            item.add_marker(pytest.mark.xdist_group("live"))
