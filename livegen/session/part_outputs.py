"""``livegen play --parts-out``: each part of livegen's answer on a port of its own.

:class:`PartOutputs` is the one output the scheduler sends to: a message on a channel goes to
the port of the part that plays on that channel (read from the one live state at each
message, so a part moved to another channel live takes its port along; a channel a part left
keeps going to that part's port, so its All Notes Off and late note-offs reach the synth
that got its notes). Anything without a channel (MIDI clock) goes to every port.
"""

from __future__ import annotations

from collections.abc import Sequence

import mido

from livegen.controls.state import LiveControls
from livegen.io.base import MidiOut

#: the name of part ``NAME``'s port: ``livegen NAME``
PORT_PREFIX = "livegen "


def part_port_name(part: str) -> str:
    """The virtual port of part ``part``: ``livegen bass``."""
    return f"{PORT_PREFIX}{part}"


class PartOutputs:
    """One output per part, seen as one.

    Args:
        outputs: each part's port, in layout order.
        controls: the one live state (its :attr:`~livegen.controls.state.LiveControls.parts`
            say which channel each part plays on).
    """

    def __init__(self, outputs: Sequence[MidiOut], controls: LiveControls) -> None:
        parts = controls.parts
        if parts is None or len(parts.names) != len(outputs):
            raise ValueError("one output per part of the live state's parts")
        self.outputs = tuple(outputs)
        self.controls = controls
        self.name = ", ".join(o.name for o in self.outputs)
        #: 0-based channel -> the part (index) whose port it goes to
        self._by_channel: dict[int, int] = {}

    def port_of(self, channel: int) -> int | None:
        """The index of the part whose port a message on ``channel`` (0-based) goes to: the
        part on it now, else the last part that was; None: no part ever was."""
        parts = self.controls.parts
        if parts is not None:
            for i, s in enumerate(parts.settings):
                self._by_channel[s.channel - 1] = i
        return self._by_channel.get(channel)

    def send(self, msg: mido.Message) -> None:
        """``msg`` to its part's port (every port: no channel, or a channel no part had)."""
        i = self.port_of(msg.channel) if hasattr(msg, "channel") else None
        for k, out in enumerate(self.outputs):
            if i is None or k == i:
                out.send(msg)

    def close(self) -> None:
        """Close every port (idempotent, as each port's close is)."""
        for out in self.outputs:
            out.close()
