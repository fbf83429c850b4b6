"""Generators: a net, its kept recurrent state and a sampler. No I/O, no clock.

The live engine and ``livegen render`` drive the same :class:`RollGenerator`: each step it
*observes* the frame that just sounded (the performer's notes and its own) and *samples*
the next one. Everything random draws from the generator's own ``torch.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from livegen.music.keyboard import N_KEYS
from livegen.nets.nade import CopyOutput, RollNADE
from livegen.nets.roll import RollLSTM
from livegen.nets.state import LSTMState
from livegen.sampling.constraints import RollControls
from livegen.sampling.frame import sample_roll_frame


@dataclass(frozen=True)
class Prepared:
    """What :meth:`RollGenerator.prepare` computed ahead for one step.

    Attributes:
        x: the ``(1, 88)`` input frame it was computed for.
        base: the state it was stepped from (the kept state must still be this object).
        out, state: the net's prediction and the new state.
        controls: the sampling view the frame was drawn under, or None (not drawn).
        frame: the drawn ``(88,)`` bool frame.
        rng_before, rng_after: the generator's state before and after the draw.
    """

    x: torch.Tensor
    base: LSTMState | None
    out: torch.Tensor | CopyOutput
    state: LSTMState
    controls: RollControls | None = None
    frame: np.ndarray | None = None
    rng_before: torch.Tensor | None = None
    rng_after: torch.Tensor | None = None


class RollGenerator:
    """Step a piano-roll net one frame at a time with its state kept between calls.

    Args:
        model: a roll net exposing ``step(x (1, 88), state) -> (out, state)``; ``out`` is
            drawn from by :func:`~livegen.sampling.frame.sample_roll_frame`.
        seed: seed of the private ``torch.Generator``.

    Attributes:
        ahead_hits: observations taken from a :meth:`prepare`.
        ahead_misses: prepared, but another frame or state came (computed at the step).
        drawn_ahead: frames taken from a :meth:`prepare` (same frame, controls and RNG).
    """

    def __init__(self, model: RollLSTM | RollNADE, seed: int = 0) -> None:
        self.model = model.eval()
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self.state: LSTMState | None = None
        self._out: torch.Tensor | CopyOutput | None = None
        self.steps_observed = 0
        self._ahead: Prepared | None = None  # set by prepare, taken by the next observe
        self._drawn: Prepared | None = None  # the observed prepare, for the next sample
        self.ahead_hits = 0
        self.ahead_misses = 0
        self.drawn_ahead = 0

    def reset(self) -> None:
        """Forget everything heard: fresh (zero) hidden state. The RNG stream continues."""
        self.state = None
        self._out = None
        self._ahead = self._drawn = None
        self.steps_observed = 0

    @torch.no_grad()
    def observe(self, frame: np.ndarray) -> None:
        """Feed one ``(88,)`` frame (bool/0-1) that sounded; update the kept state.

        When :meth:`prepare` was given this frame from the present state, its result is
        taken instead of stepping the model again (the same tensors, computed earlier).
        """
        x = torch.as_tensor(np.asarray(frame, dtype=np.float32)).reshape(1, N_KEYS)
        ahead, self._ahead, self._drawn = self._ahead, None, None
        if ahead is not None:
            if ahead.base is self.state and torch.equal(ahead.x, x):
                self._out, self.state = ahead.out, ahead.state
                self._drawn = ahead
                self.ahead_hits += 1
                self.steps_observed += 1
                return
            self.ahead_misses += 1
        self._out, self.state = self.model.step(x, self.state)
        self.steps_observed += 1

    @torch.no_grad()
    def prepare(self, frame: np.ndarray, controls: RollControls | None = None) -> None:
        """Compute ahead what the next :meth:`observe` of ``frame`` (and the :meth:`sample`
        under ``controls`` after it) will give; nothing the generator plays changes.

        The model is stepped from the present state and, with ``controls``, a frame is drawn
        with the generator's state put back afterwards. :meth:`observe` takes the result
        when it is given the same frame from the same state, and :meth:`sample` the frame
        when the controls are equal too and the generator was not used since: the output
        is the one computing then would give. Called by
        :class:`~livegen.engine.ahead.StepAhead` on its worker thread one period ahead. A
        copy head's memory stays valid: a state stepped twice gets a fresh buffer
        (:func:`~livegen.nets.copy_head.extend_memory`).
        """
        x = torch.as_tensor(np.asarray(frame, dtype=np.float32)).reshape(1, N_KEYS)
        base = self.state
        out, state = self.model.step(x, base)
        if controls is None:
            self._ahead = Prepared(x, base, out, state)
            return
        before = self.generator.get_state()
        drawn = sample_roll_frame(self.model, out, controls, self.generator).reshape(N_KEYS).numpy().astype(bool)
        after = self.generator.get_state()
        self.generator.set_state(before)
        self._ahead = Prepared(x, base, out, state, controls, drawn, before, after)

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
        drawn, self._drawn = self._drawn, None
        if drawn is not None and drawn.frame is not None and drawn.rng_before is not None \
                and drawn.rng_after is not None and drawn.out is self._out and drawn.controls == controls \
                and torch.equal(self.generator.get_state(), drawn.rng_before):
            self.generator.set_state(drawn.rng_after)
            self.drawn_ahead += 1
            return drawn.frame.copy()
        frame = sample_roll_frame(self.model, self._out, controls, self.generator)
        return frame.reshape(N_KEYS).numpy().astype(bool)

    def step(self, frame: np.ndarray, controls: RollControls) -> np.ndarray:
        """Observe ``frame`` then sample the next one: the live loop's single call."""
        self.observe(frame)
        return self.sample(controls)
