"""OSC commands for parts: ``/livegen/part/NAME/mute 1|0`` and ``/livegen/part/NAME/solo 1|0``.

Handled on the OSC receiver's thread: a bad value is refused with a rate-limited log line and
never reaches the engine; a good one is applied on the event loop (the engine's
:meth:`~livegen.engine.engine.Engine.set_part`, from the next step) and echoed to the feedback
target.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from livegen.engine.engine import Engine
from livegen.io.osc import OscFeedback
from livegen.io.ratelog import RateLimitedLog
from livegen.music.parts import Part

log = logging.getLogger(__name__)
_rt_log = RateLimitedLog(log)
#: what each part takes over OSC
PART_SWITCHES = ("mute", "solo")


def part_address(name: str, what: str) -> str:
    """The OSC address of part ``name``'s switch ``what`` (``mute`` or ``solo``)."""
    return f"/livegen/part/{name}/{what}"


def switch_value(args: Sequence[Any]) -> bool | None:
    """``1``/``0`` (int, float or bool) as on/off; None for anything else."""
    if len(args) != 1 or isinstance(args[0], str):
        return None
    value = args[0]
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    return None


def part_commands(parts: Sequence[Part], loop: asyncio.AbstractEventLoop, engine: Callable[[], Engine | None],
                  feedback: OscFeedback | None) -> Mapping[str, Callable[[tuple[Any, ...]], None]]:
    """The OSC commands of ``parts`` for the OSC server (``engine()``: the running engine)."""
    commands: dict[str, Callable[[tuple[Any, ...]], None]] = {}
    for part in parts:
        for what in PART_SWITCHES:
            address = part_address(part.name, what)

            def handle(args: tuple[Any, ...], name: str = part.name, what: str = what,
                       address: str = address) -> None:
                on = switch_value(args)
                if on is None:
                    _rt_log.warning("part", "refused %s %r: it takes 1 (on) or 0 (off)", address, args)
                    return

                def apply() -> None:
                    running = engine()
                    if running is None:
                        return
                    running.set_part(name, what, on)
                    if feedback is not None:
                        feedback.send(address, int(on))

                with contextlib.suppress(RuntimeError):  # the loop closed: the performance is over
                    loop.call_soon_threadsafe(apply)

            commands[address] = handle
    return commands
