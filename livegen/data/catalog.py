"""The data sets ``livegen data`` knows: where each comes from, its licence, size and SHA-256.

Each file has a path in the data layout the readers use (``polyphonic/Nottingham.mat``,
``abc/irish.abc``; see :mod:`livegen.data.locations`), a canonical source URL pinned to a
fixed revision, its size in bytes and its SHA-256. A mirror serves the same layout under its
base URL (``<mirror>/polyphonic/Nottingham.mat``), so a copy of a data root served over HTTP
is a mirror.

The polyphonic piano rolls are the four sets of Boulanger-Lewandowski, Bengio and Vincent
(ICML 2012) with their standard train/valid/test splits, as ``.mat`` files (``traindata``,
``validdata``, ``testdata``; each piece a ``(T, 88)`` array) converted from the original
pickles by Gan et al. for their TSBN code (NIPS 2015); the SHA-256 of each ``.mat`` is that of
the file at the pinned revision. ``jsb-pickle`` is the original JSB pickle from
Boulanger-Lewandowski's page.
"""

from __future__ import annotations

from dataclasses import dataclass

from livegen.data.abc import DEFAULT_ABC
from livegen.data.polyphonic import DATASETS
from livegen.errors import LivegenError

#: Boulanger-Lewandowski's page for the four piano-roll sets.
ICML2012_PAGE = "http://www-etud.iro.umontreal.ca/~boulanni/icml2012"
#: the TSBN code (Gan et al., NIPS 2015) at the revision whose ``.mat`` files are catalogued.
_TSBN = ("https://raw.githubusercontent.com/zhegan27/TSBN_code_NIPS2015/"
         "029c9955f963918c6e2d2e60d1402645a8ea78a9/polyphonic_music/data/")
#: MIT 6.S191 (Introduction to Deep Learning) at the revision that added ``irish.abc``.
_MIT_6S191 = ("https://raw.githubusercontent.com/MITDeepLearning/introtodeeplearning/"
              "82eb8e47e8726088127bd6d5feccc880631d0183/mitdeeplearning/data/irish.abc")
_TSBN_TERMS = "converted by Gan et al. (TSBN code: 'permission is granted to use and modify')"


@dataclass(frozen=True)
class DataFile:
    """One file of a data set.

    Attributes:
        path: where it goes in a data root, in the readers' layout (``/``-separated).
        url: the canonical source (pinned to a fixed revision where the host allows).
        size: bytes.
        sha256: hex digest of the whole file.
    """

    path: str
    url: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Dataset:
    """A data set by name: what it is, its licence and its files."""

    name: str
    title: str
    description: str
    licence: str
    home: str
    files: tuple[DataFile, ...]

    @property
    def size(self) -> int:
        """Total bytes of its files."""
        return sum(f.size for f in self.files)


def _mat(name: str) -> str:
    return f"polyphonic/{DATASETS[name]}.mat"


#: name -> data set, in the order ``livegen data list`` shows them.
CATALOG: dict[str, Dataset] = {
    "nottingham": Dataset(
        "nottingham", "Nottingham",
        "1,037 British and American folk tunes as piano rolls, 694/173/170 train/valid/test",
        "tunes from Foxley's Nottingham Music Database (folk music, no stated licence; research use); "
        + _TSBN_TERMS,
        ICML2012_PAGE,
        (DataFile(_mat("nottingham"), _TSBN + "Nottingham.mat", 371688,
                  "d154f7ca2e90799dc1dc011d8fc048f2fc6ef3f7c69d974b9cf27a471634fbea"),),
    ),
    "jsb": Dataset(
        "jsb", "JSB Chorales",
        "382 four-part chorales by J. S. Bach as piano rolls, 229/76/77 train/valid/test",
        "public-domain music (split of Allan & Williams 2005); " + _TSBN_TERMS,
        ICML2012_PAGE,
        (DataFile(_mat("jsb"), _TSBN + "JSB_Chorales.mat", 96095,
                  "ac0e608527cc411c7e21ef7d38be47f0de7fb6b13b3ae168b8eccf1c2a9b18d4"),),
    ),
    "musedata": Dataset(
        "musedata", "MuseData",
        "783 orchestral and piano pieces (CCARH MuseData) as piano rolls, 524/135/124 train/valid/test",
        "CCARH MuseData: non-commercial research and teaching use; " + _TSBN_TERMS,
        ICML2012_PAGE,
        (DataFile(_mat("musedata"), _TSBN + "MuseData.mat", 947219,
                  "e8d9eb422ec3833c25f43a9f854d4ee0b9118a20b45f2c183395cdc30ffa14ff"),),
    ),
    "piano-midi": Dataset(
        "piano-midi", "Piano-midi.de",
        "124 classical piano pieces (Piano-midi.de) as piano rolls, 87/12/25 train/valid/test",
        "Piano-midi.de by Bernd Krueger: CC BY-SA 3.0 DE; " + _TSBN_TERMS,
        ICML2012_PAGE,
        (DataFile(_mat("piano-midi"), _TSBN + "Piano_midi.mat", 223732,
                  "990a8a71d5764a7eaa3e78d9e5023d1470380fe2db3a1448265a97a24c8b1c34"),),
    ),
    "jsb-pickle": Dataset(
        "jsb-pickle", "JSB Chorales (pickle)",
        "the same JSB chorales in the original pickle layout (lists of pitch tuples); "
        "read with --data PATH/JSB_Chorales.pickle",
        "public-domain music; distributed by Boulanger-Lewandowski for research",
        ICML2012_PAGE,
        (DataFile("polyphonic/JSB_Chorales.pickle",
                  "http://www-etud.iro.umontreal.ca/~boulanni/JSB%20Chorales.pickle", 2051809,
                  "69dc4c3e52800959ac0ab3b82aa3e5f55285ce64f1705acb3e3a8ef77a5c051c"),),
    ),
    "irish": Dataset(
        "irish", "irish.abc",
        "804 Irish folk tunes in ABC notation (the ABC model's corpus)",
        "MIT licence (MIT Introduction to Deep Learning, 6.S191)",
        "https://github.com/MITDeepLearning/introtodeeplearning",
        (DataFile(DEFAULT_ABC.as_posix(), _MIT_6S191, 197618,
                  "df3782d5f7b5a2f4c66aa7c13f13008d5f48757b3f5f51620cd6c1ceb2c53023"),),
    ),
}

#: other spellings accepted for a name.
ALIASES: dict[str, str] = {
    "irish.abc": "irish", "abc": "irish", "jsb-chorales": "jsb", "jsb_chorales": "jsb",
    "piano-midi.de": "piano-midi", "piano_midi": "piano-midi", "pianomidi": "piano-midi",
}


#: names a user may try for lyrics, which have no download (see :data:`LYRICS_NOTE`).
LYRICS_NAMES = ("lyrics", "public_domain", "public-domain")
#: the honest line about lyrics data: nothing to fetch, and the shape to bring.
LYRICS_NOTE = ("lyrics: no set to fetch. The shipped `lyrics` model was trained on eight public-domain "
               "song collections (Burns, nursery rhymes and six pre-1929 song books), which have no "
               "pinned download; `--data public_domain` reads them where a data root holds "
               "lyrics/public_domain/. Bring your own: a .txt file or a folder of "
               ".txt files (one label per file; songs apart by two blank lines, stanzas by one), or a CSV "
               "with columns artist,song,link,text; then `livegen train lyrics --data PATH`")


def lookup(name: str) -> Dataset:
    """The data set called ``name`` (case-insensitive; :data:`ALIASES` allowed).

    Raises:
        LivegenError: no such data set (the line lists the known names).
    """
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key in LYRICS_NAMES:
        raise LivegenError(LYRICS_NOTE)
    if key not in CATALOG:
        raise LivegenError(f"unknown data set {name!r}: known are {', '.join(CATALOG)} "
                           "(see `livegen data list`)")
    return CATALOG[key]
