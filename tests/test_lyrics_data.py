"""Lyrics readers on the real shared files (or synthetic stand-ins), and the whole-song
train/valid split."""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

import pytest
from shared_data import (
    BURNS_AFTER_TITLE,
    BURNS_FIRST,
    BURNS_NOTE_MARK,
    BURNS_SONGS,
    BURNS_TITLES,
    COLLECTIONS,
    CSV_ARTISTS,
    CSV_SONG,
    NURSERY_FIRST,
    NURSERY_RHYMES,
    NURSERY_TITLES,
    DataSets,
)

from livegen.data.lyrics import (
    Song,
    clean_song,
    labels_of,
    read_lyrics,
    read_lyrics_csv,
    read_text_songs,
    split_collection,
    split_songs,
)
from livegen.errors import LivegenError

# the shared CSV (songdata_subset_874rows.csv) is copyrighted: loader tests only


@pytest.fixture(scope="module")
def public_songs(datasets: DataSets) -> list[Song]:
    with datasets.named():
        return read_lyrics("public_domain")


def _raw(datasets: DataSets, name: str) -> str:
    return (datasets.public_domain / f"{name}.txt").read_bytes().decode("utf-8")


# --- CSV ----------------------------------------------------------------------------------

def test_csv_reads_every_song_with_artist_labels(datasets: DataSets) -> None:
    songs = read_lyrics_csv(datasets.lyrics_csv)
    assert len(songs) == datasets.pick(874, sum(CSV_ARTISTS.values()))
    counts = Counter(s.label for s in songs)
    assert (len(counts), counts["ABBA"], counts["Air Supply"]) == datasets.pick(
        (24, 113, 111), (len(CSV_ARTISTS), CSV_ARTISTS["ABBA"], CSV_ARTISTS["Air Supply"]))
    for s in songs:
        assert "\r" not in s.text and "\n\n\n" not in s.text
        assert all(line == line.strip() for line in s.text.split("\n"))
    artist, opening, second_stanza = datasets.pick(("ABBA", "Look at her face", "She's just my kind of girl"),
                                                   CSV_SONG)
    abba = next(s for s in songs if s.text.startswith(opening))
    assert abba.label == artist and f"\n\n{second_stanza}" in abba.text


def test_csv_artist_filter_is_case_insensitive(datasets: DataSets) -> None:
    songs = read_lyrics(datasets.lyrics_csv, artists=["abba", "AIR SUPPLY"])
    assert labels_of(songs) == ["ABBA", "Air Supply"]
    assert len(songs) == datasets.pick(224, CSV_ARTISTS["ABBA"] + CSV_ARTISTS["Air Supply"])


def test_csv_unknown_artist_is_a_clear_error(datasets: DataSets) -> None:
    with pytest.raises(LivegenError, match="'ABBBA' is not in .*did you mean ABBA"):
        read_lyrics_csv(datasets.lyrics_csv, artists=["ABBBA"])


def test_csv_missing_columns_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("name,lyrics\nx,y\n")
    with pytest.raises(LivegenError, match="artist,song,link,text"):
        read_lyrics_csv(bad)
    with pytest.raises(LivegenError, match="does not exist"):
        read_lyrics_csv(tmp_path / "none.csv")


# --- text collections ---------------------------------------------------------------------

def test_public_domain_folder_has_eight_labels(public_songs: list[Song]) -> None:
    assert labels_of(public_songs) == COLLECTIONS
    for s in public_songs:
        assert "\r" not in s.text and "\n\n\n" not in s.text and len(s.text) >= 20
        assert not s.text.startswith("\n") and not s.text.endswith("\n")
        assert all(line == line.strip() for line in s.text.split("\n"))


@pytest.mark.parametrize("name", ["child_ballads", "cowboy_songs", "elizabethan_songbooks",
                                  "hymns_christian_devotion", "liberty_minstrel", "moore_irish_melodies"])
def test_lf_collections_split_at_two_blank_lines(public_songs: list[Song], name: str, datasets: DataSets) -> None:
    """No titles here: one song per two-blank-line gap, stanzas kept inside the song."""
    raw = _raw(datasets, name).strip("\n")
    expected = len(re.findall(r"\n[ \t]*\n[ \t]*\n", raw)) + 1
    songs = [s for s in public_songs if s.label == name]
    assert len(songs) == expected
    first = raw.split("\n\n\n")[0].strip()
    assert songs[0].text == "\n".join(ln.strip() for ln in first.split("\n"))
    assert sum("\n\n" in s.text for s in songs) > len(songs) // 2  # stanzas survive


def test_nursery_rhymes_titles_dropped_indent_removed(public_songs: list[Song], datasets: DataSets) -> None:
    songs = [s for s in public_songs if s.label == "nursery_rhymes"]
    low, high = datasets.pick((250, 320), (NURSERY_RHYMES - 1, NURSERY_RHYMES + 1))
    assert low < len(songs) < high
    opening, ending, second = datasets.pick(
        ("The Queen of Hearts she made some tarts,\nAll on a summer's day;", "And vowed he'd steal no more.",
         "St. Swithin's day, if thou dost rain,"), NURSERY_FIRST)
    assert songs[0].text.startswith(opening)
    assert songs[0].text.endswith(ending)
    assert songs[1].text.startswith(second)
    joined = "\n".join(s.text for s in songs)
    assert all(t not in joined for t in datasets.pick(("QUEEN", "SIMPLE SIMON"), NURSERY_TITLES))
    assert "|" not in joined
    assert "_" not in joined


def test_burns_crlf_titles_notes_and_footnotes(public_songs: list[Song], datasets: DataSets) -> None:
    raw = _raw(datasets, "burns_poems_and_songs")
    assert "\r\n" in raw
    songs = [s for s in public_songs if s.label == "burns_poems_and_songs"]
    low, high = datasets.pick((400, 900), (BURNS_SONGS - 1, BURNS_SONGS + 1))
    assert low < len(songs) < high
    assert songs[0].text.startswith(datasets.pick("Once I lov'd a bonie lass,", BURNS_FIRST))
    joined = "\n".join(s.text for s in songs)
    for title in datasets.pick(("Tragic Fragment", "Tarbolton Lasses, The", "A Song of Similes"), BURNS_TITLES):
        assert f"\n{title}\n" not in f"\n{joined}\n"
    assert not re.search(r"\^\d", joined)
    assert datasets.pick("R.B.]", BURNS_NOTE_MARK) not in joined and "\n. . ." not in joined
    tarbolton = [s for s in songs if s.text.startswith(datasets.pick("If ye gae up to yon hill-tap,",
                                                                     BURNS_AFTER_TITLE))]
    assert len(tarbolton) == 1  # the title ended the previous song


def test_crlf_cr_and_lf_give_the_same_songs(tmp_path: Path) -> None:
    text = "TITLE ONE\n\n\n    first line,\n      second line;\n\nthird line.\n\n\n\n\nSecond Song Here\n\nan other song begins,\nand ends.\n"
    lf = split_collection(text)
    assert lf == ["first line,\nsecond line;\n\nthird line.", "an other song begins,\nand ends."]
    assert split_collection(text.replace("\n", "\r\n")) == lf
    assert split_collection(text.replace("\n", "\r")) == lf
    (tmp_path / "mine.txt").write_bytes(text.replace("\n", "\r\n").encode())
    songs = read_text_songs(tmp_path / "mine.txt")
    assert [s.text for s in songs] == lf and {s.label for s in songs} == {"mine"}


def test_clean_song_collapses_blank_runs() -> None:
    assert clean_song("  a  \r\n\r\n\r\n  b\r\n\r\n") == "a\n\nb"


def test_text_errors(tmp_path: Path, named_datasets: DataSets) -> None:
    with pytest.raises(LivegenError, match="not found"):
        read_lyrics(tmp_path / "missing")
    with pytest.raises(LivegenError, match="no .txt"):
        read_text_songs(tmp_path)
    (tmp_path / "empty.txt").write_text("\n\n\n")
    with pytest.raises(LivegenError, match="no songs"):
        read_text_songs(tmp_path)
    with pytest.raises(LivegenError, match="labels: .*nursery_rhymes"):
        read_lyrics("public_domain", artists=["shanties"])
    only = read_lyrics("public_domain", artists=["Cowboy_Songs"])
    assert labels_of(only) == ["cowboy_songs"]


# --- split --------------------------------------------------------------------------------

def test_split_keeps_songs_whole_and_is_deterministic(public_songs: list[Song]) -> None:
    train, valid = split_songs(public_songs)
    assert len(train) + len(valid) == len(public_songs)
    assert Counter(train) + Counter(valid) == Counter(public_songs)  # every song whole, once
    chars = sum(len(s.text) for s in public_songs)
    assert 0.03 < sum(len(s.text) for s in valid) / chars < 0.12
    assert labels_of(valid) == COLLECTIONS  # every collection is held out somewhere
    # the assignment depends on the song alone, not on order or on the other songs
    shuffled = list(public_songs)
    random.Random(3).shuffle(shuffled)
    _, valid2 = split_songs(shuffled)
    assert set(valid2) == set(valid)
    _, valid3 = split_songs([s for s in public_songs if s.label == "cowboy_songs"])
    assert set(valid3) == {s for s in valid if s.label == "cowboy_songs"}
    with pytest.raises(ValueError):
        split_songs(public_songs, 0.0)
