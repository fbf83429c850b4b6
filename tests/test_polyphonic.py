"""Readers for the four polyphonic sets, on the real shared files (or synthetic stand-ins)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from shared_data import SYNTHETIC_SPLITS, DataSets

from livegen.data.polyphonic import load_rolls, read_pickle, safe_shift_range, transpose
from livegen.errors import LivegenError

# (train, valid, test) sequence counts of the standard splits
EXPECTED = {
    "nottingham": (694, 173, 170),
    "jsb": (229, 76, 77),
    "musedata": (524, 135, 124),
    "piano-midi": (87, 12, 25),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_named_sets_load_with_standard_splits(name: str, named_datasets: DataSets) -> None:
    d = load_rolls(name)
    expected = named_datasets.pick(EXPECTED, SYNTHETIC_SPLITS)[name]
    assert tuple(len(d.split(s)) for s in ("train", "valid", "test")) == expected
    seq = d.split("test")[0]
    assert seq.ndim == 2 and seq.shape[1] == 88 and seq.dtype == np.uint8
    assert set(np.unique(seq)) <= {0, 1}
    assert d.steps_per_beat in (1, 2)


def test_jsb_pickle_matches_mat(named_datasets: DataSets) -> None:
    path = named_datasets.polyphonic / "JSB_Chorales.pickle"
    p = read_pickle(path)
    m = load_rolls("jsb")
    for split in ("train", "valid", "test"):
        assert len(p[split]) == len(m.split(split))
        for a, b in zip(p[split], m.split(split)):
            assert np.array_equal(a, b)
    assert load_rolls(str(path)).steps_per_beat == 1


def test_pickle_that_runs_code_is_refused(tmp_path) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    bad = tmp_path / "evil.pickle"
    bad.write_bytes(pickle.dumps({"train": [Evil()], "valid": [], "test": []}))
    with pytest.raises(LivegenError, match="refusing"):
        read_pickle(bad)


def test_bad_dataset_names_and_paths(named_datasets: DataSets) -> None:
    with pytest.raises(LivegenError, match="nottingham"):
        load_rolls("no-such-set")
    with pytest.raises(LivegenError, match="split"):
        load_rolls("jsb").split("dev")


def test_transposition_keeps_notes_on_the_keyboard(named_datasets: DataSets) -> None:
    seq = load_rolls("jsb").split("train")[0]
    lo, hi = safe_shift_range(seq, 6)
    for k in (lo, hi):
        shifted = transpose(seq, k)
        assert shifted.sum() == seq.sum()
    assert np.array_equal(transpose(transpose(seq, hi), -hi), seq)
