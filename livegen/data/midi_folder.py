"""A folder (or list) of MIDI files as a piano-roll dataset.

Each readable file becomes one ``(T, 88)`` uint8 sequence (see
:func:`livegen.music.roll_midi.midi_to_roll`). Files go to ``train``/``valid``/``test``
(80/10/10) by a stable hash of their name, so a file keeps its split when others are added.
Unreadable files are skipped with one warning each and counted, never a crash.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from livegen.data.roll_dataset import SPLITS, Roll, RollDataset
from livegen.errors import LivegenError
from livegen.music.roll_midi import midi_to_roll

log = logging.getLogger(__name__)

MIDI_SUFFIXES = (".mid", ".midi", ".smf", ".kar")
#: a folder with fewer readable files than this keeps them all in train (and reuses them).
MIN_FILES_TO_SPLIT = 3


@dataclass(frozen=True)
class MidiScanStats:
    """Counts from reading a set of MIDI files.

    Attributes:
        files_read: files that gave a non-empty roll.
        files_skipped: unreadable files (each logged as a warning).
        files_empty: readable files with no pitched notes (drums only, or nothing).
        notes_in: pitched notes in the files read.
        notes_out: held notes in the resulting rolls.
        notes_folded: notes moved by octaves into A0..C8.
        notes_dropped: notes outside A0..C8 dropped.
        drum_notes: drum notes skipped.
        short_notes: notes shorter than a step kept as one step.
        merged_notes: notes merged into a neighbour of the same pitch.
        steps: total time steps over all rolls.
        skipped: ``(path, reason)`` of each skipped file.
        splits: split name -> number of sequences (files reused when there are too few).
    """

    files_read: int = 0
    files_skipped: int = 0
    files_empty: int = 0
    notes_in: int = 0
    notes_out: int = 0
    notes_folded: int = 0
    notes_dropped: int = 0
    drum_notes: int = 0
    short_notes: int = 0
    merged_notes: int = 0
    steps: int = 0
    skipped: tuple[tuple[str, str], ...] = ()
    splits: dict[str, int] = field(default_factory=dict)


def split_fraction(key: str) -> float:
    """A stable number in ``[0, 1)`` for ``key`` (SHA-1 based; same on every machine and run)."""
    digest = hashlib.sha1(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_splits(keys: Sequence[str]) -> dict[str, list[int]]:
    """Indices of ``keys`` per split: 80/10/10 by :func:`split_fraction`.

    With at least :data:`MIN_FILES_TO_SPLIT` keys, an empty ``valid`` or ``test`` split
    borrows the item with the highest fraction from the largest other split, so no split is
    empty. With fewer keys, everything is ``train`` (the caller reuses it for valid/test).
    """
    fractions = [split_fraction(k) for k in keys]
    out: dict[str, list[int]] = {s: [] for s in SPLITS}
    if len(keys) < MIN_FILES_TO_SPLIT:
        out["train"] = list(range(len(keys)))
        return out
    for i, u in enumerate(fractions):
        out["train" if u < 0.8 else "valid" if u < 0.9 else "test"].append(i)
    for need in ("valid", "test"):
        if not out[need]:
            donor = max((s for s in SPLITS if s != need), key=lambda s: (len(out[s]), s == "train"))
            moved = max(out[donor], key=lambda i: (fractions[i], keys[i]))
            out[donor].remove(moved)
            out[need].append(moved)
            log.info("split %r was empty; moved %s there from %r", need, keys[moved], donor)
    return out


def find_midi_files(folder: str | os.PathLike[str], recursive: bool = True) -> list[Path]:
    """MIDI files (``.mid``/``.midi``/``.smf``/``.kar``, any case) in ``folder``, sorted."""
    root = Path(folder)
    pattern = "**/*" if recursive else "*"
    return sorted(p for p in root.glob(pattern) if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES)


def scan_midi_files(
    paths: Iterable[str | os.PathLike[str]],
    name: str,
    steps_per_beat: int = 4,
    *,
    root: str | os.PathLike[str] | None = None,
    out_of_range: str = "fold",
) -> tuple[RollDataset, MidiScanStats]:
    """Read MIDI files into a split :class:`RollDataset` and report what happened.

    Args:
        paths: MIDI files.
        name: dataset name.
        steps_per_beat: time steps per quarter note.
        root: split keys are paths relative to this folder (default: the file names).
        out_of_range: ``"fold"`` or ``"drop"`` notes outside A0..C8.

    Raises:
        LivegenError: no file gave a roll (all unreadable or empty, or no files at all).
    """
    files = [Path(p) for p in paths]
    rolls: list[Roll] = []
    keys: list[str] = []
    totals: Counter[str] = Counter()  # note counts over every file read, steps over the kept rolls
    skipped: list[tuple[str, str]] = []
    empty = 0
    for path in files:
        try:
            roll, st = midi_to_roll(path, steps_per_beat, out_of_range=out_of_range)
        except LivegenError as exc:
            log.warning("skipping %s", exc)
            skipped.append((str(path), str(exc)))
            continue
        totals.update(notes_in=st.notes_in, notes_out=st.notes_out, folded=st.folded, dropped=st.dropped,
                      drum_notes=st.drum_notes, short=st.short, merged=st.merged)
        if st.notes_out == 0:
            log.warning("skipping %s: no pitched notes", path)
            empty += 1
            continue
        totals["steps"] += st.n_steps
        rolls.append(roll)
        keys.append(path.relative_to(root).as_posix() if root is not None else path.name)
    if not rolls:
        where = f"in {root}" if root is not None else f"among {len(files)} file(s)"
        raise LivegenError(
            f"no readable MIDI notes {where} ({len(skipped)} unreadable, {empty} empty); "
            "point it at a folder of .mid files"
        )
    index = assign_splits(keys)
    splits = {s: [rolls[i] for i in index[s]] for s in SPLITS}
    if len(rolls) < MIN_FILES_TO_SPLIT:
        log.warning(
            "%s: only %d MIDI file(s); using them for train, valid and test alike "
            "(validation scores will be optimistic)",
            name,
            len(rolls),
        )
        splits["valid"] = list(splits["train"])
        splits["test"] = list(splits["train"])
    stats = MidiScanStats(
        files_read=len(rolls),
        files_skipped=len(skipped),
        files_empty=empty,
        notes_in=totals["notes_in"],
        notes_out=totals["notes_out"],
        notes_folded=totals["folded"],
        notes_dropped=totals["dropped"],
        drum_notes=totals["drum_notes"],
        short_notes=totals["short"],
        merged_notes=totals["merged"],
        steps=totals["steps"],
        skipped=tuple(skipped),
        splits={s: len(splits[s]) for s in SPLITS},
    )
    log.info(
        "%s: read %d MIDI file(s), skipped %d unreadable and %d empty; %d notes "
        "(%d folded, %d dropped out of range, %d drum notes ignored); splits %s",
        name,
        stats.files_read,
        stats.files_skipped,
        stats.files_empty,
        stats.notes_out,
        stats.notes_folded,
        stats.notes_dropped,
        stats.drum_notes,
        stats.splits,
    )
    return RollDataset(name, splits, int(steps_per_beat)), stats


def scan_midi_folder(
    path: str | os.PathLike[str],
    steps_per_beat: int = 4,
    recursive: bool = True,
    *,
    out_of_range: str = "fold",
) -> tuple[RollDataset, MidiScanStats]:
    """Read every MIDI file under ``path`` (see :func:`scan_midi_files`).

    Raises:
        LivegenError: not a folder, no MIDI files in it, or none readable.
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise LivegenError(f"{root} is not a folder; pass a folder of .mid files")
    files = find_midi_files(root, recursive)
    if not files:
        raise LivegenError(
            f"no MIDI files (.mid/.midi) in {root}{'' if recursive else ' (not searching subfolders)'}; "
            "point it at a folder of .mid files"
        )
    return scan_midi_files(files, str(root), steps_per_beat, root=root, out_of_range=out_of_range)


def load_midi_folder(path: str | os.PathLike[str], steps_per_beat: int = 4, recursive: bool = True) -> RollDataset:
    """Read every MIDI file under ``path`` as a :class:`RollDataset` (stats are logged)."""
    return scan_midi_folder(path, steps_per_beat, recursive)[0]


def load_midi_files(
    paths: Iterable[str | os.PathLike[str]], name: str, steps_per_beat: int = 4
) -> RollDataset:
    """Read the given MIDI files as a :class:`RollDataset` (stats are logged)."""
    return scan_midi_files(paths, name, steps_per_beat)[0]
