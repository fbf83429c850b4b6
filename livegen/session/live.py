"""A live performance assembled from injected parts: the engine joined to its controls.

:class:`LiveSession` opens nothing. It takes the voice, the one live state
(:class:`~livegen.controls.state.LiveControls`), a clock, a scheduler (which owns the
output port), and optionally a MIDI input, a control source (the OSC server), a feedback
sender and a recorder. ``livegen play`` wires the real ones (:mod:`livegen.session.factory`);
``livegen render`` and the tests wire a manual clock and memory ports and assert exact
times.

Data flow: MIDI in (any thread) -> ``loop.call_soon_threadsafe`` -> mapped CCs go to the
live state, everything else to the engine's input queue. Control changes (already parsed
and validated off the loop by the control source) -> :meth:`LiveControls.offer`. Every
change or refusal -> coalesced feedback of the values in force.

Panic does not wait for the loop when the session is built with ``thread_panic`` (the real
wiring, whose scheduler is thread-safe): the panic CC wakes a thread of the session's own
that calls :meth:`Engine.panic` at once (the MIDI port's thread, JACK's process thread with
rtmidi, only sets an event), and the OSC receiver calls :meth:`LiveSession.panic_now`
itself. Manual-clock sessions keep every panic on the loop, deterministic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import mido

from livegen import interrupts
from livegen.controls.parts import PartsState, part_feedback, part_from_cc
from livegen.controls.state import LiveControls
from livegen.controls.table import FEEDBACK, ControlChange, ControlError, ControlState, Value, from_cc
from livegen.engine.clock import Clock
from livegen.engine.engine import BeatSource, Engine, Voice
from livegen.engine.parts import PartRouter
from livegen.engine.recorder import Take
from livegen.engine.scheduler import Scheduler
from livegen.io.base import MidiIn
from livegen.music.parts import LAYOUTS
from livegen.session.presets import PRESET_ADDRESS, PresetSwitcher

log = logging.getLogger(__name__)

#: seconds within which a control change is echoed to the feedback target; changes in that
#: window are sent once, with their latest values.
FEEDBACK_COALESCE_S = 0.01
#: seconds within which a refused control's value in force is sent back to the controller.
REFUSAL_ECHO_S = 0.05
#: most control changes applied in one go before the loop is given back to the engine.
CONTROL_BATCH = 256
#: signals that end a performance cleanly: notes released, take written.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_early_stop = threading.Event()


def hold_stop_signals() -> Callable[[], None]:
    """Note stop signals (main thread) instead of raising, until a session's own handlers take
    them and stop at once if one came: a Ctrl-C between livegen saying it plays and its event
    loop's handlers interrupted the loop's set-up. Returns what puts the handlers back.

    A Ctrl-C noted while livegen loaded (:mod:`livegen.interrupts`) is raised here, before
    anything plays, as ``KeyboardInterrupt``."""
    interrupts.checkpoint()
    _early_stop.clear()
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # signals reach the main thread only
    previous = {sig: signal.signal(sig, lambda signum, frame: _early_stop.set()) for sig in STOP_SIGNALS}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return restore


def is_panic(msg: mido.Message) -> bool:
    """The panic CC pressed (the table's CC, value >= 64)."""
    if msg.type != "control_change":
        return False
    try:
        change = from_cc(msg.control, msg.value)
    except ControlError:
        return False
    return change is not None and change.name == "panic"


class PanicThread:
    """Runs ``panic()`` on a thread of its own when asked from any thread.

    :meth:`request` only sets an event, so a MIDI port's thread (JACK's process thread with
    rtmidi) never does the panic's work itself. Requests that come while one panic runs
    give one more panic after it. The thread asks for SCHED_FIFO (``realtime``; it sleeps
    but for a panic) so a busy machine does not keep it waiting, and falls back quietly.
    """

    def __init__(self, panic: Callable[[], None], realtime: bool = True) -> None:
        self._panic = panic
        self._realtime = realtime
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="livegen-panic", daemon=True)
        self._thread.start()

    def request(self) -> None:
        self._wake.set()

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=1.0)

    def _run(self) -> None:
        if self._realtime:
            with contextlib.suppress(AttributeError, PermissionError, OSError):
                os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._closed:
                return
            try:
                self._panic()
            except Exception:  # the next panic must still work
                log.exception("panic failed")


class ControlSource(Protocol):
    """Validated control changes from a controller (the OSC server, or a memory source)."""

    async def get(self) -> ControlChange:
        """Wait for the next change."""

    def poll(self, max_items: int) -> list[ControlChange]:
        """Changes already waiting, at most ``max_items``, without waiting."""

    def drain_refused(self) -> set[str]:
        """Names of controls whose values were refused since the last call."""


class FeedbackSink(Protocol):
    """Where the values in force and the engine's display state go (OSC feedback)."""

    def send(self, address: str, *args: Value) -> bool:
        """Send one message; False when it was dropped."""

    def send_state(self, state: ControlState, names: Sequence[str] | None = None) -> None:
        """Send the values of ``names`` (default: every control)."""

    def send_status(self, status: str) -> bool:
        """Send the engine status word."""


class WatchedOutput(Protocol):
    """A port that says when its device leaves or comes back (a reconnecting port)."""

    def set_listener(self, listener: Callable[[bool, str, str], None] | None) -> None:
        """Call ``listener(connected, name, reason)`` on each change, on any thread."""


def output_status(connected: bool, name: str, reason: str) -> str:
    """The status word for the controller and the live view when the output changes."""
    return f"output back: {name}" if connected else f"output lost: {name} ({reason})"


def input_status(connected: bool, name: str, reason: str) -> str:
    """The status word for the controller and the live view when the input changes."""
    return f"input back: {name}" if connected else f"input lost: {name} ({reason})"


@dataclass(frozen=True)
class SessionOptions:
    """What a session decides before the loop starts.

    Attributes:
        steps_per_beat: grid steps per quarter note.
        bars: stop after this many bars (None: until stopped).
        channel: MIDI channel 0..15 of livegen's notes.
        beats_per_bar: bar length in beats.
        clock_source: ``internal``, ``midi`` (follow the input's MIDI clock) or ``link``
            (step on an Ableton Link session, the session's ``beat_source``).
        send_clock: be the MIDI clock master.
        start_delay: seconds from start to the first step (internal clock).
        primed: the voice has already heard its history (a prime file).
        seed: seeds the feel's humanize (``--seed``); None: a fresh one.
        link_start_stop: with ``--clock link``, start and stop with the session's transport.
        parts: the parts livegen's answer is split into, each on its channel from ``channel``
            on (:data:`~livegen.music.parts.LAYOUTS`; ``one``: every note on ``channel``).
    """

    steps_per_beat: int
    bars: int | None = None
    channel: int = 0
    beats_per_bar: int = 4
    clock_source: str = "internal"
    send_clock: bool = False
    start_delay: float = 0.2
    primed: bool = False
    seed: int | None = None
    link_start_stop: bool = False
    parts: str = "one"


class LiveSession:
    """One performance, from injected parts.

    Args:
        voice: the generator to play.
        controls: the one live state (written by OSC, CC and the caller; read by the engine).
        clock: the engine's time base (``LiveClock`` or ``ManualClock``).
        scheduler: sends MIDI at deadlines; owns the output port.
        options: see :class:`SessionOptions`.
        midi_in: the performer's port (real or memory), or None.
        control_source: validated control changes (the OSC server), or None.
        feedback: where the values in force go, or None.
        take: records performer and livegen notes, or None.
        on_status: called ~10 times a second with the engine's status dict (live view).
        on_downbeat: forwarded to the engine (lyrics lines).
        handle_signals: stop cleanly on SIGINT, SIGTERM and SIGHUP (the CLI; not tests).
        thread_panic: act on the panic CC from a thread of the session's own at once, not
            on the loop; needs a scheduler whose ``send_now`` and ``cancel_pending`` are
            thread-safe (``ThreadScheduler``).
        watched_output: the scheduler's output when it reports its device leaving and
            returning (a ``ReconnectingOutput``): the engine then counts the notes on a lost
            device as released, and the status says what happened.
        watched_input: the performer's port when it reports its device leaving and
            returning (a ``ReconnectingInput``, which releases the keys a lost device held):
            the status says what happened.
        presets: a live set's presets: MIDI program changes switch them (and are not
            passed to the engine); the name in force goes to the feedback target.
        beat_source: the grid to step on with ``clock_source`` ``link`` (a
            :class:`~livegen.engine.link_clock.LinkClock`), or None.
    """

    def __init__(self, voice: Voice, controls: LiveControls, *, clock: Clock, scheduler: Scheduler,
                 options: SessionOptions, midi_in: MidiIn | None = None,
                 control_source: ControlSource | None = None, feedback: FeedbackSink | None = None,
                 take: Take | None = None, on_status: Callable[[dict[str, Any]], None] | None = None,
                 on_downbeat: Callable[[int, float], None] | None = None,
                 handle_signals: bool = False, thread_panic: bool = False,
                 watched_output: WatchedOutput | None = None,
                 watched_input: WatchedOutput | None = None,
                 presets: PresetSwitcher | None = None, beat_source: BeatSource | None = None) -> None:
        self.controls = controls
        self.presets = presets
        self.watched_output = watched_output
        self.watched_input = watched_input
        self.midi_in = midi_in
        self.control_source = control_source
        self.feedback = feedback
        self.take = take
        self.on_status = on_status
        self.handle_signals = handle_signals
        self.thread_panic = thread_panic
        self.options = options
        if options.parts != "one" and controls.parts is None:
            controls.set_layout(PartsState.for_layout(LAYOUTS[options.parts], options.channel + 1))
        self.engine = Engine(voice, controls, scheduler, clock, options.steps_per_beat,
                             channel=options.channel, beats_per_bar=options.beats_per_bar,
                             clock_source=options.clock_source, send_clock=options.send_clock,
                             take=take, feedback=self._engine_feedback, on_downbeat=on_downbeat,
                             start_delay=options.start_delay, primed=options.primed, seed=options.seed,
                             beat_source=beat_source,
                             parts=None if options.parts == "one"
                             else PartRouter(LAYOUTS[options.parts], controls.parts))
        self.dropped_cc = 0
        self._dirty: set[str] = set()
        self._dirty_parts: set[tuple[str, str]] = set()
        self._flush_handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        controls.on_change(self._on_state_change)
        controls.on_part_change(self._on_part_change)
        if presets is not None:
            presets.on_switch(self._on_preset)

    # ---- controls and feedback ------------------------------------------------------------

    def _on_state_change(self, names: Sequence[str], state: ControlState) -> None:
        """Echo the values in force of ``names`` within :data:`FEEDBACK_COALESCE_S`: a burst
        of changes (a fader sweep, a flood) sends each changed control once."""
        if self.feedback is None:
            return
        self._dirty.update(names)
        if self._flush_handle is None and self._loop is not None:
            self._flush_handle = self._loop.call_later(FEEDBACK_COALESCE_S, self._flush_feedback)

    def _on_part_change(self, changes: Sequence[tuple[str, str]], parts: PartsState) -> None:
        """Echo the parts' values in force as :meth:`_on_state_change` does the controls'."""
        if self.feedback is None:
            return
        self._dirty_parts.update(changes)
        if self._flush_handle is None and self._loop is not None:
            self._flush_handle = self._loop.call_later(FEEDBACK_COALESCE_S, self._flush_feedback)

    def _flush_feedback(self) -> None:
        self._flush_handle = None
        names = [n for n in self.controls.state.as_dict() if n in self._dirty]
        self._dirty.clear()
        if self.feedback is not None and names:
            self.feedback.send_state(self.controls.state, names)
        parts, self._dirty_parts = self._dirty_parts, set()
        if self.feedback is not None and parts and self.controls.parts is not None:
            for address, args in part_feedback(self.controls.parts, sorted(parts)):
                self.feedback.send(address, *args)

    def _on_preset(self, name: str | None) -> None:
        """Tell the controller the preset in force (after a switch or a refused one)."""
        if self.feedback is not None:
            self.feedback.send(PRESET_ADDRESS, name or "")

    def _engine_feedback(self, name: str, *args: Any) -> None:
        if self.feedback is not None and name in FEEDBACK:
            self.feedback.send(FEEDBACK[name].address, *args)

    def panic_now(self) -> None:
        """Every note off and All Notes Off now, on the calling thread (any thread when
        ``thread_panic``; the OSC receiver calls it)."""
        self.engine.panic()

    def _on_output(self, connected: bool, name: str, reason: str) -> None:
        """On the loop thread: the output device left or came back."""
        self.engine.output_changed(connected, output_status(connected, name, reason))

    def _on_input(self, connected: bool, name: str, reason: str) -> None:
        """On the loop thread: the performer's device left (its keys were released) or came back."""
        self.engine.input_changed(connected, input_status(connected, name, reason))

    def _on_midi(self, msg: mido.Message, t: float) -> None:
        """On the loop thread: CCs from the table steer, program changes switch presets (with a
        live set); everything else goes to the engine."""
        if msg.type == "program_change" and self.presets is not None:
            self.presets.program(msg.program)
            return
        if msg.type == "control_change":
            try:
                change = from_cc(msg.control, msg.value)
            except ControlError as exc:
                self.dropped_cc += 1
                log.warning("dropped CC: %s", exc)
                return
            if change is not None:
                self.controls.offer(change, source=f"CC {msg.control}")
                return
            parts = self.controls.parts
            if parts is not None:
                part = part_from_cc(msg.control, msg.value, parts.names)
                if part is not None:
                    self.controls.offer_part(part, source=f"CC {msg.control}")
                    return
        self.engine.feed_midi(msg, t)

    async def _control_pump(self, source: ControlSource) -> None:
        while True:
            batch = [await source.get()] + source.poll(CONTROL_BATCH - 1)
            for change in batch:
                self.controls.offer(change)
            self._resend_refused(source)
            await asyncio.sleep(0)  # let the engine's step run between batches

    async def _refusal_pump(self, source: ControlSource) -> None:
        """Send back the value in force of controls whose messages the source refused (an
        out-of-range value, a fraction for a whole number) within :data:`REFUSAL_ECHO_S`,
        even when no valid change arrives to wake the control pump."""
        while True:
            await asyncio.sleep(REFUSAL_ECHO_S)
            self._resend_refused(source)

    def _resend_refused(self, source: ControlSource) -> None:
        refused = source.drain_refused()
        if refused:
            self._on_state_change(sorted(refused), self.controls.state)

    async def _status_pump(self, report: Callable[[dict[str, Any]], None]) -> None:
        while True:
            await asyncio.sleep(0.1)
            status = self.engine.status()
            if self.presets is not None:
                status["preset"] = self.presets.current
            report(status)

    # ---- the run ----------------------------------------------------------------------------

    async def run(self) -> Engine:
        """Play until ``bars`` are done or the engine is stopped; release every note.

        Everything the session attached (callbacks, tasks, signal handlers) is detached
        again; the injected parts stay open for their owner to close.
        """
        loop = self._loop = asyncio.get_running_loop()
        engine = self.engine
        tasks: list[asyncio.Task[None]] = []
        stop_signals: list[signal.Signals] = []
        panics = PanicThread(self.panic_now) if self.thread_panic else None
        try:
            if self.feedback is not None:
                self.feedback.send_state(self.controls.state)
                if self.presets is not None:
                    self._on_preset(self.presets.current)
            if self.control_source is not None:
                tasks.append(asyncio.ensure_future(self._control_pump(self.control_source)))
                tasks.append(asyncio.ensure_future(self._refusal_pump(self.control_source)))
            if self.midi_in is not None:
                def deliver(msg: mido.Message, t: float) -> None:  # on the port's thread
                    if panics is not None and is_panic(msg):
                        panics.request()  # at once, whatever the loop is doing
                        return
                    with contextlib.suppress(RuntimeError):  # the loop closed: the session is over
                        loop.call_soon_threadsafe(self._on_midi, msg, t)

                self.midi_in.set_callback(deliver)
            if self.watched_output is not None:
                def on_output(connected: bool, name: str, reason: str) -> None:  # on the port's thread
                    loop.call_soon_threadsafe(self._on_output, connected, name, reason)

                self.watched_output.set_listener(on_output)
            if self.watched_input is not None:
                def on_input(connected: bool, name: str, reason: str) -> None:  # on the port's thread
                    loop.call_soon_threadsafe(self._on_input, connected, name, reason)

                self.watched_input.set_listener(on_input)
            if self.handle_signals:
                for sig in STOP_SIGNALS:
                    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                        loop.add_signal_handler(sig, engine.request_stop)
                        stop_signals.append(sig)
                # a stop signal noted while the session was being set up (livegen play holds
                # them from saying "Ctrl-C stops" until here) stops it now
                if _early_stop.is_set():
                    engine.request_stop()
            if self.on_status is not None:
                tasks.append(asyncio.ensure_future(self._status_pump(self.on_status)))
            await engine.run(self.options.bars)
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
            if self.watched_output is not None:
                self.watched_output.set_listener(None)
            if self.watched_input is not None:
                self.watched_input.set_listener(None)
            if panics is not None:
                panics.close()
            if self._flush_handle is not None:
                self._flush_handle.cancel()
                self._flush_feedback()
            if self.feedback is not None:
                self.feedback.send_status("stopped")
        return engine
