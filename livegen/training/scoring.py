"""Negative log-likelihood and frame accuracy of sequence models (no training).

Conventions (see DESIGN.md): step t is predicted from steps < t; steps 2..T of every
sequence are scored; the frame-weighted figure is total NLL / total scored steps, the
sequence-averaged one the mean of each sequence's own per-step NLL. Roll NLL is in nats per
frame summed over the 88 keys; char NLL is nats per character.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from livegen.data.batching import collate

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


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
    seq_nll: list[float] | None = None
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def nll_per_step(self) -> float:
        return self.nll_sum / max(self.steps, 1)

    @property
    def nll_per_sequence(self) -> float:
        vals = self.seq_nll or []
        return sum(vals) / max(len(vals), 1)

    @property
    def frame_accuracy(self) -> float:
        """Bay et al. (2009): TP / (TP + FP + FN) over all scored frames."""
        return self.tp / max(self.tp + self.fp + self.fn, 1)


@torch.no_grad()
def score_sequences(
    model: nn.Module,
    seqs: list[torch.Tensor],
    loss_fn: LossFn,
    labels: list[int] | None = None,
    batch_size: int = 16,
    chunk: int = 512,
    frame_accuracy: bool = False,
) -> Score:
    """Score whole sequences exactly (state carried across ``chunk``-step pieces)."""
    model.eval()
    score = Score(seq_nll=[])
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
            if frame_accuracy:
                predict = getattr(model, "predict_frame", None)
                pred = predict(logits) if predict is not None else logits > 0
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
