"""OSC commands for parts: ``/livegen/part/NAME/CONTROL VALUE`` (and ``.../norm`` 0..1) for every
control of :data:`~livegen.controls.parts.PART_CONTROLS` (channel, program, velocity, octave,
mute, solo).

Handled on the OSC receiver's thread: a bad value is refused with a rate-limited log line and
never reaches the engine; a good one is applied on the event loop through the one live state
(:meth:`LiveControls.offer_part <livegen.controls.state.LiveControls.offer_part>`), in force
from the engine's next step, and echoed to the feedback target by the session. Changes wait
coalesced (the latest value of each part's control), and the loop takes them in one pass: a
flood costs the loop one pass, not one callback a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from livegen.controls.parts import PART_CONTROLS, PartChange, parse_part_osc, part_address
from livegen.controls.state import LiveControls
from livegen.controls.table import NORM_SUFFIX, ControlError
from livegen.io.ratelog import RateLimitedLog

log = logging.getLogger(__name__)
_rt_log = RateLimitedLog(log)


def part_addresses(names: Sequence[str]) -> list[str]:
    """Every OSC address the parts ``names`` answer on (raw and ``/norm``)."""
    return [address for name in names for what in PART_CONTROLS
            for address in (part_address(name, what), part_address(name, what) + NORM_SUFFIX)]


def part_commands(names: Sequence[str], loop: asyncio.AbstractEventLoop,
                  controls: LiveControls) -> Mapping[str, Callable[[tuple[Any, ...]], None]]:
    """The OSC commands of the parts ``names`` for the OSC server."""
    lock = threading.Lock()
    waiting: dict[tuple[str, str], PartChange] = {}  # the latest change of each part's control

    def drain() -> None:
        with lock:
            changes = list(waiting.values())
            waiting.clear()
        for change in changes:
            controls.offer_part(change)

    def handle(address: str, args: tuple[Any, ...]) -> None:
        try:
            change = parse_part_osc(address, args, names)
        except ControlError as exc:
            _rt_log.warning("part", "refused %s %r: %s", address, args, exc)
            return
        if change is None:
            return
        with lock:
            scheduled = bool(waiting)
            waiting[(change.part, change.what)] = change
        if not scheduled:
            with contextlib.suppress(RuntimeError):  # the loop closed: the performance is over
                loop.call_soon_threadsafe(drain)

    def command(address: str) -> Callable[[tuple[Any, ...]], None]:
        return lambda args: handle(address, args)

    return {address: command(address) for address in part_addresses(names)}
