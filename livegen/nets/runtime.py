"""Torch settings for batch-1 stepping (the live path and latency benchmarks)."""

from __future__ import annotations

import torch


def disable_onednn() -> None:
    """Turn oneDNN (mkldnn) off: on this class of CPU it makes single LSTM steps 2-10x
    slower (DESIGN.md), and training and scoring here run at small batches too."""
    # torch types the module-level switch as its descriptor (ContextProp), not as a bool
    torch.backends.mkldnn.enabled = False  # type: ignore[assignment]


def configure_for_stepping(threads: int = 1) -> None:
    """Disable oneDNN and pin torch's intra-op threads.

    On this class of CPU oneDNN makes single LSTM steps 2-10x slower (DESIGN.md); one
    thread avoids contention with the engine and the MIDI server.
    """
    disable_onednn()
    torch.set_num_threads(threads)
