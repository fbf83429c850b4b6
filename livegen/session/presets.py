"""Switching a live set's presets during a performance: by OSC name or MIDI program change.

:class:`PresetSwitcher` applies a preset's values through
:meth:`LiveControls.set_many <livegen.controls.state.LiveControls.set_many>`, the one live
state every OSC and CC change goes through: the values are validated, in force from the
engine's next step, and echoed to the controller like any other change. Then it tells its
listeners the name of the preset in force (the session sends it to ``/livegen/preset``).

* ``/livegen/preset NAME`` (one OSC string) switches to the preset called ``NAME``.
* MIDI program change ``N`` (any channel) switches to the preset at index ``N`` of the set,
  in file order: program 0 is the first preset (DAWs that count programs from 1 show it
  as program 1).

An unknown name, a program beyond the last preset or a malformed message changes nothing:
one log line (rate-limited, so a flood cannot fill the log) and the name still in force is
sent back to the listeners, so a controller that showed the refused name is corrected.

Call :meth:`select`, :meth:`program` and :meth:`osc` on the session's event loop; the OSC
receiver thread hands messages over with :meth:`osc_threadsafe`, which keeps only the
latest waiting request (a flood costs the loop one switch per pass).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from livegen.controls.state import LiveControls
from livegen.controls.table import FEEDBACK, ControlError, Value
from livegen.io.ratelog import Quoted, RateLimitedLog

log = logging.getLogger(__name__)

#: OSC address that switches presets (one string: the name); livegen sends the name in
#: force back to it.
PRESET_ADDRESS = FEEDBACK["preset"].address

#: ``listener(name)``: the preset in force (after a switch, or after a refused one).
PresetListener = Callable[[str | None], None]


class PresetSwitcher:
    """The presets of a live set and the one in force.

    Args:
        controls: the one live state the presets are applied to.
        presets: name -> (control name -> value), each complete (see
            :meth:`livegen.session.live_set.LiveSet.start`), in file order.
        current: the preset in force at the start, or None.
        part_presets: each preset's parts' controls (preset -> part -> control -> value),
            complete as the presets are; applied with the preset.
    """

    def __init__(self, controls: LiveControls, presets: Mapping[str, Mapping[str, Value]],
                 current: str | None = None,
                 part_presets: Mapping[str, Mapping[str, Mapping[str, Value]]] | None = None) -> None:
        if current is not None and current not in presets:
            raise ValueError(f"no preset {current!r}")
        self.controls = controls
        self.presets = dict(presets)
        self.part_presets = dict(part_presets or {})
        self.names = tuple(presets)
        self.switches = 0  # switches applied
        self.refused = 0  # requests refused (unknown name, program or message)
        self.log = RateLimitedLog(log)
        self._current = current
        self._listeners: list[PresetListener] = []
        self._lock = threading.Lock()
        self._waiting: tuple[Any, ...] | None = None  # the latest OSC request not yet applied

    @property
    def current(self) -> str | None:
        """Name of the preset in force (None before the first switch of a set without a
        starting preset)."""
        return self._current

    def on_switch(self, listener: PresetListener) -> None:
        """Call ``listener(name in force)`` after every switch and every refusal."""
        self._listeners.append(listener)

    def select(self, name: str, source: str = "OSC") -> bool:
        """Switch to preset ``name``; returns whether it was applied (refusals: one log line)."""
        values = self.presets.get(name)
        if values is None:
            return self._refuse("%s: no preset %s (the presets: %s); nothing changed", source, Quoted(name),
                                ", ".join(self.names))
        parts = self.part_presets.get(name) or {}
        try:
            if parts and self.controls.parts is not None:
                self.controls.parts.apply_many(parts)  # checked first: the preset applies whole or not at all
            self.controls.set_many(values)
            if parts and self.controls.parts is not None:
                self.controls.set_parts(parts)
        except ControlError as exc:  # the live values of controls the set does not name clash
            return self._refuse("%s: preset %s not applied: %s", source, Quoted(name), str(exc))
        self._current = name
        self.switches += 1
        log.info("preset %s (%s)", name, source)
        self._tell()
        return True

    def program(self, number: int) -> bool:
        """MIDI program change ``number`` (0..127): switch to the preset at that index."""
        if not 0 <= number < len(self.names):
            return self._refuse("program change %d: the set has %d presets (programs 0..%d); nothing changed",
                                number, len(self.names), len(self.names) - 1)
        return self.select(self.names[number], source=f"program change {number}")

    def osc(self, args: Sequence[Any]) -> bool:
        """``/livegen/preset NAME``: the message's arguments."""
        if len(args) != 1 or not isinstance(args[0], str):
            return self._refuse("OSC %s takes one preset name (a string), got %s; nothing changed",
                                PRESET_ADDRESS, Quoted(tuple(args)))
        return self.select(args[0], source="OSC")

    def osc_threadsafe(self, loop: asyncio.AbstractEventLoop, args: Sequence[Any]) -> None:
        """From any thread (the OSC receiver): :meth:`osc` on ``loop`` soon. Only the latest
        request waits; one that arrives while another waits replaces it."""
        with self._lock:
            scheduled = self._waiting is not None
            self._waiting = tuple(args)
        if not scheduled:
            try:
                loop.call_soon_threadsafe(self._take_waiting)
            except RuntimeError:  # the loop closed: the performance is over
                with self._lock:
                    self._waiting = None

    def _take_waiting(self) -> None:
        with self._lock:
            args, self._waiting = self._waiting, None
        if args is not None:
            self.osc(args)

    def _refuse(self, msg: str, *args: object) -> bool:
        self.refused += 1
        self.log.flush()
        self.log.warning("refused", msg, *args)
        self._tell()
        return False

    def _tell(self) -> None:
        for listener in list(self._listeners):
            listener(self._current)
