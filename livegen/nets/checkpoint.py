"""Checkpoints that load without executing code.

A checkpoint is a ``torch.save`` of plain data: ``{"format": "livegen", "version": 1,
"kind": str, "config": dict, "meta": dict, "state_dict": {name: tensor}}``. It is read with
``torch.load(weights_only=True)``, so a file can never run code, and it carries everything
needed to rebuild the net (config, vocabulary, steps per beat, training data, metrics).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from livegen.errors import LivegenError
from livegen.nets.protocols import SeqNet
from livegen.nets.registry import BUILDERS, Net

FORMAT = "livegen"
VERSION = 1


def save_checkpoint(path: str | os.PathLike[str], model: SeqNet, meta: dict[str, Any]) -> None:
    """Write ``model`` (its ``kind`` and ``config``) with ``meta`` to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = {
        "format": FORMAT,
        "version": VERSION,
        "kind": model.kind,
        "config": model.config.to_dict(),
        "meta": json.loads(json.dumps(meta)),  # plain data only
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(blob, tmp)
    os.replace(tmp, path)


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint's raw dict, or raise one clear line naming the file."""
    path = Path(path)
    if not path.is_file():
        raise LivegenError(f"model file {path} does not exist")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
        raise LivegenError(
            f"model file {path} is corrupt or not a livegen checkpoint ({reason}); "
            "retrain it or restore it from the repository"
        ) from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise LivegenError(f"model file {path} is not a livegen checkpoint (no livegen header)")
    if blob.get("version") != VERSION:
        raise LivegenError(
            f"model file {path} has checkpoint version {blob.get('version')}, this livegen reads {VERSION}"
        )
    return blob


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[Net, dict[str, Any]]:
    """Rebuild the net stored at ``path`` in eval mode; return ``(model, meta)``.

    The kinds it knows are those of :data:`livegen.nets.registry.BUILDERS`.
    """
    blob = read_checkpoint(path)
    kind = blob.get("kind")
    if not isinstance(kind, str) or kind not in BUILDERS:
        raise LivegenError(f"model file {path} holds an unknown model kind {kind!r}")
    try:
        model = BUILDERS[kind](dict(blob["config"]))
        model.load_state_dict(blob["state_dict"])
    except (RuntimeError, TypeError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0][:120]
        raise LivegenError(f"model file {path} does not match its {kind} config ({first})") from None
    model.eval()
    return model, dict(blob.get("meta", {}))


def warm_start(model: SeqNet, path: str | os.PathLike[str]) -> list[str]:
    """Copy the weights of the checkpoint at ``path`` into ``model`` (``--init``).

    Parts ``model`` has and the checkpoint lacks (a new copy head) keep their fresh values.

    Returns:
        The names of the parameters that were not in the checkpoint.

    Raises:
        LivegenError: unreadable checkpoint, another kind of model, or layers of other sizes.
    """
    start, _ = load_checkpoint(path)
    if start.kind != model.kind:
        raise LivegenError(f"--init {path}: it is a {start.kind} model, this trains a "
                           f"{model.kind} model; start from one of the same kind")
    try:
        result = model.load_state_dict(start.state_dict(), strict=False)
    except RuntimeError:
        result = None
    if result is None or result.unexpected_keys:
        raise LivegenError(f"--init {path}: its layers do not fit this net; use the same sizes "
                           "(--hidden, --layers, ...) as the model it was trained as")
    return list(result.missing_keys)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
