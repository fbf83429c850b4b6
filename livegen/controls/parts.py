"""The live controls of each part of livegen's answer (``--parts``): the one table and state.

Every part of the layout in force takes the same six controls, listed once in
:data:`PART_CONTROLS` (the OSC server, ``livegen controls``, the live sets, the stage and
the controller patches read them from here):

* ``channel``: its MIDI channel, 1-16 (default: 1, 2, 3, ... from ``--channel`` on,
  skipping 10, General MIDI's drums); two parts never share one.
* ``program``: its General MIDI program, 0-127 (the layout's instrument by default).
* ``velocity``: a scale on the velocity of its notes, 0.1-2 (1: as livegen plays them).
* ``octave``: octaves its notes are moved by, -3..+3.
* ``mute`` and ``solo``: 0/1; when any part is soloed only the soloed parts sound.

On OSC a part's control answers at ``/livegen/part/NAME/CONTROL`` (the raw value, as every
control of :mod:`livegen.controls.table` does) and ``/livegen/part/NAME/CONTROL/norm`` (a
fader position 0..1). A bad value is refused with its reason, never rounded or clamped.
MIDI CC 104-107 (:data:`MUTE_CC`) mute the layout's first four parts (on at >= 64).

:class:`PartsState` is immutable, like :class:`~livegen.controls.table.ControlState`, and is
held beside it by :class:`~livegen.controls.state.LiveControls`, the one live state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from livegen.controls.table import NORM_SUFFIX, OSC_PREFIX, Control, ControlError, Value, cc_table
from livegen.music.parts import Part

#: every part control, by name (its OSC address is ``/livegen/part/NAME/<name>``).
PART_CONTROLS: Mapping[str, Control] = MappingProxyType({c.name: c for c in (
    Control("channel", "int", None, "the part's MIDI channel (no two parts share one)", minimum=1, maximum=16,
            unit="channel"),
    Control("program", "int", None, "the part's General MIDI program (sent on its channel at once)", minimum=0,
            maximum=127, unit="program"),
    Control("velocity", "float", 1.0, "scale on the velocity of the part's notes", minimum=0.1, maximum=2.0,
            unit="x"),
    Control("octave", "int", 0, "octaves the part's notes are moved by", minimum=-3, maximum=3, unit="octaves"),
    Control("mute", "toggle", False, "silence the part (its sounding notes are released)"),
    Control("solo", "toggle", False, "only soloed parts sound"),
)})

#: MIDI CC numbers that mute the layout's first, second, third and fourth part.
MUTE_CC = (104, 105, 106, 107)
assert not set(MUTE_CC) & set(cc_table()), "a part's CC is another control's"
#: MIDI channels (1-based) the parts take in order by default: 1, 2, 3, ... skipping 10.
DEFAULT_CHANNELS = tuple(c for c in range(1, 17) if c != 10)


def part_address(name: str, what: str) -> str:
    """The OSC address of part ``name``'s control ``what``."""
    return f"{OSC_PREFIX}/part/{name}/{what}"


@dataclass(frozen=True)
class PartSettings:
    """One part's controls in force.

    Attributes:
        channel: MIDI channel, 1-16.
        program: General MIDI program, 0-127.
        velocity: scale on its notes' velocities (1: unchanged).
        octave: octaves its notes are moved by.
        mute, solo: its switches.
    """

    channel: int
    program: int
    velocity: float = 1.0
    octave: int = 0
    mute: bool = False
    solo: bool = False


@dataclass(frozen=True)
class PartChange:
    """A validated request to change part ``part``'s control ``what`` to ``value``."""

    part: str
    what: str
    value: Value


@dataclass(frozen=True)
class PartsState:
    """Every part's controls in force, in layout order (top part first).

    Attributes:
        names: the parts' names.
        settings: each part's :class:`PartSettings`.
    """

    names: tuple[str, ...]
    settings: tuple[PartSettings, ...]

    @classmethod
    def for_layout(cls, parts: Sequence[Part], first_channel: int = 1) -> PartsState:
        """The defaults of ``parts``: channels from ``first_channel`` (1-16) on in
        :data:`DEFAULT_CHANNELS` order, each part's own program."""
        start = DEFAULT_CHANNELS.index(first_channel) if first_channel in DEFAULT_CHANNELS else 0
        order = DEFAULT_CHANNELS[start:] + DEFAULT_CHANNELS[:start]
        if len(parts) > len(order):
            raise ValueError(f"at most {len(order)} parts, not {len(parts)}")
        return cls(tuple(p.name for p in parts),
                   tuple(PartSettings(c, p.program) for c, p in zip(order, parts, strict=False)))

    def index(self, name: str) -> int:
        """The index of part ``name``; :class:`ControlError` naming the parts if none."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ControlError(f"no part {name!r}; the parts are {', '.join(self.names)}") from None

    def of(self, name: str) -> PartSettings:
        """Part ``name``'s settings."""
        return self.settings[self.index(name)]

    def apply(self, part: str, what: str, value: object) -> PartsState:
        """A copy with part ``part``'s control ``what`` set to the raw ``value`` (validated);
        :class:`ControlError` (nothing changes) for an unknown part or control, a bad value
        or a channel another part has."""
        return self.apply_many({part: {what: value}})

    def apply_many(self, values: Mapping[str, Mapping[str, object]]) -> PartsState:
        """A copy with several parts' controls changed at once (a live set, a preset); the
        channels are checked once at the end, so two parts may swap channels."""
        settings = list(self.settings)
        for part, changes in values.items():
            i = self.index(part)
            typed: dict[str, Value] = {}
            for what, value in changes.items():
                control = PART_CONTROLS.get(what)
                if control is None:
                    raise ControlError(f"a part has no control {what!r}: it takes {', '.join(PART_CONTROLS)}")
                typed[what] = control.coerce(value)
            settings[i] = dataclasses.replace(settings[i], **typed)  # type: ignore[arg-type]
        return PartsState(self.names, tuple(settings))._checked()

    def _checked(self) -> PartsState:
        seen: dict[int, str] = {}
        for name, s in zip(self.names, self.settings, strict=True):
            if s.channel in seen:
                raise ControlError(f"channel {s.channel} is the {seen[s.channel]} part's already: each part "
                                   f"needs its own channel")
            seen[s.channel] = name
        return self

    def audible(self, i: int) -> bool:
        """Whether part ``i`` sounds: not muted, and soloed when any part is."""
        soloed = any(s.solo for s in self.settings)
        return not self.settings[i].mute and (not soloed or self.settings[i].solo)

    def changed(self, other: PartsState) -> list[tuple[str, str]]:
        """``(part, control)`` of every value that differs from ``other`` (same layout)."""
        return [(name, what) for name, a, b in zip(self.names, self.settings, other.settings, strict=True)
                for what in PART_CONTROLS if getattr(a, what) != getattr(b, what)]

    def as_dict(self) -> dict[str, dict[str, Value]]:
        """part -> control -> value."""
        return {name: dataclasses.asdict(s) for name, s in zip(self.names, self.settings, strict=True)}


def parse_part_osc(address: str, args: Sequence[object], names: Sequence[str]) -> PartChange | None:
    """Validate ``/livegen/part/NAME/CONTROL[/norm] VALUE`` for the parts ``names``. Returns
    None when ``address`` is not a part's address; raises :class:`ControlError` with the
    reason for an unknown part or control or a bad value."""
    prefix = f"{OSC_PREFIX}/part/"
    if not address.startswith(prefix):
        return None
    rest = address[len(prefix):]
    normalized = rest.endswith(NORM_SUFFIX)
    if normalized:
        rest = rest[: -len(NORM_SUFFIX)]
    name, _, what = rest.rpartition("/")
    if name not in names:
        raise ControlError(f"no part {name[:40]!r}; the parts are {', '.join(names) or 'none (start with --parts)'}")
    control = PART_CONTROLS.get(what)
    if control is None:
        raise ControlError(f"a part has no control {what[:40]!r}: it takes {', '.join(PART_CONTROLS)}")
    if len(args) != 1:
        raise ControlError(f"{address} takes one value, got {len(args)}")
    value = control.from_normalized(args[0]) if normalized else control.coerce(args[0])
    return PartChange(name, what, value)


def part_from_cc(cc_number: int, value: int, names: Sequence[str]) -> PartChange | None:
    """The mute a MIDI control change asks for (:data:`MUTE_CC`), or None when the CC is not
    a part's or the layout has no such part."""
    if cc_number not in MUTE_CC or MUTE_CC.index(cc_number) >= len(names):
        return None
    if not 0 <= value <= 127:
        raise ControlError(f"CC {cc_number} value must be 0..127, got {value!r}")
    return PartChange(names[MUTE_CC.index(cc_number)], "mute", value >= 64)


def part_feedback(state: PartsState, changes: Sequence[tuple[str, str]] | None = None
                  ) -> list[tuple[str, list[Value]]]:
    """OSC messages that show the parts' ``changes`` (default: every control of every
    part) on a controller: raw value and ``/norm`` position, as
    :func:`~livegen.controls.table.feedback_messages` does for the other controls."""
    out: list[tuple[str, list[Value]]] = []
    pairs = changes if changes is not None else [(n, w) for n in state.names for w in PART_CONTROLS]
    for name, what in pairs:
        control = PART_CONTROLS[what]
        value = getattr(state.of(name), what)
        address = part_address(name, what)
        out.append((address, [int(value) if control.kind == "toggle" else value]))
        out.append((address + NORM_SUFFIX, [float(control.to_normalized(value))]))
    return out
