"""ABC tune collections (``irish.abc``): read, split into tunes, split train/valid/test.

A collection is split into tunes at its ``X:`` lines; each tune's text is kept verbatim (with
trailing blank lines trimmed), so a char-level model sees the real notation.

The train/valid/test split keeps tunes whole and never changes between runs: tunes are ranked
by the SHA-256 of ``seed`` and their music (the text without the ``X:``, ``T:`` and ``Z:``
lines, so a tune filed twice under two titles lands in one split), and the first
``round(test * n)`` go to ``test``, the next ``round(valid * n)`` to ``valid``, the rest to
``train``; tunes with the same music are kept together. Each split keeps file order. It does
not depend on the order of the file, only on the tunes' text and the seed.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from livegen.data.polyphonic import data_root
from livegen.errors import LivegenError
from livegen.music.abc import split_abc

log = logging.getLogger(__name__)

#: the collection used when none is named (relative to the data root).
DEFAULT_ABC = Path("abc") / "irish.abc"

SPLITS = ("train", "valid", "test")

_NOT_MUSIC = ("X:", "T:", "Z:")


def default_abc_path() -> Path:
    """``<data root>/abc/irish.abc`` (see :func:`livegen.data.polyphonic.data_root`)."""
    return data_root() / DEFAULT_ABC


def read_abc_tunes(path: str | Path) -> list[str]:
    """Read an ``.abc`` collection as one text per tune (split at ``X:`` lines).

    Raises:
        LivegenError: the file is missing, unreadable, or holds no ``X:`` line.
    """
    p = Path(path)
    if not p.is_file():
        raise LivegenError(f"ABC file {p} not found; pass the path of an .abc collection such as {default_abc_path()}")
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise LivegenError(f"cannot read ABC file {p}: {exc.strerror}; check its permissions") from exc
    tunes = split_abc(text)
    if not tunes:
        raise LivegenError(f"{p} holds no ABC tunes (no line starts with X:); pass an .abc collection")
    log.info("read %d ABC tunes from %s", len(tunes), p)
    return tunes


def _music_key(tune: str) -> str:
    return "\n".join(line for line in tune.split("\n") if not line.startswith(_NOT_MUSIC)).strip()


def split_tunes(tunes: list[str], valid: float = 0.05, test: float = 0.10, seed: int = 0) -> dict[str, list[str]]:
    """Split whole tunes into ``train``, ``valid`` and ``test`` by a stable hash (see module doc).

    Args:
        tunes: one text per tune (:func:`read_abc_tunes`).
        valid, test: fractions of the tunes held out (0 <= each, sum < 1).
        seed: changes the (still deterministic) choice of held-out tunes.

    Returns:
        ``{"train": [...], "valid": [...], "test": [...]}``, each in the input order.

    Raises:
        LivegenError: the fractions are out of range.
    """
    if not (0 <= valid < 1 and 0 <= test < 1 and valid + test < 1):
        raise LivegenError(f"split fractions valid={valid}, test={test} must be >= 0 and sum to less than 1")
    groups: dict[str, list[int]] = {}
    for i, tune in enumerate(tunes):
        groups.setdefault(_music_key(tune), []).append(i)
    ranked = sorted(groups, key=lambda key: hashlib.sha256(f"{seed}\0{key}".encode()).hexdigest())
    n = len(tunes)
    quotas = [("test", round(test * n)), ("valid", round(valid * n))]
    which: dict[int, str] = {}
    taken = dict.fromkeys(SPLITS, 0)
    for key in ranked:
        members = groups[key]
        split = next((name for name, quota in quotas if taken[name] < quota), "train")
        taken[split] += len(members)
        for i in members:
            which[i] = split
    return {name: [tunes[i] for i in range(n) if which[i] == name] for name in SPLITS}


def load_abc_splits(path: str | Path | None = None, valid: float = 0.05, test: float = 0.10,
                    seed: int = 0) -> dict[str, list[str]]:
    """:func:`read_abc_tunes` then :func:`split_tunes`; ``path`` defaults to :func:`default_abc_path`."""
    return split_tunes(read_abc_tunes(default_abc_path() if path is None else path),
                       valid=valid, test=test, seed=seed)
