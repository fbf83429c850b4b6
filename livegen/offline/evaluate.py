"""Score a roll checkpoint on a dataset split (the ``livegen eval`` numbers).

Two conventions, both from the model exactly as it plays (its own copy memory, stored in
the checkpoint, whatever the chunking):

- **frames 2..T** (the published convention, DESIGN.md): the run starts from the zero state
  with frame 1 as its first input; frames 2..T are scored.
- **every frame**: the run starts from the zero state by observing one silent frame, as the
  live engine and ``render`` do when they must play before hearing anything
  (:meth:`~livegen.voices.roll.RollGenerator.sample`); frames 1..T are scored.

Batched scoring runs whole sequences in chunks of ``chunk`` steps; ``stream`` steps the live
runtime (:class:`~livegen.voices.roll.RollGenerator`, one ``observe`` and one ``log_prob``
per frame, the calls the engine makes) over the same sequences, which must give the same
figures.

What is scored is what plays: the net heard in the transpositions ``shifts`` at once (every
key, as ``play`` and ``render`` run it: a mixture over keys, :mod:`livegen.voices.roll`), or
the net alone with ``shifts=(0,)``. Frame accuracy is the net's own greedy frame in its own
key either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from livegen.data.roll_dataset import RollDataset
from livegen.music.keyboard import N_KEYS
from livegen.music.keys import tonic_score_track
from livegen.nets.nade import CopyOutput, RollNADE
from livegen.nets.protocols import RollNet
from livegen.nets.registry import memory_steps
from livegen.nets.roll import RollLSTM
from livegen.sampling.constraints import RollControls
from livegen.sampling.transpose import shift_frame
from livegen.training.scoring import Score, score_sequences
from livegen.voices.roll import (
    FOCUS,
    HOME,
    SWITCH,
    RollGenerator,
    centred_shifts,
    mixing_weights,
    sequence_nll,
)

#: how the first frame of a piece is treated, for reports.
FIRST_FRAME = ("nll_per_frame: frames 2..T (frame 1 is the first input); *_every_frame: frames "
               "1..T after one silent frame, as the live engine starts")


@dataclass(frozen=True)
class RollEval:
    """Test figures under both conventions (see the module doc).

    Attributes:
        nll_per_frame, nll_per_sequence: frames 2..T, frame-weighted and sequence-averaged.
        frame_accuracy: Bay et al. over frames 2..T.
        frames, sequences: scored frames (2..T) and sequences.
        nll_per_frame_every_frame, nll_per_sequence_every_frame, frames_every_frame: frames
            1..T after a silent frame.
        memory_steps: the copy memory used (0: no copy head).
        method: ``"batched"`` or ``"stream"``.
        chunk: steps per chunk of the batched run (None when streamed).
    """

    nll_per_frame: float
    nll_per_sequence: float
    frame_accuracy: float
    frames: int
    sequences: int
    nll_per_frame_every_frame: float
    nll_per_sequence_every_frame: float
    frames_every_frame: int
    memory_steps: int
    method: str
    chunk: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "nll_per_frame": round(self.nll_per_frame, 5),
            "nll_per_sequence": round(self.nll_per_sequence, 5),
            "frame_accuracy": round(self.frame_accuracy, 5),
            "frames": self.frames,
            "sequences": self.sequences,
            "nll_per_frame_every_frame": round(self.nll_per_frame_every_frame, 5),
            "nll_per_sequence_every_frame": round(self.nll_per_sequence_every_frame, 5),
            "frames_every_frame": self.frames_every_frame,
            "memory_steps": self.memory_steps,
            "method": self.method,
            "chunk": self.chunk,
            "first_frame": FIRST_FRAME,
        }


def evaluate_roll(model: RollNet, data: RollDataset, split: str = "test", *, stream: bool = False,
                  max_sequences: int | None = None, chunk: int = 512, shifts: tuple[int, ...] = (0,),
                  home: float = HOME, register: float | None = None) -> RollEval:
    """Frame-weighted and sequence-averaged NLL (nats/frame) under both conventions, and Bay
    et al. frame accuracy.

    Args:
        stream: step the live runtime frame by frame instead of batched chunks.
        max_sequences: score only the first N sequences of the split (file order).
        chunk: steps per chunk of the batched run (any size gives the same figures).
        shifts: the transpositions the voice hears at once (see the module docstring).
        home, register: the home prior and home register of its mixture
            (:class:`~livegen.voices.roll.RollGenerator`).
    """
    rolls = data.split(split)[:max_sequences] if max_sequences is not None else data.split(split)
    seqs = [torch.from_numpy(np.ascontiguousarray(s)).float() for s in rolls]
    if stream:
        if not isinstance(model, RollLSTM | RollNADE):
            raise TypeError(f"the live runtime steps RollLSTM and RollNADE nets, not {type(model).__name__}")
        later, every = stream_scores(model, seqs, shifts, home, register)
    else:
        later = score_sequences(model, seqs, model.frame_nll, predict_frame=model.predict_frame, chunk=chunk)
        silence = torch.zeros(1, N_KEYS)
        if shifts != (0,):
            assert isinstance(model, RollLSTM | RollNADE)
            accuracy = (later.tp, later.fp, later.fn)
            later = _mixture_scores(model, shifts, seqs, chunk, home, register)
            later.tp, later.fp, later.fn = accuracy
            every = _mixture_scores(model, shifts, [torch.cat([silence, s]) for s in seqs], chunk, home, register)
        else:
            every = score_sequences(model, [torch.cat([silence, s]) for s in seqs], model.frame_nll, chunk=chunk)
    steps = memory_steps(model) if isinstance(model, RollLSTM | RollNADE) else 0
    return RollEval(later.nll_per_step, later.nll_per_sequence, later.frame_accuracy, later.steps,
                    len(later.seq_nll), every.nll_per_step, every.nll_per_sequence, every.steps, steps,
                    "stream" if stream else "batched", None if stream else chunk)


class _ScoringGenerator(RollGenerator):
    """The live runtime's generator, with its prediction for the next frame readable."""

    @property
    def own_prediction(self) -> torch.Tensor | CopyOutput:
        """The net's prediction in its own key (component shift 0)."""
        assert self._out is not None, "observe a frame first"
        return self._component(self._out, self.own)


def _mixture_scores(model: RollLSTM | RollNADE, shifts: tuple[int, ...], seqs: list[torch.Tensor],
                    chunk: int, home: float, register: float | None) -> Score:
    """Frames 2..T of each sequence under the mixture over ``shifts`` (batched)."""
    score = Score()
    for seq in seqs:
        if len(seq) < 2:
            continue
        _add(score, -mixture_log_likelihood(model, shifts, seq.numpy() > 0.5, chunk=chunk, home=home,
                                            register=register), len(seq) - 1)
    return score


@torch.no_grad()
def mixture_log_likelihood(model: RollLSTM | RollNADE, shifts: tuple[int, ...], seq: np.ndarray, *,
                           follow: bool = True, chunk: int = 256, home: float = HOME,
                           register: float | None = None) -> float:
    """``log p`` in nats of frames 2..T of a ``(T, 88)`` bool piece under the net heard in
    ``shifts`` at once, as :class:`~livegen.voices.roll.RollGenerator` predicts them: every
    component in one batch (``(K, T, 88)``), then the key posterior's recursion. With
    ``follow`` False, the net in its own key alone; with a ``register``, the shifts centred
    on the piece's first sounding frame (:func:`~livegen.voices.roll.centred_shifts`)."""
    sounding = np.flatnonzero(seq.any(axis=1))
    base = shifts
    if register is not None and len(shifts) > 1 and sounding.size:
        shifts = centred_shifts(shifts, seq[sounding[0]], register)
    own = next(k for k, s in enumerate(shifts) if s % 12 == 0)
    model.eval()
    x = torch.from_numpy(np.stack([shift_frame(seq, -k) for k in shifts]).astype(np.float32))  # (K, T, 88)
    ll = np.empty((len(shifts), len(seq) - 1))
    state = None
    for i in range(0, len(seq) - 1, chunk):
        j = min(i + chunk, len(seq) - 1)
        out, state = model(x[:, i:j], state)
        ll[:, i:j] = -sequence_nll(model, out, x[:, i + 1:j + 1]).double().numpy()
    lost = x[:, 1:].sum(-1).numpy() < seq[1:].sum(-1)  # (K, T-1) notes pushed off the keyboard
    ll[lost] = -np.inf
    update = ll  # what the posterior learns from each frame
    if shifts != base and sounding[0] >= 1:
        # the first sounding frame is drawn (and scored) in the shifts as they were: the
        # generator centres them when it observes that frame, after every component heard
        # the same silence
        f0 = int(sounding[0])
        update, ll = ll, ll.copy()
        moved = torch.from_numpy(np.stack([shift_frame(seq[f0], -k) for k in base]).astype(np.float32))
        out, _ = model(torch.zeros(1, f0, seq.shape[1]))
        ll[:, f0 - 1] = -sequence_nll(model, _last_step(out, len(base)), moved.unsqueeze(1)).double().numpy()[:, 0]
        ll[moved.sum(-1).numpy() < seq[f0].sum(), f0 - 1] = -np.inf
    if len(shifts) == 1 or not follow:
        return float(ll[own].sum())
    tonic = tonic_score_track(seq[:-1]) if home else None  # what was heard before each scored frame
    return key_mixture(ll, shifts, tonic, home=home, update=update)


def _last_step(out: torch.Tensor | CopyOutput, k: int) -> torch.Tensor | CopyOutput:
    """The last step of a batch-1 output, repeated for ``k`` components: ``(k, 1, ...)``."""
    if isinstance(out, CopyOutput):
        return CopyOutput(out.params[:, -1:].expand(k, -1, -1), out.attn[:, -1:].expand(k, -1, -1),
                          out.gate[:, -1:].expand(k, -1, -1), out.frames.expand(k, -1, -1),
                          None if out.codes is None else out.codes.expand(k, -1))
    return out[:, -1:].expand(k, -1, -1)


def key_mixture(ll: np.ndarray, shifts: tuple[int, ...], tonic: np.ndarray | None = None, *,
                switch: float = SWITCH, focus: float = FOCUS, home: float = HOME,
                update: np.ndarray | None = None) -> float:
    """Log-likelihood of a piece under the switching mixture over keys, from each
    component's frame log-likelihoods ``(K, T)``: the posterior recursion of
    :class:`~livegen.voices.roll.RollGenerator` (Bayes' rule each frame, then the share
    ``switch`` spread over all keys; each frame's mixture weighted by ``focus`` and the home
    prior ``home`` over ``tonic`` ``(T, 12)``, the tonic scores of what was heard before each
    frame: :func:`~livegen.voices.roll.mixing_weights`); ``update`` ``(K, T)``, when given, is
    what the posterior learns from each frame instead of ``ll`` (they differ at the frame a
    home register centres the shifts)."""
    k = ll.shape[0]
    log_w = np.full(k, -math.log(k))
    total = 0.0
    for t in range(ll.shape[1]):
        mixed = mixing_weights(log_w, focus, home, None if tonic is None else tonic[t], shifts) + ll[:, t]
        top = mixed.max()
        total += top + math.log(np.exp(mixed - top).sum())
        joint = log_w + (ll if update is None else update)[:, t]
        top = joint.max()
        post = joint - (top + math.log(np.exp(joint - top).sum()))
        log_w = np.log((1.0 - switch) * np.exp(post) + switch / k) if switch > 0 else post
    return total


@torch.no_grad()
def stream_scores(model: RollLSTM | RollNADE, seqs: list[torch.Tensor],
                  shifts: tuple[int, ...] = (0,), home: float = HOME,
                  register: float | None = None) -> tuple[Score, Score]:
    """Score ``(T, 88)`` sequences by stepping a :class:`~livegen.voices.roll.RollGenerator`
    one frame at a time, as the engine does (``observe``, then ``log_prob`` of the next
    frame under neutral controls); returns the frames 2..T and every-frame scores."""
    later, every = Score(), Score()
    gen = _ScoringGenerator(model, shifts=shifts, home=home, register=register)
    alone = gen if shifts == (0,) else _ScoringGenerator(model)  # frame accuracy: the net in its own key
    silence = np.zeros(N_KEYS, dtype=np.float32)
    plain = RollControls()
    for seq in seqs:
        if len(seq) < 2:
            continue
        frames = seq.numpy()
        gen.reset()
        total = 0.0
        outputs = []
        if alone is not gen:
            alone.reset()
        for t in range(len(seq) - 1):
            gen.observe(frames[t])
            total -= gen.log_prob(frames[t + 1] > 0.5, plain)
            if alone is not gen:
                alone.observe(frames[t])
            out = alone.own_prediction
            outputs.append(out.params if isinstance(out, CopyOutput) else out)
        _add(later, total, len(seq) - 1)
        pred = _predictions(model, torch.cat(outputs))  # the greedy frames, all steps at once
        truth = seq[1:] > 0.5
        later.tp += int((pred & truth).sum())
        later.fp += int((pred & ~truth).sum())
        later.fn += int((~pred & truth).sum())
        gen.reset()
        gen.observe(silence)
        total = 0.0
        for t in range(len(seq)):
            total -= gen.log_prob(frames[t] > 0.5, plain)
            if t + 1 < len(seq):
                gen.observe(frames[t])
        _add(every, total, len(seq))
    return later, every


def _predictions(model: RollLSTM | RollNADE, outputs: torch.Tensor) -> torch.Tensor:
    """Greedy ``(T, 88)`` bool frames from the stacked one-step outputs (NADE params or logits)."""
    if isinstance(model, RollNADE):
        return model.predict_frame(outputs)
    return model.predict_frame(outputs)


def _add(score: Score, total: float, steps: int) -> None:
    score.nll_sum += total
    score.steps += steps
    score.seq_nll.append(total / steps)
