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

from livegen.controls.table import CONTROLS, ControlChange, ControlError, ControlState

log = logging.getLogger(__name__)

#: ``listener(names, state)``: ``names`` changed (or were refused and stay as in ``state``).
ChangeListener = Callable[[Sequence[str], ControlState], None]
#: ``listener(name)`` for a fired trigger (``reset``, ``panic``).
TriggerListener = Callable[[str], None]


class LiveControls:
    """The single holder of the live state.

    Args:
        state: the starting values (default: every control at its table default).

    Not thread-safe by itself: call it from the session's event loop (the OSC receiver
    hands changes to the loop).
    """

    def __init__(self, state: ControlState | None = None) -> None:
        self._state = state if state is not None else ControlState.default()
        self._on_change: list[ChangeListener] = []
        self._on_trigger: list[TriggerListener] = []
        self.refused = 0

    @property
    def state(self) -> ControlState:
        """The values in force (an immutable snapshot)."""
        return self._state

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
