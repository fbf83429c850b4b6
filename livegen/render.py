"""Offline rendering: a roll model's output as piano-roll frames, MIDI, WAV and PNG.

Rendering steps the same :class:`~livegen.generators.RollGenerator` the live engine uses:
prime frames are observed, then each step samples the next frame and observes it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

from livegen.generators import RollGenerator
from livegen.sampling import RollControls


@dataclass(frozen=True)
class RenderResult:
    """``prime`` ``(P, 88)`` and ``generated`` ``(G, 88)`` bool rolls at ``steps_per_beat``."""

    prime: np.ndarray
    generated: np.ndarray
    steps_per_beat: int


def render_roll(
    model: nn.Module,
    steps: int,
    controls: RollControls,
    seed: int = 0,
    prime: np.ndarray | None = None,
    steps_per_beat: int = 2,
) -> RenderResult:
    """Generate ``steps`` frames after observing ``prime`` (``(P, 88)``, may be None)."""
    gen = RollGenerator(model, seed=seed)
    prime_roll = np.zeros((0, 88), dtype=bool) if prime is None else np.asarray(prime, dtype=bool)
    if len(prime_roll):
        gen.prime(prime_roll)
    out = np.zeros((steps, 88), dtype=bool)
    for t in range(steps):
        out[t] = gen.sample(controls)
        gen.observe(out[t])
    return RenderResult(prime_roll, out, steps_per_beat)
