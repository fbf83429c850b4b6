"""The one live state: the value in force of every control, and the only way to change it.

:class:`LiveControls` holds one frozen :class:`~livegen.controls.table.ControlState`. Every
writer goes through it: command-line options (at start), OSC raw and ``/norm`` messages,
MIDI CC, patches and live sets. Every reader takes its values from :attr:`LiveControls.state`
(the engine reads one snapshot per step: sampler constraints, tempo, mode, mute,
velocity; the lyrics streamer, the live view, OSC feedback and the recorder likewise).

A change that is refused (a bad value, or a combination such as ``low > high``) is logged
and the listeners are told the control's name anyway, so a controller that showed the
refused value is sent back the value still in force. What the controller is told is what
is in force.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from livegen.controls.parts import PartChange, PartsState
from livegen.controls.table import CONTROLS, ControlChange, ControlError, ControlState

log = logging.getLogger(__name__)

#: ``listener(names, state)``: ``names`` changed (or were refused and stay as in ``state``).
ChangeListener = Callable[[Sequence[str], ControlState], None]
#: ``listener(name)`` for a fired trigger (``reset``, ``panic``).
TriggerListener = Callable[[str], None]
#: ``listener(changes, parts)``: ``(part, control)`` pairs changed (or refused and as in ``parts``).
PartListener = Callable[[Sequence[tuple[str, str]], PartsState], None]


class LiveControls:
    """The single holder of the live state.

    Args:
        state: the starting values (default: every control at its table default).
        parts: with ``--parts``, every part's controls (:mod:`livegen.controls.parts`).

    Not thread-safe by itself: call it from the session's event loop (the OSC receiver
    hands changes to the loop).
    """

    def __init__(self, state: ControlState | None = None, parts: PartsState | None = None) -> None:
        self._state = state if state is not None else ControlState.default()
        self._parts = parts
        self._on_change: list[ChangeListener] = []
        self._on_trigger: list[TriggerListener] = []
        self._on_part: list[PartListener] = []
        self.refused = 0

    @property
    def state(self) -> ControlState:
        """The values in force (an immutable snapshot)."""
        return self._state

    @property
    def parts(self) -> PartsState | None:
        """Every part's controls in force (None: livegen plays no parts)."""
        return self._parts

    def set_layout(self, parts: PartsState) -> None:
        """Play parts from now with ``parts`` as their controls (a session started with
        ``--parts`` whose caller gave none)."""
        self._parts = parts

    def on_part_change(self, listener: PartListener) -> None:
        """Call ``listener(changes, parts)`` after every part change (and every refusal)."""
        self._on_part.append(listener)

    def set_parts(self, values: Mapping[str, Mapping[str, object]]) -> PartsState:
        """Change parts' controls (part -> control -> raw value), validated together;
        :class:`ControlError` (nothing changes) when refused or when livegen plays no parts."""
        if self._parts is None:
            raise ControlError("livegen plays no parts: start it with --parts")
        new = self._parts.apply_many(values)
        if new != self._parts:
            old, self._parts = self._parts, new
            self._notify_parts(new.changed(old))
        return new

    def offer_part(self, change: PartChange, source: str = "OSC") -> bool:
        """Apply a part change from a controller; on refusal log one line and re-send the
        value in force. Returns whether it was applied."""
        try:
            self.set_parts({change.part: {change.what: change.value}})
        except ControlError as exc:
            self.refused += 1
            log.warning("refused %s part %s %s=%r: %s", source, change.part, change.what, change.value, exc)
            if self._parts is not None:
                self._notify_parts([(change.part, change.what)])
            return False
        return True

    def _notify_parts(self, changes: Sequence[tuple[str, str]]) -> None:
        assert self._parts is not None
        for listener in list(self._on_part):
            listener(changes, self._parts)

    def on_change(self, listener: ChangeListener) -> None:
        """Call ``listener(names, state)`` after every change (and every refusal)."""
        self._on_change.append(listener)

    def on_trigger(self, listener: TriggerListener) -> None:
        """Call ``listener(name)`` when a trigger control fires."""
        self._on_trigger.append(listener)

    def set(self, name: str, value: object) -> ControlState:
        """Change one control; raises :class:`ControlError` (nothing changes) when refused.

        A trigger fires its listeners and leaves the state as it is.
        """
        control = CONTROLS.get(name)
        if control is None:
            raise ControlError(f"unknown control {name!r} (see `livegen controls`)")
        if control.kind == "trigger":
            for trigger in list(self._on_trigger):
                trigger(name)
            return self._state
        new = self._state.apply(name, value)
        if new != self._state:
            self._state = new
            self._notify([name])
        return new

    def set_many(self, values: Mapping[str, object]) -> ControlState:
        """Change several controls at once (a preset of a live set), each through its
        validator and the combination checked once (:meth:`ControlState.apply_many`).

        Listeners hear every changed name in one call. Raises :class:`ControlError`
        (nothing changes) when a value or the combination is refused.
        """
        new = self._state.apply_many(values)
        if new != self._state:
            old = self._state
            self._state = new
            self._notify([name for name, value in new.as_dict().items() if getattr(old, name) != value])
        return new

    def offer(self, change: ControlChange, source: str = "OSC") -> bool:
        """Apply a change from a controller; on refusal log one line and re-send the value in
        force to the listeners. Returns whether it was applied."""
        try:
            self.set(change.name, change.value)
        except ControlError as exc:
            self.refused += 1
            log.warning("refused %s %s=%r: %s", source, change.name, _short(change.value), exc)
            self._notify([change.name])
            return False
        return True

    def _notify(self, names: Sequence[str]) -> None:
        for listener in list(self._on_change):
            listener(names, self._state)


def _short(value: object) -> object:
    return value[:40] + "..." if isinstance(value, str) and len(value) > 40 else value
