"""Render outputs: the piano-roll PNG (decoded back by hand) and the fluidsynth WAV."""

from __future__ import annotations

import shutil
import struct
import wave
import zlib

import numpy as np
import pytest
from shared_data import DataSets

from livegen.errors import LivegenError
from livegen.music import audio
from livegen.music.roll_midi import midi_to_roll, notes_to_roll, roll_to_midi, write_midi_bytes
from livegen.music.roll_png import COLORS, write_roll_png


def decode_png(data: bytes) -> np.ndarray:
    """Parse an 8-bit RGB, unfiltered PNG back into an (H, W, 3) array, checking every CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks.append((kind, body))
        pos += 12 + length
    assert [k for k, _ in chunks][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, ctype, interlace) == (8, 2, 0)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, 1 + 3 * width)
    assert not rows[:, 0].any()  # filter type 0 on every row
    return rows[:, 1:].reshape(height, width, 3)


def _has(img: np.ndarray, name: str) -> np.ndarray:
    return (img == np.array(COLORS[name], dtype=np.uint8)).all(axis=2)


def test_png_shows_prime_and_generated_parts_cropped_and_upright(tmp_path) -> None:
    # prime: C4 for steps 0..7; generated: E5 for steps 8..15 (E5 is higher: nearer the top)
    roll = notes_to_roll([(60, 0, 8), (76, 8, 16)], 16)
    path = tmp_path / "roll.png"
    data = write_roll_png(path, roll, prime_steps=8, steps_per_beat=4, px_per_step=3, px_per_key=5, margin_keys=2)
    assert path.read_bytes() == data
    img = decode_png(data)
    keys = (76 + 2) - (60 - 2) + 1
    assert img.shape == (keys * 5, 16 * 3, 3)
    prime = _has(img, "prime_note") | _has(img, "prime_onset")
    gen = _has(img, "generated_note") | _has(img, "generated_onset")
    assert prime.any() and gen.any()
    prime_rows, prime_cols = np.nonzero(prime)
    gen_rows, gen_cols = np.nonzero(gen)
    assert prime_cols.max() < 8 * 3 <= gen_cols.min()
    assert gen_rows.max() < prime_rows.min()  # the higher note is drawn above
    # C4 sits 2 keys above the bottom row of keys: its note pixels are in that key's band
    assert set(prime_rows // 5) == {keys - 1 - 2}
    assert _has(img, "prime_onset")[:, 0].any() and _has(img, "generated_onset")[:, 8 * 3].any()
    assert _has(img, "bar").any() and _has(img, "beat").any() and _has(img, "octave").any()
    assert _has(img, "prime_white_key").any() and _has(img, "white_key").any()


def test_png_bytes_are_deterministic_and_handle_edge_cases(tmp_path) -> None:
    rng = np.random.default_rng(3)
    roll = (rng.random((50, 88)) < 0.05).astype(np.uint8)
    a = write_roll_png(tmp_path / "a.png", roll, prime_steps=20)
    b = write_roll_png(tmp_path / "b.png", roll.copy(), prime_steps=20)
    assert a == b
    assert a != write_roll_png(tmp_path / "c.png", roll, prime_steps=21)
    full = decode_png(a)
    assert full.shape[1] == 50 * 4 and full.shape[0] <= 88 * 4
    empty = decode_png(write_roll_png(tmp_path / "e.png", np.zeros((0, 88), np.uint8)))
    assert empty.shape[0] > 0 and empty.shape[1] > 0
    wide = decode_png(write_roll_png(tmp_path / "w.png", np.ones((5000, 88), np.uint8), max_width=6000))
    assert wide.shape[1] == 5000
    all_gen = decode_png(write_roll_png(tmp_path / "g.png", roll, prime_steps=0))
    assert not (_has(all_gen, "prime_note").any()) and _has(all_gen, "generated_note").any()
    with pytest.raises(LivegenError, match="shape"):
        write_roll_png(tmp_path / "x.png", np.zeros((4, 12)))


needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None, reason="fluidsynth not installed (apt-get install fluidsynth)"
)


@needs_fluidsynth
def test_wav_render_is_audible_and_as_long_as_the_roll(tmp_path) -> None:
    roll = notes_to_roll([(60, 0, 4), (64, 4, 8), (67, 8, 16)], 16)  # 16 steps at 4/beat, 120 bpm: 2 s
    mid = tmp_path / "x.mid"
    write_midi_bytes(roll_to_midi(roll, 4, 120.0), mid)
    out = audio.render_wav(mid, tmp_path / "x.wav", rate=22050)
    with wave.open(str(out), "rb") as wav:
        assert wav.getframerate() == 22050 and wav.getsampwidth() == 2
        seconds = wav.getnframes() / wav.getframerate()
    assert 2.0 <= seconds < 6.0
    assert audio.wav_rms(out) > 0.01


@needs_fluidsynth
def test_real_file_renders_and_silence_measures_silent(tmp_path, datasets: DataSets) -> None:
    out = audio.render_wav(datasets.music21 / "test08.mid", tmp_path / "t.wav")
    assert audio.wav_rms(out) > 0.01
    silent = tmp_path / "silent.mid"
    write_midi_bytes(roll_to_midi(np.zeros((8, 88), np.uint8), 4, 120.0), silent)
    assert audio.wav_rms(audio.render_wav(silent, tmp_path / "s.wav")) < 0.001
    # the roll read back from the WAV's MIDI is the one written
    assert midi_to_roll(silent, 4)[0].shape == (8, 88)


def test_missing_fluidsynth_or_soundfont_names_the_debian_packages(tmp_path, monkeypatch) -> None:
    mid = tmp_path / "x.mid"
    write_midi_bytes(roll_to_midi(notes_to_roll([(60, 0, 2)], 2), 4, 120.0), mid)
    monkeypatch.delenv("LIVEGEN_SOUNDFONT", raising=False)
    monkeypatch.setattr(audio, "SOUNDFONT_CANDIDATES", (tmp_path / "none.sf2",))
    with pytest.raises(LivegenError, match="apt-get install fluidsynth timgm6mb-soundfont"):
        audio.find_soundfont()
    monkeypatch.setenv("LIVEGEN_SOUNDFONT", str(tmp_path / "gone.sf2"))
    with pytest.raises(LivegenError, match="gone.sf2.*LIVEGEN_SOUNDFONT"):
        audio.find_soundfont()
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(LivegenError, match="fluidsynth not found.*apt-get install fluidsynth timgm6mb-soundfont"):
        audio.render_wav(mid, tmp_path / "x.wav")
    with pytest.raises(LivegenError, match="missing.mid"):
        audio.render_wav(tmp_path / "missing.mid", tmp_path / "y.wav")


def test_wav_rms_rejects_non_wav(tmp_path) -> None:
    bad = tmp_path / "x.wav"
    bad.write_bytes(b"RIFF....nonsense")
    with pytest.raises(LivegenError, match="x.wav"):
        audio.wav_rms(bad)
