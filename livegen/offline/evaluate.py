"""Score a roll checkpoint on a dataset split (the ``livegen eval`` numbers)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from livegen.data.roll_dataset import RollDataset
from livegen.nets.protocols import RollNet
from livegen.training.scoring import score_sequences


@dataclass(frozen=True)
class RollEval:
    """Test figures under the DESIGN.md convention (frames 2..T scored)."""

    nll_per_frame: float
    nll_per_sequence: float
    frame_accuracy: float
    frames: int
    sequences: int

    def to_dict(self) -> dict[str, float | int]:
        return {
            "nll_per_frame": round(self.nll_per_frame, 5),
            "nll_per_sequence": round(self.nll_per_sequence, 5),
            "frame_accuracy": round(self.frame_accuracy, 5),
            "frames": self.frames,
            "sequences": self.sequences,
        }


def evaluate_roll(model: RollNet, data: RollDataset, split: str = "test") -> RollEval:
    """Frame-weighted and sequence-averaged NLL (nats/frame) and Bay et al. frame accuracy."""
    seqs = [torch.from_numpy(np.ascontiguousarray(s)).float() for s in data.split(split)]
    score = score_sequences(model, seqs, model.frame_nll, predict_frame=model.predict_frame)
    return RollEval(score.nll_per_step, score.nll_per_sequence, score.frame_accuracy,
                    score.steps, len(score.seq_nll))
