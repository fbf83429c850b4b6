"""The one table of live controls: OSC addresses, ranges, MIDI CC numbers, defaults.

Everything that steers the engine from outside is listed once in :data:`CONTROLS`; the OSC
server, the MIDI CC mapping, ``livegen controls`` and the generated controller patches
(TouchOSC, Pure Data, Open Stage Control) are all derived from it.

Raw values and normalised faders
--------------------------------
Every ``float``, ``int``, ``enum`` and ``toggle`` control answers on two OSC addresses, and
a value is never guessed from its magnitude:

* ``/livegen/<name>`` takes the *raw* value in the control's own unit (``/livegen/tempo
  96`` is 96 bpm). Ints and floats are both accepted (an ``int`` control refuses a
  fractional value: 3.5 notes is an error, not 4); an ``enum`` takes a choice name (``"D#"``, ``"minor"``) or an integer index;
  a ``toggle`` takes 0/1, true/false or on/off. Values outside the range are rejected,
  never clamped.
* ``/livegen/<name>/norm`` takes a fader position in 0..1 (what TouchOSC faders send) and
  scales it onto the range: ``min + x * (max - min)``; an ``enum`` picks choice
  ``round(x * (n - 1))``; a ``toggle`` is on for ``x >= 0.5``.

``trigger`` controls (reset, panic) fire on a message with no argument or a positive
number and ignore 0 (a push button's release). ``string`` controls take one OSC string.
MIDI CC values 0..127 map like ``/norm`` with ``x = value / 127`` (toggles and triggers:
on at >= 64).

Bad messages (unknown address, wrong type, NaN/inf, out of range, wrong argument count)
raise :class:`ControlError` whose text is the reason; the engine logs it and drops the
message.

Feedback
--------
livegen sends the current value of each control back to both of its addresses (raw and
``/norm``, see :func:`feedback_messages`) and a few display-only messages listed in
:data:`FEEDBACK` (the lyrics line for a label widget, the engine status, the beat).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, NoReturn

from livegen.errors import LivegenError
from livegen.music.scales import NOTE_NAMES, SCALES, pitch_class_mask, tonic_pitch_class

#: every livegen OSC address starts with this.
OSC_PREFIX = "/livegen"
#: appended to a control's address for normalised 0..1 values.
NORM_SUFFIX = "/norm"
#: longest accepted string value, in characters.
MAX_STRING = 256

Kind = Literal["float", "int", "enum", "toggle", "trigger", "string"]
Value = float | int | str | bool

#: control kinds that have a ``/norm`` address and a MIDI CC scaling.
SCALED_KINDS = ("float", "int", "enum", "toggle")
MODES = ("call", "accompany", "solo")


class ControlError(LivegenError, ValueError):
    """A control value that cannot be applied; ``str(exc)`` is the one-line reason."""


@dataclass(frozen=True)
class Control:
    """One live control.

    Attributes:
        name: identifier (``temperature``); also the :class:`ControlState` field name.
        kind: ``float``, ``int``, ``enum``, ``toggle``, ``trigger`` or ``string``.
        default: initial value (``None`` for triggers).
        description: one line for ``livegen controls`` and the patches.
        address: OSC address of the raw value (``/livegen/<name>`` unless given).
        minimum, maximum: inclusive range of ``float``/``int`` controls, in ``unit``.
        choices: names of an ``enum``'s values, in index order.
        unit: unit of the raw value ("bpm", "beats", "MIDI pitch", ...).
        cc: MIDI CC number (0..127) mapped onto this control, or None.
    """

    name: str
    kind: Kind
    default: Value | None
    description: str
    address: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    unit: str = ""
    cc: int | None = None

    def __post_init__(self) -> None:
        if not self.address:
            object.__setattr__(self, "address", f"{OSC_PREFIX}/{self.name}")

    @property
    def norm_address(self) -> str | None:
        """The 0..1 address, or None for triggers and strings."""
        return self.address + NORM_SUFFIX if self.kind in SCALED_KINDS else None

    @property
    def range_text(self) -> str:
        """Human-readable range: ``0.05..2``, ``C|C#|...``, ``0/1``, ``text``, ``-``."""
        if self.kind in ("float", "int"):
            return f"{_num(self.minimum)}..{_num(self.maximum)}"
        if self.kind == "enum":
            return "|".join(self.choices)
        return {"toggle": "0/1", "trigger": "-", "string": "text"}[self.kind]

    # -- raw values ---------------------------------------------------------------------

    def coerce(self, value: object) -> Value:
        """Validate a raw value (in the control's unit) and return it typed.

        Returns float, int, the canonical choice name, bool or str by kind; triggers
        return True. Raises :class:`ControlError` with the reason.
        """
        kind = self.kind
        if kind == "float":
            x = self._number(value)
            self._check_range(x)
            return float(x)
        if kind == "int":
            x = self._number(value)
            if x != int(x):
                raise ControlError(f"{self.name} takes a whole number, got {x:g}")
            n = int(x)
            self._check_range(n)
            return n
        if kind == "enum":
            return self._choice(value)
        if kind == "toggle":
            return self._toggle(value)
        if kind == "trigger":
            return True
        if not isinstance(value, str):
            raise ControlError(f"{self.name} takes a string, got {_type_name(value)}")
        if len(value) > MAX_STRING:
            raise ControlError(f"{self.name}: string longer than {MAX_STRING} characters")
        return value

    def from_normalized(self, x: object) -> Value:
        """Map a fader position ``x`` in 0..1 onto the control (float/int/enum/toggle)."""
        if self.kind not in SCALED_KINDS:
            raise ControlError(f"{self.name} has no normalised form")
        f = self._number(x)
        if not -1e-6 <= f <= 1.0 + 1e-6:
            raise ControlError(f"{self.name}/norm takes 0..1, got {f:g}")
        f = min(1.0, max(0.0, f))
        if self.kind == "toggle":
            return f >= 0.5
        if self.kind == "enum":
            return self.choices[int(round(f * (len(self.choices) - 1)))]
        assert self.minimum is not None and self.maximum is not None
        raw = self.minimum + f * (self.maximum - self.minimum)
        return int(round(raw)) if self.kind == "int" else float(raw)

    def to_normalized(self, value: Value) -> float:
        """Inverse of :meth:`from_normalized`: fader position 0..1 of a valid raw value."""
        if self.kind == "toggle":
            return 1.0 if value else 0.0
        if self.kind == "enum":
            n = len(self.choices)
            return self.choices.index(str(value)) / (n - 1) if n > 1 else 0.0
        if self.kind in ("float", "int"):
            assert self.minimum is not None and self.maximum is not None
            return (float(value) - self.minimum) / (self.maximum - self.minimum)
        raise ControlError(f"{self.name} has no normalised form")

    def parse_args(self, args: Sequence[object], *, normalized: bool = False) -> Value | None:
        """Turn an OSC message's arguments into a value; None means "nothing to do".

        A trigger returns True (fire) for no argument or a positive number and None for 0.
        Every other kind takes exactly one argument.
        """
        if self.kind == "trigger":
            if not args:
                return True
            if len(args) > 1:
                raise ControlError(f"{self.name} takes at most one value, got {len(args)}")
            x = self._number(args[0])
            if x < 0:
                raise ControlError(f"{self.name}: negative trigger value {x:g}")
            return True if x > 0 else None
        if len(args) != 1:
            raise ControlError(f"{self.name} takes one value, got {len(args)}")
        return self.from_normalized(args[0]) if normalized else self.coerce(args[0])

    # -- helpers -------------------------------------------------------------------------

    def _number(self, value: object) -> float:
        if isinstance(value, bool):  # OSC T/F: a bool is not a number here
            return float(value) if self.kind in ("toggle", "trigger") else _bad_type(self, value)
        if not isinstance(value, int | float):
            _bad_type(self, value)
        x = float(value)  # an int or a float from here on
        if not math.isfinite(x):
            raise ControlError(f"{self.name}: {x} is not a finite number")
        return x

    def _check_range(self, x: float) -> None:
        assert self.minimum is not None and self.maximum is not None
        if not self.minimum <= x <= self.maximum:
            unit = f" {self.unit}" if self.unit else ""
            raise ControlError(f"{self.name} {x:g} is outside {self.range_text}{unit}")

    def _choice(self, value: object) -> str:
        if isinstance(value, str):
            key = value.strip()
            if self.name == "key":
                try:
                    return NOTE_NAMES[tonic_pitch_class(key)]
                except LivegenError:
                    pass
            for choice in self.choices:
                if choice.lower() == key.lower():
                    return choice
            raise ControlError(f"{self.name} {value!r} is not one of {self.range_text}")
        x = self._number(value)
        if x != int(x):
            raise ControlError(
                f"{self.name} takes a name or an index 0..{len(self.choices) - 1}, got {x:g} "
                f"(send 0..1 fader values to {self.address}{NORM_SUFFIX})"
            )
        if not 0 <= x < len(self.choices):
            raise ControlError(f"{self.name} index {int(x)} is outside 0..{len(self.choices) - 1}")
        return self.choices[int(x)]

    def _toggle(self, value: object) -> bool:
        if isinstance(value, str):
            word = value.strip().lower()
            if word in ("1", "on", "true", "yes"):
                return True
            if word in ("0", "off", "false", "no"):
                return False
            raise ControlError(f"{self.name} takes 0/1 or on/off, got {value!r}")
        x = self._number(value)
        if x not in (0.0, 1.0):
            raise ControlError(f"{self.name} takes 0 or 1, got {x:g}")
        return x == 1.0


def _bad_type(control: Control, value: object) -> NoReturn:
    expected = {"float": "a number", "int": "a number", "enum": "a name or an index",
                "toggle": "0/1", "trigger": "a number or nothing", "string": "a string"}
    raise ControlError(f"{control.name} takes {expected[control.kind]}, got {_type_name(value)}")


def _type_name(value: object) -> str:
    if isinstance(value, str):
        return f"string {value[:40]!r}"
    return type(value).__name__


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


@dataclass(frozen=True)
class Feedback:
    """A display-only message livegen sends to the controller (never received)."""

    name: str
    address: str
    kind: Literal["string", "int", "float"]
    description: str


_TABLE: tuple[Control, ...] = (
    Control("temperature", "float", 1.0, "sampling temperature: low = safe and repetitive, high = wild "
            "(0 = always the most likely notes)", minimum=0.0, maximum=2.0, cc=20),
    Control("density", "float", 0.0, "logit bias added to every key: more (>0) or fewer (<0) notes",
            minimum=-3.0, maximum=3.0, unit="nats", cc=21),
    Control("tempo", "float", 120.0, "tempo of the internal clock (ignored when following MIDI clock)",
            minimum=30.0, maximum=300.0, unit="bpm", cc=22),
    Control("polyphony", "int", 0, "most notes sounding at once (0 = no cap)",
            minimum=0, maximum=12, unit="notes", cc=23),
    Control("low", "int", 21, "lowest pitch the model may play",
            minimum=21, maximum=108, unit="MIDI pitch", cc=24),
    Control("high", "int", 108, "highest pitch the model may play",
            minimum=21, maximum=108, unit="MIDI pitch", cc=25),
    Control("velocity", "int", 90, "MIDI velocity of the model's notes",
            minimum=1, maximum=127, cc=86),
    Control("dynamics", "float", 0.8, "how closely the model's velocities follow the performer's "
            "(0 = the velocity control alone)", minimum=0.0, maximum=1.0, cc=90),
    Control("accent", "float", 8.0, "velocity added on each bar's first beat (half on the other beats)",
            minimum=0.0, maximum=40.0, unit="velocity", cc=91),
    Control("max_note_beats", "float", 0.0, "longest model note before it is struck again (0 = no limit)",
            minimum=0.0, maximum=16.0, unit="beats", cc=87),
    Control("silence", "float", 1.0, "call mode: performer silence before the model answers",
            minimum=0.25, maximum=8.0, unit="beats", cc=26),
    Control("repeat", "float", 1.0, "models with a copy head: odds of repeating what came before "
            "(0 = never, 1 = as trained, 4 = four times)", minimum=0.0, maximum=4.0, unit="x", cc=85),
    Control("key", "enum", "C", "tonic of the key mask", choices=NOTE_NAMES, cc=27),
    Control("scale", "enum", "chromatic", "scale of the key mask (chromatic = no mask)",
            choices=tuple(SCALES), cc=28),
    Control("mode", "enum", "call", "call: answer after you stop; accompany: play along; solo: play alone",
            choices=MODES, cc=29),
    Control("follow", "toggle", True, "answer in the key the performer plays in (off: a model trained in one "
            "key stays in it)",
            cc=88),
    Control("key_pull", "float", 0.0, "following the key: how strongly notes outside the heard key are avoided "
            "(0 = not at all; never a hard mask)", minimum=0.0, maximum=10.0, unit="nats", cc=89),
    Control("register_follow", "float", 0.0, "how strongly the answer stays near the performer's recent "
            "register: nats off a note an octave away, 4x two octaves (0 = not at all; never a clamp)",
            minimum=0.0, maximum=4.0, unit="nats", cc=92),
    Control("density_follow", "float", 0.0, "how closely the answer's note density (onsets per beat) follows "
            "the performer's: too busy, it holds notes; too sparse, it strikes held notes again "
            "(0 = not at all; never a clamp)", minimum=0.0, maximum=4.0, cc=93),
    Control("swing", "float", 0.0, "delay of every second grid step, as a share of a step "
            "(0 = straight, 33 = triplet feel)", minimum=0.0, maximum=75.0, unit="%", cc=94),
    Control("humanize_ms", "float", 0.0, "random timing of each note-on, up to this much early or late "
            "(never past a third of a step)", minimum=0.0, maximum=30.0, unit="ms", cc=95),
    Control("humanize_velocity", "int", 0, "random velocity of each note-on, up to this much softer or louder",
            minimum=0, maximum=30, unit="velocity", cc=96),
    Control("mute", "toggle", False, "silence the model's output (it keeps listening)", cc=30),
    Control("reset", "trigger", None, "forget the musical context: fresh hidden state", cc=102),
    Control("panic", "trigger", None, "all notes off now", cc=103),
    Control("lyrics_temperature", "float", 0.8, "sampling temperature of the lyrics model",
            address=f"{OSC_PREFIX}/lyrics/temperature", minimum=0.05, maximum=2.0, cc=31),
    Control("lyrics_artist", "string", "", "artist/collection label the lyrics model imitates ('' = any)",
            address=f"{OSC_PREFIX}/lyrics/artist"),
    Control("lyrics_prime", "string", "", "text to prime the lyrics model with (takes effect at the next line)",
            address=f"{OSC_PREFIX}/lyrics/prime"),
)

#: name -> control, in display order.
CONTROLS: Mapping[str, Control] = MappingProxyType({c.name: c for c in _TABLE})

#: the controls as a performer thinks of them: group title -> control names, in display order
#: (the browser stage's panels). Every control is in exactly one group.
GROUPS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "mode and transport": ("mode", "tempo", "mute", "panic", "reset"),
    "sound": ("temperature", "density", "repeat", "polyphony", "velocity", "max_note_beats"),
    "listening": ("follow", "key_pull", "register_follow", "density_follow", "dynamics", "silence"),
    "feel": ("swing", "humanize_ms", "humanize_velocity", "accent"),
    "key and range": ("key", "scale", "low", "high"),
    "lyrics": ("lyrics_temperature", "lyrics_artist", "lyrics_prime"),
})

#: display-only messages livegen sends (besides echoing control values).
FEEDBACK: Mapping[str, Feedback] = MappingProxyType({f.name: f for f in (
    Feedback("lyrics_line", f"{OSC_PREFIX}/lyrics/line", "string", "one generated lyrics line per bar"),
    Feedback("status", f"{OSC_PREFIX}/status", "string", "engine state: listening, answering, muted, stopped"),
    Feedback("beat", f"{OSC_PREFIX}/beat", "int", "beat counter since start (0, 1, 2, ...)"),
    Feedback("lateness", f"{OSC_PREFIX}/lateness", "float",
             "timing health once a beat: late (skipped) steps so far, last wake-up lateness in ms"),
    Feedback("preset", f"{OSC_PREFIX}/preset", "string",
             "--set: the live set's preset in force; send a name to this address to switch"),
    Feedback("link_peers", f"{OSC_PREFIX}/link/peers", "int", "--clock link: other peers in the Link session"),
    Feedback("link_tempo", f"{OSC_PREFIX}/link/tempo", "float", "--clock link: the Link session's tempo in BPM"),
    Feedback("link_phase", f"{OSC_PREFIX}/link/phase", "float",
             "--clock link: beats into the session's bar (0 = its downbeat), once a beat"),
)})


def _index() -> tuple[dict[str, tuple[Control, bool]], dict[int, Control]]:
    by_address: dict[str, tuple[Control, bool]] = {}
    by_cc: dict[int, Control] = {}
    for control in _TABLE:
        by_address[control.address] = (control, False)
        if control.norm_address:
            by_address[control.norm_address] = (control, True)
        if control.cc is not None:
            if control.cc in by_cc or not 0 <= control.cc <= 127:
                raise AssertionError(f"bad or duplicate CC {control.cc}")
            by_cc[control.cc] = control
    return by_address, by_cc


_BY_ADDRESS, _BY_CC = _index()


def input_addresses() -> frozenset[str]:
    """Every address livegen accepts (raw and ``/norm``)."""
    return frozenset(_BY_ADDRESS)


def all_addresses() -> frozenset[str]:
    """Every address livegen accepts or sends (controls, ``/norm`` and feedback)."""
    return frozenset(_BY_ADDRESS) | {f.address for f in FEEDBACK.values()}


@dataclass(frozen=True)
class ControlChange:
    """A validated request to change one control (or fire a trigger).

    Attributes:
        name: control name, a key of :data:`CONTROLS`.
        value: typed raw value (True for a trigger).
    """

    name: str
    value: Value

    @property
    def is_trigger(self) -> bool:
        return CONTROLS[self.name].kind == "trigger"


def parse_osc(address: str, args: Sequence[object]) -> ControlChange | None:
    """Validate one OSC message. None means valid but nothing to do (a trigger's release).

    Raises :class:`ControlError` for an unknown address or a bad value.
    """
    entry = _BY_ADDRESS.get(address)
    if entry is None:
        raise ControlError(f"unknown OSC address {address[:80]!r} (see `livegen controls`)")
    control, normalized = entry
    value = control.parse_args(args, normalized=normalized)
    return None if value is None else ControlChange(control.name, value)


def from_cc(cc_number: int, value: int) -> ControlChange | None:
    """Map a MIDI control change onto the table.

    Returns None when ``cc_number`` is not mapped or a trigger's CC is released (< 64).
    Raises :class:`ControlError` when ``value`` is outside 0..127.
    """
    control = _BY_CC.get(cc_number)
    if control is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 127:
        raise ControlError(f"CC {cc_number} value must be 0..127, got {value!r}")
    if control.kind == "trigger":
        return ControlChange(control.name, True) if value >= 64 else None
    if control.kind == "toggle":
        return ControlChange(control.name, value >= 64)
    return ControlChange(control.name, control.from_normalized(value / 127))


def cc_table() -> Mapping[int, str]:
    """CC number -> control name."""
    return MappingProxyType({cc: c.name for cc, c in sorted(_BY_CC.items())})


@dataclass(frozen=True)
class ControlState:
    """Current values of every non-trigger control; immutable, replace with :meth:`apply`.

    Field names equal the control names of :data:`CONTROLS` (triggers have no state).
    The engine reads one snapshot per step.
    """

    temperature: float = 1.0
    density: float = 0.0
    tempo: float = 120.0
    polyphony: int = 0
    low: int = 21
    high: int = 108
    velocity: int = 90
    dynamics: float = 0.8
    accent: float = 8.0
    max_note_beats: float = 0.0
    silence: float = 1.0
    repeat: float = 1.0
    key: str = "C"
    scale: str = "chromatic"
    mode: str = "call"
    follow: bool = True
    key_pull: float = 0.0
    register_follow: float = 0.0
    density_follow: float = 0.0
    swing: float = 0.0
    humanize_ms: float = 0.0
    humanize_velocity: int = 0
    mute: bool = False
    lyrics_temperature: float = 0.8
    lyrics_artist: str = ""
    lyrics_prime: str = ""

    @classmethod
    def default(cls) -> ControlState:
        """Every control at its table default."""
        defaults: dict[str, Any] = {c.name: c.default for c in _TABLE if c.kind != "trigger"}
        return cls(**defaults)

    def apply(self, name: str | ControlChange, value: object = None) -> ControlState:
        """Return a copy with one control changed; triggers return ``self`` unchanged.

        ``apply("tempo", 96)`` validates a raw value; ``apply(change)`` takes a parsed
        :class:`ControlChange`. Raises :class:`ControlError` for an unknown name, a bad
        value, or a pitch range with ``low > high``.
        """
        if isinstance(name, ControlChange):
            value = name.value
            name = name.name
        control = CONTROLS.get(name)
        if control is None:
            raise ControlError(f"unknown control {name!r} (see `livegen controls`)")
        if control.kind == "trigger":
            return self
        return dataclasses.replace(self, **{name: control.coerce(value)})._checked()  # type: ignore[arg-type]

    def apply_many(self, values: Mapping[str, object]) -> ControlState:
        """Return a copy with several controls changed at once (a command line, a live set).

        Each value goes through its control's validator; the combination is checked once at
        the end, so ``{"low": 80, "high": 90}`` works in any order. Raises
        :class:`ControlError` naming the first bad value or the bad combination.
        """
        changed: dict[str, Value] = {}
        for name, value in values.items():
            control = CONTROLS.get(name)
            if control is None or control.kind == "trigger":
                raise ControlError(f"unknown control {name!r} (see `livegen controls`)")
            changed[name] = control.coerce(value)
        return dataclasses.replace(self, **changed)._checked()  # type: ignore[arg-type]

    def _checked(self) -> ControlState:
        """``self`` if its values fit together; raises :class:`ControlError` otherwise."""
        if self.low > self.high:
            raise ControlError(f"low pitch {self.low} is above high pitch {self.high}: "
                               f"the pitch range {self.low}..{self.high} is empty")
        return self

    def as_dict(self) -> dict[str, Value]:
        """name -> value for every stateful control."""
        return dataclasses.asdict(self)

    @property
    def pitch_classes(self) -> tuple[bool, ...] | None:
        """12 bools (C first) allowed by key and scale, or None for the chromatic scale."""
        if self.scale == "chromatic":
            return None
        return pitch_class_mask(self.key, self.scale)


def feedback_messages(state: ControlState, names: Sequence[str] | None = None
                      ) -> list[tuple[str, list[Value]]]:
    """OSC messages that show ``state`` on a controller: raw value and ``/norm`` position.

    ``names`` limits the list to some controls (default: all stateful ones). Toggles are
    sent as 0/1 ints, enums as their name, floats and ints as numbers.
    """
    out: list[tuple[str, list[Value]]] = []
    for name in names if names is not None else state.as_dict():
        control = CONTROLS[name]
        if control.kind == "trigger":
            continue
        value = getattr(state, name)
        out.append((control.address, [int(value) if control.kind == "toggle" else value]))
        if control.norm_address:
            out.append((control.norm_address, [float(control.to_normalized(value))]))
    return out
