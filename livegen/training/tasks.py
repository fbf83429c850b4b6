"""Turn datasets into :class:`~livegen.training.loop.SeqTask` objects for the training loop."""

from __future__ import annotations

import random

import numpy as np
import torch

from livegen.data.polyphonic import safe_shift_range
from livegen.data.roll_dataset import RollDataset
from livegen.nets.roll import roll_loss
from livegen.training.loop import SeqTask


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


def key_frequencies(seqs: list[np.ndarray]) -> np.ndarray:
    """``(88,)`` fraction of frames in which each key sounds."""
    total = sum(len(s) for s in seqs)
    return sum(s.sum(axis=0, dtype=np.float64) for s in seqs) / max(total, 1)


def init_output_bias(model: torch.nn.Module, freqs: np.ndarray) -> None:
    """Start the per-key output biases at the keys' log-odds in the data.

    Saves the first epochs a model otherwise spends learning that most keys are silent.
    """
    p = np.clip(freqs, 1e-4, 1 - 1e-4)
    logit = torch.from_numpy(np.log(p / (1 - p))).float()
    layer = getattr(model, "head", None) or getattr(model, "to_params", None)
    if layer is None:
        return
    with torch.no_grad():
        layer.bias[: len(logit)] = logit
