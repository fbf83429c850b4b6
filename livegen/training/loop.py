"""Truncated BPTT training shared by every livegen sequence model.

One loop serves the piano-roll and the character models: batches of whole sequences are
cut into windows of ``window`` steps; the LSTM state is carried from window to window
(detached, so gradients stop at the window edge) and reset between batches. Optional
gradient checkpointing over time recomputes each ``checkpoint_every``-step segment in the
backward pass instead of storing its activations. Adam with gradient-norm clipping,
validation NLL after every epoch, optional weight averaging (EMA), the best checkpoint kept, early stopping, resume, seeding,
and torch's DistributedDataParallel (``torchrun``, gloo) are all here.
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.checkpoint import checkpoint

from livegen.data.batching import Batch, make_batches
from livegen.errors import LivegenError
from livegen.nets.checkpoint import save_checkpoint
from livegen.nets.protocols import SeqNet
from livegen.nets.state import LSTMState, detach_state
from livegen.training.scoring import LossFn, score_sequences

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters.

    Attributes:
        epochs: maximum passes over the training set.
        batch_size: sequences per batch (per process under torchrun).
        window: truncated-BPTT window in steps; the state is carried across windows.
        lr: Adam learning rate.
        clip: maximum global gradient norm.
        weight_decay: Adam L2 penalty.
        patience: stop after this many epochs without a better validation NLL.
        checkpoint_every: gradient-checkpoint segment length in steps (0 = plain BPTT).
        seed: seeds shuffling, augmentation, dropout and initialisation.
        threads: torch intra-op threads (0 = torch's default).
        lr_decay: multiply the learning rate by this after an epoch without improvement.
        target_nll: stop as soon as the validation NLL is at or below this (0 = never).
        ema: Polyak averaging: after every optimiser step keep ``avg = ema * avg + (1 - ema) *
            weights``; validation, the best checkpoint and early stopping use the averaged
            weights (0 = off; 0.999 is a usual value).
    """

    epochs: int = 100
    batch_size: int = 16
    window: int = 200
    lr: float = 2e-3
    clip: float = 5.0
    weight_decay: float = 0.0
    patience: int = 8
    checkpoint_every: int = 0
    seed: int = 0
    threads: int = 0
    lr_decay: float = 0.5
    target_nll: float = 0.0
    ema: float = 0.0


class WeightAverage:
    """Exponential moving average of a model's parameters (see :attr:`TrainConfig.ema`)."""

    def __init__(self, model: SeqNet, decay: float) -> None:
        self.model, self.decay = model, decay
        self.shadow = [p.detach().clone() for p in model.parameters()]

    @torch.no_grad()
    def update(self) -> None:
        """Fold the current weights into the average (call after each optimiser step)."""
        for avg, p in zip(self.shadow, self.model.parameters(), strict=True):
            avg.mul_(self.decay).add_(p.detach(), alpha=1.0 - self.decay)

    @contextmanager
    def swapped_in(self) -> Iterator[None]:
        """Inside the block the model holds the averaged weights; its own come back after."""
        saved = [p.detach().clone() for p in self.model.parameters()]
        with torch.no_grad():
            for p, avg in zip(self.model.parameters(), self.shadow, strict=True):
                p.copy_(avg)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, own in zip(self.model.parameters(), saved, strict=True):
                    p.copy_(own)


@dataclass
class SeqTask:
    """What to train on: sequences (time first), optional labels, the per-step loss."""

    train: list[torch.Tensor]
    valid: list[torch.Tensor]
    loss_fn: LossFn
    train_labels: list[int] | None = None
    valid_labels: list[int] | None = None
    augment: Callable[[torch.Tensor, random.Random], torch.Tensor] | None = None


@dataclass
class Progress:
    """One progress report: during an epoch (``valid_nll`` None) or at its end."""

    epoch: int
    epochs: int
    batch: int
    batches: int
    loss: float
    steps_per_s: float
    eta_s: float
    valid_nll: float | None = None
    best_nll: float | None = None
    improved: bool = False


@dataclass
class TrainResult:
    best_valid_nll: float
    best_epoch: int
    epochs_run: int
    seconds: float
    steps_per_s: float
    history: list[dict[str, float]] = field(default_factory=list)


def segment_loss(
    model: SeqNet | DistributedDataParallel,
    loss_fn: LossFn,
    x: torch.Tensor,
    y: torch.Tensor,
    mask: torch.Tensor,
    state: LSTMState | None,
    cond: torch.Tensor | None,
    checkpoint_every: int = 0,
    recompute: bool = True,
    reentrant: bool = True,
) -> tuple[torch.Tensor, LSTMState]:
    """Summed masked loss of one window and the state after it.

    With ``checkpoint_every > 0`` the window is split into segments whose forward pass
    (LSTM, output layer and loss) is recomputed during backward, so only each segment's
    input state is kept: activation memory falls from O(window) to O(segment).
    Gradients equal plain BPTT's; dropout masks are replayed from the saved RNG state
    (``recompute=False`` runs the same segments without checkpointing, for comparison).
    ``reentrant=False`` uses torch's non-reentrant checkpoint (needed under
    DistributedDataParallel; its first pass builds a graph and costs more).

    Args:
        model: the net, or DistributedDataParallel around it (then ``state`` must be given
            when checkpointing: the wrapper has no ``init_state``).
        x: ``(B, T, ...)`` inputs; y: ``(B, T, ...)`` targets; mask: ``(B, T)`` 1.0 on real steps.
        state: the state before the window, ``None`` for zeros.
        cond: ``(B,)`` long labels, or ``None``.
    """
    if checkpoint_every <= 0:
        logits, state = model(x, state, cond)
        return (loss_fn(logits, y) * mask).sum(), state

    def run(xs: torch.Tensor, ys: torch.Tensor, ms: torch.Tensor, *st: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits, new_state = model(xs, tuple(st), cond)
        return ((loss_fn(logits, ys) * ms).sum(), *new_state)

    if state is None:
        if isinstance(model, DistributedDataParallel):
            raise ValueError("segment_loss under DistributedDataParallel needs an explicit start state")
        state = model.init_state(x.shape[0])
    st: tuple[torch.Tensor, ...] = tuple(state)
    if recompute and reentrant and not st[0].requires_grad:
        # the reentrant checkpoint only tracks segments whose inputs need a gradient
        st = (st[0].detach().requires_grad_(), *st[1:])
    total = x.new_zeros((), dtype=torch.float32)
    for s in range(0, x.shape[1], checkpoint_every):
        seg = slice(s, s + checkpoint_every)
        if recompute:
            # reentrant: the first pass runs under no_grad (cheaper than a graph-building
            # forward), the recomputation builds the segment's graph during backward
            out: tuple[torch.Tensor, ...] = checkpoint(run, x[:, seg], y[:, seg], mask[:, seg], *st,
                                                       use_reentrant=reentrant)
        else:
            out = run(x[:, seg], y[:, seg], mask[:, seg], *st)
        loss, st = out[0], out[1:]
        total = total + loss
    return total, st


def _dist_info() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed() -> bool:
    """Join the process group when started by ``torchrun`` (gloo, CPU). Returns True if so."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("gloo")
        return True
    return dist.is_initialized()


def _all_sum(values: list[float]) -> list[float]:
    rank, world = _dist_info()
    if world == 1:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def _all_max(value: int) -> int:
    rank, world = _dist_info()
    if world == 1:
        return value
    t = torch.tensor([value], dtype=torch.long)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def _state_path(out: Path) -> Path:
    return out.with_name(out.stem + ".train-state.pt")


#: keys every training state holds (also ``history``, and ``ema`` with weight averaging).
STATE_KEYS = ("model", "optimizer", "epoch", "best", "best_epoch", "bad")


def save_train_state(path: Path, state: dict[str, Any]) -> None:
    """Write the resume state atomically: a temp file beside ``path``, then ``os.replace``.

    On any failure (a full disk included) the temp file is removed and ``path`` keeps what
    it held before.

    Raises:
        LivegenError: the file could not be written (one line with the reason and the fix).
    """
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise LivegenError(f"could not write training state {path} ({exc.strerror or exc}); free disk "
                           "space or pick another --out, then rerun with --resume") from None
    finally:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)


def load_train_state(path: Path, model: SeqNet, opt: torch.optim.Optimizer,
                     average: WeightAverage | None) -> dict[str, Any]:
    """Restore ``model``, ``opt`` and ``average`` from the resume state at ``path``; return it.

    Raises:
        LivegenError: the file is truncated or not a training state, or it was written by a
            net of another size (one line naming the file and the fix).
    """
    fix = "delete it, or rerun without --resume, to start over"

    def reason(exc: BaseException) -> str:
        text = str(exc).strip()
        return text.splitlines()[0][:120] if text else type(exc).__name__

    try:
        st = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise LivegenError(f"training state {path} is truncated or unreadable ({reason(exc)}); {fix}") from None
    if not isinstance(st, dict) or not all(key in st for key in STATE_KEYS) \
            or not isinstance(st["model"], dict) or not isinstance(st["optimizer"], dict) \
            or not all(isinstance(st[key], int) for key in ("epoch", "best_epoch", "bad")) \
            or not isinstance(st["best"], float | int):
        raise LivegenError(f"training state {path} is not a livegen training state; {fix}")
    own = model.state_dict()
    if set(st["model"]) != set(own):
        raise LivegenError(f"training state {path} was saved by another kind of net (other layers); "
                           f"resume with the same model options as before, or {fix}")
    for name, tensor in own.items():
        saved = st["model"][name]
        if not isinstance(saved, torch.Tensor) or saved.shape != tensor.shape:
            shape = tuple(saved.shape) if isinstance(saved, torch.Tensor) else type(saved).__name__
            raise LivegenError(f"training state {path} was saved by a net of another size ({name} is {shape} "
                               f"there, {tuple(tensor.shape)} here); resume with the same --hidden, --layers, "
                               f"... as before, or {fix}")
    shadow = st.get("ema")
    if average is not None and shadow is not None and (
            not isinstance(shadow, list) or len(shadow) != len(average.shadow)
            or any(not isinstance(t, torch.Tensor) or t.shape != a.shape
                   for t, a in zip(shadow, average.shadow, strict=True))):
        raise LivegenError(f"training state {path} holds averaged weights of another net; {fix}")
    try:
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        raise LivegenError(f"training state {path} does not fit this net ({reason(exc)}); {fix}") from None
    if average is not None and shadow is not None:
        average.shadow = [t.clone() for t in shadow]
    return st


def train(
    model: SeqNet,
    task: SeqTask,
    cfg: TrainConfig,
    out: str | os.PathLike[str],
    meta: dict[str, Any],
    progress: Callable[[Progress], None] | None = None,
    resume: bool = False,
) -> TrainResult:
    """Fit ``model`` on ``task``; keep the best-validation checkpoint at ``out``.

    ``out``'s sibling ``<stem>.train-state.pt`` holds the optimiser and epoch for
    ``resume=True``. Under torchrun every process trains on its share of each epoch's
    batches and DistributedDataParallel averages the gradients; rank 0 writes files.
    """
    out = Path(out)
    rank, world = _dist_info()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed + 1000 * rank)
    net: SeqNet | DistributedDataParallel = model
    if world > 1:
        assert isinstance(model, nn.Module), "every livegen net is an nn.Module"
        net = DistributedDataParallel(model)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start_epoch, best, best_epoch, bad = 0, math.inf, -1, 0
    history: list[dict[str, float]] = []
    average = WeightAverage(model, cfg.ema) if cfg.ema > 0 else None
    if resume and _state_path(out).exists():
        st = load_train_state(_state_path(out), model, opt, average)
        start_epoch, best, best_epoch, bad = st["epoch"], st["best"], st["best_epoch"], st["bad"]
        history = list(st.get("history", []))
        log.info("resumed at epoch %d (best valid NLL %.4f)", start_epoch, best)

    t_start = time.perf_counter()
    total_steps = 0
    epoch = start_epoch
    for epoch in range(start_epoch, cfg.epochs):
        rng = random.Random(cfg.seed * 100003 + epoch)
        torch.manual_seed(cfg.seed * 100003 + epoch * 7 + rank)
        seqs = task.train
        if task.augment is not None:
            seqs = [task.augment(s, rng) for s in seqs]
        batches = make_batches(seqs, cfg.batch_size, rng, task.train_labels)
        per_rank = len(batches) // world
        batches = batches[rank * per_rank : (rank + 1) * per_rank]
        net.train()
        t0 = time.perf_counter()
        ep_loss, ep_steps = 0.0, 0
        for bi, batch in enumerate(batches):
            batch = batch.pad_to(_all_max(batch.steps))
            steps, loss_sum = _train_batch(net, model, opt, task.loss_fn, batch, cfg, average)
            ep_loss += loss_sum
            ep_steps += steps
            total_steps += steps
            if progress and rank == 0:
                elapsed = time.perf_counter() - t0
                rate = ep_steps * world / max(elapsed, 1e-9)
                left = (len(batches) - bi - 1) + (cfg.epochs - epoch - 1) * len(batches)
                progress(Progress(epoch + 1, cfg.epochs, bi + 1, len(batches),
                                  ep_loss / max(ep_steps, 1), rate,
                                  elapsed / (bi + 1) * left))
        with average.swapped_in() if average is not None else nullcontext():
            score = score_sequences(model, task.valid, task.loss_fn, task.valid_labels)
        vsum, vsteps = _all_sum([score.nll_sum, float(score.steps)])
        valid_nll = vsum / max(vsteps, 1)
        train_nll = _all_sum([ep_loss, float(ep_steps)])
        history.append({"epoch": epoch + 1, "train_nll": train_nll[0] / max(train_nll[1], 1),
                        "valid_nll": valid_nll, "seconds": time.perf_counter() - t0})
        improved = valid_nll < best - 1e-4
        if improved:
            best, best_epoch, bad = valid_nll, epoch + 1, 0
            if rank == 0:
                m = dict(meta)
                m["train"] = {**m.get("train", {}), **asdict(cfg), "best_epoch": best_epoch,
                              "world_size": world}
                m.setdefault("metrics", {})["valid_nll"] = round(valid_nll, 5)
                m["history"] = [{k: round(v, 4) for k, v in h.items()} for h in history]
                with average.swapped_in() if average is not None else nullcontext():
                    save_checkpoint(out, model, m)
        else:
            bad += 1
            for group in opt.param_groups:
                group["lr"] *= cfg.lr_decay
        if rank == 0:
            save_train_state(_state_path(out), {
                "model": model.state_dict(), "optimizer": opt.state_dict(),
                "epoch": epoch + 1, "best": best, "best_epoch": best_epoch, "bad": bad,
                "history": history, **({"ema": average.shadow} if average is not None else {})})
        if progress and rank == 0:
            progress(Progress(epoch + 1, cfg.epochs, len(batches), len(batches),
                              history[-1]["train_nll"], ep_steps * world / max(history[-1]["seconds"], 1e-9),
                              0.0, valid_nll, best, improved))
        log.info("epoch %d train %.4f valid %.4f%s", epoch + 1, history[-1]["train_nll"],
                 valid_nll, " *" if improved else "")
        if bad >= cfg.patience:
            log.info("early stop: %d epochs without improvement", bad)
            break
        if cfg.target_nll and valid_nll <= cfg.target_nll:
            log.info("target NLL %.3f reached at epoch %d", cfg.target_nll, epoch + 1)
            break
    seconds = time.perf_counter() - t_start
    return TrainResult(best, best_epoch, epoch + 1, seconds, total_steps * world / max(seconds, 1e-9),
                       history)


def _train_batch(net: SeqNet | DistributedDataParallel, model: SeqNet, opt: torch.optim.Optimizer,
                 loss_fn: LossFn, batch: Batch, cfg: TrainConfig,
                 average: WeightAverage | None = None) -> tuple[int, float]:
    """One batch of truncated BPTT: returns (scored steps, summed loss).

    ``net`` runs the steps (``model`` itself, or DistributedDataParallel around it);
    ``model`` gives the zero state each batch starts from.
    """
    state: LSTMState | None = model.init_state(batch.x.shape[0])
    total_steps = float(batch.mask.sum())
    loss_total = 0.0
    for s in range(0, batch.steps, cfg.window):
        w = slice(s, s + cfg.window)
        m = batch.mask[:, w]
        n = float(m.sum())
        loss, state = segment_loss(net, loss_fn, batch.x[:, w], batch.y[:, w], m, state,
                                   batch.cond, cfg.checkpoint_every,
                                   reentrant=not isinstance(net, DistributedDataParallel))
        opt.zero_grad(set_to_none=True)
        torch.autograd.backward(loss / max(n, 1.0))
        nn.utils.clip_grad_norm_(net.parameters(), cfg.clip)
        opt.step()
        if average is not None:
            average.update()
        state = detach_state(state)
        loss_total += float(loss.detach())
    return int(total_steps), loss_total
