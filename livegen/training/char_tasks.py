"""Character-model tasks: texts (songs, ABC tunes) -> :class:`~livegen.training.loop.SeqTask`.

Every song or tune is one sequence ``SEPARATOR + text + SEPARATOR``, so the model learns
how songs begin and end (truncated BPTT cuts long ones into windows). Songs may carry a
label (artist, collection) that conditions the net. :func:`train_char_model` is the whole
``livegen train lyrics|abc`` pipeline: read, split, build the vocabulary, train, score.
"""

from __future__ import annotations

import logging
import math
import os
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from livegen.data.abc import load_abc_splits
from livegen.data.lyrics import Song, labels_of, read_lyrics, split_songs
from livegen.errors import LivegenError
from livegen.music.abc.transpose import AbcTransposeError, key_targets, transpose_abc
from livegen.nets.char import CharConfig, CharLSTM, Vocab, char_loss
from livegen.nets.checkpoint import load_checkpoint, save_checkpoint, warm_start
from livegen.training.loop import Progress, SeqTask, TrainConfig, TrainResult, train
from livegen.training.scoring import Score, score_sequences, score_stepwise

log = logging.getLogger(__name__)

#: Marks the start and the end of every song/tune (ASCII record separator).
SEPARATOR = "\x1e"

#: ABC split fractions (those of livegen.data.abc: whole tune families, stable hash).
ABC_VALID, ABC_TEST = 0.05, 0.10
#: how ABC tunes are split, as recorded in a checkpoint's metadata.
ABC_SPLIT_METHOD = "livegen.data.abc.split_tunes (whole tune families, seed 0)"


def encode_song(text: str, vocab: Vocab) -> torch.Tensor:
    """``(len(text) + 2,)`` long ids of ``SEPARATOR + text + SEPARATOR``."""
    return vocab.encode(SEPARATOR + text + SEPARATOR)


def build_vocab(texts: Sequence[str], min_count: int = 3) -> Vocab:
    """Vocabulary of ``texts`` plus :data:`SEPARATOR`; characters seen fewer than
    ``min_count`` times map to the unknown id (so that id gets trained too)."""
    return Vocab.build(texts, min_count=min_count, specials=SEPARATOR)


def task_from_splits(
    train_songs: Sequence[Song],
    valid_songs: Sequence[Song],
    vocab: Vocab,
    labels: Sequence[str] | None,
) -> SeqTask:
    """Songs already split -> task: one ``(T,)`` long sequence per song.

    Args:
        labels: label names in id order (conditioning), or None for an unconditioned task.

    Raises:
        LivegenError: an empty split, or a song label that is not in ``labels``.
    """
    if not train_songs or not valid_songs:
        raise LivegenError(
            f"{len(train_songs) + len(valid_songs)} songs are too few to hold some out for validation; "
            "add more songs"
        )
    return SeqTask(
        train=[encode_song(s.text, vocab) for s in train_songs],
        valid=[encode_song(s.text, vocab) for s in valid_songs],
        loss_fn=char_loss,
        train_labels=label_ids(train_songs, labels),
        valid_labels=label_ids(valid_songs, labels),
    )


def label_ids(songs: Sequence[Song], labels: Sequence[str] | None) -> list[int] | None:
    """Each song's label id in ``labels`` (None if ``labels`` is None)."""
    if labels is None:
        return None
    index = {name: i for i, name in enumerate(labels)}
    missing = sorted({s.label for s in songs} - set(index))
    if missing:
        raise LivegenError(
            f"label(s) {', '.join(missing)} are not among the model's labels ({', '.join(labels)})"
        )
    return [index[s.label] for s in songs]


def char_task(
    songs: Sequence[Song],
    vocab: Vocab,
    labels: Sequence[str] | None,
    valid_fraction: float = 0.07,
) -> SeqTask:
    """Labelled songs -> task: whole songs split by a stable hash (:func:`split_songs`)."""
    train_songs, valid_songs = split_songs(songs, valid_fraction)
    return task_from_splits(train_songs, valid_songs, vocab, labels)


def abc_key_augment(
    tunes: Sequence[str], encoded: Sequence[torch.Tensor], vocab: Vocab, fifths_range: tuple[int, int]
) -> Callable[[torch.Tensor, random.Random], torch.Tensor]:
    """Transposition augmentation for ABC: every epoch each training tune is shown in a random
    key of its own mode, its own key or one whose signature has ``fifths_range[0]`` to
    ``fifths_range[1]`` sharps (negative = flats), rewritten by
    :func:`livegen.music.abc.transpose.transpose_abc` (tunes it cannot move stay as they are).

    Args:
        tunes: the training tunes' texts; ``encoded``: their ``(T,)`` id tensors (same order).

    Returns:
        A :attr:`SeqTask.augment` callback.
    """
    choices: dict[int, list[torch.Tensor]] = {}
    moved = 0
    for text, ids in zip(tunes, encoded, strict=True):
        versions = [ids]
        key_line = next((line for line in text.split("\n") if line.startswith("K:")), None)
        for target in key_targets(key_line[2:], fifths_range) if key_line else []:
            try:
                versions.append(encode_song(transpose_abc(text, target), vocab))
            except AbcTransposeError:
                continue
        moved += len(versions) > 1
        choices[id(ids)] = versions
    log.info("key augmentation: %d of %d tunes in up to %d keys", moved, len(tunes),
             fifths_range[1] - fifths_range[0] + 1)

    def augment(seq: torch.Tensor, rng: random.Random) -> torch.Tensor:
        versions = choices.get(id(seq))
        return rng.choice(versions) if versions else seq

    return augment


def text_task(train_texts: Sequence[str], valid_texts: Sequence[str], vocab: Vocab) -> SeqTask:
    """Unlabelled texts already split (e.g. ABC tunes from livegen.data.abc) -> task."""
    return task_from_splits([Song(t, "") for t in train_texts], [Song(t, "") for t in valid_texts],
                            vocab, None)


def abc_splits(data: str | os.PathLike[str] | None) -> dict[str, list[str]]:
    """ABC tunes split train/valid/test by livegen.data.abc (``irish`` or None = the default set)."""
    path = None if data in (None, "", "irish") else Path(data).expanduser()
    return load_abc_splits(path, valid=ABC_VALID, test=ABC_TEST)


def char_splits(
    kind: str, data: str | os.PathLike[str], artists: Sequence[str] | None = None,
    valid_fraction: float = 0.07,
) -> dict[str, list[Song]]:
    """Read and split a character data set, songs kept whole.

    ``lyrics``: ``{"train", "valid"}`` by :func:`livegen.data.lyrics.split_songs`, label =
    artist/file. ``abc``: ``{"train", "valid", "test"}`` by livegen.data.abc, no labels.
    """
    if kind == "lyrics":
        train, valid = split_songs(read_lyrics(data, artists), valid_fraction)
        return {"train": train, "valid": valid}
    if kind == "abc":
        return {name: [Song(t, "") for t in tunes] for name, tunes in abc_splits(data).items()}
    raise LivegenError(f"unknown character-model kind {kind!r}; use lyrics or abc")


def score_split(
    model: CharLSTM,
    seqs: Sequence[torch.Tensor],
    seq_labels: Sequence[int] | None,
    labels: Sequence[str] | None = None,
    prefix: str = "valid",
    *,
    stream: bool = False,
    chunk: int = 512,
) -> dict[str, Any]:
    """Nats/char over whole encoded songs (total, song average and, with labels, per label).

    ``stream`` steps the net one character at a time (:meth:`CharLSTM.step`, the live path)
    instead of batched chunks of ``chunk`` characters; the figures agree.
    """
    lab = list(seq_labels) if seq_labels is not None else None
    if stream:
        score = score_stepwise(model.step, list(seqs), char_loss, lab)
    else:
        score = score_sequences(model, list(seqs), char_loss, lab, chunk=chunk)
    out: dict[str, Any] = {
        f"{prefix}_nats_per_char": round(score.nll_per_step, 5),
        f"{prefix}_bits_per_char": round(score.nll_per_step / math.log(2), 5),
        f"{prefix}_nats_per_char_song_avg": round(score.nll_per_sequence, 5),
        f"{prefix}_chars": score.steps,
        f"{prefix}_songs": len(seqs),
    }
    if labels and seq_labels is not None:
        per: dict[str, float] = {}
        for i, name in enumerate(labels):
            mine = [s for s, lab in zip(seqs, seq_labels, strict=True) if lab == i]
            if mine:
                sc: Score = score_sequences(model, mine, char_loss, [i] * len(mine))
                per[name] = round(sc.nll_per_step, 4)
        out[f"{prefix}_nats_per_char_by_label"] = per
    return out


def score_held_out(model: CharLSTM, task: SeqTask, labels: Sequence[str] | None = None) -> dict[str, Any]:
    """:func:`score_split` on the task's validation songs."""
    return score_split(model, task.valid, task.valid_labels, labels, "valid")


def train_char_model(
    kind: str,
    data: str,
    out: str | os.PathLike[str],
    cfg: TrainConfig,
    hidden: int = 512,
    layers: int = 1,
    embed: int = 256,
    label_mode: str = "embedding",
    progress: Callable[[Progress], None] | None = None,
    *,
    dropout: float = 0.0,
    label_dim: int = 16,
    artists: Sequence[str] | None = None,
    valid_fraction: float = 0.07,
    min_count: int = 3,
    resume: bool = False,
    transpose_keys: tuple[int, int] | None = None,
    copy: int = 0,
    init: str | os.PathLike[str] | None = None,
) -> TrainResult:
    """Train a character LSTM and write its best checkpoint to ``out``.

    Args:
        kind: ``"lyrics"`` (a lyrics CSV, a text file, a folder of text files, or
            ``public_domain``; one label per artist/file) or ``"abc"`` (an ``.abc`` file,
            or ``irish``; unlabelled).
        data: where the texts are (see ``kind``).
        label_mode: ``"embedding"``, ``"onehot"``, or ``"none"`` (ignore labels). ABC models
            are always unconditioned.
        dropout: on the LSTM input, between layers and before the output layer.
        artists: lyrics only: keep just these artists/labels.
        valid_fraction: lyrics only: share of whole songs held out (ABC uses the fixed
            5% valid / 10% test split of livegen.data.abc).
        min_count: characters seen fewer times in the training songs map to the unknown id.
        transpose_keys: ABC only: key augmentation over signatures from ``[0]`` to ``[1]``
            sharps (:func:`abc_key_augment`); None = off.
        copy: memory size of a copy head trained with the net (see
            :class:`~livegen.nets.copy_head.CopyHead`); 0 = none.
        init: start from this character checkpoint's weights (same vocabulary and labels;
            parts the new net adds, such as a copy head, start fresh).

    The checkpoint meta holds ``vocab``, ``labels``, ``separator``, ``data``, ``text_kind``,
    ``split`` and ``metrics``: held-out nats/char over whole songs (``valid_*``, overall and
    per label; ABC also ``test_*``), scored on the best checkpoint.
    """
    if label_mode not in ("embedding", "onehot", "none"):
        raise LivegenError(f"unknown label mode {label_mode!r}; use embedding, onehot or none")
    splits = char_splits(kind, data, artists, valid_fraction)
    conditioned = kind == "lyrics" and label_mode != "none"
    labels = labels_of(s for part in splits.values() for s in part) if conditioned else None
    vocab = build_vocab([s.text for s in splits["train"]] + [SEPARATOR], min_count=min_count)
    task = task_from_splits(splits["train"], splits["valid"], vocab, labels)
    if transpose_keys is not None:
        if kind != "abc":
            raise LivegenError("--transpose-keys applies to ABC tunes only (train abc)")
        task.augment = abc_key_augment([s.text for s in splits["train"]], task.train, vocab, transpose_keys)
    torch.manual_seed(cfg.seed)
    config = CharConfig(
        vocab_size=len(vocab), embed=embed, hidden=hidden, layers=layers, dropout=dropout,
        n_labels=len(labels) if labels else 0, label_dim=label_dim,
        label_mode=label_mode if conditioned else "embedding", copy=copy,
    )
    model = CharLSTM(config)
    if init is not None and not resume:
        _warm_start(model, init, vocab, labels)
    split_info: dict[str, Any] = {name: len(part) for name, part in splits.items()}
    if kind == "lyrics":
        split_info.update(valid_fraction=valid_fraction, method="sha1(label, text) of whole songs")
    else:
        split_info.update(valid_fraction=ABC_VALID, test_fraction=ABC_TEST,
                          method=ABC_SPLIT_METHOD)
    meta: dict[str, Any] = {
        "text_kind": kind,
        "data": str(data),
        "vocab": vocab.to_list(),
        "labels": list(labels or []),
        "separator": SEPARATOR,
        "split": split_info,
        "train": {"min_count": min_count, "artists": list(artists or []),
                  "transpose_keys": list(transpose_keys) if transpose_keys else None,
                  "init": str(init) if init is not None else None},
    }
    log.info("%s: %s songs, %d chars in vocab, %d labels, %d parameters", data,
             " / ".join(f"{len(v)} {k}" for k, v in splits.items()), len(vocab), len(labels or []),
             sum(p.numel() for p in model.parameters()))
    result = train(model, task, cfg, out, meta, progress=progress, resume=resume)
    if torch.distributed.is_available() and torch.distributed.is_initialized() \
            and torch.distributed.get_rank() != 0:
        return result
    best, best_meta = load_checkpoint(out)
    assert isinstance(best, CharLSTM)
    metrics = best_meta.setdefault("metrics", {})
    metrics.update(score_held_out(best, task, labels))
    if "test" in splits:
        test = splits["test"]
        metrics.update(score_split(best, [encode_song(s.text, vocab) for s in test],
                                   label_ids(test, labels), labels, "test"))
    best_meta["train"] = {**best_meta.get("train", {}), "seconds": round(result.seconds, 1),
                          "epochs_run": result.epochs_run, "chars_per_s": round(result.steps_per_s, 1)}
    save_checkpoint(out, best, best_meta)
    return result


def _warm_start(model: CharLSTM, init: str | os.PathLike[str], vocab: Vocab,
                labels: Sequence[str] | None) -> None:
    """Copy the weights of checkpoint ``init`` into ``model`` (see :func:`train_char_model`).

    Raises:
        LivegenError: ``init`` is not a character model or its vocabulary/labels/shape differ.
    """
    _, meta = load_checkpoint(init)
    if meta.get("vocab") is None or Vocab.from_list(meta["vocab"]) != vocab \
            or list(meta.get("labels", [])) != list(labels or []):
        raise LivegenError(f"--init {init}: its vocabulary or labels differ from this data's; "
                           "start from a model trained on the same data")
    missing = warm_start(model, init)
    log.info("started from %s (new: %s)", init, ", ".join(missing) or "nothing")


def evaluate_char_model(
    model: CharLSTM, meta: dict[str, Any], data: str, split: str = "test", *, stream: bool = False,
    max_sequences: int | None = None, chunk: int = 512,
) -> dict[str, Any]:
    """Score a character model on a split of ``data`` (read as the model was trained).

    Lyrics sets hold out one split only, so ``test`` and ``valid`` both mean that split
    (``split`` in the result says so). A conditioned model is scored on the songs whose
    label it knows. Returns a flat dict (nats/char, bits/char, ...).

    Raises:
        LivegenError: unknown split, or no song with a label the model knows.
    """
    kind = str(meta.get("text_kind", "lyrics"))
    fraction = float(meta.get("split", {}).get("valid_fraction", 0.07)) if kind == "lyrics" else 0.07
    splits = char_splits(kind, data, None, fraction)
    used = split
    if kind == "lyrics" and split == "test":
        used = "valid"
    if used not in splits:
        raise LivegenError(f"no {split!r} split for {kind} data; use one of {', '.join(splits)}")
    vocab = Vocab.from_list(meta["vocab"])
    labels = list(meta.get("labels", [])) or None
    if labels is not None and not model.config.n_labels:
        labels = None
    songs = splits[used]
    if labels is not None:  # score the songs of the labels the model knows
        songs = [s for s in songs if s.label in labels]
        if not songs:
            raise LivegenError(
                f"no {used} songs in {data} carry one of the model's labels ({', '.join(labels)})"
            )
    if max_sequences is not None:
        songs = songs[:max_sequences]
    seqs = [encode_song(s.text, vocab) for s in songs]
    result = score_split(model, seqs, label_ids(songs, labels), labels, "split", stream=stream, chunk=chunk)
    renamed = {k.replace("split_", "", 1): v for k, v in result.items()}
    held = "held-out (valid)" if used != split else split
    return {"model_kind": "char", "text_kind": kind, "data": str(data), "split": held, **renamed,
            "memory_steps": model.config.copy, "method": "stream" if stream else "batched",
            "chunk": None if stream else chunk}


def load_char_model(path: str | os.PathLike[str]) -> tuple[CharLSTM, Vocab, list[str], dict[str, Any]]:
    """Load a character checkpoint: ``(model, vocab, labels, meta)``; eval mode."""
    model, meta = load_checkpoint(path)
    if not isinstance(model, CharLSTM):
        raise LivegenError(
            f"model {path} is a {model.kind} model; this needs a character (lyrics/abc) model"
        )
    if "vocab" not in meta:
        raise LivegenError(f"model {path} has no vocabulary in its metadata; retrain it")
    return model, Vocab.from_list(meta["vocab"]), list(meta.get("labels", [])), meta
