"""ABC transposition (livegen.music.abc.transpose) and the key augmentation built on it.

The strongest check reads every tune of the shared irish.abc (or of a synthetic stand-in) in
every target key with the ABC parser and demands the same notes at the same times, each
exactly ``shift`` semitones away.
"""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
from shared_data import DataSets

from livegen.data.abc import read_abc_tunes
from livegen.music.abc.parse import parse_abc
from livegen.music.abc.transpose import AbcTransposeError, key_targets, tonic_name, transpose_abc
from livegen.training.char_tasks import abc_key_augment, build_vocab, encode_song


def _pitches(text: str) -> list[tuple[int, float, float]]:
    return [(n.pitch, n.start, n.duration) for n in parse_abc(text).notes]


def test_tonic_names_follow_the_circle_of_fifths() -> None:
    assert [tonic_name(f) for f in range(-3, 7)] == ["Eb", "Bb", "F", "C", "G", "D", "A", "E", "B", "F#"]


def test_key_targets_keep_mode_and_style() -> None:
    assert key_targets("D Major", (0, 3)) == ["C Major", "G Major", "A Major"]
    assert key_targets("A Dorian", (0, 2)) == ["D Dorian", "E Dorian"]
    assert key_targets("Em", (1, 2)) == ["Bm"]
    assert key_targets("HP") == [] and key_targets("none") == []


def test_hand_written_tune_moves_letters_and_respells_accidentals() -> None:
    text = "X:1\nT:Test\nM:4/4\nL:1/8\nK:D Major\n|:\"D\"DEFA ^cd=cB|\"G\"A,2 d'2 !trill!e2 [df]2:|!"
    out = transpose_abc(text, "G Major")
    # D major -> G major: up a fourth (5 semitones), letters up three steps
    assert out.split("\n")[4] == "K:G Major"
    assert out.split("\n")[5] == "|:\"G\"GABd ^fg=fe|\"C\"D2 g'2 !trill!a2 [gb]2:|!"
    src, dst = _pitches(text), _pitches(out)
    assert [p + 5 for p, _, _ in src] == [p for p, _, _ in dst]
    assert [(s, d) for _, s, d in src] == [(s, d) for _, s, d in dst]


def test_redundant_accidental_is_respelled_not_copied() -> None:
    # ^f is already sharp in D major; in C major the moved note is plain e, so it reads =e
    out = transpose_abc("X:1\nK:D\n^f f|", "C")
    assert out.endswith("=e e|")
    assert [p for p, _, _ in _pitches(out)] == [76, 76]


def test_key_changes_move_by_the_same_interval() -> None:
    text = "X:1\nL:1/8\nK:D\nDFA|\nK:D Minor\nDFA|[K:A]Ace|"
    out = transpose_abc(text, "E")
    assert "K:E Minor" in out and "[K:B]" in out
    assert [p + 2 for p, _, _ in _pitches(text)] == [p for p, _, _ in _pitches(out)]


def test_annotations_decorations_and_fields_are_left_alone() -> None:
    text = 'X:1\nT:Dance in A\nK:G\n"^Slow"!fermata!G2 "Em7/B"B2|\nW:A verse about G\n'
    out = transpose_abc(text, "A")
    assert 'T:Dance in A' in out and "W:A verse about G" in out and '"^Slow"!fermata!' in out
    assert '"F#m7/C#"' in out


def test_unmovable_tunes_say_why() -> None:
    with pytest.raises(AbcTransposeError, match="no K: line"):
        transpose_abc("X:1\nT:none\nABC|", "G")
    with pytest.raises(AbcTransposeError, match="triple accidental"):
        transpose_abc("X:1\nK:C\n^^C|", "C#")


def test_every_irish_tune_in_every_target_key_keeps_its_notes(datasets: DataSets) -> None:
    tunes = read_abc_tunes(datasets.irish)
    moved = 0
    for text in tunes:
        key_line = next(line for line in text.split("\n") if line.startswith("K:"))
        src = _pitches(text)
        for target in key_targets(key_line[2:]):
            out = transpose_abc(text, target)
            dst = _pitches(out)
            assert len(dst) == len(src), (target, text[:60])
            shifts = {b[0] - a[0] for a, b in zip(src, dst, strict=True)}
            assert len(shifts) == 1 and -6 <= shifts.pop() <= 5, (target, text[:60])
            assert [a[1:] for a in src] == [b[1:] for b in dst], (target, text[:60])
            moved += 1
    assert moved > 5 * len(tunes)


def test_key_augmentation_draws_the_original_and_transposed_versions(datasets: DataSets) -> None:
    tunes = read_abc_tunes(datasets.irish)[:20]
    vocab = build_vocab(tunes)
    encoded = [encode_song(t, vocab) for t in tunes]
    augment = abc_key_augment(tunes, encoded, vocab, (-2, 4))
    rng = random.Random(0)
    drawn = {vocab.decode(augment(encoded[0], rng)) for _ in range(200)}
    keys = {line for text in drawn for line in text.split("\n") if line.startswith("K:")}
    assert len(keys) == 7  # its own key and six others
    assert "\x1e" + tunes[0] + "\x1e" in drawn


def test_bad_key_range_is_one_line(datasets: DataSets) -> None:
    run = subprocess.run([sys.executable, "-m", "livegen", "train", "abc", "--data", str(datasets.irish),
                          "--transpose-keys=4:-2"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert run.stderr.strip().count("\n") == 0 and "--transpose-keys" in run.stderr
