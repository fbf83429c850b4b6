"""A live set in TOML: the ports, clock, model, OSC, controls and named presets of one gig.

``livegen play --set my-set.toml`` reads the file with :mod:`tomllib`; flags given on the
command line override it. The layout (``examples/example-set.toml`` is a full example)::

    model = "nottingham"          # shipped name, or a checkpoint path (relative to the file)
    parts = "melody-chords-bass"  # optional: each part on its own channel (satb, one), or a [parts] table:
    web = "127.0.0.1:8080"        # optional: the stage in the browser (--web)
    clock = "internal"            # or "midi": follow the DAW's MIDI clock on the input; "link": Ableton Link
    send_clock = false
    preset = "ballad"             # the preset in force at the start (optional)

    [ports]                       # in, out: substrings of port names; or virtual = true
    in = "Keyboard"
    out = "Synth"

    [osc]
    port = 9000                   # 0 = no OSC server
    host = "127.0.0.1"
    feedback = "192.168.1.20:9001"

    [controls]                    # any control of the table (`livegen controls`)
    tempo = 110
    scale = "major"

    [presets.ballad]              # program change 0
    tempo = 72
    key = "Eb"

    # instead of parts = "...": the layout and each part's controls (livegen controls --parts)
    [parts]
    layout = "melody-chords-bass"
    [parts.bass]                  # channel, program, velocity, octave, mute, solo
    program = 33
    octave = -1

    [presets.ballad.parts.bass]   # a preset may set parts' controls too
    mute = true

Every control value goes through the table's validator
(:meth:`livegen.controls.table.Control.coerce`, the one OSC, MIDI CC and the command line
use) and combinations through :meth:`~livegen.controls.table.ControlState.apply_many`. A
mistake is one :class:`LiveSetError` line naming the file, the line and the key, e.g.
``my-set.toml line 12, [presets.ballad] temperature: 7 is outside 0..2``. :mod:`tomllib`
gives no line numbers, so :func:`find_line` finds a key's line by scanning the text for
table headers and ``key =`` lines (dotted keys too; a key inside an inline table is
reported at the line of the table).

A preset is complete: switching to it sets every control the set names anywhere (in
``[controls]`` or in any preset) to the preset's value or, where the preset leaves it out,
to the set's base value (``[controls]`` over the table default, command-line flags over
both); see :meth:`LiveSet.start`. Controls the set never names keep their live values. The
parts' controls work alike: a preset sets every part control the set names anywhere (in
``[parts.NAME]`` or a preset's ``parts`` table) to its own value or the base one.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from livegen.controls.parts import PART_CONTROLS, PartsState
from livegen.controls.table import CONTROLS, ControlError, ControlState, Value
from livegen.errors import LivegenError
from livegen.io.osc import parse_host_port
from livegen.music.parts import LAYOUTS
from livegen.web.address import parse_web_address

#: where the tempo grid comes from: livegen's own clock, the MIDI clock on the input, or an
#: Ableton Link session on the network.
CLOCKS = ("internal", "midi", "link")
#: UDP ports the OSC server may listen on (0: no OSC server).
OSC_PORTS = (0, 65535)
#: keys of each table of a set; presets take the settable controls.
TOP_KEYS = ("model", "clock", "send_clock", "preset", "parts", "web", "ports", "osc", "controls", "presets")
PORT_KEYS = ("in", "out", "virtual")
OSC_KEYS = ("port", "host", "feedback")
#: controls a set can set (every control of the table but the triggers).
SETTABLE = tuple(name for name, c in CONTROLS.items() if c.kind != "trigger")

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class LiveSetError(LivegenError):
    """A live set that cannot be used; ``str(exc)`` is the one line naming file, line and key.

    Attributes:
        line: 1-based line of the mistake in the file (0 when the file could not be read).
    """

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


# ---- finding a key's line ---------------------------------------------------------------------

_NAME = r'(?:[A-Za-z0-9_-]+|"[^"\n]*"|\'[^\'\n]*\')'
_HEADER = re.compile(rf"^\s*\[(?!\[)\s*({_NAME}(?:\s*\.\s*{_NAME})*)\s*\]")
_KEY = re.compile(rf"^\s*({_NAME}(?:\s*\.\s*{_NAME})*)\s*=")
_PART = re.compile(_NAME)


def _dotted(text: str) -> tuple[str, ...]:
    """``presets."my song".tempo`` -> ``("presets", "my song", "tempo")``."""
    return tuple(p[1:-1] if p[:1] in "\"'" else p for p in _PART.findall(text))


def find_line(text: str, path: tuple[str, ...]) -> int:
    """The 1-based line that defines ``path`` (tables, then the key) in TOML ``text``.

    Scans for ``[table]`` headers and ``key =`` lines (dotted keys count). When ``path``
    itself is not found (a key inside an inline table), the line of its nearest enclosing
    table that is found; line 1 when none is.
    """
    found: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            table = _dotted(header.group(1))
            full = table
        else:
            key = _KEY.match(line)
            if not key:
                continue
            full = table + _dotted(key.group(1))
        for end in range(1, len(full) + 1):
            found.setdefault(full[:end], number)
    for end in range(len(path), 0, -1):
        if path[:end] in found:
            return found[path[:end]]
    return 1


# ---- the set ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetStart:
    """What a set starts with, once the command line's flags are laid over it.

    Attributes:
        state: the controls in force at the start.
        presets: each preset, complete (see :meth:`LiveSet.start`), in file order.
        preset: the preset in force at the start, or None.
        part_values: the parts' controls at the start: part -> control -> value.
        part_presets: each preset's part controls, complete: preset -> part -> control -> value.
    """

    state: ControlState
    presets: Mapping[str, Mapping[str, Value]]
    preset: str | None
    part_values: Mapping[str, Mapping[str, Value]] = field(default_factory=lambda: _EMPTY)
    part_presets: Mapping[str, Mapping[str, Mapping[str, Value]]] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True)
class LiveSet:
    """A checked live set (every value valid on its own); :func:`load_live_set` makes one.

    The empty set (``LiveSet()``) stands for "no file": every field None or empty.

    Attributes:
        path: the file, or None.
        text: its text (to find lines for later errors).
        model: shipped model name or checkpoint path, or None.
        clock: one of :data:`CLOCKS`, or None.
        send_clock: send MIDI clock (livegen is the master), or None.
        preset: name of the preset in force at the start, or None.
        parts: the parts livegen's answer is split into (:data:`~livegen.music.parts.LAYOUTS`),
            or None.
        web: ``[HOST:]PORT`` of the stage in the browser, or None.
        inp, out: port names (substrings), or None.
        virtual: create virtual ports, or None.
        osc_port: UDP port of the OSC server (0: none), or None.
        osc_host: interface the OSC server binds, or None.
        osc_feedback: ``HOST:PORT`` for feedback, or None.
        controls: ``[controls]``: control name -> typed value.
        presets: preset name -> (control name -> typed value), in file order (the order
            program changes count in).
        part_values: ``[parts.NAME]``: part -> control -> typed value.
        preset_parts: preset name -> part -> control -> typed value (a preset's ``parts``).
    """

    path: Path | None = None
    text: str = field(default="", repr=False)
    model: str | None = None
    clock: str | None = None
    send_clock: bool | None = None
    preset: str | None = None
    parts: str | None = None
    web: str | None = None
    inp: str | None = None
    out: str | None = None
    virtual: bool | None = None
    osc_port: int | None = None
    osc_host: str | None = None
    osc_feedback: str | None = None
    controls: Mapping[str, Value] = field(default_factory=lambda: _EMPTY)
    presets: Mapping[str, Mapping[str, Value]] = field(default_factory=lambda: _EMPTY)
    part_values: Mapping[str, Mapping[str, Value]] = field(default_factory=lambda: _EMPTY)
    preset_parts: Mapping[str, Mapping[str, Mapping[str, Value]]] = field(default_factory=lambda: _EMPTY)

    @property
    def named_part_controls(self) -> tuple[tuple[str, str], ...]:
        """Every ``(part, control)`` the set names, in ``[parts.NAME]`` or any preset."""
        named = {(p, c) for p, values in self.part_values.items() for c in values}
        named |= {(p, c) for parts in self.preset_parts.values() for p, values in parts.items() for c in values}
        return tuple(sorted(named))

    @property
    def names_ports(self) -> bool:
        """The set says which ports to use (``in``, ``out`` or ``virtual``)."""
        return self.inp is not None or self.out is not None or self.virtual is not None

    @property
    def named_controls(self) -> tuple[str, ...]:
        """Every control the set names, in ``[controls]`` or any preset (table order)."""
        named = set(self.controls).union(*(set(p) for p in self.presets.values()))
        return tuple(n for n in SETTABLE if n in named)

    def where(self, *path: str) -> str:
        """``my-set.toml line 12, [presets.ballad] temperature``: where ``path`` is written."""
        if self.path is None:
            return "the command line"
        line = find_line(self.text, path)
        table, key = path[:-1], path[-1:]
        if not key:
            return f"{self.path} line {line}"
        place = f"[{'.'.join(_quoted(p) for p in table)}] " if table else ""
        return f"{self.path} line {line}, {place}{_quoted(key[0])}"

    def start(self, overrides: Mapping[str, Value] | None = None, first_channel: int = 1) -> SetStart:
        """The starting state and the complete presets, with ``overrides`` (the command
        line's control flags) laid over the file.

        The base is the table defaults, then ``[controls]``, then ``overrides``. A preset
        sets every control of :attr:`named_controls`: its own value, else the base value.
        The start is the base with the starting preset over it and ``overrides`` over that.
        The parts' controls alike: a preset sets every part control the set names to its
        own value, else the base one (``[parts.NAME]`` over the layout's, channels from
        ``first_channel``, 1-16, on).

        Raises:
            LiveSetError: a combination that does not fit (``low`` above ``high``), with the
                file, line and table where it is written.
        """
        overrides = dict(overrides or {})
        by = " (with the command line's flags)" if overrides else ""
        try:
            base = ControlState.default().apply_many({**self.controls, **overrides})
        except ControlError as exc:
            raise self._error(("controls",), f"{exc}{by}") from None
        named = self.named_controls
        complete: dict[str, Mapping[str, Value]] = {}
        for name, values in self.presets.items():
            full = {c: values.get(c, getattr(base, c)) for c in named}
            try:
                base.apply_many(full)
            except ControlError as exc:
                raise self._error(("presets", name), f"{exc}{by}") from None
            complete[name] = MappingProxyType(full)
        state = base
        if self.preset is not None:
            try:
                state = base.apply_many({**complete[self.preset], **overrides})
            except ControlError as exc:
                raise self._error(("preset",), f"{exc}{by}") from None
        part_presets: dict[str, Mapping[str, Mapping[str, Value]]] = {}
        if self.parts not in (None, "one"):
            assert self.parts is not None
            base_parts = PartsState.for_layout(LAYOUTS[self.parts], first_channel).apply_many(self.part_values)
            for name in self.presets:
                parts: dict[str, dict[str, Value]] = {}
                own = self.preset_parts.get(name, {})
                for part, control in self.named_part_controls:
                    parts.setdefault(part, {})[control] = own.get(part, {}).get(
                        control, getattr(base_parts.of(part), control))
                try:
                    base_parts.apply_many(parts)
                except ControlError as exc:
                    raise self._error(("presets", name, "parts"), str(exc)) from None
                part_presets[name] = MappingProxyType({p: MappingProxyType(v) for p, v in parts.items()})
        part_values = part_presets[self.preset] if self.preset is not None and part_presets else self.part_values
        return SetStart(state, MappingProxyType(complete), self.preset, MappingProxyType(dict(part_values)),
                        MappingProxyType(part_presets))

    def _error(self, path: tuple[str, ...], reason: str) -> LiveSetError:
        line = find_line(self.text, path) if self.path is not None else 0
        return LiveSetError(f"{self.where(*path)}: {reason}", line)


def _quoted(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z0-9_-]+", name) else f'"{name}"'


# ---- reading ------------------------------------------------------------------------------------


def load_live_set(path: str | Path) -> LiveSet:
    """Read and check the live set at ``path``.

    Raises:
        LiveSetError: the file cannot be read, is not TOML, or holds an unknown key, a
            value of the wrong type or out of range, or an unknown starting preset (one
            line with file, line and key).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise LiveSetError(f"{path}: cannot read the live set: {reason}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(path, str(exc)) from None
    return _Reader(path, text).read(data)


_AT = re.compile(r"^(?P<what>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)$")


def _syntax_error(path: Path, message: str) -> LiveSetError:
    """tomllib's ``Invalid value (at line 3, column 9)`` -> ``my-set.toml line 3: ...``."""
    m = _AT.match(message)
    if m is None:
        return LiveSetError(f"{path}: not valid TOML: {message}")
    line = int(m.group("line"))
    return LiveSetError(f"{path} line {line}, column {m.group('col')}: not valid TOML: {m.group('what')}", line)


class _Reader:
    """Checks one parsed file, turning every mistake into a :class:`LiveSetError`."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text
        self.where = LiveSet(path=path, text=text)

    def fail(self, path: tuple[str, ...], reason: str) -> LiveSetError:
        return self.where._error(path, reason)

    def known(self, table: tuple[str, ...], data: Mapping[str, Any], keys: tuple[str, ...]) -> None:
        """Refuse the first key of ``data`` not in ``keys``, naming the known ones."""
        for key in data:
            if key not in keys:
                close = difflib.get_close_matches(key, keys, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise self.fail((*table, key), f"unknown key{hint}; known keys here: {', '.join(keys)}")

    def table(self, data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
        value = data.get(key, _EMPTY)
        if not isinstance(value, dict | MappingProxyType):
            raise self.fail((key,), f"must be a table ([{key}]), got {_type(value)}")
        return value

    def text_value(self, path: tuple[str, ...], value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, f"takes a non-empty string, got {_type(value)}")
        return value

    def flag(self, path: tuple[str, ...], value: Any) -> bool | None:
        if value is None or isinstance(value, bool):
            return value
        raise self.fail(path, f"takes true or false, got {_type(value)}")

    def controls(self, table: tuple[str, ...], data: Mapping[str, Any]) -> dict[str, Value]:
        """Each value through its control's validator (the one OSC, CC and flags use)."""
        triggers = [n for n, c in CONTROLS.items() if c.kind == "trigger"]
        out: dict[str, Value] = {}
        for name, value in data.items():
            if name in triggers:
                raise self.fail((*table, name), f"{name} is a trigger (an action, not a setting): "
                                                f"send /livegen/{name} live instead")
            if name not in SETTABLE:
                self.known(table, {name: value}, SETTABLE)
            try:
                out[name] = CONTROLS[name].coerce(value)
            except ControlError as exc:
                raise self.fail((*table, name), _reason(name, str(exc))) from None
        try:
            ControlState.default().apply_many(out)
        except ControlError as exc:
            raise self.fail(table, str(exc)) from None
        return out

    def read(self, data: Mapping[str, Any]) -> LiveSet:
        self.known((), data, TOP_KEYS)
        ports, osc = self.table(data, "ports"), self.table(data, "osc")
        self.known(("ports",), ports, PORT_KEYS)
        self.known(("osc",), osc, OSC_KEYS)
        clock = self.text_value(("clock",), data.get("clock"))
        if clock is not None and clock not in CLOCKS:
            raise self.fail(("clock",), f"{clock!r} is not one of {', '.join(CLOCKS)}")
        model = self.text_value(("model",), data.get("model"))
        if model is not None and (self.path.parent / model).is_file():
            model = str(self.path.parent / model)  # a checkpoint beside the set
        osc_port = osc.get("port")
        if osc_port is not None and (isinstance(osc_port, bool) or not isinstance(osc_port, int)
                                     or not OSC_PORTS[0] <= osc_port <= OSC_PORTS[1]):
            raise self.fail(("osc", "port"), f"takes a whole number {OSC_PORTS[0]}..{OSC_PORTS[1]} "
                                             f"(0 = no OSC server), got {osc_port!r}")
        feedback = self.text_value(("osc", "feedback"), osc.get("feedback"))
        if feedback is not None:
            try:
                parse_host_port(feedback)
            except LivegenError as exc:
                raise self.fail(("osc", "feedback"), str(exc)) from None
        presets_table = self.table(data, "presets")
        presets: dict[str, Mapping[str, Value]] = {}
        preset_parts: dict[str, Any] = {}
        for name, values in presets_table.items():
            if not isinstance(values, dict):
                raise self.fail(("presets", name), f"a preset is a table ([presets.{_quoted(name)}]) of "
                                                   f"control values, got {_type(values)}")
            values = dict(values)
            own_parts = values.pop("parts", None)
            presets[name] = MappingProxyType(self.controls(("presets", name), values))
            if own_parts is not None:
                preset_parts[name] = own_parts
        preset = self.text_value(("preset",), data.get("preset"))
        if preset is not None and preset not in presets:
            known = ", ".join(presets) or "none: add [presets.NAME] tables"
            raise self.fail(("preset",), f"no preset {preset!r}; the presets are: {known}")
        parts, part_values = self.parts(data.get("parts"))
        checked_presets = {name: self.part_table(("presets", name, "parts"), parts, table)
                           for name, table in preset_parts.items()}
        web = self.text_value(("web",), data.get("web"))
        if web is not None:
            try:
                parse_web_address(web)
            except LivegenError as exc:
                raise self.fail(("web",), str(exc)) from None
        return LiveSet(
            path=self.path, text=self.text, model=model, clock=clock, parts=parts, web=web,
            send_clock=self.flag(("send_clock",), data.get("send_clock")), preset=preset,
            inp=self.text_value(("ports", "in"), ports.get("in")),
            out=self.text_value(("ports", "out"), ports.get("out")),
            virtual=self.flag(("ports", "virtual"), ports.get("virtual")),
            osc_port=osc_port, osc_host=self.text_value(("osc", "host"), osc.get("host")), osc_feedback=feedback,
            controls=MappingProxyType(self.controls(("controls",), self.table(data, "controls"))),
            presets=MappingProxyType(presets), part_values=part_values,
            preset_parts=MappingProxyType(checked_presets))

    def parts(self, value: Any) -> tuple[str | None, Mapping[str, Mapping[str, Value]]]:
        """``parts = "LAYOUT"``, or a ``[parts]`` table: ``layout`` and ``[parts.NAME]`` tables."""
        if value is None or isinstance(value, str):
            layout = self.text_value(("parts",), value)
            if layout is not None and layout not in LAYOUTS:
                raise self.fail(("parts",), f"{layout!r} is not one of {', '.join(LAYOUTS)}")
            return layout, _EMPTY
        if not isinstance(value, dict):
            raise self.fail(("parts",), f"takes a layout name or a table ([parts]), got {_type(value)}")
        table = dict(value)
        layout = self.text_value(("parts", "layout"), table.pop("layout", None))
        if layout is None:
            raise self.fail(("parts",), f"a [parts] table names its layout: layout = one of {', '.join(LAYOUTS)}")
        if layout not in LAYOUTS:
            raise self.fail(("parts", "layout"), f"{layout!r} is not one of {', '.join(LAYOUTS)}")
        return layout, self.part_table(("parts",), layout, table)

    def part_table(self, where: tuple[str, ...], layout: str | None, table: Any
                   ) -> Mapping[str, Mapping[str, Value]]:
        """``{part: {control: value}}`` checked against ``layout``'s parts and the part
        controls' validators (the one OSC uses)."""
        if layout is None:
            raise self.fail(where, "parts' controls need a layout: parts = \"NAME\" or [parts] layout = \"NAME\"")
        if not isinstance(table, dict):
            raise self.fail(where, f"must be a table of parts, got {_type(table)}")
        names = tuple(p.name for p in LAYOUTS[layout])
        out: dict[str, Mapping[str, Value]] = {}
        for part, values in table.items():
            if part not in names:
                self.known(where, {part: values}, names)
            if not isinstance(values, dict):
                raise self.fail((*where, part), f"must be a table ([{'.'.join((*where, part))}]) of "
                                                f"{', '.join(PART_CONTROLS)}, got {_type(values)}")
            self.known((*where, part), values, tuple(PART_CONTROLS))
            typed: dict[str, Value] = {}
            for what, v in values.items():
                try:
                    typed[what] = PART_CONTROLS[what].coerce(v)
                except ControlError as exc:
                    raise self.fail((*where, part, what), _reason(what, str(exc))) from None
            out[part] = MappingProxyType(typed)
        try:
            PartsState.for_layout(LAYOUTS[layout]).apply_many(out)
        except ControlError as exc:
            raise self.fail(where, str(exc)) from None
        return MappingProxyType(out)


def _reason(name: str, message: str) -> str:
    """A control's refusal without its leading name (the key is already named)."""
    return message.removeprefix(f"{name} ").removeprefix(f"{name}: ")


def _type(value: object) -> str:
    if isinstance(value, str):
        return f"string {value[:40]!r}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, bool):
        return str(value).lower()
    return f"{type(value).__name__} {value!r}"[:60]
