"""ABC tune collections (``irish.abc``): read, split into tunes, split train/valid/test.

A collection is split into tunes at its ``X:`` lines; each tune's text is kept verbatim (with
trailing blank lines trimmed), so a char-level model sees the real notation.

The train/valid/test split keeps **tune families** whole and never changes between runs. A
family is a tune with its transpositions and near-copies: the same tune in another key,
with another ending or under another title (collections file a tune in two keys; key
augmentation in training makes more). Two tunes are in one family when

- their music is the same text apart from the ``X:``, ``T:`` and ``Z:`` lines, or
- they open alike: the melody of the first two full bars (the highest note at each onset,
  a pickup skipped), as pitch classes from the key's tonic with their lengths, is the same
  (:func:`opening_key`: the opening transposed to a common key), or
- their melodies share at least a third of their contours (the distinct runs of
  :data:`CONTOUR_NOTES` intervals, taken modulo an octave, of the tune with fewer):
  transposition- and octave-proof, so another ending, a variation or a retitled copy in
  another key still matches (:func:`tune_families`);

and families are closed under these links. Families are ranked by the SHA-256 of ``seed``
and their music (a family by its last-ranked member, so a tune without relatives keeps the
place it had when the split grouped identical music only), and the first
``round(test * n)`` tunes' families go to ``test``, the next ``round(valid * n)`` to
``valid``, the rest to ``train``. Each split keeps file order. It does not depend on the
order of the file, only on the tunes' text and the seed.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

from livegen.data.locations import find_data, install_root, searched
from livegen.errors import LivegenError
from livegen.music.abc.header import LETTER_SEMITONES
from livegen.music.abc.parse import AbcTune, parse_abc, split_abc
from livegen.music.abc.timeline import DOWNBEAT_VELOCITY

log = logging.getLogger(__name__)

#: the collection used when none is named (relative to the data root).
DEFAULT_ABC = Path("abc") / "irish.abc"

SPLITS = ("train", "valid", "test")

_NOT_MUSIC = ("X:", "T:", "Z:")

#: notes per melodic contour compared between tunes (intervals modulo an octave between them).
CONTOUR_NOTES = 7
#: share of the shorter tune's contours that the other must hold too for one family.
SHARED_CONTOURS = 1 / 3
#: an opening key needs at least this many notes to link tunes.
OPENING_NOTES = 8


def default_abc_path() -> Path:
    """``abc/irish.abc`` in the first data root holding it (see :mod:`livegen.data.locations`);
    where ``livegen data fetch irish`` would put it when no root has it."""
    return find_data(DEFAULT_ABC) or install_root() / DEFAULT_ABC


def read_abc_tunes(path: str | Path) -> list[str]:
    """Read an ``.abc`` collection as one text per tune (split at ``X:`` lines).

    Raises:
        LivegenError: the file is missing, unreadable, or holds no ``X:`` line.
    """
    p = Path(path)
    if not p.is_file():
        found = find_data(DEFAULT_ABC)
        where = f"found here at {found}" if found else "`livegen data fetch irish` installs it"
        raise LivegenError(f"ABC file {p} not found; pass --data irish for the irish collection ({where}), "
                           "or the path of an .abc file")
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


@lru_cache(maxsize=4096)
def _parsed(tune: str) -> AbcTune | None:
    try:
        return parse_abc(tune, repair=True)
    except LivegenError:
        return None


def melody(tune: str) -> list[tuple[float, int, float, bool]]:
    """The tune's melody as played (repeats expanded): ``(start, pitch, length, downbeat)``
    of the highest note at each onset; empty when the text holds no playable notes."""
    parsed = _parsed(tune)
    if parsed is None:
        return []
    top: dict[float, tuple[int, float, bool]] = {}
    for n in parsed.notes:
        if n.start not in top or n.pitch > top[n.start][0]:
            top[n.start] = (n.pitch, n.duration, n.velocity == DOWNBEAT_VELOCITY)
    return [(t, *top[t]) for t in sorted(top)]


def _tonic(tune: str) -> int:
    parsed = _parsed(tune)
    name = parsed.key.tonic if parsed is not None else ""
    if not name:
        return 0
    return LETTER_SEMITONES[name[0].upper()] + name.count("#") - name[1:].count("b")


def opening_key(tune: str) -> tuple[tuple[int, float], ...] | None:
    """The melody of the first two full bars as ``(pitch class from the tonic, length)``:
    the same for a tune and its transpositions, other endings and retitled copies. None when
    the opening has fewer than :data:`OPENING_NOTES` notes."""
    parsed = _parsed(tune)
    notes = melody(tune)
    if parsed is None or not notes:
        return None
    bar = float(parsed.meter.bar_length) * 4  # beats (quarter notes)
    downbeats = [t for t, _, _, down in notes if down and t > 0]
    start = downbeats[0] if downbeats and downbeats[0] < bar - 1e-9 else 0.0  # skip a pickup
    tonic = _tonic(tune)
    opening = tuple(((p - tonic) % 12, round(d, 4)) for t, p, d, _ in notes if start <= t < start + 2 * bar)
    return opening if len(opening) >= OPENING_NOTES else None


def contours(tune: str) -> frozenset[tuple[int, ...]]:
    """The distinct runs of :data:`CONTOUR_NOTES` melody notes, as intervals modulo 12."""
    pitches = [p for _, p, _, _ in melody(tune)]
    steps = tuple((b - a) % 12 for a, b in zip(pitches, pitches[1:], strict=False))
    n = CONTOUR_NOTES - 1
    return frozenset(steps[i : i + n] for i in range(len(steps) - n + 1))


def tune_families(tunes: list[str]) -> list[int]:
    """A family number for each tune (see the module doc): tunes with the same music, the
    same :func:`opening_key`, or sharing :data:`SHARED_CONTOURS` of their :func:`contours`
    are in one family, and so are their relatives' relatives. Numbers are the index of a
    family's first tune."""
    parent = list(range(len(tunes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(i: int, j: int) -> None:
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    by_key: dict[object, list[int]] = defaultdict(list)
    for i, tune in enumerate(tunes):
        by_key[("music", _music_key(tune))].append(i)
        opening = opening_key(tune)
        if opening is not None:
            by_key[("opening", opening)].append(i)
    for members in by_key.values():
        for j in members[1:]:
            join(members[0], j)
    shapes = [contours(t) for t in tunes]
    holders: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, shape in enumerate(shapes):
        for c in shape:
            holders[c].append(i)
    for i, shape in enumerate(shapes):
        shared: dict[int, int] = defaultdict(int)
        for c in shape:
            for j in holders[c]:
                if j > i:
                    shared[j] += 1
        for j, count in shared.items():
            if count >= SHARED_CONTOURS * min(len(shape), len(shapes[j])):
                join(i, j)
    return [find(i) for i in range(len(tunes))]


def split_tunes(tunes: list[str], valid: float = 0.05, test: float = 0.10, seed: int = 0) -> dict[str, list[str]]:
    """Split whole tune families into ``train``, ``valid`` and ``test`` by a stable hash (see
    the module doc).

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
    rank = [hashlib.sha256(f"{seed}\0{_music_key(tune)}".encode()).hexdigest() for tune in tunes]
    groups: dict[int, list[int]] = defaultdict(list)
    for i, family in enumerate(tune_families(tunes)):
        groups[family].append(i)
    ranked = sorted(groups, key=lambda f: max(rank[i] for i in groups[f]))
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
    """:func:`read_abc_tunes` then :func:`split_tunes`; ``path`` defaults to :func:`default_abc_path`.

    Raises:
        LivegenError: no path given and no data root holds ``abc/irish.abc``, or as
            :func:`read_abc_tunes` and :func:`split_tunes`.
    """
    if path is None and find_data(DEFAULT_ABC) is None:
        raise LivegenError(f"the irish ABC collection is not here (looked for {searched(DEFAULT_ABC)}); "
                           "run `livegen data fetch irish`, or pass --data FILE.abc")
    return split_tunes(read_abc_tunes(default_abc_path() if path is None else path),
                       valid=valid, test=test, seed=seed)
