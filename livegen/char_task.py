"""Character-model tasks: texts (songs, ABC tunes) -> :class:`~livegen.train.SeqTask`.

Every song or tune is one sequence ``SEPARATOR + text + SEPARATOR``, so the model learns
how songs begin and end (truncated BPTT cuts long ones into windows). Songs may carry a
label (artist, collection) that conditions the net. :func:`train_char_model` is the whole
``livegen train lyrics|abc`` pipeline: read, split, build the vocabulary, train, score.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from livegen.data.lyrics import Song, labels_of, read_lyrics, split_songs
from livegen.data.polyphonic import data_root
from livegen.errors import LivegenError
from livegen.nets.char import CharConfig, CharLSTM, Vocab, char_loss
from livegen.nets.checkpoint import load_checkpoint, save_checkpoint
from livegen.scoring import Score, score_sequences
from livegen.train import Progress, SeqTask, TrainConfig, TrainResult, train

log = logging.getLogger(__name__)

#: Marks the start and the end of every song/tune (ASCII record separator).
SEPARATOR = "\x1e"

#: Named ABC collections under the shared data directory.
ABC_SOURCES: dict[str, str] = {"irish": "abc/irish.abc"}

_TUNE_START = re.compile(r"^X:", re.MULTILINE)


def encode_song(text: str, vocab: Vocab) -> torch.Tensor:
    """``(len(text) + 2,)`` long ids of ``SEPARATOR + text + SEPARATOR``."""
    return vocab.encode(SEPARATOR + text + SEPARATOR)


def build_vocab(texts: Sequence[str], min_count: int = 3) -> Vocab:
    """Vocabulary of ``texts`` plus :data:`SEPARATOR`; characters seen fewer than
    ``min_count`` times map to the unknown id (so that id gets trained too)."""
    return Vocab.build(texts, min_count=min_count, specials=SEPARATOR)


def char_task(
    songs: Sequence[Song],
    vocab: Vocab,
    labels: Sequence[str] | None,
    valid_fraction: float = 0.07,
) -> SeqTask:
    """Labelled songs -> task: split whole songs by a stable hash, one sequence per song.

    Args:
        labels: label names in id order (conditioning), or None for an unconditioned task.
    """
    train_songs, valid_songs = split_songs(songs, valid_fraction)
    if not train_songs or not valid_songs:
        raise LivegenError(
            f"{len(songs)} songs are too few to hold some out for validation; add more songs"
        )
    index = {name: i for i, name in enumerate(labels)} if labels is not None else None

    def ids(group: Sequence[Song]) -> list[int] | None:
        if index is None:
            return None
        try:
            return [index[s.label] for s in group]
        except KeyError as exc:
            raise LivegenError(f"song label {exc.args[0]!r} is not among the model's labels") from None

    return SeqTask(
        train=[encode_song(s.text, vocab) for s in train_songs],
        valid=[encode_song(s.text, vocab) for s in valid_songs],
        loss_fn=char_loss,
        train_labels=ids(train_songs),
        valid_labels=ids(valid_songs),
    )


def text_task(texts: Sequence[str], vocab: Vocab, valid_fraction: float = 0.07) -> SeqTask:
    """Unlabelled texts (e.g. ABC tunes) -> task, split like :func:`char_task`."""
    return char_task([Song(t, "") for t in texts], vocab, None, valid_fraction)


def split_abc_tunes(text: str) -> list[str]:
    """Cut an ABC collection into tunes, each from its ``X:`` line to the next (trimmed)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    starts = [m.start() for m in _TUNE_START.finditer(text)]
    tunes = [text[a:b].strip() for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]
    return [t for t in tunes if t]


def read_abc_tunes(data: str | os.PathLike[str]) -> list[str]:
    """Tunes from an ``.abc`` file, a folder of them, or a named collection (``irish``)."""
    text = str(data)
    path = data_root() / ABC_SOURCES[text] if text in ABC_SOURCES else Path(text).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".abc")
    elif path.is_file():
        files = [path]
    else:
        raise LivegenError(f"ABC data {text!r} not found at {path}: give an .abc file or a folder of them")
    tunes = [t for f in files for t in split_abc_tunes(f.read_text(encoding="utf-8", errors="replace"))]
    if not tunes:
        raise LivegenError(f"no ABC tunes (lines starting 'X:') in {path}")
    return tunes


def score_held_out(
    model: CharLSTM, task: SeqTask, labels: Sequence[str] | None = None
) -> dict[str, Any]:
    """Held-out nats/char over whole songs (total and, for labelled tasks, per label)."""
    score = score_sequences(model, task.valid, char_loss, task.valid_labels)
    out: dict[str, Any] = {
        "valid_nats_per_char": round(score.nll_per_step, 5),
        "valid_bits_per_char": round(score.nll_per_step / 0.6931471805599453, 5),
        "valid_nats_per_char_song_avg": round(score.nll_per_sequence, 5),
        "valid_chars": score.steps,
        "valid_songs": len(task.valid),
    }
    if labels and task.valid_labels is not None:
        per: dict[str, float] = {}
        for i, name in enumerate(labels):
            seqs = [s for s, lab in zip(task.valid, task.valid_labels, strict=True) if lab == i]
            if seqs:
                sc: Score = score_sequences(model, seqs, char_loss, [i] * len(seqs))
                per[name] = round(sc.nll_per_step, 4)
        out["valid_nats_per_char_by_label"] = per
    return out


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
) -> TrainResult:
    """Train a character LSTM and write its best checkpoint to ``out``.

    Args:
        kind: ``"lyrics"`` (CSV, text file, folder of text files, or ``public_domain``;
            one label per artist/file) or ``"abc"`` (``.abc`` file/folder or ``irish``;
            unlabelled).
        data: where the texts are (see ``kind``).
        label_mode: ``"embedding"``, ``"onehot"``, or ``"none"`` (ignore labels). ABC models
            are always unconditioned.
        artists: lyrics only: keep just these artists/labels.
        min_count: characters seen fewer times map to the unknown id.

    The checkpoint meta holds ``vocab``, ``labels``, ``separator``, ``data``, ``text_kind``
    and ``metrics`` (held-out nats/char over whole songs, overall and per label).
    """
    if kind not in ("lyrics", "abc"):
        raise LivegenError(f"unknown character-model kind {kind!r}; use lyrics or abc")
    if label_mode not in ("embedding", "onehot", "none"):
        raise LivegenError(f"unknown label mode {label_mode!r}; use embedding, onehot or none")
    songs = read_lyrics(data, artists) if kind == "lyrics" else [Song(t, "") for t in read_abc_tunes(data)]
    conditioned = kind == "lyrics" and label_mode != "none"
    labels = labels_of(songs) if conditioned else None
    train_songs, _ = split_songs(songs, valid_fraction)
    vocab = build_vocab([s.text for s in train_songs] + [SEPARATOR], min_count=min_count)
    task = char_task(songs, vocab, labels, valid_fraction)
    torch.manual_seed(cfg.seed)
    config = CharConfig(
        vocab_size=len(vocab), embed=embed, hidden=hidden, layers=layers, dropout=dropout,
        n_labels=len(labels) if labels else 0, label_dim=label_dim,
        label_mode=label_mode if conditioned else "embedding",
    )
    model = CharLSTM(config)
    meta: dict[str, Any] = {
        "text_kind": kind,
        "data": str(data),
        "vocab": vocab.to_list(),
        "labels": list(labels or []),
        "separator": SEPARATOR,
        "split": {"valid_fraction": valid_fraction, "train_songs": len(task.train),
                  "valid_songs": len(task.valid), "by": "sha1(label, text) of whole songs"},
        "train": {"min_count": min_count, "artists": list(artists or [])},
    }
    log.info("%s: %d train / %d valid songs, %d chars in vocab, %d labels, %d parameters",
             data, len(task.train), len(task.valid), len(vocab), len(labels or []),
             sum(p.numel() for p in model.parameters()))
    result = train(model, task, cfg, out, meta, progress=progress, resume=resume)
    if torch.distributed.is_available() and torch.distributed.is_initialized() \
            and torch.distributed.get_rank() != 0:
        return result
    best, best_meta = load_checkpoint(out)
    assert isinstance(best, CharLSTM)
    best_meta.setdefault("metrics", {}).update(score_held_out(best, task, labels))
    best_meta["train"] = {**best_meta.get("train", {}), "seconds": round(result.seconds, 1),
                          "epochs_run": result.epochs_run, "chars_per_s": round(result.steps_per_s, 1)}
    save_checkpoint(out, best, best_meta)
    return result


def load_char_model(path: str | os.PathLike[str]) -> tuple[CharLSTM, Vocab, list[str], dict[str, Any]]:
    """Load a character checkpoint: ``(model, vocab, labels, meta)``; eval mode."""
    model, meta = load_checkpoint(path)
    if not isinstance(model, CharLSTM):
        raise LivegenError(
            f"model {path} is a {getattr(model, 'kind', '?')} model; this needs a character (lyrics/abc) model"
        )
    if "vocab" not in meta:
        raise LivegenError(f"model {path} has no vocabulary in its metadata; retrain it")
    return model, Vocab.from_list(meta["vocab"]), list(meta.get("labels", [])), meta
