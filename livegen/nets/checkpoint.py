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

#: what to do about a model file livegen cannot use.
FIX = "retrain it or restore it from the repository"


class CheckpointError(LivegenError):
    """A model file that is missing, unreadable or not a well-formed livegen checkpoint.

    The message is one line naming the file, what is wrong and the fix.
    """


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
    try:
        torch.save(blob, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise CheckpointError(f"cannot write checkpoint {path}: {exc.strerror or _reason(exc)}; "
                              "free some disk space or choose another --out") from None
    finally:
        tmp.unlink(missing_ok=True)


def _reason(exc: BaseException) -> str:
    """The first line of an exception's text (or its type), short enough for one line."""
    text = str(exc).strip()
    return text.splitlines()[0][:120] if text else type(exc).__name__


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint's raw dict and check its layout (:func:`check_blob`).

    Raises:
        CheckpointError: one line naming the file, the problem and the fix.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"model file {path} does not exist; check the path")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"model file {path} is corrupt or not a livegen checkpoint ({_reason(exc)}); {FIX}"
        ) from None
    return check_blob(path, blob)


def check_blob(path: str | os.PathLike[str], blob: object) -> dict[str, Any]:
    """Check a loaded checkpoint's layout (header, kind, config, meta, finite weights); return it.

    Raises:
        CheckpointError: the first problem found, in one line naming ``path`` and the fix.
    """
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(f"model file {path} is not a livegen checkpoint (no livegen header); {FIX}")
    if blob.get("version") != VERSION:
        raise CheckpointError(f"model file {path} has checkpoint version {blob.get('version')!r}, this "
                              f"livegen reads {VERSION}; use the livegen that wrote it, or {FIX}")

    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"model file {path} is malformed: {what}; {FIX}")

    if not isinstance(blob.get("kind"), str):
        raise bad(f"its kind is {blob.get('kind')!r}, not a name")
    config = blob.get("config")
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise bad(f"its config is a {type(config).__name__}, not a dict of named settings")
    if not isinstance(blob.get("meta", {}), dict):
        raise bad(f"its meta is a {type(blob.get('meta')).__name__}, not a dict")
    weights = blob.get("state_dict")
    if not isinstance(weights, dict) or not weights:
        raise bad("it holds no weights (state_dict missing or empty)")
    for name, tensor in weights.items():
        if not isinstance(name, str) or not isinstance(tensor, torch.Tensor):
            raise bad(f"weight {name!r} is a {type(tensor).__name__}, not a tensor")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise bad(f"weight {name} holds NaN or infinite values (training diverged?)")
    return blob


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[Net, dict[str, Any]]:
    """Rebuild the net stored at ``path`` in eval mode; return ``(model, meta)``.

    The kinds it knows are those of :data:`livegen.nets.registry.BUILDERS`.
    """
    blob = read_checkpoint(path)
    kind = blob["kind"]
    if kind not in BUILDERS:
        raise CheckpointError(f"model file {path} holds an unknown model kind {kind!r} (this livegen "
                              f"knows {', '.join(sorted(BUILDERS))}); {FIX}")
    config, weights = dict(blob["config"]), blob["state_dict"]
    if not _sizes_fit(config, weights):
        _check_shapes(path, kind, config, weights)
    try:
        model = BUILDERS[kind](config)
        model.load_state_dict(weights)
    except (RuntimeError, TypeError, ValueError, KeyError, MemoryError) as exc:
        _check_shapes(path, kind, config, weights)  # names the layer that differs, if one does
        raise CheckpointError(f"model file {path} does not match its {kind} config ({_reason(exc)}); "
                              f"{FIX}") from None
    model.eval()
    return model, dict(blob.get("meta", {}))


def _sizes_fit(config: dict[str, Any], weights: dict[str, torch.Tensor]) -> bool:
    """Whether every size in ``config`` is within a few times the largest stored layer, so
    the net can be built for real without risk of a huge allocation (the usual case: then
    :func:`_check_shapes`, whose meta-device build costs seconds of imports, is skipped and
    ``load_state_dict`` itself checks the layers)."""
    largest = max((max(t.shape, default=1) for t in weights.values()), default=1)
    sizes = [v for v in config.values() if isinstance(v, int) and not isinstance(v, bool)]
    return all(0 <= v <= 4 * largest for v in sizes)


def _check_shapes(path: str | os.PathLike[str], kind: str, config: dict[str, Any],
                  weights: dict[str, torch.Tensor]) -> None:
    """Build the net on the meta device (no memory) and compare its layers with ``weights``.

    A config the builder refuses, or one whose layers differ from the stored weights, is
    caught here before a possibly huge net is allocated.
    """
    try:
        with torch.device("meta"):
            expected = BUILDERS[kind](config).state_dict()
    except (RuntimeError, TypeError, ValueError, KeyError, OverflowError) as exc:
        raise CheckpointError(f"model file {path} has a config no {kind} net can be built from "
                              f"({_reason(exc)}); {FIX}") from None
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    if missing or extra:
        which = f"lacks weight {missing[0]}" if missing else f"has unknown weight {extra[0]}"
        raise CheckpointError(f"model file {path} does not match its {kind} config (it {which}, "
                              f"{len(missing)} missing, {len(extra)} unknown); {FIX}")
    for name, tensor in expected.items():
        if tuple(weights[name].shape) != tuple(tensor.shape):
            raise CheckpointError(f"model file {path} does not match its {kind} config (weight {name} is "
                                  f"{tuple(weights[name].shape)}, the config makes {tuple(tensor.shape)}); {FIX}")


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
