"""The shared data sets for the tests, or small synthetic stand-ins when they are absent.

The real sets live in ``shared/data`` beside the checkout (or ``$LIVEGEN_DATA``); a fresh
clone has nothing there. :func:`build` then writes a tiny tree with the same layout, made
from fixed seeds (nothing is copied from the real sets)::

    polyphonic/{Nottingham,JSB_Chorales,MuseData,Piano_midi}.mat, JSB_Chorales.pickle
    midi/music21_testPrimitive/test01.mid .. test21.mid
    abc/irish.abc
    lyrics/public_domain/<eight collections>.txt, lyrics/songdata_subset.csv

The ``SYNTHETIC_*`` constants are the figures of that tree; a test states the real figure
and the synthetic one side by side with :meth:`DataSets.pick`. Tests about the real sets
themselves (the shipped models' test-set scores) call :meth:`DataSets.require_real`.
"""

from __future__ import annotations

import csv
import pickle
import random
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import mido
import numpy as np
import pytest
import scipy.io

from livegen.data.locations import data_roots
from livegen.data.polyphonic import DATASETS

T = TypeVar("T")

HOW_TO_GET = "put shared/data beside the clone (../shared/data) or set LIVEGEN_DATA"
REAL_CSV = "songdata_subset_874rows.csv"
SYNTHETIC_CSV = "songdata_subset.csv"
MUSIC21 = Path("midi") / "music21_testPrimitive"


@dataclass(frozen=True)
class DataSets:
    """Where the data sets are, and whether they are the real ones."""

    root: Path
    real: bool

    @property
    def polyphonic(self) -> Path:
        return self.root / "polyphonic"

    @property
    def music21(self) -> Path:
        return self.root / MUSIC21

    @property
    def irish(self) -> Path:
        return self.root / "abc" / "irish.abc"

    @property
    def lyrics(self) -> Path:
        return self.root / "lyrics"

    @property
    def public_domain(self) -> Path:
        return self.lyrics / "public_domain"

    @property
    def lyrics_csv(self) -> Path:
        return self.lyrics / (REAL_CSV if self.real else SYNTHETIC_CSV)

    def pick(self, real: T, synthetic: T) -> T:
        """``real`` on the shared sets, ``synthetic`` on the stand-ins."""
        return real if self.real else synthetic

    def require_real(self, what: str) -> None:
        """Skip (one line saying how to get the data) unless these are the shared sets."""
        if not self.real:
            pytest.skip(f"needs the {what}: {HOW_TO_GET}")

    @contextmanager
    def named(self) -> Iterator[None]:
        """Names (``jsb``, ``irish``, ``public_domain``) resolve here inside the block:
        ``LIVEGEN_DATA`` points at the stand-ins; the shared sets are found as usual."""
        if self.real:
            yield
            return
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("LIVEGEN_DATA", str(self.root))
            yield


def shared() -> DataSets | None:
    """The shared data sets: the first data root (in the readers' search order) where every
    one the tests read is there; a user data dir holding only fetched sets is passed over."""
    for root in data_roots():
        needed = [root / "polyphonic" / f"{stem}.mat" for stem in DATASETS.values()]
        needed += [root / "polyphonic" / "JSB_Chorales.pickle", root / MUSIC21 / "test10.mid",
                   root / "abc" / "irish.abc", root / "lyrics" / REAL_CSV,
                   *(root / "lyrics" / "public_domain" / f"{name}.txt" for name in COLLECTIONS)]
        if all(p.is_file() for p in needed):
            return DataSets(root, real=True)
    return None


def build(root: Path) -> DataSets:
    """Write the synthetic stand-ins under ``root`` (a fresh folder)."""
    write_polyphonic(root / "polyphonic")
    write_music21(root / MUSIC21)
    write_abc(root / "abc" / "irish.abc")
    write_lyrics(root / "lyrics")
    return DataSets(root, real=False)


# --- polyphonic piano-roll sets ----------------------------------------------------------------

#: (train, valid, test) sequences of each synthetic set.
SYNTHETIC_SPLITS: dict[str, tuple[int, int, int]] = {
    "nottingham": (12, 4, 5),
    "jsb": (9, 3, 4),
    "musedata": (7, 3, 2),
    "piano-midi": (6, 2, 3),
}


def _roll(rng: np.random.Generator) -> np.ndarray:
    """A chorale-like (T, 88) 0/1 roll: a few voices moving by small steps, held 1-4 steps."""
    steps = int(rng.integers(24, 64))
    roll = np.zeros((steps, 88), dtype=np.uint8)
    for low, high in ((15, 35), (30, 50), (45, 65)):
        key, t = int(rng.integers(low, high)), 0
        while t < steps:
            hold = int(rng.integers(1, 5))
            if rng.random() > 0.15:  # sometimes a rest
                roll[t:t + hold, key] = 1
            t += hold
            key = int(np.clip(key + rng.integers(-3, 4), low, high))
    return roll


def write_polyphonic(folder: Path) -> None:
    folder.mkdir(parents=True)
    for seed, (name, sizes) in enumerate(SYNTHETIC_SPLITS.items()):
        rng = np.random.default_rng(seed)
        splits = {split: [_roll(rng) for _ in range(n)] for split, n in zip(("train", "valid", "test"), sizes)}
        cells = {}
        for split, rolls in splits.items():
            cell = np.empty((1, len(rolls)), dtype=object)
            for i, r in enumerate(rolls):
                cell[0, i] = r
            cells[f"{split}data"] = cell
        scipy.io.savemat(str(folder / f"{DATASETS[name]}.mat"), cells)
        if name == "jsb":  # the original layout: one tuple of MIDI pitches per step
            frames = {split: [[tuple(np.int64(j + 21) for j in np.flatnonzero(row)) for row in r] for r in rolls]
                      for split, rolls in splits.items()}
            (folder / "JSB_Chorales.pickle").write_bytes(pickle.dumps(frames))


# --- a folder of MIDI files ------------------------------------------------------------------

#: files with pitched notes outside A0..C8 (the folder test needs at least one).
OUT_OF_RANGE = {"test04.mid": (12, 115), "test15.mid": (18,)}


def _events(rng: random.Random, tpb: int, beats: int, channel: int, low: int, high: int,
            note_on_off: bool) -> list[tuple[int, mido.Message]]:
    """Absolute-tick note events: a line of notes on a grid of eighths, sixteenths or triplets,
    with chords, rests and overlapping repeats of a pitch now and then."""
    grid = rng.choice([tpb // 2, tpb // 4, tpb // 3])
    out: list[tuple[int, mido.Message]] = []
    tick, pitch = 0, rng.randint(low, high)
    while tick < beats * tpb:
        length = grid * rng.choice([1, 1, 2, 3])
        if rng.random() > 0.1:
            chord = [pitch] + ([pitch + rng.choice([3, 4, 7])] if rng.random() < 0.25 else [])
            for p in chord:
                vel = rng.randint(50, 110)
                # mostly legato; some end early, a few overlap the next note
                off_at = tick + length + rng.choice([0, 0, 0, 0, 0, -(grid // 3), -(grid // 3), grid])
                out.append((tick, mido.Message("note_on", note=p, velocity=vel, channel=channel)))
                off = (mido.Message("note_off", note=p, velocity=64, channel=channel) if note_on_off
                       else mido.Message("note_on", note=p, velocity=0, channel=channel))
                out.append((off_at, off))
        tick += length
        pitch = min(high, max(low, pitch + rng.randint(-4, 4)))
    return out


def _track(events: list[tuple[int, mido.Message | mido.MetaMessage]], name: str) -> mido.MidiTrack:
    """Absolute-tick events -> a track with delta times (offs before ons at one tick)."""
    def order(item: tuple[int, mido.Message | mido.MetaMessage]) -> tuple[int, int]:
        tick, msg = item
        return tick, 0 if msg.is_meta else 1 if msg.type == "note_off" or getattr(msg, "velocity", 1) == 0 else 2

    track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
    now = 0
    for tick, msg in sorted(events, key=order):
        track.append(msg.copy(time=tick - now))
        now = tick
    return track


def _tempo_map(rng: random.Random, tpb: int, beats: int) -> list[tuple[int, mido.MetaMessage]]:
    tempos = [(0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(rng.choice([72, 96, 120, 144]))))]
    tempos.append((0, mido.MetaMessage("time_signature", numerator=4, denominator=4)))
    if rng.random() < 0.4:
        for k in range(1, 4):
            bpm = rng.choice([60, 80, 100, 132, 160])
            tempos.append((k * beats * tpb // 4, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))))
    return tempos


def _tempo_ramp_file(path: Path) -> None:
    """test10: sixteen F3 sixteenth notes one beat apart while the tempo drops from 120 to 60 bpm."""
    tpb = 480
    events: list[tuple[int, mido.Message | mido.MetaMessage]] = [
        (k * 4 * tpb, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))
        for k, bpm in enumerate((120, 100, 80, 60))]
    for k in range(16):
        events.append((k * tpb, mido.Message("note_on", note=53, velocity=90)))
        events.append((k * tpb + tpb // 4, mido.Message("note_on", note=53, velocity=0)))
    mid = mido.MidiFile(type=0, ticks_per_beat=tpb)
    mid.tracks.append(_track(events, "ramp"))
    mid.save(str(path))


def write_music21(folder: Path) -> None:
    """21 small files of both types at several resolutions, with tempo changes, note-offs of
    both kinds, chords, triplets, a drum part (test17) and notes off the keyboard (OUT_OF_RANGE)."""
    folder.mkdir(parents=True)
    resolutions = [96, 192, 256, 480, 960, 1024]
    for i in range(1, 22):
        name = f"test{i:02d}.mid"
        if name == "test10.mid":
            _tempo_ramp_file(folder / name)
            continue
        rng = random.Random(i)
        tpb = resolutions[i % len(resolutions)]
        beats = rng.randint(8, 24)
        parts = [_events(rng, tpb, beats, ch, 48 + 12 * ch, 60 + 12 * ch, note_on_off=bool(i % 2))
                 for ch in range(1 + i % 3)]
        for k, pitch in enumerate(OUT_OF_RANGE.get(name, ())):
            parts[0] += [(k * tpb, mido.Message("note_on", note=pitch, velocity=80)),
                         ((k + 1) * tpb, mido.Message("note_off", note=pitch, velocity=0))]
        if name == "test17.mid":
            parts.append([(k * tpb // 2 + d, mido.Message("note_on", note=36 + 2 * (k % 2), velocity=v, channel=9))
                          for k in range(2 * beats) for d, v in ((0, 100), (tpb // 8, 0))])
        tempo = _tempo_map(rng, tpb, beats)
        if i % 4 == 0:  # type 0: everything in one track
            mid = mido.MidiFile(type=0, ticks_per_beat=tpb)
            mid.tracks.append(_track([*tempo, *(e for part in parts for e in part)], name))
        else:
            mid = mido.MidiFile(type=1, ticks_per_beat=tpb)
            mid.tracks.append(_track(list(tempo), "conductor"))
            for ch, part in enumerate(parts):
                program = mido.Message("program_change", program=(8 * i + ch) % 128, channel=ch)
                mid.tracks.append(_track([(0, program), *part], f"part {ch}"))
        mid.save(str(folder / name))


# --- an ABC tune collection --------------------------------------------------------------------

SYNTHETIC_TUNES = 120
#: meter -> (kind of tune, eighth notes per bar, eighths per beat group)
_METERS = {"C": ("Reel", 8, 2), "C|": ("Hornpipe", 8, 2), "6/8": ("Jig", 6, 3), "2/4": ("Polka", 4, 2),
           "9/8": ("Slip Jig", 9, 3), "3/4": ("Waltz", 6, 2)}
_KEYS = ["D Major", "G Major", "A Dorian", "D Mixolydian", "E Dorian", "A Major", "E Minor", "D Dorian"]
_LETTERS = ["G,", "A,", "B,", "C", "D", "E", "F", "G", "A", "B", "c", "d", "e", "f", "g", "a", "b"]
#: X numbers of the tunes with an oddity the parser must repair: a meter line followed by
#: music, and a stray letter.
ODD_METER_LINE, STRAY_LETTER = 7, 23


def _title(x: int, meter: str) -> str:
    return f"Synthetic {_METERS[meter][0]} No. {x}"


def _meter(x: int) -> str:
    return list(_METERS)[(x - 1) % len(_METERS)]


#: (X number, title) of one tune per meter, for the cross-check against abc2midi.
SYNTHETIC_CROSS_CHECK = [(x, _title(x, _meter(x))) for x in range(1, len(_METERS) + 1)]
SYNTHETIC_REPAIRED = {_title(ODD_METER_LINE, _meter(ODD_METER_LINE)), _title(STRAY_LETTER, _meter(STRAY_LETTER))}


def _note(rng: random.Random, state: list[int]) -> str:
    step = rng.choice([-2, -1, -1, 1, 1, 2, 0])
    if not 2 <= state[0] + step < len(_LETTERS):  # turn back at the ends of the range
        step = -step
    state[0] += step
    accidental = rng.choice(["^", "=", "_"]) if rng.random() < 0.04 else ""
    return accidental + _LETTERS[state[0]]


def _group(rng: random.Random, units: int, state: list[int]) -> str:
    """One beat group of ``units`` eighth notes."""
    roll = rng.random()
    if units == 2:
        if roll < 0.5:
            return _note(rng, state) + _note(rng, state)
        if roll < 0.65:
            return _note(rng, state) + "2"
        if roll < 0.8:
            return _note(rng, state) + rng.choice([">", "<"]) + _note(rng, state)
        if roll < 0.9:
            return "(3" + _note(rng, state) + _note(rng, state) + _note(rng, state)
        if roll < 0.95:
            n = _note(rng, state)
            return f"{n}-{n}"
        n = _note(rng, state)
        if state[0] + 2 < len(_LETTERS):  # a third above, chord notes written low to high
            return f"[{n}{_LETTERS[state[0] + 2]}]2"
        return f"[{_LETTERS[state[0] - 2]}{n}]2"
    if roll < 0.55:
        return _note(rng, state) + _note(rng, state) + _note(rng, state)
    if roll < 0.75:
        return _note(rng, state) + "2" + _note(rng, state)
    if roll < 0.9:
        return _note(rng, state) + "3"
    n = _note(rng, state)
    return f"{n}2-{n}"


def _bar(rng: random.Random, meter: str, state: list[int]) -> str:
    _, units, size = _METERS[meter]
    groups = [_group(rng, size, state) for _ in range(units // size)]
    chord = f'"{rng.choice("DGAE")}"' if rng.random() < 0.1 else ""
    grace = "{g}" if rng.random() < 0.05 else ""
    if size == 3:  # compound time: beamed by beats
        return chord + grace + " ".join(groups)
    half = (len(groups) + 1) // 2  # simple time: beamed by half bars
    return chord + grace + "".join(groups[:half]) + " " + "".join(groups[half:])


def _tune(x: int) -> str:
    rng = random.Random(x)
    meter = _meter(x)
    bars = 16 if _METERS[meter][1] <= 4 else 8
    state = [rng.randint(6, 11)]
    lines = []
    for part in range(2):
        body = [_bar(rng, meter, state) for _ in range(bars)]
        rows = [body[i:i + 4] for i in range(0, bars, 4)]
        text = ["|".join(row) for row in rows]
        if part == 1 and x % 3 == 0:  # first and second endings
            *head, last = rows
            text = ["|".join(row) for row in head] + ["|".join(last[:2]) + f"|[1 {last[2]}:|[2 {last[3]}|]"]
            text[0] = "|:" + text[0]
        else:
            text[-1] += ":"
            if part == 1 and x % 2:
                text[0] = "|:" + text[0]
        lines += [t + "|!" if not t.endswith("|]") else t + "!" for t in text]
    if x == ODD_METER_LINE:
        lines.append(f"M:{meter} {_bar(rng, meter, state)}|{_bar(rng, meter, state)}:|!")
    if x == STRAY_LETTER:
        lines[1] = lines[1].replace("|", " J|", 1)
    header = [f"X:{x}", f"T:{_title(x, meter)}", f"Z: id:synthetic-{x}", f"M:{meter}", "L:1/8",
              f"K:{_KEYS[(x * 5) % len(_KEYS)]}"]
    return "\n".join(header + lines)


def write_abc(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text("\n\n".join(_tune(x) for x in range(1, SYNTHETIC_TUNES + 1)) + "\n\n")


# --- lyrics ------------------------------------------------------------------------------------

COLLECTIONS = [
    "burns_poems_and_songs", "child_ballads", "cowboy_songs", "elizabethan_songbooks",
    "hymns_christian_devotion", "liberty_minstrel", "moore_irish_melodies", "nursery_rhymes",
]
#: collections cut at two blank lines only (LF line ends, no titles).
LF_COLLECTIONS = ["child_ballads", "cowboy_songs", "elizabethan_songbooks", "hymns_christian_devotion",
                  "liberty_minstrel", "moore_irish_melodies"]
_ADJ = ["green", "cold", "bonnie", "lonely", "merry", "silver", "old", "bright", "weary", "gentle", "wild"]
_NOUN = ["river", "meadow", "lantern", "sailor", "willow", "morning", "harvest", "mill", "shepherd",
         "sparrow", "valley", "candle", "prairie", "mountain", "lassie", "fiddle"]
_VERB = ["wanders", "sings", "waits", "rises", "falls", "turns", "sleeps", "shines", "calls", "dances"]
_PREP = ["by", "over", "under", "beside", "beyond", "across", "along"]


def _line(rng: random.Random, end: str) -> str:
    first = rng.choice(["The", "A", "My", "Our", "And the", "O the", "When the"])
    return (f"{first} {rng.choice(_ADJ)} {rng.choice(_NOUN)} {rng.choice(_VERB)} "
            f"{rng.choice(_PREP)} the {rng.choice(_NOUN)}{end}")


def _stanza(rng: random.Random, indent: bool = False) -> list[str]:
    lines = [_line(rng, rng.choice([",", ";", ","])) for _ in range(3)] + [_line(rng, rng.choice([".", "!"]))]
    return [("  " * (i % 2) if indent else "") + ln for i, ln in enumerate(lines)]


def _song(rng: random.Random, indent: bool = False) -> list[list[str]]:
    return [_stanza(rng, indent) for _ in range(rng.choice([1, 2, 2, 3, 4]))]


def _lf_collection(name: str) -> str:
    rng = random.Random(name)
    songs = [_song(rng, indent=rng.random() < 0.3) for _ in range(rng.randint(20, 28))]
    return "\n\n\n".join("\n\n".join("\n".join(st) for st in song) for song in songs) + "\n"


#: the nursery rhymes: their number, the opening of the first two, the end of the first, and
#: words of titles (in capitals, which must not survive).
NURSERY_RHYMES = 30
NURSERY_FIRST = ("The miller's cat she caught a mouse,\nAll on a market day;",
                 "And took it home again.", "Rain on the steeple, rain on the sea,")
NURSERY_TITLES = ("MILLER", "GREY GOOSE")


def _nursery() -> str:
    rng = random.Random("nursery")
    rhymes = [("THE MILLER _and_ HIS CAT", [
        ["    The miller's cat she caught a mouse,", "      All on a market day;",
         "    The miller's wife she chased the cat,", "      And the mouse ran far away."],
        ["    The miller's boy he found the mouse,", "    And took it home again."]]),
        ("RAIN ON THE STEEPLE", [["    Rain on the steeple, rain on the sea,", "    Rain on the apple tree;",
                                  "    Rain on the roof and rain on me,", "    And sun for supper tea."]])]
    for k in range(NURSERY_RHYMES - 2):
        title = "THE OLD GREY GOOSE" if k == 5 else f"THE {rng.choice(_ADJ).upper()} {rng.choice(_NOUN).upper()}"
        stanzas = [["    " + ln for ln in st] for st in _song(rng, indent=True)]
        if k == 3:  # an italic word
            stanzas[0][1] = stanzas[0][1].replace(" the ", " _the_ ", 1)
        if k == 8:  # a picture table: every row is dropped
            stanzas.append(["    |A         |B        |", "    |was an    |bit      |",
                            "    |apple pie.|it.      |"])
        rhymes.append((title, stanzas))
    text = "".join(f"\n\n\n\n{title}\n\n\n" + "\n\n".join("\n".join(st) for st in stanzas) + "\n"
                   for title, stanzas in rhymes)
    return text.replace("\n", "\r\n")


#: the Burns-like collection: the number of songs, the first song's opening, titles (title
#: case, dropped), the opening of the song after the last title, and its editors' mark.
BURNS_SONGS = 40
BURNS_FIRST = "Fair blaws the wind on Cairnie hill,"
BURNS_TITLES = ("Weaver's Lament", "Mill Lasses, The", "A Song of Rivers")
BURNS_AFTER_TITLE = "If ye gang down by yon mill-lade,"
BURNS_NOTE_MARK = "Ed.]"


def _burns() -> str:
    rng = random.Random("burns")
    songs: list[tuple[str | None, list[list[str]]]] = []
    first = _song(rng)
    first[0][0] = BURNS_FIRST
    songs.append((None, first))
    for k in range(1, BURNS_SONGS):
        song = _song(rng)
        if k % 6 == 1:  # a footnote marker
            song[0][2] = song[0][2].rstrip(",;") + "^" + str(k % 9 + 1) + ","
        if k % 7 == 2:  # a row of dots for lost lines
            song[0].insert(2, ". . . . . . .")
        title = None
        if k % 5 == 0:
            title = BURNS_TITLES[(k // 5) % len(BURNS_TITLES)]
            if k == 35:
                title = BURNS_TITLES[1]
                song[0][0] = BURNS_AFTER_TITLE
        songs.append((title, song))
    parts = ["\n\n\n\n"]
    for k, (title, song) in enumerate(songs):
        body = "\n\n".join("\n".join(st) for st in song)
        if k == 0:
            parts.append(body)
        elif title:  # a title with one blank line on each side ends the song before it
            parts.append(f"\n\n{title}\n\n{body}")
        else:
            parts.append(f"\n\n\n{body}")
        if k % 9 == 4:  # an editor's note after the song
            parts.append(f"\n\n[This song was written for a friend at the\nmill of Cairnie. - {BURNS_NOTE_MARK}")
    return ("".join(parts) + "\n").replace("\n", "\r\n")


#: the CSV: songs kept per artist (one more row is too short and dropped), and the song the
#: reader test looks at: (artist, opening, a line that starts its second stanza).
CSV_ARTISTS = {"ABBA": 6, "Air Supply": 5, "Hollow Pines": 4, "Mara Quill": 3}
CSV_SONG = ("ABBA", "Look at the lantern, it shines on the hill", "She's the light of the valley")


def _csv_rows() -> list[list[str]]:
    rng = random.Random("csv")
    rows = []
    for artist, n in CSV_ARTISTS.items():
        for k in range(n):
            stanzas = _song(rng)
            if (artist, k) == (CSV_SONG[0], 2):
                stanzas = [[CSV_SONG[1], *stanzas[0][1:]], [CSV_SONG[2], *_stanza(rng)[1:]]]
            # lines end in two spaces and stanzas are split by a line of two spaces, as in the real file
            text = "  \n  \n".join("  \n".join(st) for st in stanzas) + "  \n" + ("  \n" * (k % 3))
            rows.append([artist, f"Song {k + 1}", f"/{artist[0].lower()}/song-{k + 1}.html", text])
    rows.insert(3, ["Mara Quill", "Fragment", "/m/fragment.html", "la la  \n"])  # too short: dropped
    return rows


def write_lyrics(folder: Path) -> None:
    public = folder / "public_domain"
    public.mkdir(parents=True)
    for name in LF_COLLECTIONS:
        (public / f"{name}.txt").write_bytes(_lf_collection(name).encode())
    (public / "nursery_rhymes.txt").write_bytes(_nursery().encode())
    (public / "burns_poems_and_songs.txt").write_bytes(_burns().encode())
    with open(folder / SYNTHETIC_CSV, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["artist", "song", "link", "text"])
        writer.writerows(_csv_rows())

