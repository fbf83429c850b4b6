"""Generators: a net, its kept recurrent state and a sampler. No I/O, no clock.

The live engine and ``livegen render`` drive the same :class:`RollGenerator`: each step it
*observes* the frame that just sounded (the performer's notes and its own) and *samples*
the next one. Everything random draws from the generator's own ``torch.Generator``.
"""

from __future__ import annotations

import numpy as np
import torch

from livegen.music.keyboard import N_KEYS
from livegen.nets.nade import CopyOutput, RollNADE
from livegen.nets.roll import RollLSTM
from livegen.nets.state import LSTMState
from livegen.sampling.constraints import RollControls
from livegen.sampling.frame import sample_roll_frame


class RollGenerator:
    """Step a piano-roll net one frame at a time with its state kept between calls.

    Args:
        model: a roll net exposing ``step(x (1, 88), state) -> (out, state)``; ``out`` is
            drawn from by :func:`~livegen.sampling.frame.sample_roll_frame`.
        seed: seed of the private ``torch.Generator``.
    """

    def __init__(self, model: RollLSTM | RollNADE, seed: int = 0) -> None:
        self.model = model.eval()
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self.state: LSTMState | None = None
        self._out: torch.Tensor | CopyOutput | None = None
        self.steps_observed = 0

    def reset(self) -> None:
        """Forget everything heard: fresh (zero) hidden state. The RNG stream continues."""
        self.state = None
        self._out = None
        self.steps_observed = 0

    @torch.no_grad()
    def observe(self, frame: np.ndarray) -> None:
        """Feed one ``(88,)`` frame (bool/0-1) that sounded; update the kept state."""
        x = torch.as_tensor(np.asarray(frame, dtype=np.float32)).reshape(1, N_KEYS)
        self._out, self.state = self.model.step(x, self.state)
        self.steps_observed += 1

    @torch.no_grad()
    def prime(self, roll: np.ndarray) -> None:
        """Feed a ``(T, 88)`` roll frame by frame (what the performer or a file played)."""
        for frame in np.asarray(roll):
            self.observe(frame)

    @torch.no_grad()
    def sample(self, controls: RollControls) -> np.ndarray:
        """Draw the next ``(88,)`` bool frame from the current state.

        With no frame observed yet a silent frame is observed first.
        """
        if self._out is None:
            self.observe(np.zeros(N_KEYS, dtype=np.float32))
        assert self._out is not None
        frame = sample_roll_frame(self.model, self._out, controls, self.generator)
        return frame.reshape(N_KEYS).numpy().astype(bool)

    def step(self, frame: np.ndarray, controls: RollControls) -> np.ndarray:
        """Observe ``frame`` then sample the next one: the live loop's single call."""
        self.observe(frame)
        return self.sample(controls)
