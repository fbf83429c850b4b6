"""What the browser stage says and hears, as JSON: the controls' schema and a page's requests.

The page is generated from :data:`~livegen.controls.table.CONTROLS` and
:data:`~livegen.controls.table.GROUPS` (:func:`schema`): one input element a control, named
after it. A page asks for one thing a message (:func:`parse_request`):

* ``{"set": NAME, "value": V}``: a control's raw value in its own unit (a trigger takes no
  ``value``). Validated exactly as the OSC message ``/livegen/NAME V`` is
  (:func:`~livegen.controls.table.parse_osc`): out of range is refused, never clamped.
* ``{"preset": NAME}``: switch to a live set's preset.
* ``{"part": NAME, "switch": "mute"|"solo", "on": true|false}``: a part's switch.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from livegen.controls.table import CONTROLS, GROUPS, ControlChange, ControlError, parse_osc

#: longest message a page may send, in characters (a string control takes 256 at most).
MAX_MESSAGE = 2048


@dataclass(frozen=True)
class PresetRequest:
    """Switch to preset ``name``."""

    name: str


@dataclass(frozen=True)
class PartSwitch:
    """Part ``part``'s ``what`` (``mute`` or ``solo``) on or off."""

    part: str
    what: str
    on: bool


PageRequest = ControlChange | PresetRequest | PartSwitch


def schema() -> list[dict[str, Any]]:
    """The controls a page draws, grouped: ``[{"group": title, "controls": [{"name",
    "kind", "default", "description", "unit", "min", "max", "step", "choices",
    "address", "cc"}, ...]}, ...]`` in display order. ``step`` is 1 for whole numbers and
    a hundredth of the range for other numbers."""
    groups = []
    for title, names in GROUPS.items():
        rows = []
        for name in names:
            c = CONTROLS[name]
            step = None
            if c.kind == "int":
                step = 1.0
            elif c.kind == "float" and c.minimum is not None and c.maximum is not None:
                step = (c.maximum - c.minimum) / 100.0
            rows.append({"name": c.name, "kind": c.kind, "default": c.default, "description": c.description,
                         "unit": c.unit, "min": c.minimum, "max": c.maximum, "step": step,
                         "choices": list(c.choices), "address": c.address, "cc": c.cc})
        groups.append({"group": title, "controls": rows})
    return groups


def parse_request(text: str) -> PageRequest:
    """One message from a page. Raises ValueError (its text the reason) for anything that
    is not a valid request; a control's value goes through the OSC validator."""
    if len(text) > MAX_MESSAGE:
        raise ValueError(f"message of {len(text)} characters (at most {MAX_MESSAGE})")
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ValueError("a message is one JSON object")
    if "set" in data:
        return _control(data)
    if "preset" in data:
        name = data["preset"]
        if not isinstance(name, str) or set(data) != {"preset"}:
            raise ValueError('a preset switch is {"preset": NAME}')
        return PresetRequest(name)
    if "part" in data:
        part, what, on = data.get("part"), data.get("switch"), data.get("on")
        if not isinstance(part, str) or what not in ("mute", "solo") or not isinstance(on, bool):
            raise ValueError('a part switch is {"part": NAME, "switch": "mute" or "solo", "on": true or false}')
        return PartSwitch(part, what, on)
    raise ValueError('a message is {"set": NAME, "value": V}, {"preset": NAME} or {"part": ...}')


def _control(data: dict[str, Any]) -> ControlChange:
    name = data["set"]
    if not isinstance(name, str) or name not in CONTROLS:
        raise ValueError(f"unknown control {str(name)[:40]!r} (see `livegen controls`)")
    control = CONTROLS[name]
    args: list[object] = [] if "value" not in data else [data["value"]]
    if control.kind == "trigger" and args == [True]:
        args = [1]
    if isinstance(data.get("value"), float) and not math.isfinite(data["value"]):
        raise ValueError(f"{name} takes a finite number")
    try:
        change = parse_osc(control.address, args)
    except ControlError as exc:
        raise ValueError(str(exc)) from None
    if change is None:
        raise ValueError(f"{name}: nothing to do (a trigger fires on 1)")
    return change


def _no_constant(word: str) -> float:
    raise ValueError(f"{word} is not a value")
