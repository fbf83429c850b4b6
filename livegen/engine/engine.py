"""The live engine: performer frames in, sampled frames out, on a tempo grid.

One asyncio task runs the frame loop. Step ``n`` sounds at an absolute deadline
``t_n`` (``t_{n+1} = t_n + 60 / bpm / steps_per_beat`` with the tempo read at each step, so
tempo changes apply on the next step and nothing drifts). Frame ``n+1`` is computed right
after ``t_n`` while frame ``n`` sounds and handed to the scheduler for ``t_{n+1}``: model
time never adds to output jitter. A step whose deadline has already passed when its frame
is ready is counted late and skipped (the grid moves on, nothing is bunched).

Everything outside is injected: the voice (a generator), the clock, the scheduler (which
owns the output port) and callbacks for feedback and recording, so tests run this exact
code on a manual clock with memory ports, in zero wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import mido
import numpy as np

from livegen.controls.state import LiveControls
from livegen.controls.table import ControlState
from livegen.engine.ahead import Anticipating, StepAhead
from livegen.engine.clock import Clock, ManualClock
from livegen.engine.feel import Feel
from livegen.engine.midi_clock import CLOCK_LOST_S, ClockEvent, ClockFollower, clock_messages_for_step
from livegen.engine.modes import TurnTaking
from livegen.engine.parts import PartRouter
from livegen.engine.recorder import Take
from livegen.engine.scheduler import Scheduler
from livegen.music.density import DensityFollower
from livegen.music.dynamics import PerformerDynamics, answer_velocity
from livegen.music.frames import FrameBuilder, NoteEvent, NoteTracker
from livegen.music.keyboard import LOWEST_PITCH, N_KEYS
from livegen.sampling.constraints import RollControls, sampling_view

log = logging.getLogger(__name__)

ALL_NOTES_OFF = 123


class Voice(Protocol):
    """What the engine plays: observe the frame that sounded, return the next frame."""

    def step(self, frame: np.ndarray, controls: RollControls) -> np.ndarray:
        """Observe the ``(88,)`` bool frame that sounded; return the next ``(88,)`` frame."""

    def sample(self, controls: RollControls) -> np.ndarray:
        """The next ``(88,)`` frame from what was observed so far (after a prime)."""

    def reset(self) -> None:
        """Forget what was heard."""


class BeatSource(Protocol):
    """An outside beat grid the engine steps on, handing out steps ahead of their deadlines
    (an Ableton Link session: :class:`~livegen.engine.link_clock.LinkClock`)."""

    @property
    def bpm(self) -> float | None:
        """Tempo in force (BPM), None before it is known."""
        ...

    @property
    def running(self) -> bool:
        """Steps are being handed out (False while the grid's transport is stopped)."""
        ...

    def status(self) -> dict[str, object]:
        """Extra fields for the live view."""
        ...

    async def run(self, emit: Callable[[ClockEvent], None], feedback: Callable[..., None]) -> None:
        """Call ``emit`` with ``start``, ``stop`` and ``step`` events (deadlines ahead of
        time) until cancelled; send display state through ``feedback(name, *args)``."""
        ...


class EngineWatcher(Protocol):
    """Told what the engine does, as it does it (the browser stage's roll). Both calls must
    be quick and must not block; :meth:`noted` may come from another thread (a panic)."""

    def stepped(self, step: int, t: float) -> None:
        """Step ``step`` (grid steps from the start) sounded at ``t`` (the engine clock's
        seconds)."""

    def noted(self, part: str, t: float, messages: list[mido.Message]) -> None:
        """``messages`` sound at ``t`` seconds (livegen's: scheduled for then): ``part`` is
        ``performer``, ``livegen`` or the name of one of livegen's parts."""

    def retracted(self, part: str, messages: list[mido.Message]) -> None:
        """``messages`` (the very objects :meth:`noted` was given) were cancelled before they
        were sent: they never sounded."""


@dataclass
class EngineStats:
    """Counters of one run. ``compute_s``: seconds per step spent in the voice."""

    steps: int = 0
    late_steps: int = 0
    compute_s: list[float] = field(default_factory=list)
    notes_on: int = 0
    notes_off: int = 0
    performer_events: int = 0
    dropped_controls: int = 0


class Engine:
    """Run a voice live against a clock.

    Args:
        voice: the generator (kept state) stepped once per grid step.
        controls: the one live state; one snapshot is read per step (tempo, sampler
            constraints, mode, mute, velocity, note length, silence). Its ``panic``
            trigger releases every note at once; ``reset`` acts at the next step.
        scheduler: sends MIDI at deadlines (owns the output port).
        clock: time base (``LiveClock`` or ``ManualClock``).
        steps_per_beat: grid steps per quarter note.
        channel: MIDI channel 0..15 of livegen's notes.
        beats_per_bar: for bar counting, ``--bars`` and downbeat hooks.
        clock_source: ``internal`` grid, ``midi`` (follow incoming MIDI clock) or ``link``
            (step on ``beat_source``).
        send_clock: be the clock master: send Start, 24 ppqn clocks and Stop.
        take: records performer and livegen notes when given.
        feedback: ``callback(name, *args)`` for display-only state sent to a controller:
            ``beat`` (beats since start), ``lateness`` (late steps, last wake-up lateness in
            ms) and ``status`` (listening/answering/playing/muted/stopped).
        on_downbeat: ``callback(bar, t)`` called one step ahead of each bar's first step.
        start_delay: seconds from ``run()`` to the first step (internal clock).
        primed: the voice has already observed its history (e.g. a prime file): the first
            frame is sampled from its state without observing a silent frame first.
        seed: seeds the feel's humanize (:class:`~livegen.engine.feel.Feel`); None: fresh.
        grid: when given, every note message is also appended here as ``(grid time,
            message)``, before swing and humanize move it (offline rendering reads the grid
            roll from it, and the timed file from the output).
        beat_source: an outside grid to step on (an Ableton Link session): its steps,
            starts and stops drive the engine, and its tempo is the one in force.
        step_ahead: ``thread``: a voice with ``prepare`` computes each step on a worker
            thread right after the previous one, from the frame it expects to observe,
            and the step at the deadline takes that result when the frame came as expected
            (:mod:`livegen.engine.ahead`; same output); ``inline``: the same on the
            engine's thread (deterministic, tests); ``off``. None: ``thread`` on a live
            clock, ``off`` on a :class:`ManualClock`.
    """

    def __init__(
        self,
        voice: Voice,
        controls: LiveControls,
        scheduler: Scheduler,
        clock: Clock,
        steps_per_beat: int,
        *,
        channel: int = 0,
        beats_per_bar: int = 4,
        clock_source: str = "internal",
        send_clock: bool = False,
        take: Take | None = None,
        feedback: Callable[..., None] | None = None,
        on_downbeat: Callable[[int, float], None] | None = None,
        start_delay: float = 0.1,
        primed: bool = False,
        seed: int | None = None,
        grid: list[tuple[float, mido.Message]] | None = None,
        beat_source: BeatSource | None = None,
        step_ahead: str | None = None,
        parts: PartRouter | None = None,
    ) -> None:
        self.voice = voice
        self.controls = controls
        self.scheduler = scheduler
        self.clock = clock
        self.steps_per_beat = steps_per_beat
        self.channel = channel
        self.parts = parts
        self.beats_per_bar = beats_per_bar
        self.clock_source = clock_source
        self.send_clock = send_clock
        self.take = take
        self.feedback = feedback or (lambda *a: None)
        self.on_downbeat = on_downbeat
        self.start_delay = start_delay
        self.primed = primed
        self.feel = Feel(seed)
        self.grid = grid
        self.beat_source = beat_source
        ahead = step_ahead or ("off" if isinstance(clock, ManualClock) else "thread")
        self.ahead = StepAhead(voice, threaded=ahead == "thread") \
            if ahead != "off" and isinstance(voice, Anticipating) else None
        self.builder = FrameBuilder()
        self.tracker = NoteTracker(self._max_note_steps(controls.state))
        self.turns = TurnTaking()
        self.dynamics = PerformerDynamics()  # the performer's loudness, for the answer's
        self.density = DensityFollower()  # the performer's onset rate, for the answer's articulation
        self._density_rng = np.random.default_rng(seed)
        self._answering = True  # the answer may play this step (its rate counts)
        self.stats = EngineStats()
        self.step_index = 0
        self.last_lateness_s = 0.0
        self._input: list[tuple[float, int, mido.Message]] = []
        #: the frame last handed to the step-ahead worker (None: none yet)
        self._expected: np.ndarray | None = None
        self._seq = itertools.count()
        self._stop = asyncio.Event()
        self._pending_reset = False
        self._follower = ClockFollower(steps_per_beat) if clock_source == "midi" else None
        self._clock_events: asyncio.Queue[ClockEvent] = asyncio.Queue()
        self._mode = controls.state.mode
        self._muted = controls.state.mute
        self._status = ""
        self._output_lost: str | None = None  # the status word while the output device is gone
        self._input_lost: str | None = None  # the status word while the performer's device is gone
        self.panics = 0
        # the tracker and the scheduler's queue change together under this lock: a panic
        # may come from another thread (the OSC receiver, the session's panic thread)
        self._out_lock = threading.RLock()
        self._ticks: list[tuple[float, mido.Message]] = []  # clock ticks of the last two steps (--send-clock)
        #: told of every step that sounded and every note played or heard (the browser stage)
        self.watchers: list[EngineWatcher] = []
        controls.on_trigger(self._on_trigger)

    # ---- inputs (called on the loop's thread) ---------------------------------------------

    def feed_midi(self, msg: mido.Message, t: float) -> None:
        """Accept one performer/DAW message received at ``t`` seconds.

        A note-on with velocity 0 (the note-off many keyboards and DAWs send) becomes a
        note-off here, so everything downstream sees one kind of release.
        """
        if msg.type == "note_on" and msg.velocity == 0:
            msg = mido.Message("note_off", channel=msg.channel, note=msg.note, velocity=0, time=msg.time)
        if msg.type in ("clock", "start", "stop", "continue", "songpos"):
            if self._follower is not None:
                event = self._follower.on_message(msg, t)
                if event is not None:
                    self._clock_events.put_nowait(event)
            return
        heapq.heappush(self._input, (t, next(self._seq), msg))
        if msg.type == "note_on":
            self._expect_key(msg.note)  # the frame the voice will observe may have one more key

    def _on_trigger(self, name: str) -> None:
        """``panic``: every note off now, whatever the engine is doing; ``reset``: a fresh
        hidden state at the next step."""
        if name == "panic":
            self.panic()
        elif name == "reset":
            self._pending_reset = True

    def panic(self) -> None:
        """Release every sounding note and send All Notes Off on livegen's channel, at once.

        Callable from any thread when the scheduler's ``send_now`` and ``cancel_pending``
        are (:class:`~livegen.engine.scheduler.ThreadScheduler`): the OSC receiver and the
        session's panic thread call it without waiting for the loop, whatever the loop is
        doing. The note tracker and the scheduler's queue change under one lock with each
        step's scheduling, so a step lands wholly before a panic (and is released by it) or
        wholly after (and plays on, its notes struck afresh).
        """
        with self._out_lock:
            self.panics += 1
            self._release_now(all_notes_off=True)
        log.info("panic: all notes released")

    def output_changed(self, connected: bool, status: str) -> None:
        """The output device left (``connected`` False) or came back; ``status`` tells the
        controller and the live view at once (e.g. ``output lost: synth``).

        While it is gone nothing sounds: the notes it was playing count as released, with no
        note-off (the device never gets one), nothing new is struck, and the voice hears
        only the performer. A device that comes back starts from silence (the port sends it
        All Notes Off) and gets fresh note-ons from the next step.
        """
        with self._out_lock:
            if connected:
                self._output_lost = None
            else:
                self._output_lost = status
                self.scheduler.cancel_pending()  # meant for the device that left
                self.tracker.release_all()
        self._status = status
        self.feedback("status", status)

    def input_changed(self, connected: bool, status: str) -> None:
        """The performer's device left (``connected`` False) or came back; ``status`` tells
        the controller and the live view (e.g. ``input lost: keys (device gone)``) and stays
        the status word while the device is gone. The keys it held were released by the
        port itself, as note-offs through :meth:`feed_midi`."""
        self._input_lost = None if connected else status
        self._status = status
        self.feedback("status", status)

    def _max_note_steps(self, state: ControlState) -> int:
        return round(state.max_note_beats * self.steps_per_beat)

    def request_stop(self) -> None:
        """Stop at the next step; every note is released."""
        self._stop.set()

    # ---- helpers ----------------------------------------------------------------------------

    @property
    def bpm(self) -> float:
        """Tempo in force: the followed MIDI clock's or Link session's once it has one, else
        the tempo control."""
        if self._follower is not None and self._follower.bpm:
            return self._follower.bpm
        if self.beat_source is not None and self.beat_source.bpm:
            return self.beat_source.bpm
        return self.controls.state.tempo

    @property
    def period(self) -> float:
        """Seconds per step at the tempo in force."""
        return 60.0 / self.bpm / self.steps_per_beat

    @property
    def steps_per_bar(self) -> int:
        return self.steps_per_beat * self.beats_per_bar

    def _messages(self, events: list[NoteEvent]) -> list[mido.Message]:
        """The MIDI messages of one step's note events: on ``channel``, or with parts on each
        part's channel as its controls in force ask (a silent part's notes are not sent)."""
        out: list[mido.Message] = []
        if self.parts is None:
            out = [mido.Message("note_on", channel=self.channel, note=e.pitch, velocity=e.velocity) if e.on
                   else mido.Message("note_off", channel=self.channel, note=e.pitch, velocity=0) for e in events]
        else:
            for e, part in zip(events, self.parts.route(events), strict=True):
                msg = self.parts.message(e, part)
                if msg is not None:
                    out.append(msg)
        for msg in out:
            if msg.type == "note_on":
                self.stats.notes_on += 1
            else:
                self.stats.notes_off += 1
        return out

    def _settle_parts(self) -> list[mido.Message]:
        """The parts' controls in force (:attr:`LiveControls.parts <livegen.controls.state.
        LiveControls.parts>`) taken at this step: note-offs of the notes of parts that fell
        silent or moved, program changes (under ``_out_lock``)."""
        if self.parts is None or self.controls.parts is None:
            return []
        return self.parts.settle(self.controls.parts)

    @property
    def channels(self) -> tuple[int, ...]:
        """The 0-based MIDI channels livegen's notes go out on (with parts: every channel a
        part has had, so All Notes Off reaches each)."""
        return tuple(sorted(self.parts.used)) if self.parts is not None else (self.channel,)

    def _record(self, part: str, t: float, messages: list[mido.Message]) -> None:
        if self.take is not None:
            for m in messages:
                self.take.add(part, t, m)
        for watcher in self.watchers:
            watcher.noted(part, t, messages)

    def _unrecord(self, messages: list[mido.Message]) -> None:
        """``messages`` of livegen's were recorded when scheduled but cancelled before they
        were sent (a panic, a mute, a stop): take them out of the take and tell the watchers."""
        if not messages:
            return
        for m in messages:
            part = "livegen" if self.parts is None else self.parts.name_of(m.channel)
            if self.take is not None:
                self.take.retract(part, m)
            for watcher in self.watchers:
                watcher.retracted(part, [m])

    def _record_answer(self, t: float, messages: list[mido.Message]) -> None:
        """livegen's own messages into the take: one track, or one a part."""
        if self.parts is None:
            self._record("livegen", t, messages)
            return
        for m in messages:
            if m.type in ("note_on", "note_off", "program_change"):  # a part's track keeps its program
                self._record(self.parts.name_of(m.channel), t, [m])

    def _release_now(self, all_notes_off: bool = False) -> None:
        """Cancel anything scheduled and send note-offs for every sounding note now.

        Note-offs that were queued but not yet sent are sent too (the tracker already
        counts those notes as released). livegen plays on one channel (``channel``), so
        All Notes Off goes to that one.
        """
        with self._out_lock:
            dropped = self.scheduler.cancel_pending()
            if self._ticks:  # the clock a DAW follows keeps going: put its ticks back
                cancelled = {id(m) for m in dropped}
                for tt, tick in self._ticks:
                    if id(tick) in cancelled:
                        self.scheduler.schedule(tt, [tick])
            # a note whose note-on was still queued never sounded: no note-off for it, neither
            # the queued one nor the tracker's (a device must never get a stray note-off)
            never: set[tuple[int, int]] = set()
            messages = []
            # each was recorded for when it was due: out of the take and the roll again (a
            # note-off sent now instead is recorded now, below)
            self._unrecord([m for m in dropped if m.type in ("note_on", "note_off")])
            for m in dropped:
                if m.type == "note_on" and m.velocity > 0:
                    never.add((m.channel, m.note))
                elif m.type in ("note_on", "note_off"):
                    if (m.channel, m.note) in never:
                        never.discard((m.channel, m.note))
                    else:
                        messages.append(m)
            messages += [m for m in self._messages(self.tracker.release_all())
                         if (m.channel, m.note) not in never]
            if all_notes_off:
                messages += [mido.Message("control_change", channel=c, control=ALL_NOTES_OFF, value=0)
                             for c in self.channels]
            if messages:
                self.scheduler.send_now(messages)
                self._record_answer(self.clock.now(), messages)

    def _drain_input(self, t: float) -> None:
        """Fold performer messages stamped up to ``t`` into the frame builder."""
        while self._input and self._input[0][0] <= t:
            ts, _, msg = heapq.heappop(self._input)
            self.stats.performer_events += 1
            if msg.type == "note_on" and msg.velocity > 0:
                self.builder.note_on(msg.note, ts)
                self.dynamics.hear(msg.velocity)
                self._record("performer", ts, [msg])
            elif msg.type == "note_off":
                self.builder.note_off(msg.note, ts)
                self._record("performer", ts, [msg])
            elif msg.type == "control_change" and msg.control == ALL_NOTES_OFF:
                self.builder.all_off()

    def _apply_pending(self, state: ControlState) -> None:
        if self._pending_reset:
            self._pending_reset = False
            self.voice.reset()
            self.turns.reset()
            self.density.reset()
            log.info("reset: fresh hidden state")
        if state.mode != self._mode:
            log.info("mode %s -> %s", self._mode, state.mode)
            self._mode = state.mode
            self._release_now()
            if state.mode != "call" and not self.turns.heard_call and not self.primed:
                # nothing but silence heard so far: a model that listened to silence for
                # long tends to keep it; start it fresh so it plays at once
                self.voice.reset()
        if state.mute != self._muted:
            self._muted = state.mute
            if self._muted:
                self._release_now()
        self.tracker.max_steps = self._max_note_steps(state)

    def _expect(self) -> None:
        """Hand the step-ahead worker the frame the voice will observe at the next step, as
        far as it is known now: what livegen sounds, the keys the performer holds and those
        struck since (a key struck later makes the voice compute again at the step)."""
        if self.ahead is None:
            return
        frame = self.builder.held | self.tracker.sounding
        for _, _, msg in self._input:
            if msg.type == "note_on" and 0 <= msg.note - LOWEST_PITCH < N_KEYS:
                frame[msg.note - LOWEST_PITCH] = True
        self._expected = frame
        self.ahead.submit(frame, self._sampling_view(self.controls.state))

    def _expect_key(self, note: int) -> None:
        """A key struck since :meth:`_expect`: hand over the frame again only when it adds a
        key (O(1); at most 88 times a step whatever a flood of input brings)."""
        if self.ahead is None or self._expected is None or not 0 <= note - LOWEST_PITCH < N_KEYS:
            return
        if self._expected[note - LOWEST_PITCH]:
            return
        frame = self._expected.copy()
        frame[note - LOWEST_PITCH] = True
        self._expected = frame
        self.ahead.submit(frame, self._sampling_view(self.controls.state))

    def _next_frame(self, t: float) -> np.ndarray:
        """Process step time ``t``: read the performer, step the voice, apply the mode."""
        if self.ahead is not None:
            self.ahead.wait()  # the voice is the engine's again
        self._drain_input(t)
        state = self.controls.state  # one snapshot for the whole step
        self._apply_pending(state)
        performer = self.builder.tick()
        self.density.hear_performer(self.builder.onsets, bool(performer.any()))
        observed = performer | self.tracker.sounding
        silence_s = state.silence * 60.0 / self.bpm
        decision = self.turns.decide(self._mode, t, bool(performer.any()), silence_s)
        if decision.release:
            self._release_now()
            observed = performer
        c0 = time.perf_counter()
        frame = self.voice.step(observed, self._sampling_view(state))
        self.stats.compute_s.append(time.perf_counter() - c0)
        self._answering = decision.play and not state.mute
        if not decision.play or state.mute:
            return np.zeros_like(frame)
        if self._mode == "accompany":
            frame = frame & ~self.builder.held  # voices that ignore constraints (ABC, scripted)
        return frame

    def _sampling_view(self, state: ControlState) -> RollControls:
        """The sampler's constraints for this step; in accompany mode the held keys are left
        to the performer."""
        held = frozenset(int(j) + LOWEST_PITCH for j in np.flatnonzero(self.builder.held)) \
            if self._mode == "accompany" else frozenset()
        return sampling_view(state, held)

    def _first_frame(self) -> np.ndarray:
        if self.ahead is not None:  # start the worker now: its first step is slow
            self.ahead.warm_up(self.builder.held | self.tracker.sounding,
                               self._sampling_view(self.controls.state))
        if self.primed and self._mode != "call":
            return self.voice.sample(self._sampling_view(self.controls.state))
        return self._next_frame(self.clock.now())

    def _schedule_frame(self, frame: np.ndarray, deadline: float, step: int) -> None:
        if self._output_lost is not None:  # nothing sounds on a lost output
            frame = np.zeros_like(frame)
        with self._out_lock:  # a panic from another thread sees the tracker and the queue agree
            state = self.controls.state
            velocity = answer_velocity(state.velocity, self.dynamics.level, state.dynamics, state.accent,
                                       step % self.steps_per_bar, self.steps_per_beat)
            restrike = None
            if self._answering:  # too busy: hold what sounds; too sparse: strike held keys again
                frame, restrike = self.density.articulate(frame, self.tracker.sounding, state.density_follow,
                                                          self._density_rng)
            events = self.tracker.update(frame, velocity, restrike)
            if self._answering:
                self.density.hear_answer(sum(e.on for e in events))
            messages = self._settle_parts() + self._messages(events)
            if self.send_clock:
                ticks = clock_messages_for_step(deadline, self.period, 24 // self.steps_per_beat)
                self._ticks = self._ticks[-len(ticks):] + ticks
                for tt, m in ticks:
                    self.scheduler.schedule(tt, [m])
            if self.grid is not None:
                self.grid.extend((deadline, m) for m in messages)
            for when, group in self.feel.place(messages, deadline, step, self.period, state):
                self.scheduler.schedule(when, group)
                self._record_answer(when, group)
        if step % self.steps_per_bar == 0 and self.on_downbeat is not None:
            self.on_downbeat(step // self.steps_per_bar, deadline)
        self._expect()

    def status_word(self) -> str:
        """``output lost: <name>`` while the output is gone, ``input lost: <name>`` while the
        performer's device is, else ``muted``, ``listening`` (call
        mode, performer's turn), ``answering`` or ``playing``."""
        if self._output_lost is not None:
            return self._output_lost
        if self._input_lost is not None:
            return self._input_lost
        if self.beat_source is not None and not self.beat_source.running:
            return "stopped"
        if self.controls.state.mute:
            return "muted"
        if self._mode == "call":
            return "answering" if self.turns.answering else "listening"
        return "playing"

    def status(self) -> dict[str, object]:
        """A snapshot for the live view and feedback."""
        bar, rem = divmod(self.step_index, self.steps_per_bar)
        compute = self.stats.compute_s[-1] if self.stats.compute_s else 0.0
        state = self.controls.state
        extra = self.beat_source.status() if self.beat_source is not None else {}
        return {
            **extra, "mode": self._mode, "bar": bar + 1, "beat": rem // self.steps_per_beat + 1,
            "bpm": self.bpm, "clock": self.clock_source,
            "temperature": state.temperature, "density": state.density,
            "status": self.status_word(), "mute": state.mute,
            "sounding": [int(j) + 21 for j in np.flatnonzero(self.tracker.sounding)],
            "held": [int(j) + 21 for j in np.flatnonzero(self.builder.held)],
            "compute_ms": compute * 1000.0, "late_steps": self.stats.late_steps,
            "lateness_ms": self.last_lateness_s * 1000.0, "steps": self.stats.steps,
            **self._parts_status(),
        }

    def _parts_status(self) -> dict[str, object]:
        """With parts: their names, and those muted and soloed (for the live view and the stage)."""
        if self.parts is None:
            return {}
        names = [p.name for p in self.parts.parts]
        return {"parts": names, "parts_muted": [names[i] for i in sorted(self.parts.muted)],
                "parts_soloed": [names[i] for i in sorted(self.parts.soloed)]}

    def _beat_feedback(self, step: int, t: float) -> None:
        for watcher in self.watchers:
            watcher.stepped(step, t)
        if step % self.steps_per_beat == 0:
            bar, rem = divmod(step, self.steps_per_bar)
            self.feedback("beat", step // self.steps_per_beat)
            self.feedback("lateness", self.stats.late_steps, round(self.last_lateness_s * 1000, 3))
            status = self.status_word()
            if status != self._status:
                self._status = status
                self.feedback("status", status)

    # ---- the loops ------------------------------------------------------------------------

    async def run(self, bars: int | None = None) -> EngineStats:
        """Play until ``bars`` bars have sounded (None: until stopped); release every note."""
        source = None
        if self.beat_source is not None:
            source = asyncio.ensure_future(self.beat_source.run(self._clock_events.put_nowait, self.feedback))
        if self.parts is not None:  # each part's instrument, before its first note
            programs = self.parts.program_changes()
            self.scheduler.send_now(programs)
            self._record_answer(self.clock.now(), programs)
        try:
            if self._follower is not None or source is not None:
                await self._run_external(bars, source)
            else:
                await self._run_internal(bars)
        finally:
            if source is not None:
                source.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await source
            self._release_now()
            if self.send_clock:
                self.scheduler.send_now([mido.Message("stop")])
            self.scheduler.flush()
            if self.ahead is not None:
                self.ahead.close()
        return self.stats

    async def _run_internal(self, bars: int | None) -> None:
        total = None if bars is None else bars * self.steps_per_bar
        t = self.clock.now() + self.start_delay
        if self.send_clock:
            self.scheduler.schedule(t - 0.001, [mido.Message("start")])
        frame = self._first_frame()
        n = 0
        while not self._stop.is_set() and (total is None or n < total):
            self.step_index = n
            self._schedule_frame(frame, t, n)
            await self.clock.sleep_until(t)
            self.last_lateness_s = max(0.0, self.clock.now() - t)
            self.stats.steps += 1
            self._beat_feedback(n, t)
            if total is not None and n + 1 >= total:
                # the last frame sounds for one full step before everything is released
                await self.clock.sleep_until(t + self.period)
                break
            frame = self._next_frame(t)
            t_next = t + self.period
            now = self.clock.now()
            if now > t_next:
                missed = math.floor((now - t_next) / self.period) + 1
                self.stats.late_steps += missed
                log.warning("%d step(s) late (%.1f ms): skipped", missed, (now - t_next) * 1000)
                t_next += missed * self.period
                n += missed
            t = t_next
            n += 1

    def _check_clock_lost(self) -> None:
        """A followed clock that stopped ticking mid-song (the DAW crashed, its cable was
        pulled) stops livegen as a Stop would: every note released, the status says so."""
        follower = self._follower
        if follower is None or not follower.lost(self.clock.now()):
            return
        follower.running = False
        log.warning("the MIDI clock stopped without a Stop: all notes released; livegen waits for Start")
        self._release_now()
        self._status = "MIDI clock lost"
        self.feedback("status", self._status)

    async def _run_external(self, bars: int | None, source: asyncio.Future[None] | None = None) -> None:
        """Step on events from the MIDI clock follower or the beat source (``source``: its
        running task; when it ends, with an error or not, so does the run)."""
        total = None if bars is None else bars * self.steps_per_bar
        frame = self._first_frame()
        played = 0
        while not self._stop.is_set() and (total is None or played < total):
            get = asyncio.ensure_future(self._clock_events.get())
            stop = asyncio.ensure_future(self._stop.wait())
            waiting: set[asyncio.Future[Any]] = {get, stop} if source is None else {get, stop, source}
            done, _ = await asyncio.wait(waiting, timeout=CLOCK_LOST_S / 2,
                                         return_when=asyncio.FIRST_COMPLETED)
            if source is not None and source in done and get not in done:
                get.cancel()
                stop.cancel()
                source.result()  # its error, if it failed
                break
            if get not in done:
                get.cancel()
                if stop in done:
                    break
                stop.cancel()
                self._check_clock_lost()
                continue
            stop.cancel()
            event = get.result()
            if event.kind == "stop":
                self._release_now()
                self.feedback("status", "stopped")
                continue
            if event.kind in ("start", "continue"):
                self.feedback("status", "playing")
                continue
            self.step_index = event.step
            self._schedule_frame(frame, event.t, event.step)
            self.stats.steps += 1
            played += 1
            self._beat_feedback(event.step, event.t)
            if total is not None and played >= total:
                await self.clock.sleep_until(event.t + self.period)  # let the last step sound
                break
            frame = self._next_frame(event.t)
