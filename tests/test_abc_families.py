"""The ABC split keeps tune families whole: a tune, its transpositions and its near-copies
(another key, ending or title) are on one side of train/valid/test."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest
from shared_data import DataSets

from livegen.data.abc import (
    SHARED_CONTOURS,
    contours,
    opening_key,
    read_abc_tunes,
    split_tunes,
    tune_families,
)
from livegen.music.abc.transpose import AbcTransposeError, key_targets, transpose_abc
from livegen.training.char_tasks import ABC_TEST, ABC_VALID

_LETTERS = "DEFGABcdefg"


def _random_tune(x: int, title: str, key: str = "D Major") -> str:
    """A reel of 8 bars of random eighth notes, its B part repeated with two endings."""
    rng = random.Random(x)
    bars = ["".join(rng.choice(_LETTERS) for _ in range(8)) for _ in range(10)]
    body = (f"|:{bars[0]}|{bars[1]}|{bars[2]}|{bars[3]}:|!\n"
            f"|:{bars[4]}|{bars[5]}|{bars[6]}|[1 {bars[7]}:|[2 {bars[8]}|]!\n")
    return f"X:{x}\nT:{title}\nZ: id:test-{x}\nM:C\nL:1/8\nK:{key}\n{body}"


def _family_collection() -> tuple[list[str], list[int]]:
    """Tunes 0-4 are one family (the tune, another key, another title, another ending, a
    pickup added); the rest are unrelated."""
    tune = _random_tune(1, "Original")
    last_bar = tune.split("[2 ")[1].split("|")[0]
    family = [
        tune,
        transpose_abc(tune.replace("X:1", "X:2"), "G Major"),
        tune.replace("X:1", "X:3").replace("T:Original", "T:Another Name"),
        tune.replace("X:1", "X:4").replace(f"[2 {last_bar}", "[2 " + last_bar[::-1]),
        tune.replace("X:1", "X:5").replace("|:", "AG|:", 1).replace("T:Original", "T:With a pickup"),
    ]
    others = [_random_tune(x, f"Other {x}", key) for x, key in zip(range(10, 40), ["D Major", "G Major", "A Dorian"] * 10,
                                                                   strict=True)]
    return family + others, [0, 1, 2, 3, 4]


def test_a_tune_and_its_near_copies_make_one_family() -> None:
    tunes, members = _family_collection()
    families = tune_families(tunes)
    assert len({families[i] for i in members}) == 1
    assert len(set(families)) == len(tunes) - len(members) + 1  # the others stand alone
    assert opening_key(tunes[0]) == opening_key(tunes[1]) == opening_key(tunes[2])
    assert contours(tunes[0]) == contours(tunes[1])  # transposition-proof


@pytest.mark.parametrize("seed", range(6))
def test_the_split_keeps_a_family_on_one_side(seed: int) -> None:
    tunes, members = _family_collection()
    shuffled = tunes[:]
    random.Random(seed).shuffle(shuffled)
    splits = split_tunes(shuffled, valid=0.2, test=0.2, seed=seed)
    sides = {name for name, part in splits.items() for t in part if t in {tunes[i] for i in members}}
    assert len(sides) == 1
    assert sorted(t for part in splits.values() for t in part) == sorted(tunes)
    again = split_tunes(sorted(tunes), valid=0.2, test=0.2, seed=seed)  # file order does not matter
    assert {k: sorted(v) for k, v in splits.items()} == {k: sorted(v) for k, v in again.items()}


def test_irish_families_stay_on_one_side(datasets: DataSets) -> None:
    datasets.require_real("irish.abc")
    tunes = read_abc_tunes(datasets.irish)
    splits = split_tunes(tunes, valid=ABC_VALID, test=ABC_TEST)
    assert {k: len(v) for k, v in splits.items()} == {"train": 684, "valid": 40, "test": 80}
    side = {t: name for name, part in splits.items() for t in part}

    def title(t: str) -> str:
        return next(line[2:] for line in t.split("\n") if line.startswith("T:"))

    # the tunes filed twice in two keys whose twin sat in training when the split grouped
    # identical text only
    by_title = defaultdict(set)
    for t in tunes:
        by_title[title(t)].add(side[t])
    for name in ("Star of Munster", "Fisherman's Lilt", "Stack of Barley", "McFadden's Handsome Daughter",
                 "Swallow's Nest", "Out on the Ocean", "Peter Street"):
        assert len(by_title[name]) == 1, name
    # no held-out tune opens like, or shares a third of its contours with, a tune of another side
    held = [t for t in tunes if side[t] != "train"]
    shapes = {t: contours(t) for t in tunes}
    openings = {t: opening_key(t) for t in tunes}
    for t in held:
        for u in tunes:
            if side[u] == side[t]:
                continue
            assert openings[t] is None or openings[t] != openings[u], (title(t), title(u))
            shared = len(shapes[t] & shapes[u])
            assert shared < SHARED_CONTOURS * min(len(shapes[t]), len(shapes[u])), (title(t), title(u))
    # a test tune moved into any key that key augmentation uses is still in its family
    for t in splits["test"][:20]:
        key = next(line[2:] for line in t.split("\n") if line.startswith("K:"))
        for target in key_targets(key, (-2, 4))[:3]:
            try:
                moved = transpose_abc(t, target)
            except AbcTransposeError:
                continue
            assert contours(moved) == contours(t) and opening_key(moved) == opening_key(t)
