"""Torch settings for batch-1 stepping (the live path and latency benchmarks)."""

from __future__ import annotations

import torch


def configure_for_stepping(threads: int = 1) -> None:
    """Disable oneDNN and pin torch's intra-op threads.

    On this class of CPU oneDNN makes single LSTM steps 2-10x slower (DESIGN.md); one
    thread avoids contention with the engine and the MIDI server.
    """
    torch.backends.mkldnn.enabled = False
    torch.set_num_threads(threads)
