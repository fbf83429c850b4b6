"""Turn datasets into :class:`~livegen.training.loop.SeqTask` objects for the training loop."""

from __future__ import annotations

import random

import numpy as np
import numpy.typing as npt
import torch

from livegen.data.polyphonic import safe_shift_range
from livegen.data.roll_dataset import RollDataset
from livegen.nets.nade import RollNADE
from livegen.nets.roll import RollLSTM, roll_loss
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


def key_frequencies(seqs: list[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float64]:
    """``(88,)`` fraction of frames in which each key sounds, over ``(T, 88)`` rolls."""
    total = sum(len(s) for s in seqs)
    counts = np.zeros(seqs[0].shape[1] if seqs else 0, dtype=np.float64)
    for s in seqs:
        counts = counts + s.sum(axis=0, dtype=np.float64)
    return counts / max(total, 1)


def init_output_bias(model: RollLSTM | RollNADE, freqs: npt.NDArray[np.float64]) -> None:
    """Start the per-key output biases at the keys' log-odds in the data.

    Saves the first epochs a model otherwise spends learning that most keys are silent.
    (A NADE's output layer also holds its hidden biases after the 88 keys: those stay.)
    """
    p = np.clip(freqs, 1e-4, 1 - 1e-4)
    logit = torch.from_numpy(np.log(p / (1 - p))).float()
    layer = model.head if isinstance(model, RollLSTM) else model.to_params
    with torch.no_grad():
        layer.bias[: len(logit)] = logit
