"""Score a roll checkpoint on a dataset split (the ``livegen eval`` numbers).

Two conventions, both from the model exactly as it plays (its own copy memory, stored in
the checkpoint, whatever the chunking):

- **frames 2..T** (the published convention, DESIGN.md): the run starts from the zero state
  with frame 1 as its first input; frames 2..T are scored.
- **every frame**: the run starts from the zero state by observing one silent frame, as the
  live engine and ``render`` do when they must play before hearing anything
  (:meth:`~livegen.voices.roll.RollGenerator.sample`); frames 1..T are scored.

Batched scoring runs whole sequences in chunks of ``chunk`` steps; ``stream`` steps the live
runtime (:class:`~livegen.voices.roll.RollGenerator`, one ``observe`` per frame, the call the
engine makes) over the same sequences, which must give the same figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from livegen.data.roll_dataset import RollDataset
from livegen.music.keyboard import N_KEYS
from livegen.nets.nade import CopyOutput, RollNADE
from livegen.nets.protocols import RollNet
from livegen.nets.registry import memory_steps
from livegen.nets.roll import RollLSTM
from livegen.training.scoring import Score, score_sequences
from livegen.voices.roll import RollGenerator

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
                  max_sequences: int | None = None, chunk: int = 512) -> RollEval:
    """Frame-weighted and sequence-averaged NLL (nats/frame) under both conventions, and Bay
    et al. frame accuracy.

    Args:
        stream: step the live runtime frame by frame instead of batched chunks.
        max_sequences: score only the first N sequences of the split (file order).
        chunk: steps per chunk of the batched run (any size gives the same figures).
    """
    rolls = data.split(split)[:max_sequences] if max_sequences is not None else data.split(split)
    seqs = [torch.from_numpy(np.ascontiguousarray(s)).float() for s in rolls]
    if stream:
        if not isinstance(model, RollLSTM | RollNADE):
            raise TypeError(f"the live runtime steps RollLSTM and RollNADE nets, not {type(model).__name__}")
        later, every = stream_scores(model, seqs)
    else:
        later = score_sequences(model, seqs, model.frame_nll, predict_frame=model.predict_frame, chunk=chunk)
        silence = torch.zeros(1, N_KEYS)
        every = score_sequences(model, [torch.cat([silence, s]) for s in seqs], model.frame_nll, chunk=chunk)
    steps = memory_steps(model) if isinstance(model, RollLSTM | RollNADE) else 0
    return RollEval(later.nll_per_step, later.nll_per_sequence, later.frame_accuracy, later.steps,
                    len(later.seq_nll), every.nll_per_step, every.nll_per_sequence, every.steps, steps,
                    "stream" if stream else "batched", None if stream else chunk)


class _ScoringGenerator(RollGenerator):
    """The live runtime's generator, with its prediction for the next frame readable."""

    @property
    def prediction(self) -> torch.Tensor | CopyOutput:
        assert self._out is not None, "observe a frame first"
        return self._out


@torch.no_grad()
def stream_scores(model: RollLSTM | RollNADE, seqs: list[torch.Tensor]) -> tuple[Score, Score]:
    """Score ``(T, 88)`` sequences by stepping a :class:`~livegen.voices.roll.RollGenerator`
    one frame at a time, as the engine does; returns the frames 2..T and every-frame scores."""
    later, every = Score(), Score()
    gen = _ScoringGenerator(model)
    silence = np.zeros(N_KEYS, dtype=np.float32)
    for seq in seqs:
        if len(seq) < 2:
            continue
        frames = seq.numpy()
        gen.reset()
        total = 0.0
        outputs = []
        for t in range(len(seq) - 1):
            gen.observe(frames[t])
            total += _step_nll(model, gen.prediction, seq[t + 1].reshape(1, 1, N_KEYS))
            out = gen.prediction
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
            total += _step_nll(model, gen.prediction, seq[t].reshape(1, 1, N_KEYS))
            if t + 1 < len(seq):
                gen.observe(frames[t])
        _add(every, total, len(seq))
    return later, every


def _as_sequence(out: torch.Tensor | CopyOutput) -> torch.Tensor | CopyOutput:
    """A one-step output ``(1, ...)`` as a one-step sequence ``(1, 1, ...)``."""
    if isinstance(out, CopyOutput):
        return CopyOutput(out.params.unsqueeze(1), out.attn.unsqueeze(1), out.gate.unsqueeze(1), out.frames)
    return out.unsqueeze(1)


def _step_nll(model: RollLSTM | RollNADE, out: torch.Tensor | CopyOutput, target: torch.Tensor) -> float:
    """NLL in nats of a ``(1, 1, 88)`` target frame under a one-step output."""
    one = _as_sequence(out)
    if isinstance(model, RollNADE):
        return float(model.frame_nll(one, target).double().sum())
    assert isinstance(one, torch.Tensor)
    return float(model.frame_nll(one, target).double().sum())


def _predictions(model: RollLSTM | RollNADE, outputs: torch.Tensor) -> torch.Tensor:
    """Greedy ``(T, 88)`` bool frames from the stacked one-step outputs (NADE params or logits)."""
    if isinstance(model, RollNADE):
        return model.predict_frame(outputs)
    return model.predict_frame(outputs)


def _add(score: Score, total: float, steps: int) -> None:
    score.nll_sum += total
    score.steps += steps
    score.seq_nll.append(total / steps)
