"""The real parts of a live performance, wired together: what ``livegen play`` runs.

:func:`perform` opens the live clock, the timed sender thread (which owns the output port),
the OSC server and the feedback sender, builds a :class:`~livegen.session.live.LiveSession`
from them, runs it, and closes everything it opened, in order, whatever happens. The
MIDI ports are opened by the caller (they are named on the command line) and closed by it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livegen.controls.state import LiveControls
from livegen.controls.table import ControlChange, ControlState
from livegen.engine.clock import Clock, LiveClock
from livegen.engine.engine import Engine, Voice
from livegen.engine.link_clock import LinkClock, LinkSession
from livegen.engine.recorder import Take
from livegen.engine.scheduler import Scheduler, ThreadScheduler
from livegen.io.base import MidiIn, MidiOut
from livegen.io.osc import OscFeedback, OscServer
from livegen.io.ports import ReconnectingInput, ReconnectingOutput
from livegen.music.parts import LAYOUTS
from livegen.session.live import LiveSession, SessionOptions
from livegen.session.lyrics import LyricsStreamer
from livegen.session.part_commands import part_commands
from livegen.session.presets import PRESET_ADDRESS, PresetSwitcher
from livegen.web.address import StageAddress
from livegen.web.server import WebStage
from livegen.web.stage import StageHub

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveWiring:
    """Where a live performance connects to, besides its MIDI ports.

    Attributes:
        osc_host, osc_port: where OSC control arrives (port None: no OSC server).
        osc_allow: source addresses or networks allowed to send OSC (None: anyone who can
            reach the port).
        osc_feedback: ``HOST:PORT`` that receives the values in force, or None.
        record: write the take (performer and livegen parts) here at the end, or None.
        realtime: ask SCHED_FIFO for the sender thread.
        web: where the stage in the browser is served (``--web``), or None.
    """

    osc_host: str = "127.0.0.1"
    osc_port: int | None = 9000
    osc_allow: tuple[str, ...] | None = None
    osc_feedback: str | None = None
    record: Path | None = None
    realtime: bool = True
    web: StageAddress | None = None


async def perform(voice: Voice, controls: LiveControls, options: SessionOptions, wiring: LiveWiring, *,
                  midi_in: MidiIn | None, midi_out: MidiOut,
                  on_status: Callable[[dict[str, Any]], None] | None = None,
                  on_downbeat: Callable[[int, float], None] | None = None,
                  presets: PresetSwitcher | None = None, link: LinkSession | None = None,
                  scheduler: Scheduler | None = None, clock: Clock | None = None,
                  stage: StageHub | None = None, announce: Callable[[str], None] | None = None) -> Engine:
    """Run one performance on the real parts until its bars are done or a stop signal.

    ``presets`` (a live set's) are switched by ``/livegen/preset NAME`` on the OSC server
    and by MIDI program changes on the input. ``link``: the joined Link session to step on
    (``options.clock_source`` ``link``; its tempo, phase and, with
    ``options.link_start_stop``, its transport). Returns the engine (its stats say how it
    went). The take, if asked for, is written even when the performance ends with an error.
    ``scheduler``: the one that sends to ``midi_out`` when the output brings its own (the JACK
    helper's); default a :class:`ThreadScheduler` on ``midi_out``. Closed here either way.
    ``clock``: the engine's time base when the output brings one (the JACK helper's frames);
    default :class:`LiveClock`.
    ``stage``: the browser stage's hub, served on ``wiring.web`` (its URL goes to ``announce``).
    """
    if clock is None:
        clock = LiveClock()
    beat_source = None if link is None else LinkClock(
        link, controls, clock, steps_per_beat=options.steps_per_beat, beats_per_bar=options.beats_per_bar,
        start_stop=options.link_start_stop)
    if scheduler is None:
        scheduler = ThreadScheduler(midi_out, realtime=wiring.realtime)
    take = Take(clock.now(), controls.state.tempo) if wiring.record is not None else None
    feedback = OscFeedback(wiring.osc_feedback) if wiring.osc_feedback else None
    server: OscServer | None = None
    web: WebStage | None = None
    session: LiveSession | None = None
    loop = asyncio.get_running_loop()

    def urgent(change: ControlChange) -> None:  # on the OSC thread: panic, reset, mute jump the queue
        if change.name == "panic" and session is not None:
            session.panic_now()  # here and now: the scheduler is thread-safe, the loop may be busy
            return
        loop.call_soon_threadsafe(controls.offer, change)

    try:
        if wiring.osc_port is not None:
            commands: dict[str, Callable[[tuple[Any, ...]], None]] = (
                {PRESET_ADDRESS: lambda args: presets.osc_threadsafe(loop, args)} if presets is not None else {})
            if options.parts != "one":
                commands.update(part_commands([p.name for p in LAYOUTS[options.parts]], loop, controls))
            server = await OscServer(wiring.osc_host, wiring.osc_port, allow=wiring.osc_allow,
                                     on_urgent=urgent, commands=commands).start()
        session = LiveSession(voice, controls, clock=clock, scheduler=scheduler, options=options,
                              midi_in=midi_in, control_source=server,
                              feedback=feedback, take=take, on_status=on_status,
                              on_downbeat=on_downbeat, handle_signals=True, thread_panic=True,
                              watched_output=midi_out if isinstance(midi_out, ReconnectingOutput) else None,
                              watched_input=midi_in if isinstance(midi_in, ReconnectingInput) else None,
                              presets=presets, beat_source=beat_source)
        if stage is not None and wiring.web is not None:
            stage.attach(session.engine, loop, panic=session.panic_now)
            web = await WebStage(stage, wiring.web.host, wiring.web.port, token=wiring.web.token,
                                 allow=wiring.osc_allow).start()
            if announce is not None:
                announce(f"livegen: the stage is at {web.url}")
        return await session.run()
    finally:
        if stage is not None:
            stage.detach()
        if web is not None:
            await web.close()
        scheduler.close()
        if server is not None:
            server.close()
        if feedback is not None:
            feedback.close()
        if take is not None and wiring.record is not None:
            wiring.record.parent.mkdir(parents=True, exist_ok=True)
            take.save(wiring.record)
            log.info("recorded take to %s", wiring.record)


def run_performance(voice: Voice, controls: LiveControls, options: SessionOptions, wiring: LiveWiring, *,
                    midi_in: MidiIn | None, midi_out: MidiOut,
                    on_status: Callable[[dict[str, Any]], None] | None = None,
                    on_downbeat: Callable[[int, float], None] | None = None,
                    presets: PresetSwitcher | None = None, link: LinkSession | None = None,
                    scheduler: Scheduler | None = None, clock: Clock | None = None,
                    stage: StageHub | None = None, announce: Callable[[str], None] | None = None) -> Engine:
    """:func:`perform` on a fresh event loop (the command line's entry point)."""
    return asyncio.run(perform(voice, controls, options, wiring, midi_in=midi_in, midi_out=midi_out,
                               on_status=on_status, on_downbeat=on_downbeat, presets=presets, link=link,
                               scheduler=scheduler, clock=clock, stage=stage, announce=announce))


def follow_lyrics_controls(controls: LiveControls, lyrics: LyricsStreamer) -> None:
    """Hand every change of a ``lyrics_*`` control in force to the lyrics streamer."""

    def forward(names: Sequence[str], state: ControlState) -> None:
        for name in names:
            if name.startswith("lyrics_"):
                lyrics.on_control(name, getattr(state, name))

    controls.on_change(forward)
