"""Whole ABC tunes from a char-level ``abc`` model, parsed and checked.

:class:`AbcTuneSampler` drives a :class:`~livegen.voices.text.TextGenerator` (its own seeded
``torch.Generator``, so one seed always gives the same tunes, in the same order). Each draft
starts at the tune separator the model was trained with (a tune start), optionally followed
by header text the caller gives (``"X:1\\nT:Reel\\nM:6/8\\nK:D"``: used verbatim, and
``X:1`` is put in front when it does not start with ``X:``), and is sampled until the model
writes the separator again (the tune's end) or a character budget runs out. The draft is
parsed with ``parse_abc(repair=True)``; a draft that runs over budget, does not parse, has
too few notes or needs too many repairs is rejected and the next one is drawn from the same
random stream (rejections are counted). After ``max_tries`` rejections a
:class:`~livegen.errors.LivegenError` is raised.

``fields`` forces header values without breaking the model's habits: the model writes its
header in its own order (``X: T: Z: M: L: K:`` in ``irish.abc``) and whenever it starts a
forced field's line (e.g. ``K:``) the given value is fed in place of what it would have
sampled (``{"K": "E Dorian"}``), so the music that follows is conditioned on it.

:func:`key_from_pitch_classes` picks the folk key (tonic and mode among the keys of
``irish.abc``) that best fits a pitch-class histogram, e.g. of a performer's recent notes.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from livegen.errors import LivegenError
from livegen.music.abc.meter import MeterGuard, check_bars
from livegen.music.abc.parse import AbcTune, parse_abc
from livegen.music.abc.write import print_tune
from livegen.music.scales import NOTE_NAMES, SCALES, tonic_pitch_class
from livegen.nets.char import CharLSTM, Vocab
from livegen.nets.registry import Net
from livegen.voices.text import SEPARATOR, TextGenerator

log = logging.getLogger(__name__)

#: The longest tune of irish.abc has ~600 characters; a draft longer than this is runaway text.
DEFAULT_MAX_CHARS = 1500

#: Keys of irish.abc (``K:`` value -> tunes in that key): the candidates for key detection,
#: their counts a weak prior (a tie goes to the commoner key).
FOLK_KEYS: dict[str, int] = {
    "G Major": 253, "D Major": 240, "A Dorian": 82, "D Mixolydian": 63, "E Dorian": 49,
    "A Major": 38, "A Mixolydian": 23, "E Minor": 21, "D Dorian": 14, "D Minor": 9,
    "B Minor": 9, "F Major": 8, "C Major": 8, "G Mixolydian": 6, "G Dorian": 6,
    "B Dorian": 6, "E Major": 3,
}


@dataclass(frozen=True)
class GeneratedTune:
    """One accepted tune.

    Attributes:
        text: the tune as played, written back as ABC (:func:`~livegen.music.abc.write.print_tune`:
            the repairs applied, and read note for note alike by livegen and abc2midi).
        tune: the parsed tune (notes in quarter-note beats).
        rejected: drafts rejected before this one was accepted.
        reasons: why each of those drafts was rejected.
        chars: characters sampled for this tune, rejected drafts included.
        draft: the text the model wrote (header and body, without the separator).
    """

    text: str
    tune: AbcTune
    rejected: int
    reasons: tuple[str, ...]
    chars: int
    draft: str = ""


#: draws in one draft where no likely character kept the meter (see
#: :meth:`~livegen.voices.text.TextGenerator.next_char`) before the draft is abandoned.
MAX_OVERRULED = 4


@dataclass(frozen=True)
class Draft:
    """One sampled tune text before checking.

    Attributes:
        text: the text from the tune start (header prime included), without separators.
        ended: the model ended the tune itself (False: the character budget ran out).
        missing: forced header fields the model never started a line for.
        stopped: why the draft was abandoned before it ended (empty: it was not).
    """

    text: str
    ended: bool
    missing: tuple[str, ...] = ()
    stopped: str = ""


def key_from_pitch_classes(histogram: npt.ArrayLike, candidates: Mapping[str, int] | None = None,
                           min_notes: float = 1.0) -> str | None:
    """The ``K:`` value (``"E Dorian"``) that best fits a pitch-class histogram.

    Each candidate key scores ``sum(h * profile)`` with ``h`` the normalised histogram and
    ``profile`` 1 on the mode's seven pitch classes, +1 on the tonic, +0.5 on the fifth, 0
    elsewhere; plus ``0.01 * log(count)`` so ties favour common keys.

    Args:
        histogram: 12 weights (C, C#, ..., B), e.g. note-onset counts.
        candidates: ``K:`` value -> prior count (default :data:`FOLK_KEYS`).
        min_notes: below this total weight there is nothing to go on: returns None.
    """
    h = np.asarray(histogram, dtype=np.float64).reshape(12)
    total = float(h.sum())
    if total < min_notes or total <= 0:
        return None
    h = h / total
    best, best_score = None, -math.inf
    for name, count in (candidates or FOLK_KEYS).items():
        tonic, mode = name.split()
        root = tonic_pitch_class(tonic)
        profile = np.zeros(12)
        for step in SCALES[mode.lower()]:
            profile[(root + step) % 12] = 1.0
        profile[root] += 1.0
        profile[(root + 7) % 12] += 0.5
        score = float(h @ profile) + 0.01 * math.log(max(count, 1))
        if score > best_score:
            best, best_score = name, score
    return best


def key_from_pitches(pitches: Sequence[int], candidates: Mapping[str, int] | None = None,
                     min_notes: int = 1) -> str | None:
    """:func:`key_from_pitch_classes` of MIDI pitches (one count per note)."""
    hist = np.bincount(np.asarray(pitches, dtype=np.int64) % 12, minlength=12) if len(pitches) else np.zeros(12)
    return key_from_pitch_classes(hist, candidates, min_notes)


def key_name(tonic: str, scale: str = "major") -> str:
    """``("d", "dorian")`` -> ``"D Dorian"`` (a ``K:`` value); sharps as ``#``.

    Raises:
        LivegenError: unknown tonic, or a scale ABC keys cannot express.
    """
    modes = ("major", "minor", "dorian", "mixolydian")
    if scale not in modes:
        raise LivegenError(f"scale {scale!r} is not an ABC key mode; use one of {', '.join(modes)}")
    return f"{NOTE_NAMES[tonic_pitch_class(tonic)]} {scale.capitalize()}"


class AbcTuneSampler:
    """Sample whole tunes from an ABC char model (see the module docstring).

    Args:
        model: a trained char LSTM on ABC text (unconditioned).
        vocab: its vocabulary.
        seed: seeds the private random stream; the n-th tune is a function of the seed and
            the arguments of the n calls so far.
        separator: the tune start/end character the model was trained with.
        max_chars: character budget per draft (header prime included).
        max_tries: drafts before giving up with a LivegenError.
        min_notes: fewer notes than this rejects a draft.
        max_repairs: more repairs (skipped symbols, fixed headers) than this rejects a draft.
        meter: keep every bar within its meter while sampling
            (:class:`~livegen.music.abc.meter.MeterGuard`: a note that would overfill its
            bar, or a bar line closing a bar of the wrong length, is not drawn).
    """

    def __init__(self, model: CharLSTM, vocab: Vocab, seed: int = 0, separator: str = SEPARATOR,
                 max_chars: int = DEFAULT_MAX_CHARS, max_tries: int = 20, min_notes: int = 8,
                 max_repairs: int = 6, meter: bool = True) -> None:
        if separator not in vocab:
            raise LivegenError("this model has no tune separator in its vocabulary; use a model "
                               "trained by `livegen train abc`")
        self.text = TextGenerator(model, vocab, seed=seed, separator=separator)
        self.separator = separator
        self.max_chars = max_chars
        self.max_tries = max_tries
        self.min_notes = min_notes
        self.max_repairs = max_repairs
        self.meter = meter
        #: drafts rejected over this sampler's life.
        self.rejected_total = 0
        #: tunes accepted over this sampler's life.
        self.accepted_total = 0

    @classmethod
    def from_checkpoint(cls, model: Net, meta: Mapping[str, Any], seed: int = 0,
                        **kwargs: Any) -> AbcTuneSampler:
        """Build from a loaded checkpoint (``load_checkpoint``'s model and meta).

        Raises:
            LivegenError: not a char model, a lyrics model, or no vocabulary in the meta.
        """
        if not isinstance(model, CharLSTM):
            raise LivegenError("this model is not a character model; use an ABC model such as irish")
        if meta.get("text_kind", "abc") != "abc":
            raise LivegenError(f"this is a {meta.get('text_kind')} model, not an ABC tune model; "
                               "use an ABC model such as irish")
        if "vocab" not in meta:
            raise LivegenError("the model has no vocabulary in its metadata; retrain it")
        return cls(model, Vocab.from_list(meta["vocab"]), seed=seed,
                   separator=str(meta.get("separator", SEPARATOR)), **kwargs)

    # ---- drafts -------------------------------------------------------------------------

    def draft(self, header: str = "", fields: Mapping[str, str] | None = None,
              temperature: float = 1.0) -> Draft:
        """Sample one tune's text from a fresh tune start (see :class:`Draft`)."""
        gen = self.text
        gen.reset()  # feeds the separator: a tune starts here
        prefix = header
        if prefix and not prefix.startswith("X:"):
            prefix = "X:1\n" + prefix
        out: list[str] = [prefix]
        gen.prime(prefix)
        guard = MeterGuard(end=self.separator) if self.meter else None
        allow: Callable[[str], bool] | None = None
        if guard is not None:
            guard.push(prefix)
            allow = guard.allows
        forced = {k.upper(): v for k, v in (fields or {}).items()}
        missing = set(forced)
        line = prefix.rsplit("\n", 1)[-1]
        in_header = not any(row.startswith("K:") for row in prefix.split("\n")[:-1])
        size = len(prefix)
        overruled = gen.unconstrained
        while size < self.max_chars:
            ch = gen.next_char(temperature, allow)
            if gen.unconstrained - overruled > MAX_OVERRULED:
                return Draft("".join(out), False, tuple(sorted(missing)),
                             f"the model broke its meter more than {MAX_OVERRULED} times")
            if ch == self.separator:
                return Draft("".join(out), True, tuple(sorted(missing)))
            out.append(ch)
            if guard is not None:
                guard.push(ch)
            size += 1
            if ch == "\n":
                if line.startswith("K:"):
                    in_header = False
                line = ""
                continue
            line += ch
            if in_header and len(line) == 2 and line[1] == ":" and line[0] in forced:
                value = forced[line[0]] + "\n"
                missing.discard(line[0])
                gen.prime(value)
                out.append(value)
                if guard is not None:
                    guard.push(value)
                size += len(value)
                if line[0] == "K":
                    in_header = False
                line = ""
        return Draft("".join(out), False, tuple(sorted(missing)))

    def check(self, draft: Draft) -> AbcTune | str:
        """Parse a draft: the tune, or the reason it is rejected."""
        if draft.stopped:
            return draft.stopped
        if not draft.ended:
            return f"no tune end within {self.max_chars} characters"
        if draft.missing:
            return f"the model wrote no {', '.join(f + ':' for f in draft.missing)} header line to force"
        try:
            tune = parse_abc(draft.text, repair=True)
        except LivegenError as exc:
            return f"does not parse: {exc}"
        if len(tune.notes) < self.min_notes:
            return f"{len(tune.notes)} notes (< {self.min_notes})"
        if len(tune.repairs) > self.max_repairs:
            return f"{len(tune.repairs)} repairs (> {self.max_repairs})"
        if self.meter:
            if any("missing header" in r for r in tune.repairs):
                return "a header the parser had to complete: " + "; ".join(tune.repairs)
            rules = check_bars(list(tune.body), tune.meter)
            if rules.off or rules.broken:
                return f"{rules.off} bars off the meter, {rules.broken} ending breaks: {rules.problems[0]}"
        return tune

    def generate(self, header: str = "", fields: Mapping[str, str] | None = None,
                 temperature: float = 1.0) -> GeneratedTune:
        """Draw drafts until one is accepted.

        Args:
            header: text fed right after the tune start (verbatim; ``X:1`` prepended when it
                does not start with ``X:``).
            fields: header values forced where the model writes those fields
                (``{"K": "D Major", "M": "6/8"}``).
            temperature: character sampling temperature (<= 1e-4: argmax).

        Raises:
            LivegenError: ``max_tries`` drafts in a row were rejected.
        """
        reasons: list[str] = []
        chars = 0
        for _ in range(self.max_tries):
            draft = self.draft(header, fields, temperature)
            chars += len(draft.text)
            result = self.check(draft)
            if isinstance(result, AbcTune):
                try:
                    text = print_tune(result)
                except LivegenError as exc:
                    result = f"cannot be written back: {exc}"
                else:
                    self.accepted_total += 1
                    return GeneratedTune(text, result, len(reasons), tuple(reasons), chars, draft.text)
            reasons.append(result)
            self.rejected_total += 1
            log.info("rejected a generated tune: %s", result)
        raise LivegenError(
            f"{self.max_tries} generated tunes in a row were rejected (last: {reasons[-1]}); "
            "lower the temperature or use a better-trained model"
        )


def generate_tune(model: CharLSTM, meta: Mapping[str, Any], seed: int = 0, header: str = "",
                  fields: Mapping[str, str] | None = None, temperature: float = 1.0,
                  **kwargs: Any) -> GeneratedTune:
    """One tune from a loaded checkpoint: :meth:`AbcTuneSampler.generate` on a fresh sampler."""
    return AbcTuneSampler.from_checkpoint(model, meta, seed, **kwargs).generate(header, fields, temperature)
