"""Where data sets live on this machine: the one search order for every reader.

A data root holds the sets in one layout (``polyphonic/Nottingham.mat``,
``abc/irish.abc``, ``lyrics/public_domain/...``). Roots are searched in this order:

1. ``$LIVEGEN_DATA``, when set;
2. the user data directory (``platformdirs.user_data_dir("livegen")``, e.g.
   ``~/.local/share/livegen`` on Linux), where ``livegen data fetch`` puts what it downloads;
3. ``shared/data`` beside the checkout (the first one found walking up from the working
   directory and from this package), when present.

``livegen data fetch`` writes into :func:`install_root`: ``$LIVEGEN_DATA`` when set, else the
user data directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

#: environment variable naming a data root searched first (and fetched into).
DATA_ENV = "LIVEGEN_DATA"
#: environment variable naming a mirror base URL for ``livegen data fetch``.
MIRROR_ENV = "LIVEGEN_DATA_MIRROR"

#: labels of the three kinds of root, as ``livegen data list`` shows them.
ENV_LABEL = "$" + DATA_ENV
USER_LABEL = "user data dir"
SHARED_LABEL = "shared/data"


def user_data_root() -> Path:
    """The user data directory for livegen (``platformdirs.user_data_dir("livegen")``)."""
    return Path(platformdirs.user_data_dir("livegen"))


def shared_data_root() -> Path | None:
    """The first existing ``shared/data`` walking up from the working directory and from
    this package (also trying ``../shared/data`` beside each folder), or None."""
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for parent in [start, *start.parents]:
            for candidate in (parent / "shared" / "data", parent.parent / "shared" / "data"):
                if candidate.is_dir():
                    return candidate
    return None


def install_root() -> Path:
    """Where ``livegen data fetch`` installs: ``$LIVEGEN_DATA`` when set, else the user data
    directory."""
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else user_data_root()


def labelled_roots() -> list[tuple[str, Path]]:
    """The search order as ``(label, root)`` pairs: ``$LIVEGEN_DATA`` (when set), the user
    data directory, ``shared/data`` (when present). Roots need not exist."""
    roots: list[tuple[str, Path]] = []
    env = os.environ.get(DATA_ENV)
    if env:
        roots.append((ENV_LABEL, Path(env).expanduser()))
    roots.append((USER_LABEL, user_data_root()))
    shared = shared_data_root()
    if shared is not None:
        roots.append((SHARED_LABEL, shared))
    seen: set[Path] = set()
    unique = []
    for label, root in roots:
        key = root.resolve()
        if key not in seen:
            seen.add(key)
            unique.append((label, root))
    return unique


def data_roots() -> list[Path]:
    """The data roots in search order (see the module doc)."""
    return [root for _, root in labelled_roots()]


def locate(relative: str | Path) -> tuple[str, Path] | None:
    """``(label, path)`` of the first root holding ``relative`` (a path in the data layout,
    e.g. ``polyphonic/Nottingham.mat``), or None when no root has it."""
    for label, root in labelled_roots():
        path = root / relative
        if path.exists():
            return label, path
    return None


def find_data(relative: str | Path) -> Path | None:
    """The first existing ``<root>/<relative>`` in search order, or None."""
    found = locate(relative)
    return found[1] if found is not None else None


def searched(relative: str | Path) -> str:
    """The places tried for ``relative``, for an error message (``a, b or c``)."""
    paths = [str(root / relative) for root in data_roots()]
    return paths[0] if len(paths) == 1 else ", ".join(paths[:-1]) + " or " + paths[-1]
