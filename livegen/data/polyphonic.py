"""Readers for the four classic polyphonic piano-roll sets.

Each set has standard ``train``/``valid``/``test`` splits. A sequence is a ``(T, 88)`` uint8
array: row ``t`` is one time step, column ``j`` is MIDI pitch ``j + 21`` (A0..C8).

Sets are selected by name (``nottingham``, ``jsb``, ``musedata``, ``piano-midi``), found as
``polyphonic/<stem>.mat`` in the first data root holding it (``$LIVEGEN_DATA``, the user data
directory that ``livegen data fetch`` fills, ``../shared/data``; see
:mod:`livegen.data.locations`), or by an explicit path to a ``.mat`` file, the original JSB
``.pickle`` layout, or a folder of ``.mid`` files (see :mod:`livegen.data.midi_folder`).
"""

from __future__ import annotations

import io
import logging
import os
import pickle
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from livegen.data.locations import data_roots, find_data, install_root, searched
from livegen.data.midi_folder import load_midi_files, load_midi_folder
from livegen.data.roll_dataset import SPLITS, Roll, RollDataset
from livegen.errors import LivegenError
from livegen.music.keyboard import LOWEST_PITCH, N_KEYS

log = logging.getLogger(__name__)

#: dataset name -> file stem in the polyphonic data directory.
DATASETS: dict[str, str] = {
    "nottingham": "Nottingham",
    "jsb": "JSB_Chorales",
    "musedata": "MuseData",
    "piano-midi": "Piano_midi",
}

#: steps per beat of each standard set (as distributed: Nottingham, MuseData and
#: Piano-midi.de are sampled at eighth notes, JSB at quarter notes).
STEPS_PER_BEAT: dict[str, int] = {"nottingham": 2, "jsb": 1, "musedata": 2, "piano-midi": 2}


def data_root() -> Path:
    """The first data root in the search order that exists (the install root when none does).

    Readers look a file up with :func:`livegen.data.locations.find_data`, which tries every
    root in order; this single root is for callers that need one folder.
    """
    return next((root for root in data_roots() if root.is_dir()), install_root())


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy scalars and dtypes: a pickle can run code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in self._ALLOWED:
            module = module.replace("numpy.core.", "numpy._core.")
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data pickle")


def _pitches_to_roll(frames: Sequence[Iterable[int]]) -> Roll:
    """Convert a list of pitch tuples (one per time step) to a ``(T, 88)`` uint8 roll."""
    roll = np.zeros((len(frames), N_KEYS), dtype=np.uint8)
    for t, frame in enumerate(frames):
        for pitch in frame:
            j = int(pitch) - LOWEST_PITCH
            if 0 <= j < N_KEYS:
                roll[t, j] = 1
    return roll


def read_pickle(path: Path) -> dict[str, list[Roll]]:
    """Read the original pickle layout: ``{'train': [[(60, 64), ...], ...], ...}``."""
    try:
        with open(path, "rb") as fh:
            raw = _RestrictedUnpickler(io.BytesIO(fh.read())).load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise LivegenError(f"{path}: not a piano-roll pickle ({exc})") from None
    if not isinstance(raw, dict) or not {"train", "valid", "test"} <= set(raw):
        raise LivegenError(f"{path}: expected a dict with train/valid/test lists")
    return {split: [_pitches_to_roll(seq) for seq in raw[split]] for split in SPLITS}


def read_mat(path: Path) -> dict[str, list[Roll]]:
    """Read a ``.mat`` file with ``traindata``/``validdata``/``testdata`` cell arrays."""
    import scipy.io

    try:
        raw = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises many types for a damaged file
        raise LivegenError(f"{path}: not a readable .mat file ({exc})") from None
    out: dict[str, list[Roll]] = {}
    for split in SPLITS:
        key = f"{split}data"
        if key not in raw:
            raise LivegenError(f"{path}: missing {key!r}; expected traindata/validdata/testdata")
        cells = raw[key].reshape(-1)
        seqs: list[Roll] = []
        for cell in cells:
            arr = np.asarray(cell)
            if arr.ndim != 2 or arr.shape[1] != N_KEYS:
                raise LivegenError(f"{path}: a {split} sequence has shape {arr.shape}, not (T, 88)")
            seqs.append((arr > 0).astype(np.uint8))
        out[split] = seqs
    return out


def load_rolls(spec: str | os.PathLike[str], steps_per_beat: int | None = None) -> RollDataset:
    """Load a polyphonic dataset by name or path.

    Args:
        spec: ``nottingham``/``jsb``/``musedata``/``piano-midi``, a ``.mat`` or ``.pickle``
            file, or a folder of MIDI files.
        steps_per_beat: for MIDI folders, time steps per quarter note (default 4).

    Raises:
        LivegenError: unknown name, missing file, unreadable data.
    """
    text = str(spec)
    key = text.lower().replace("_", "-")
    if key in DATASETS:
        relative = f"polyphonic/{DATASETS[key]}.mat"
        found = find_data(relative)
        if found is None:
            raise LivegenError(
                f"dataset {key!r} not found (looked for {searched(relative)}); run "
                f"`livegen data fetch {key}`, or pass --data PATH"
            )
        return RollDataset(key, read_mat(found), STEPS_PER_BEAT[key])
    path = Path(text).expanduser()
    if not path.exists():
        raise LivegenError(
            f"no dataset {text!r}: use one of {', '.join(DATASETS)} or a path to a .mat, "
            ".pickle or folder of .mid files"
        )
    if path.is_dir():
        return load_midi_folder(path, steps_per_beat=steps_per_beat or 4)
    suffix = path.suffix.lower()
    stem = path.stem.lower()
    spb = next((v for k, v in STEPS_PER_BEAT.items() if k.replace("-", "_") in stem), None)
    if "jsb" in stem:
        spb = STEPS_PER_BEAT["jsb"]
    if suffix == ".mat":
        return RollDataset(str(path), read_mat(path), steps_per_beat or spb or 2)
    if suffix in (".pickle", ".pkl"):
        return RollDataset(str(path), read_pickle(path), steps_per_beat or spb or 1)
    if suffix in (".mid", ".midi"):
        return load_midi_files([path], name=str(path), steps_per_beat=steps_per_beat or 4)
    raise LivegenError(f"{path}: unknown dataset format {suffix!r}; expected .mat, .pickle or a folder")


def transpose(roll: Roll, semitones: int) -> Roll:
    """Shift a ``(T, 88)`` roll by ``semitones``; notes pushed off the keyboard are dropped."""
    if semitones == 0:
        return roll
    out = np.zeros_like(roll)
    if semitones > 0:
        out[:, semitones:] = roll[:, :-semitones]
    else:
        out[:, :semitones] = roll[:, -semitones:]
    return out


def safe_shift_range(roll: Roll, max_shift: int) -> tuple[int, int]:
    """Largest ``(down, up)`` shifts within ``±max_shift`` that keep every note on the keys."""
    active = np.flatnonzero(roll.any(axis=0))
    if active.size == 0:
        return -max_shift, max_shift
    return -min(max_shift, int(active[0])), min(max_shift, N_KEYS - 1 - int(active[-1]))
