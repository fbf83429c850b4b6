"""What the browser stage says and hears, as JSON: the controls' schema and a page's requests.

The page is generated from :data:`~livegen.controls.table.CONTROLS` and
:data:`~livegen.controls.table.GROUPS` (:func:`schema`): one input element a control, named
after it. A page asks for one thing a message (:func:`parse_request`):

* ``{"set": NAME, "value": V}``: a control's raw value in its own unit (a trigger takes no
  ``value``). Validated exactly as the OSC message ``/livegen/NAME V`` is
  (:func:`~livegen.controls.table.parse_osc`): out of range is refused, never clamped.
* ``{"preset": NAME}``: switch to a live set's preset.
* ``{"part": NAME, "control": CONTROL, "value": V}``: a part's control (channel, program,
  velocity, octave, mute, solo: :data:`~livegen.controls.parts.PART_CONTROLS`), validated
  as ``/livegen/part/NAME/CONTROL V`` is.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from livegen.controls.parts import PART_CONTROLS, PartChange
from livegen.controls.table import CONTROLS, GROUPS, Control, ControlChange, ControlError, parse_osc

#: longest message a page may send, in characters (a string control takes 256 at most).
MAX_MESSAGE = 2048


@dataclass(frozen=True)
class PresetRequest:
    """Switch to preset ``name``."""

    name: str


PageRequest = ControlChange | PresetRequest | PartChange


def schema() -> list[dict[str, Any]]:
    """The controls a page draws, grouped: ``[{"group": title, "controls": [{"name",
    "kind", "default", "description", "unit", "min", "max", "step", "choices",
    "address", "cc"}, ...]}, ...]`` in display order. ``step`` is 1 for whole numbers and
    a hundredth of the range for other numbers."""
    groups = []
    for title, names in GROUPS.items():
        rows = []
        rows = [_row(CONTROLS[name]) for name in names]
        groups.append({"group": title, "controls": rows})
    return groups


def part_schema() -> list[dict[str, Any]]:
    """Each part's controls, as :func:`schema` gives a control (``address`` is the part's
    with ``NAME`` for its name)."""
    return [{**_row(c), "address": f"/livegen/part/NAME/{c.name}", "cc": None} for c in PART_CONTROLS.values()]


def _row(c: Control) -> dict[str, Any]:
    step = None
    if c.kind == "int":
        step = 1.0
    elif c.kind == "float" and c.minimum is not None and c.maximum is not None:
        step = (c.maximum - c.minimum) / 100.0
    return {"name": c.name, "kind": c.kind, "default": c.default, "description": c.description,
            "unit": c.unit, "min": c.minimum, "max": c.maximum, "step": step,
            "choices": list(c.choices), "address": c.address, "cc": c.cc}


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
    if "part" in data:
        return _part(data)
    if "set" in data:
        return _control(data)
    if "preset" in data:
        name = data["preset"]
        if not isinstance(name, str) or set(data) != {"preset"}:
            raise ValueError('a preset switch is {"preset": NAME}')
        return PresetRequest(name)
    raise ValueError('a message is {"set": NAME, "value": V}, {"preset": NAME} or {"part": ...}')


def _part(data: dict[str, Any]) -> PartChange:
    part, what = data.get("part"), data.get("control")
    if not isinstance(part, str) or not isinstance(what, str) or set(data) != {"part", "control", "value"}:
        raise ValueError('a part\'s control is {"part": NAME, "control": CONTROL, "value": V}')
    control = PART_CONTROLS.get(what)
    if control is None:
        raise ValueError(f"a part has no control {what[:40]!r}: it takes {', '.join(PART_CONTROLS)}")
    try:
        return PartChange(part, what, control.coerce(data["value"]))
    except ControlError as exc:
        raise ValueError(str(exc)) from None


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
