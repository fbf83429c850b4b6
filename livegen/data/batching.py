"""Padding variable-length sequences into batches for truncated BPTT.

A sequence is a tensor whose first axis is time: ``(T, 88)`` float frames or ``(T,)`` token
ids. A batch shifts each sequence by one step (inputs ``s[:-1]``, targets ``s[1:]``), pads
to the longest, and carries a ``(B, T-1)`` mask of real steps plus optional labels.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch


@dataclass
class Batch:
    """Inputs ``x`` and targets ``y`` (``(B, T, ...)``), ``mask`` ``(B, T)`` float, ``cond``
    ``(B,)`` long labels or ``None``."""

    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor
    cond: torch.Tensor | None

    @property
    def steps(self) -> int:
        return self.x.shape[1]

    def pad_to(self, steps: int) -> Batch:
        """Extend along time with masked-out padding to exactly ``steps`` steps."""
        extra = steps - self.steps
        if extra <= 0:
            return self

        def grow(t: torch.Tensor) -> torch.Tensor:
            pad = torch.zeros((t.shape[0], extra, *t.shape[2:]), dtype=t.dtype)
            return torch.cat([t, pad], dim=1)

        return Batch(grow(self.x), grow(self.y), grow(self.mask), self.cond)


def collate(seqs: list[torch.Tensor], labels: list[int] | None = None) -> Batch:
    """Pad ``seqs`` (each at least 2 steps) into one :class:`Batch`."""
    steps = max(len(s) for s in seqs) - 1
    first = seqs[0]
    x = torch.zeros((len(seqs), steps, *first.shape[1:]), dtype=first.dtype)
    y = torch.zeros_like(x)
    mask = torch.zeros((len(seqs), steps))
    for i, s in enumerate(seqs):
        n = len(s) - 1
        x[i, :n] = s[:-1]
        y[i, :n] = s[1:]
        mask[i, :n] = 1.0
    cond = torch.tensor(labels, dtype=torch.long) if labels is not None else None
    return Batch(x, y, mask, cond)


def make_batches(
    seqs: list[torch.Tensor],
    batch_size: int,
    rng: random.Random,
    labels: list[int] | None = None,
    shuffle: bool = True,
) -> list[Batch]:
    """Group sequences of similar length into batches (less padding), in random order.

    Sequences shorter than 2 steps are skipped (nothing to predict).
    """
    order = [i for i, s in enumerate(seqs) if len(s) >= 2]
    if shuffle:
        rng.shuffle(order)
        # sort within windows of 8 batches: similar lengths together, still random
        window = batch_size * 8
        order = [
            i
            for w in range(0, len(order), window)
            for i in sorted(order[w : w + window], key=lambda j: len(seqs[j]))
        ]
    groups = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if shuffle:
        rng.shuffle(groups)
    return [
        collate([seqs[i] for i in g], [labels[i] for i in g] if labels is not None else None)
        for g in groups
    ]
