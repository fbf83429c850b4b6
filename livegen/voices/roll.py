"""Generators: a net, its kept recurrent state and a sampler. No I/O, no clock.

The live engine and ``livegen render`` drive the same :class:`RollGenerator`: each step it
*observes* the frame that just sounded (the performer's notes and its own) and *samples*
the next one. Everything random draws from the generator's own ``torch.Generator``.

A generator may hear in several keys at once (``shifts``): the net runs once per
transposition in one batch, component ``k`` hearing every frame moved down by
``shifts[k]`` semitones (into the net's own key when the music is ``shifts[k]`` above it).
The components form a switching mixture over keys: each frame's probability is
``sum_k w_k p_k(frame)``, the weights are the posterior of the key given everything heard
(Bayes' rule each frame, then a share ``switch`` spread over all keys so a new key can take
over), and a frame is drawn by drawing a component from the weights and a frame from it,
moved back up. A net that knows one key (C: the standard datasets) so answers in the key it
hears, with exactly its own likelihood in every key (up to ``log 12`` nats once, plus
``switch`` per frame), and no key tracker deciding ahead of the net. For a net trained in
every key the components are an ensemble over transpositions; with a home ``register`` they
are centred on the first frame that sounds, so a piece moved by any interval is heard
exactly alike. With ``shifts=(0,)`` (the default) it is the net alone, the random stream
unchanged.

Cost: the net steps a batch of 12 and scores the heard frame under each component, two to
three times the time of the net alone (``python -m benchmarks.step_latency`` times both);
the live engine computes each step ahead on its worker thread, off the deadline's path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from livegen.music.keyboard import LOWEST_PITCH, N_KEYS
from livegen.music.keys import pitch_class_weights, tonic_scores
from livegen.nets.nade import CopyOutput, RollNADE
from livegen.nets.roll import RollLSTM
from livegen.nets.state import LSTMState
from livegen.sampling.constraints import RollControls
from livegen.sampling.frame import sample_roll_frame
from livegen.sampling.likelihood import frame_log_prob
from livegen.sampling.transpose import shift_controls, shift_frame, shifted_frames

#: the 12 transpositions a generator hearing in every key runs: -6..+5 semitones.
EVERY_SHIFT = tuple(range(-6, 6))

#: default share of the key posterior spread over all keys each frame (fixed share).
SWITCH = 1e-3
#: default exponent on the key posterior in the mixture a frame is drawn from (1: Bayes).
FOCUS = 1.0
#: per-frame decay of the pitch-class weights the home prior reads (a 32-step half-life, as
#: :class:`~livegen.music.keys.KeyTracker`).
TRACK_DECAY = 0.5 ** (1.0 / 32.0)
#: default weight (nats per unit of correlation) of the home prior: how much more a
#: transposition is trusted when it moves what was heard into C major or C minor, the key
#: every standard dataset is in (0: none).
HOME = 0.0


def mixing_weights(log_w: np.ndarray, focus: float, home: float, tonic: np.ndarray | None,
                   shifts: tuple[int, ...]) -> np.ndarray:
    """``log`` of the weights a frame is drawn (and scored) with: the posterior ``log_w``
    raised to ``focus``, times ``exp(home * s_k)`` where ``s_k`` is how well what was heard
    fits a major or minor key on the tonic ``shifts[k]`` (``tonic``: :func:`~livegen.music.
    keys.tonic_scores`, C first), normalised. The weights depend on the past only, so the
    mixture stays an exact distribution."""
    z = focus * log_w
    if home and tonic is not None:
        z = z + home * tonic[np.asarray(shifts) % 12]
    top = z.max()
    return np.asarray(z - (top + math.log(np.exp(z - top).sum())), dtype=np.float64)


@dataclass(frozen=True)
class Prepared:
    """What :meth:`RollGenerator.prepare` computed ahead for one step.

    Attributes:
        x: the ``(K, 88)`` input frames (one per transposition) it was computed for.
        shifts: the transpositions they were heard in.
        heard: whether the frame updated the key posterior.
        base: the state it was stepped from (the kept state must still be this object).
        out, state: the net's prediction and the new state.
        log_w: the key posterior ``(K,)`` after hearing ``x``.
        controls: the sampling view the frame was drawn under, or None (not drawn).
        frame: the drawn ``(88,)`` bool frame.
        rng_before, rng_after: the generator's state before and after the draw.
    """

    x: torch.Tensor
    base: LSTMState | None
    out: torch.Tensor | CopyOutput
    state: LSTMState
    log_w: np.ndarray
    shifts: tuple[int, ...]
    heard: bool = True
    controls: RollControls | None = None
    frame: np.ndarray | None = None
    rng_before: torch.Tensor | None = None
    rng_after: torch.Tensor | None = None


class RollGenerator:
    """Step a piano-roll net one frame at a time with its state kept between calls.

    Args:
        model: a roll net exposing ``step(x (K, 88), state) -> (out, state)``; ``out`` is
            drawn from by :func:`~livegen.sampling.frame.sample_roll_frame`.
        seed: seed of the private ``torch.Generator``.
        shifts: the transpositions heard at once (semitones; see the module docstring):
            ``(0,)`` for a net that knows every key, :data:`EVERY_SHIFT` for one that
            knows one.
        switch: the share of the key posterior spread over all keys each frame.
        focus, home: see :func:`mixing_weights`.
        register: the net's home register (MIDI pitch: the mean pitch of the first sounding
            frame of its training pieces), or None. With it, the transpositions are centred
            on what is heard: at the first frame that sounds, every shift moves by that
            frame's mean pitch less ``register`` (rounded), so the net hears the music near
            the register it learned whatever key and octave it comes in, and a piece moved
            by any interval is heard exactly as before (the components' states are all
            alike until then: they heard only silence).

    Attributes:
        log_w: ``(K,)`` log posterior of each transposition given what was heard.
        ahead_hits: observations taken from a :meth:`prepare`.
        ahead_misses: prepared, but another frame or state came (computed at the step).
        drawn_ahead: frames taken from a :meth:`prepare` (same frame, controls and RNG).
    """

    def __init__(self, model: RollLSTM | RollNADE, seed: int = 0, shifts: tuple[int, ...] = (0,),
                 switch: float = SWITCH, focus: float = FOCUS, home: float = HOME,
                 register: float | None = None) -> None:
        if 0 not in shifts:
            raise ValueError(f"shifts must include 0 (the net's own key), not {shifts}")
        if not 0.0 <= switch < 1.0:
            raise ValueError(f"switch is a share in [0, 1), not {switch}")
        if not focus >= 1.0:
            raise ValueError(f"focus is an exponent >= 1, not {focus}")
        self.focus = focus
        self.home = home
        self._pcw = np.zeros(12)  # decaying pitch-class weights of what was heard (the home prior)
        self._prev = np.zeros(N_KEYS, dtype=bool)
        self.model = model.eval()
        self.seed = seed
        self.base = tuple(shifts)
        self.shifts = self.base
        self.register = register if len(self.base) > 1 else None
        self.switch = switch
        self.generator = torch.Generator().manual_seed(seed)
        self.state: LSTMState | None = None
        self._out: torch.Tensor | CopyOutput | None = None
        self.log_w = self._prior()
        self.steps_observed = 0
        self._ahead: Prepared | None = None  # set by prepare, taken by the next observe
        self._drawn: Prepared | None = None  # the observed prepare, for the next sample
        self.ahead_hits = 0
        self.ahead_misses = 0
        self.drawn_ahead = 0

    def _prior(self) -> np.ndarray:
        return np.full(len(self.shifts), -math.log(len(self.shifts)))

    @property
    def own(self) -> int:
        """Index of the component in the net's own key (a shift of whole octaves)."""
        return next(k for k, s in enumerate(self.shifts) if s % 12 == 0)

    def _centred(self, frame: np.ndarray) -> tuple[int, ...]:
        """The shifts to hear ``frame`` in: centred on it when it is the first that sounds."""
        if self.register is None or self.shifts is not self.base or not frame.any():
            return self.shifts
        return centred_shifts(self.base, frame, self.register)

    def reset(self) -> None:
        """Forget everything heard: fresh (zero) hidden state and key posterior. The RNG
        stream continues."""
        self.state = None
        self._out = None
        self.shifts = self.base
        self.log_w = self._prior()
        self._pcw = np.zeros(12)
        self._prev = np.zeros(N_KEYS, dtype=bool)
        self._ahead = self._drawn = None
        self.steps_observed = 0

    def _mixing(self, log_w: np.ndarray, pcw: np.ndarray) -> np.ndarray:
        """The log weights a frame is drawn and scored with (:func:`mixing_weights`)."""
        if len(self.shifts) == 1 or (self.focus == 1.0 and not self.home):
            return log_w
        return mixing_weights(log_w, self.focus, self.home, tonic_scores(pcw), self.shifts)

    def _tracked(self, frame: np.ndarray) -> np.ndarray:
        """The pitch-class weights after hearing ``frame`` (as
        :class:`~livegen.music.keys.KeyTracker` folds them)."""
        f = np.asarray(frame, dtype=bool).reshape(N_KEYS)
        pcw = self._pcw * TRACK_DECAY
        if f.any():
            pcw = pcw + pitch_class_weights(f.astype(np.float64) + (f & ~self._prev))
        return pcw

    def _inputs(self, frame: np.ndarray) -> tuple[torch.Tensor, tuple[int, ...]]:
        """``(K, 88)`` the frame as each component hears it, and the shifts it is heard in."""
        f = np.asarray(frame, dtype=bool).reshape(N_KEYS)
        if self.shifts == (0,):
            return torch.as_tensor(f.astype(np.float32)).reshape(1, N_KEYS), self.shifts
        shifts = self._centred(f)
        return torch.from_numpy(shifted_frames(f, shifts)), shifts

    def _heard(self, x: torch.Tensor, notes: int) -> np.ndarray:
        """The key posterior after hearing ``x`` ``(K, 88)`` (a frame of ``notes`` notes) under
        the present prediction."""
        if len(self.shifts) == 1 or self._out is None:
            return self.log_w
        ll = -sequence_nll(self.model, _as_sequence(self._out), x.unsqueeze(1)).reshape(-1).double().numpy()
        lost = x.sum(1).numpy() < notes  # notes pushed off the keyboard
        ll[lost] = -np.inf
        post = self.log_w + ll
        top = post.max()
        post = post - (top + math.log(np.exp(post - top).sum()))
        if self.switch > 0.0:
            post = np.log((1.0 - self.switch) * np.exp(post) + self.switch / len(self.shifts))
        return np.asarray(post, dtype=np.float64)

    @torch.no_grad()
    def observe(self, frame: np.ndarray, heard: bool = True) -> None:
        """Feed one ``(88,)`` frame (bool/0-1) that sounded; update the kept state and, when
        ``heard``, the key posterior (a voice passes False for a frame of nothing but its own
        notes, so its answer never drags the key it hears along with it).

        When :meth:`prepare` was given this frame from the present state, its result is
        taken instead of stepping the model again (the same tensors, computed earlier).
        """
        x, shifts = self._inputs(frame)
        notes = int(np.asarray(frame, dtype=bool).sum())
        if self.home:
            self._pcw = self._tracked(frame)
            self._prev = np.asarray(frame, dtype=bool).reshape(N_KEYS).copy()
        ahead, self._ahead, self._drawn = self._ahead, None, None
        self.shifts = shifts
        if ahead is not None:
            if ahead.base is self.state and ahead.shifts == shifts and ahead.heard == heard \
                    and torch.equal(ahead.x, x):
                self._out, self.state, self.log_w = ahead.out, ahead.state, ahead.log_w
                self._drawn = ahead
                self.ahead_hits += 1
                self.steps_observed += 1
                return
            self.ahead_misses += 1
        if heard:
            self.log_w = self._heard(x, notes)
        self._out, self.state = self.model.step(x, self.state)
        self.steps_observed += 1

    @torch.no_grad()
    def prepare(self, frame: np.ndarray, controls: RollControls | None = None, heard: bool = True) -> None:
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
        x, shifts = self._inputs(frame)
        base = self.state
        log_w = self._heard(x, int(np.asarray(frame, dtype=bool).sum())) if heard else self.log_w
        out, state = self.model.step(x, base)
        if controls is None:
            self._ahead = Prepared(x, base, out, state, log_w, shifts, heard)
            return
        before = self.generator.get_state()
        drawn = self._draw(out, self._mixing(log_w, self._tracked(frame) if self.home else self._pcw), controls,
                           shifts)
        after = self.generator.get_state()
        self.generator.set_state(before)
        self._ahead = Prepared(x, base, out, state, log_w, shifts, heard, controls, drawn, before, after)

    @torch.no_grad()
    def prime(self, roll: np.ndarray) -> None:
        """Feed a ``(T, 88)`` roll frame by frame (what the performer or a file played)."""
        for frame in np.asarray(roll):
            self.observe(frame)

    def _component(self, out: torch.Tensor | CopyOutput, k: int) -> torch.Tensor | CopyOutput:
        """Component ``k``'s one-step output, batch 1."""
        if len(self.shifts) == 1:
            return out
        if isinstance(out, CopyOutput):
            return CopyOutput(out.params[k:k + 1], out.attn[k:k + 1], out.gate[k:k + 1], out.frames[k:k + 1],
                              None if out.codes is None else out.codes[k:k + 1])
        return out[k:k + 1]

    def _draw(self, out: torch.Tensor | CopyOutput, log_mix: np.ndarray, controls: RollControls,
              shifts: tuple[int, ...] | None = None) -> np.ndarray:
        """A component from the mixing weights ``log_mix`` (the own key alone with
        ``follow`` off), then a frame from it, moved back into real pitches."""
        shifts = self.shifts if shifts is None else shifts
        if len(shifts) == 1:
            k = 0
        elif not controls.follow:
            k = next(i for i, s in enumerate(shifts) if s % 12 == 0)
        else:
            k = int(torch.multinomial(torch.from_numpy(np.exp(log_mix)), 1, generator=self.generator))
        shift = shifts[k]
        seen = shift_controls(controls, -shift) if shift else controls
        frame = sample_roll_frame(self.model, self._component(out, k), seen, self.generator)
        drawn = frame.reshape(N_KEYS).numpy().astype(bool)
        return shift_frame(drawn, shift) if shift else drawn

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
        return self._draw(self._out, self._mixing(self.log_w, self._pcw), controls)

    @torch.no_grad()
    def log_prob(self, frame: np.ndarray, controls: RollControls) -> float:
        """``log p`` in nats that :meth:`sample` under ``controls`` draws ``frame`` ``(88,)``
        next: the mixture over keys (:func:`~livegen.sampling.likelihood.frame_log_prob`
        for each component). Nothing changes. With no frame observed yet, a silent frame is
        observed first, as :meth:`sample` does."""
        if self._out is None:
            self.observe(np.zeros(N_KEYS, dtype=np.float32))
        assert self._out is not None
        x = torch.from_numpy(shifted_frames(np.asarray(frame, dtype=bool).reshape(N_KEYS), self.shifts))
        notes = int(np.asarray(frame, dtype=bool).sum())
        if len(self.shifts) == 1 or not controls.follow:
            k = self.own
            shift = self.shifts[k]
            seen = shift_controls(controls, -shift) if shift else controls
            if x[k].sum().item() < notes:
                return -math.inf
            return frame_log_prob(self.model, self._component(self._out, k), seen, x[k])
        total = -math.inf
        log_w = self._mixing(self.log_w, self._pcw)
        logits = None  # a NADE's conditional logits for every component in one batch
        if isinstance(self.model, RollNADE):
            params = self._out.params if isinstance(self._out, CopyOutput) else self._out
            logits = self.model.conditional_logits(params, x.to(params.dtype))
        for k, shift in enumerate(self.shifts):
            if x[k].sum().item() < notes or log_w[k] == -np.inf:
                continue
            lp = float(log_w[k]) + frame_log_prob(self.model, self._component(self._out, k),
                                                       shift_controls(controls, -shift), x[k],
                                                       None if logits is None else logits[k])
            total = np.logaddexp(total, lp)
        return float(total)

    def step(self, frame: np.ndarray, controls: RollControls) -> np.ndarray:
        """Observe ``frame`` then sample the next one: the live loop's single call."""
        self.observe(frame)
        return self.sample(controls)


def centred_shifts(base: tuple[int, ...], frame: np.ndarray, register: float) -> tuple[int, ...]:
    """``base`` moved by the mean pitch of the sounding ``(88,)`` ``frame`` less ``register``
    (semitones, rounded): the transpositions a generator with a home register hears in
    (see :class:`RollGenerator`)."""
    pitches = np.flatnonzero(np.asarray(frame, dtype=bool)) + LOWEST_PITCH
    d = int(np.floor(pitches.mean() - register + 0.5))
    return tuple(s + d for s in base)


def _as_sequence(out: torch.Tensor | CopyOutput) -> torch.Tensor | CopyOutput:
    """A one-step output ``(B, ...)`` as a one-step sequence ``(B, 1, ...)``."""
    if isinstance(out, CopyOutput):
        return out._replace(params=out.params.unsqueeze(1), attn=out.attn.unsqueeze(1), gate=out.gate.unsqueeze(1))
    return out.unsqueeze(1)


def sequence_nll(model: RollLSTM | RollNADE, out: torch.Tensor | CopyOutput, v: torch.Tensor) -> torch.Tensor:
    """``(B, T)`` NLL in nats of frames ``v`` ``(B, T, 88)`` under a sequence output."""
    if isinstance(model, RollNADE):
        return model.frame_nll(out, v)
    assert isinstance(out, torch.Tensor)
    return model.frame_nll(out, v)
