"""Shared fixtures.

``jack_server``: one headless JACK server (``livegen-test-PID``, dummy driver, synchronous
mode) for the whole test session, started through
:class:`livegen.io.jack.JackServer`; it also points ``MIDO_BACKEND`` at rtmidi's JACK API.
Tests that use it skip only when jackd is not installed.

``datasets``: the shared data sets (``../shared/data`` or ``$LIVEGEN_DATA``) when they are
there, else small synthetic stand-ins written once per session (see ``shared_data.py``), so
a fresh clone with nothing beside it runs the suite. ``named_datasets``: the same, with the
set names (``jsb``, ``irish``, ``public_domain``) resolving to it for the test's duration.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from shared_data import DataSets, build, shared

from livegen.io.jackd import INSTALL_HINT, JackServer, jackd_path


@pytest.fixture(scope="session")
def jack_server() -> Iterator[JackServer]:
    if jackd_path() is None:
        pytest.skip(f"jackd is not installed ({INSTALL_HINT})")
    # a name of this run's own: a livegen left running by an earlier run (or a user's, on the
    # default livegen-jack) reconnects to any new server of its server's name and would hold
    # 'livegen in' and 'livegen out' before the tests' own livegen does
    server = JackServer(f"livegen-test-{os.getpid()}")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> DataSets:
    return shared() or build(tmp_path_factory.mktemp("data"))


@pytest.fixture
def named_datasets(datasets: DataSets) -> Iterator[DataSets]:
    with datasets.named():
        yield datasets


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    """Tiny nets run fastest on one thread (and 2 threads crawl when the cores are busy)."""
    import torch

    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
