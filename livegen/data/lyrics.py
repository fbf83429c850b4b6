"""Lyrics readers: the ``artist,song,link,text`` CSV layout and plain-text song collections.

Both give a list of :class:`Song` (text, label). For the CSV the label is the artist; for
text files it is the file stem (one label per file; a folder means every ``*.txt`` in it).

Text collections are cut into songs at runs of two or more blank lines and at title lines
(a one-line paragraph in capitals or title case without closing punctuation, as in Burns'
poems and the nursery rhymes); titles are dropped. Gutenberg apparatus is cleaned away:
editorial notes in square brackets, footnote markers (``^3``), ``_italic_`` underscores,
rows of dots, table rows with ``|`` rules, leading indentation and trailing spaces. Line
endings may be LF, CRLF or CR. Stanzas stay separated by one blank line.

:func:`split_songs` makes a deterministic train/valid split that keeps each song whole.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from livegen.data.locations import find_data, install_root
from livegen.errors import LivegenError

log = logging.getLogger(__name__)

#: Named sources under the shared data directory.
NAMED_SOURCES: dict[str, str] = {"public_domain": "lyrics/public_domain"}

_FOOTNOTE = re.compile(r"\^\d+")
_SPACES = re.compile(r"[ \t]+")
_DOTS = re.compile(r"^[.\s*]+$")
_CLOSING = re.compile(r"[.,;:!?'\"\-)]$")
_WORD = re.compile(r"[A-Za-z][A-Za-z']*")
_MIN_SONG_CHARS = 20


@dataclass(frozen=True)
class Song:
    """One song: its text (lines joined by ``\\n``, stanzas by a blank line) and its label."""

    text: str
    label: str


def normalize_newlines(text: str) -> str:
    """CRLF and lone CR -> LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def clean_song(text: str) -> str:
    """Tidy one song: strip each line, collapse blank runs to one blank line, trim ends."""
    lines = [_SPACES.sub(" ", ln).strip() for ln in normalize_newlines(text).split("\n")]
    out: list[str] = []
    for ln in lines:
        if ln or (out and out[-1]):
            out.append(ln)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


def _is_title(paragraph: list[str]) -> bool:
    """A one-line paragraph in capitals, or title case without closing punctuation."""
    if len(paragraph) != 1:
        return False
    line = paragraph[0]
    words = _WORD.findall(line)
    if not words or len(words) > 12:
        return False
    letters = [c for c in line if c.isalpha()]
    if len(letters) >= 2 and all(c.isupper() for c in letters):
        return True
    capitalised = sum(w[0].isupper() for w in words) / len(words)
    return capitalised >= 0.6 and not _CLOSING.search(line)


def _is_note(paragraph: list[str]) -> bool:
    """An editor's note: a paragraph ending in ``]`` that opens with ``[`` or never opens one."""
    text = " ".join(paragraph)
    return text.endswith("]") and (text.startswith("[") or "[" not in text)


def _clean_line(line: str) -> str | None:
    """One line of a text collection, cleaned; None if it is apparatus (dots, table rows)."""
    line = _FOOTNOTE.sub("", line).replace("_", "")
    line = _SPACES.sub(" ", line).strip()
    if line.count("|") >= 2 or (line and _DOTS.match(line)):
        return None
    return line


def split_collection(text: str) -> list[str]:
    """Cut a plain-text song collection into cleaned song texts (titles dropped)."""
    lines = [_clean_line(ln) for ln in normalize_newlines(text).split("\n")]
    # paragraphs, each tagged with the number of blank lines before it
    paragraphs: list[tuple[int, list[str]]] = []
    blanks, current = 0, []
    for ln in lines:
        if ln is None:
            continue
        if ln:
            current.append(ln)
            continue
        if current:
            paragraphs.append((blanks, current))
            blanks, current = 0, []
        blanks += 1
    if current:
        paragraphs.append((blanks, current))

    songs: list[list[list[str]]] = [[]]
    for gap, para in paragraphs:
        if gap >= 2 and songs[-1]:
            songs.append([])
        if _is_note(para):
            continue
        if _is_title(para):
            if songs[-1]:
                songs.append([])
            continue
        songs[-1].append(para)
    texts = ["\n\n".join("\n".join(p) for p in song) for song in songs]
    return [t for t in texts if len(t) >= _MIN_SONG_CHARS]


def resolve_source(data: str | os.PathLike[str]) -> Path:
    """A path, or a named source (``public_domain``) under the shared data directory."""
    text = str(data)
    if text in NAMED_SOURCES:
        path = find_data(NAMED_SOURCES[text]) or install_root() / NAMED_SOURCES[text]
    else:
        path = Path(text).expanduser()
    if not path.exists():
        raise LivegenError(
            f"lyrics data {text!r} not found at {path}: give a .csv, a .txt file, a folder of "
            f".txt files, or one of: {', '.join(NAMED_SOURCES)}"
        )
    return path


def read_lyrics_csv(path: str | os.PathLike[str], artists: Sequence[str] | None = None) -> list[Song]:
    """Songs from a CSV with columns ``artist,song,link,text``; label = artist.

    Args:
        artists: keep only these artists (matched case-insensitively); None keeps all.

    Raises:
        LivegenError: missing file, missing columns, an unknown artist, or no songs.
    """
    path = Path(path)
    if not path.is_file():
        raise LivegenError(f"lyrics CSV {path} does not exist")
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.DictReader(fh)
        missing = {"artist", "text"} - set(reader.fieldnames or [])
        if missing:
            raise LivegenError(
                f"lyrics CSV {path} lacks column(s) {', '.join(sorted(missing))}; expected artist,song,link,text"
            )
        rows = [(r["artist"].strip(), r["text"] or "") for r in reader if r.get("artist")]
    songs = [Song(t, a) for a, t in ((a, clean_song(t)) for a, t in rows) if len(t) >= _MIN_SONG_CHARS]
    if artists:
        known: dict[str, str] = {}
        for s in songs:
            known.setdefault(s.label.casefold(), s.label)
        wanted = set()
        for name in artists:
            key = name.strip().casefold()
            if key not in known:
                near = difflib.get_close_matches(name, sorted(set(known.values())), n=3)
                hint = f"did you mean {', '.join(near)}?" if near else f"{len(known)} artists in the file"
                raise LivegenError(f"artist {name!r} is not in {path.name} ({hint})")
            wanted.add(known[key])
        songs = [s for s in songs if s.label in wanted]
    if not songs:
        raise LivegenError(f"lyrics CSV {path} holds no songs")
    return songs


def read_text_songs(path: str | os.PathLike[str]) -> list[Song]:
    """Songs from a ``.txt`` file or a folder of them; label = file stem.

    Raises:
        LivegenError: missing path, a folder without ``.txt`` files, or no songs.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".txt" and p.is_file())
        if not files:
            raise LivegenError(f"folder {path} holds no .txt song files")
    elif path.is_file():
        files = [path]
    else:
        raise LivegenError(f"lyrics path {path} does not exist")
    songs: list[Song] = []
    for f in files:
        texts = split_collection(f.read_text(encoding="utf-8", errors="replace"))
        if not texts:
            log.warning("%s holds no songs; skipped", f)
        songs.extend(Song(t, f.stem) for t in texts)
    if not songs:
        raise LivegenError(f"no songs found in {path}")
    return songs


def read_lyrics(data: str | os.PathLike[str], artists: Sequence[str] | None = None) -> list[Song]:
    """Read any lyrics source: a CSV, a text file, a folder, or a named source.

    ``artists`` filters CSV artists or text-file labels (case-insensitive).
    """
    path = resolve_source(data)
    if path.suffix.lower() == ".csv":
        return read_lyrics_csv(path, artists)
    songs = read_text_songs(path)
    if artists:
        labels = {s.label.casefold(): s.label for s in songs}
        for name in artists:
            if name.strip().casefold() not in labels:
                raise LivegenError(
                    f"label {name!r} is not in {path} (labels: {', '.join(sorted(labels.values()))})"
                )
        keep = {n.strip().casefold() for n in artists}
        songs = [s for s in songs if s.label.casefold() in keep]
    return songs


def labels_of(songs: Iterable[Song]) -> list[str]:
    """The distinct labels of ``songs``, sorted."""
    return sorted({s.label for s in songs})


def _bucket(song: Song) -> float:
    digest = hashlib.sha1(f"{song.label}\x00{song.text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_songs(songs: Sequence[Song], valid_fraction: float = 0.07) -> tuple[list[Song], list[Song]]:
    """Deterministic train/valid split by a stable hash of each whole song.

    The same song always lands in the same split, whatever the order or the other songs.
    Each label with at least two songs keeps at least one in each split.
    """
    if not 0.0 < valid_fraction < 1.0:
        raise ValueError("valid_fraction must lie in (0, 1)")
    train: list[Song] = []
    valid: list[Song] = []
    for s in songs:
        (valid if _bucket(s) < valid_fraction else train).append(s)
    for label in labels_of(songs):
        tr = [s for s in train if s.label == label]
        va = [s for s in valid if s.label == label]
        if tr and not va and len(tr) >= 2:
            move = min(tr, key=_bucket)
            train.remove(move)
            valid.append(move)
        elif va and not tr and len(va) >= 2:
            move = max(va, key=_bucket)
            valid.remove(move)
            train.append(move)
    return train, valid
