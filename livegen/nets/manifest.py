"""Shipped models: find weights by name through ``models/manifest.json``.

The top-level ``models/`` folder installs as the ``livegen_models`` package, so names
resolve the same way in an editable install and in a built wheel. The manifest lists, per
model: name, kind, file, data, config, test metrics, sha256.

Models a user ships (``livegen models ship``) go to :func:`user_models_dir` (``models/`` in
the user data directory, ``~/.local/share/livegen/models`` on Linux), never into the
package: a name there is found before a shipped one of the same name.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import platformdirs

from livegen.errors import LivegenError

MANIFEST = "manifest.json"


def models_dir() -> Path:
    """Folder holding the shipped weights and manifest."""
    return Path(str(resources.files("livegen_models")))


def user_models_dir() -> Path:
    """Folder of the models a user ships: ``models/`` in ``platformdirs.user_data_dir("livegen")``."""
    return Path(platformdirs.user_data_dir("livegen")) / "models"


def read_manifest(folder: Path | None = None) -> dict[str, dict[str, Any]]:
    """name -> entry, from ``manifest.json`` (empty if there is none yet)."""
    path = (folder or models_dir()) / MANIFEST
    if not path.exists():
        return {}
    try:
        entries = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise LivegenError(f"{path} is not valid JSON ({exc}); restore it from the repository") from None
    return {e["name"]: e for e in entries.get("models", [])}


def write_manifest(entries: dict[str, dict[str, Any]], folder: Path | None = None) -> Path:
    """Write the manifest, models sorted by name."""
    path = (folder or models_dir()) / MANIFEST
    doc = {"models": [entries[k] for k in sorted(entries)]}
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return path


def resolve_model(spec: str | os.PathLike[str]) -> Path:
    """Turn a shipped model name (``nottingham``) or a file path into a checkpoint path.

    Raises:
        LivegenError: neither a known name nor an existing file; lists the shipped names.
    """
    text = str(spec)
    path = Path(text).expanduser()
    if path.is_file():
        return path
    user = read_manifest(user_models_dir())
    if text in user:
        found = user_models_dir() / str(user[text]["file"])
        if not found.is_file():
            raise LivegenError(f"model {text!r} is listed in {user_models_dir() / MANIFEST} but {found} is "
                               f"missing; ship it again or remove its entry")
        return found
    manifest = read_manifest()
    if text in manifest:
        found = models_dir() / str(manifest[text]["file"])
        if not found.is_file():
            raise LivegenError(f"shipped model {text!r} is listed but {found} is missing; reinstall livegen")
        return found
    names = ", ".join(sorted(set(manifest) | set(user))) or "(none shipped)"
    raise LivegenError(f"no model {text!r}: give a checkpoint path or one of the shipped models: {names}")
