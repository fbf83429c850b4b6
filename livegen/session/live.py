"""Wiring for ``livegen play``: real ports, OSC, the engine and its helpers on one loop.

This is the only module that joins the pure parts (voice, engine) to the outside world
(rtmidi ports, UDP sockets, signals). The rtmidi thread hands each message to the loop
with ``call_soon_threadsafe``; OSC datagrams arrive on the loop itself; the engine reads
both at its next step, so nothing that arrives can stall the clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import mido

from livegen.controls.table import FEEDBACK, ControlError, ControlState, from_cc, parse_osc
from livegen.engine.clock import LiveClock
from livegen.engine.engine import Engine, Voice
from livegen.engine.params import LiveParams
from livegen.engine.recorder import Take
from livegen.engine.scheduler import ThreadScheduler
from livegen.io.base import MidiIn, MidiOut
from livegen.io.osc import OscFeedback, OscServer

log = logging.getLogger(__name__)

#: seconds within which a control change is echoed to the feedback target; changes in that
#: window are sent once, with their latest values.
FEEDBACK_COALESCE_S = 0.01


@dataclass
class LiveOptions:
    """Everything ``livegen play`` decides before the loop starts."""

    steps_per_beat: int
    bars: int | None = None
    channel: int = 0
    beats_per_bar: int = 4
    clock_source: str = "internal"
    send_clock: bool = False
    osc_host: str = "127.0.0.1"
    osc_port: int | None = 9000
    osc_feedback: str | None = None
    record: Path | None = None
    realtime: bool = True
    start_delay: float = 0.2
    extra_tasks: list[Callable[[Engine], asyncio.Future | None]] = field(default_factory=list)


class LiveSession:
    """One performance: ports and sockets opened by the caller, closed by :meth:`run`.

    Args:
        voice: the generator to play.
        params: initial live parameters.
        midi_in / midi_out: opened ports (real or memory).
        options: see :class:`LiveOptions`.
        on_status: called ~10 times a second with the engine's status dict (live view).
        on_downbeat: forwarded to the engine (lyrics lines).
        on_control: extra handler for controls the engine does not know (lyrics_*).
    """

    def __init__(self, voice: Voice, params: LiveParams, midi_in: MidiIn | None, midi_out: MidiOut,
                 options: LiveOptions, on_status: Callable[[dict], None] | None = None,
                 on_downbeat: Callable[[int, float], None] | None = None,
                 on_control: Callable[[str, object], None] | None = None) -> None:
        self.voice = voice
        self.params = params
        self.midi_in = midi_in
        self.midi_out = midi_out
        self.options = options
        self.on_status = on_status
        self.on_downbeat = on_downbeat
        self.on_control = on_control
        self.state = ControlState.default()
        self.feedback: OscFeedback | None = None
        self.osc: OscServer | None = None
        self.engine: Engine | None = None
        self.take: Take | None = None
        self.dropped_controls = 0
        self._dirty: set[str] = set()
        self._flush_handle: asyncio.TimerHandle | None = None

    # ---- controls -------------------------------------------------------------------------

    def apply(self, name: str, value: object) -> None:
        """Apply one validated control change to the engine (and the feedback state)."""
        assert self.engine is not None
        if name.startswith("lyrics_"):
            if self.on_control is not None:
                self.on_control(name, value)
        else:
            self.engine.handle_control(name, value)
        if name not in ("reset", "panic"):
            with contextlib.suppress(ControlError):
                self.state = self.state.apply(name, value)
            if self.feedback is not None:
                self._echo(name)

    def _echo(self, name: str) -> None:
        """Send ``name``'s new value back within :data:`FEEDBACK_COALESCE_S`; a burst of
        changes (a fader sweep, a flood) sends each changed control once, its latest value."""
        self._dirty.add(name)
        if self._flush_handle is None:
            loop = asyncio.get_running_loop()
            self._flush_handle = loop.call_later(FEEDBACK_COALESCE_S, self._flush_feedback)

    def _flush_feedback(self) -> None:
        self._flush_handle = None
        names = [n for n in self.state.as_dict() if n in self._dirty]
        self._dirty.clear()
        if self.feedback is not None and names:
            self.feedback.send_state(self.state, names)

    def _on_midi(self, msg: mido.Message, t: float) -> None:
        """On the loop thread: CCs from the table steer; everything else goes to the engine."""
        assert self.engine is not None
        if msg.type == "control_change":
            try:
                change = from_cc(msg.control, msg.value)
            except ControlError as exc:
                log.warning("dropped CC: %s", exc)
                return
            if change is not None:
                try:
                    self.apply(change.name, change.value)
                except (ValueError, ControlError) as exc:
                    log.warning("dropped CC %d: %s", msg.control, exc)
                return
        self.engine.feed_midi(msg, t)

    async def _control_pump(self) -> None:
        assert self.osc is not None
        while True:
            message = await self.osc.queue.get()
            try:
                change = parse_osc(message.address, message.args)
                if change is not None:
                    self.apply(change.name, change.value)
            except (ValueError, ControlError) as exc:
                self.dropped_controls += 1
                log.warning("dropped OSC %s %r: %s", message.address[:60], message.args[:4], exc)
            except Exception:  # never let a control kill the engine
                self.dropped_controls += 1
                log.exception("dropped OSC %s: unexpected error", message.address[:60])

    async def _status_pump(self) -> None:
        assert self.engine is not None
        while True:
            await asyncio.sleep(0.1)
            if self.on_status is not None:
                self.on_status(self.engine.status())

    def _engine_feedback(self, name: str, *args: object) -> None:
        fb = self.feedback
        if fb is None:
            return
        if name == "mode":
            self.state = self.state.apply("mode", args[0])
            fb.send_state(self.state, ["mode"])
        elif name in FEEDBACK:
            fb.send(FEEDBACK[name].address, *args)  # type: ignore[arg-type]

    # ---- the run ----------------------------------------------------------------------------

    async def run(self) -> Engine:
        """Play until ``bars`` are done, Ctrl-C or SIGTERM; release every note; close all."""
        loop = asyncio.get_running_loop()
        o = self.options
        scheduler = ThreadScheduler(self.midi_out, realtime=o.realtime)
        clock = LiveClock()
        self.take = Take(clock.now(), self.params.bpm) if o.record else None
        engine = Engine(self.voice, self.params, scheduler, clock, o.steps_per_beat,
                        channel=o.channel, beats_per_bar=o.beats_per_bar,
                        clock_source=o.clock_source, send_clock=o.send_clock, take=self.take,
                        feedback=self._engine_feedback, on_downbeat=self.on_downbeat,
                        start_delay=o.start_delay)
        self.engine = engine
        for name, value in (("temperature", self.params.temperature), ("tempo", self.params.bpm),
                            ("mode", self.params.mode), ("density", self.params.density),
                            ("repeat", self.params.repeat)):
            with contextlib.suppress(ControlError):
                self.state = self.state.apply(name, value)
        tasks: list[asyncio.Task] = []
        stop_signals = []
        try:
            if o.osc_feedback:
                self.feedback = OscFeedback(o.osc_feedback)
                self.feedback.send_state(self.state)
            if o.osc_port is not None:
                self.osc = await OscServer(o.osc_host, o.osc_port).start()
                tasks.append(asyncio.ensure_future(self._control_pump()))
            if self.midi_in is not None:
                self.midi_in.set_callback(lambda m, t: loop.call_soon_threadsafe(self._on_midi, m, t))
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, engine.request_stop)
                    stop_signals.append(sig)
            tasks.append(asyncio.ensure_future(self._status_pump()))
            for factory in o.extra_tasks:
                fut = factory(engine)
                if fut is not None:
                    tasks.append(asyncio.ensure_future(fut))
            await engine.run(o.bars)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for sig in stop_signals:
                loop.remove_signal_handler(sig)
            if self.midi_in is not None:
                self.midi_in.set_callback(None)
            scheduler.close()
            if self._flush_handle is not None:
                self._flush_handle.cancel()
                self._flush_feedback()
            if self.feedback is not None:
                self.feedback.send_status("stopped")
                self.feedback.close()
            if self.osc is not None:
                self.osc.close()
            if self.take is not None and o.record is not None:
                o.record.parent.mkdir(parents=True, exist_ok=True)
                self.take.save(o.record)
                log.info("recorded take to %s", o.record)
        return engine
