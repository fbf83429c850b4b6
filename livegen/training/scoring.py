"""Negative log-likelihood and frame accuracy of sequence models (no training).

Conventions (see DESIGN.md): step t is predicted from steps < t; steps 2..T of every
sequence are scored; the frame-weighted figure is total NLL / total scored steps, the
sequence-averaged one the mean of each sequence's own per-step NLL. Roll NLL is in nats per
frame summed over the 88 keys; char NLL is nats per character.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from livegen.data.batching import collate
from livegen.nets.protocols import SeqNet
from livegen.nets.state import LSTMState

#: per-step loss: (net output for ``(B, T)`` steps, ``(B, T, ...)`` targets) -> ``(B, T)`` nats.
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: greedy frames from a roll net's output: ``(B, T, 88)`` bools (see ``RollNet.predict_frame``).
FramePredictor = Callable[[Any], torch.Tensor]
#: one live step: ``(1, ...)`` input, state, ``(1,)`` label or None -> ``(1, ...)`` output, state.
StepFn = Callable[[torch.Tensor, LSTMState | None, torch.Tensor | None], tuple[Any, LSTMState]]


@dataclass
class Score:
    """Totals over a split.

    Attributes:
        nll_sum: summed NLL in nats over scored steps.
        steps: scored steps (frames or characters).
        seq_nll: per-sequence mean NLL (nats per step), one per scored sequence.
        tp, fp, fn: frame-accuracy counts (roll models; predictions thresholded at p > 0.5).
    """

    nll_sum: float = 0.0
    steps: int = 0
    seq_nll: list[float] = field(default_factory=list)
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def nll_per_step(self) -> float:
        return self.nll_sum / max(self.steps, 1)

    @property
    def nll_per_sequence(self) -> float:
        return sum(self.seq_nll) / max(len(self.seq_nll), 1)

    @property
    def frame_accuracy(self) -> float:
        """Bay et al. (2009): TP / (TP + FP + FN) over all scored frames."""
        return self.tp / max(self.tp + self.fp + self.fn, 1)


@torch.no_grad()
def score_sequences(
    model: SeqNet,
    seqs: list[torch.Tensor],
    loss_fn: LossFn,
    labels: list[int] | None = None,
    batch_size: int = 16,
    chunk: int = 512,
    predict_frame: FramePredictor | None = None,
) -> Score:
    """Score whole sequences exactly (state carried across ``chunk``-step pieces).

    Args:
        seqs: time-first sequences, ``(T, 88)`` float frames or ``(T,)`` long ids.
        labels: one label id per sequence for a conditioned net, else None.
        predict_frame: a roll net's greedy decoder; when given, the frame-accuracy counts
            (``tp``/``fp``/``fn``) are filled in too.
    """
    model.eval()
    score = Score()
    idx = sorted((i for i, s in enumerate(seqs) if len(s) >= 2), key=lambda i: len(seqs[i]))
    for b in range(0, len(idx), batch_size):
        group = idx[b : b + batch_size]
        batch = collate([seqs[i] for i in group], [labels[i] for i in group] if labels else None)
        per_seq = torch.zeros(len(group), dtype=torch.float64)
        state = None
        for s in range(0, batch.steps, chunk):
            x = batch.x[:, s : s + chunk]
            y = batch.y[:, s : s + chunk]
            m = batch.mask[:, s : s + chunk]
            logits, state = model(x, state, batch.cond)
            nll = loss_fn(logits, y) * m
            per_seq += nll.sum(1).double()
            if predict_frame is not None:
                pred = predict_frame(logits)
                truth = y > 0.5
                real = m.bool().unsqueeze(-1)
                score.tp += int((pred & truth & real).sum())
                score.fp += int((pred & ~truth & real).sum())
                score.fn += int((~pred & truth & real).sum())
        counts = batch.mask.sum(1).double()
        score.nll_sum += float(per_seq.sum())
        score.steps += int(counts.sum())
        score.seq_nll.extend((per_seq / counts).tolist())
    return score


@torch.no_grad()
def score_stepwise(step: StepFn, seqs: list[torch.Tensor], loss_fn: LossFn,
                   labels: list[int] | None = None) -> Score:
    """Score whole sequences one step at a time through ``step`` (a net's live step), each
    from a fresh state: what a streaming runtime predicts. Equals :func:`score_sequences`
    (NLL only; no frame accuracy)."""
    score = Score()
    for i, seq in enumerate(seqs):
        if len(seq) < 2:
            continue
        cond = torch.tensor([labels[i]]) if labels is not None else None
        state: LSTMState | None = None
        total = 0.0
        for t in range(len(seq) - 1):
            out, state = step(seq[t : t + 1], state, cond)
            total += float(loss_fn(out.unsqueeze(1), seq[t + 1 : t + 2].unsqueeze(0)).double().sum())
        score.nll_sum += total
        score.steps += len(seq) - 1
        score.seq_nll.append(total / (len(seq) - 1))
    return score
