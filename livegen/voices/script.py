"""A scripted voice: plays a fixed list of pitches, no model (tests and demos without torch)."""

from __future__ import annotations

import numpy as np

from livegen.music.keyboard import LOWEST_PITCH, N_KEYS
from livegen.sampling.constraints import RollControls, allowed_keys


class ScriptVoice:
    """Plays ``pitches[i % len]`` at step ``i`` (one pitch, or a chord tuple), keeping the
    keys its constraints allow (range, key mask, excluded keys; the cap keeps the lowest).

    It records every ``(88,)`` frame it observes and the constraints it was given, so tests
    can check what the engine handed to the voice.
    """

    def __init__(self, pitches: list[int | tuple[int, ...]] | None = None) -> None:
        self.pitches: list[int | tuple[int, ...]] = pitches or [60, 64, 67, 72]
        self.observed: list[np.ndarray] = []
        self.controls: list[RollControls] = []
        self.resets = 0
        self.i = 0

    def sample(self, controls: RollControls) -> np.ndarray:
        """The next scripted ``(88,)`` bool frame under ``controls``."""
        self.controls.append(controls)
        out = np.zeros(N_KEYS, dtype=bool)
        p = self.pitches[self.i % len(self.pitches)]
        for q in (p if isinstance(p, tuple) else (p,)):
            out[q - LOWEST_PITCH] = True
        self.i += 1
        out &= allowed_keys(controls).numpy()
        if controls.max_polyphony:
            on = np.flatnonzero(out)
            out[on[controls.max_polyphony:]] = False
        return out

    def step(self, frame: np.ndarray, controls: RollControls) -> np.ndarray:
        """Observe ``frame`` then play the next scripted frame."""
        self.observed.append(np.asarray(frame, dtype=bool).copy())
        return self.sample(controls)

    def reset(self) -> None:
        self.resets += 1
