"""Turn datasets into :class:`~livegen.train.SeqTask` objects for the training loop."""

from __future__ import annotations

import random

import numpy as np
import torch

from livegen.data.polyphonic import RollDataset, safe_shift_range
from livegen.nets.roll import roll_loss
from livegen.train import SeqTask


def _shift(frames: torch.Tensor, k: int) -> torch.Tensor:
    if k == 0:
        return frames
    return torch.roll(frames, shifts=k, dims=1)  # safe: callers keep notes on the keyboard


def roll_task(data: RollDataset, transpose: int = 0) -> SeqTask:
    """Piano-roll task: float ``(T, 88)`` frames, BCE over keys, optional transposition.

    Args:
        transpose: each epoch shifts every training sequence by a random number of
            semitones in ``[-transpose, transpose]`` (clamped so no note leaves A0..C8).
    """
    train = [torch.from_numpy(np.ascontiguousarray(s)).float() for s in data.split("train")]
    valid = [torch.from_numpy(np.ascontiguousarray(s)).float() for s in data.split("valid")]
    augment = None
    if transpose > 0:
        ranges = {id(t): safe_shift_range(s, transpose) for t, s in zip(train, data.split("train"))}

        def augment(seq: torch.Tensor, rng: random.Random) -> torch.Tensor:
            lo, hi = ranges[id(seq)]
            return _shift(seq, rng.randint(lo, hi))

    return SeqTask(train=train, valid=valid, loss_fn=roll_loss, augment=augment)
