"""Training a piano-roll model end to end: what ``livegen train roll`` runs.

:func:`train_roll_model` loads the data, builds the net from a :class:`RollModelSpec`
(Bernoulli or NADE head, with an optional copy head), starts it warm (``init``) or with
output biases at the keys' training frequencies, and runs the BPTT loop; under torchrun
every process calls it and they leave together.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from livegen.data.polyphonic import load_rolls
from livegen.errors import LivegenError
from livegen.nets.checkpoint import warm_start
from livegen.nets.nade import NadeConfig, RollNADE
from livegen.nets.roll import RollConfig, RollLSTM
from livegen.nets.runtime import disable_onednn
from livegen.training.loop import Progress, TrainConfig, TrainResult, init_distributed, train
from livegen.training.tasks import init_output_bias, key_frequencies, roll_task


@dataclass(frozen=True)
class RollModelSpec:
    """The shape of a roll model to train (see :class:`~livegen.nets.nade.NadeConfig` and
    :class:`~livegen.nets.roll.RollConfig` for each field); ``head`` is ``nade`` or
    ``bernoulli``."""

    head: str = "nade"
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.3
    nade_hidden: int = 128
    input_dropout: float = 0.0
    copy: int = 0
    copy_dim: int = 0
    copy_soft: bool = False

    def build(self) -> RollNADE | RollLSTM:
        if self.head == "nade":
            return RollNADE(NadeConfig(hidden=self.hidden, layers=self.layers, dropout=self.dropout,
                                       nade_hidden=self.nade_hidden, input_dropout=self.input_dropout,
                                       copy=self.copy, copy_dim=self.copy_dim, copy_soft=self.copy_soft))
        return RollLSTM(RollConfig(hidden=self.hidden, layers=self.layers, dropout=self.dropout,
                                   input_dropout=self.input_dropout))


@dataclass(frozen=True)
class RollTraining:
    """What a training run gave: the loop's result and this process's rank (0 alone)."""

    result: TrainResult
    rank: int


def train_roll_model(data_spec: str | os.PathLike[str], out: str | os.PathLike[str], cfg: TrainConfig,
                     spec: RollModelSpec, *, steps_per_beat: int | None = None, transpose: int = 0,
                     init: str | None = None, resume: bool = False,
                     progress: Callable[[Progress], None] | None = None) -> RollTraining:
    """Train ``spec`` on the dataset ``data_spec`` (a name or a MIDI folder); keep the best
    checkpoint at ``out``. Raises LivegenError (one line) for data or checkpoints that do
    not fit."""
    distributed = init_distributed()
    disable_onednn()
    data = load_rolls(data_spec, steps_per_beat)
    if not data.split("train"):
        raise LivegenError(f"dataset {data.name!r} has no training sequences")
    torch.manual_seed(cfg.seed)
    model = spec.build()
    if init and not resume:
        warm_start(model, init)
    elif not resume:
        init_output_bias(model, key_frequencies(data.split("train")))
    task = roll_task(data, transpose)
    if isinstance(model, RollNADE):
        task.loss_fn = model.frame_nll
    meta: dict[str, Any] = {"data": data.name, "steps_per_beat": data.steps_per_beat,
                            "train": {"transpose": transpose, "init": init}}
    result = train(model, task, cfg, out, meta, progress=progress, resume=resume)
    rank = torch.distributed.get_rank() if distributed else 0
    if distributed:  # leave together: a rank exiting early aborts its peers' gloo sockets
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return RollTraining(result, rank)
