"""Shared fixtures.

``jack_server``: one headless JACK server (``livegen-jack``, dummy driver, synchronous
mode) for the whole test session, started or reused through
:class:`livegen.io.jack.JackServer`; it also points ``MIDO_BACKEND`` at rtmidi's JACK API.
Tests that use it skip only when jackd is not installed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from livegen.io.jack import INSTALL_HINT, JackServer, jackd_path


@pytest.fixture(scope="session")
def jack_server() -> Iterator[JackServer]:
    if jackd_path() is None:
        pytest.skip(f"jackd is not installed ({INSTALL_HINT})")
    server = JackServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread() -> None:
    """Tiny nets run fastest on one thread (and 2 threads crawl when the cores are busy)."""
    import torch

    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
