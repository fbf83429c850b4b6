"""``livegen play`` as a pipeline: load the voice, open the ports, run, close everything.

:func:`play` takes a :class:`PlayRequest` (what the command line asked for, already
validated) and returns the engine's stats. It opens, in this order: the JACK server
(``--demo``), the lyrics streamer, the output port, the input port, the demo performer; it
runs :func:`~livegen.session.factory.run_performance`; and it closes all of them again in
reverse, whatever happens.
"""

from __future__ import annotations

import gc
import os
import random
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from livegen import interrupts
from livegen.controls.parts import PartsState
from livegen.controls.state import LiveControls
from livegen.controls.table import ControlError, ControlState, Value
from livegen.engine.engine import EngineStats
from livegen.errors import LivegenError
from livegen.io.base import MidiIn, MidiOut
from livegen.io.jack.backend import JackPorts, open_jack_ports
from livegen.io.jackd import DEFAULT_SERVER_NAME, JackServer
from livegen.io.midi_backend import resolve_midi_backend
from livegen.io.ports import ReconnectingInput, list_ports, match_port, open_input, open_output
from livegen.music.parts import LAYOUTS
from livegen.nets.char import CharLSTM
from livegen.nets.checkpoint import load_checkpoint
from livegen.nets.manifest import resolve_model
from livegen.nets.runtime import configure_for_stepping
from livegen.session.factory import LiveWiring, follow_lyrics_controls, run_performance
from livegen.session.link_peer import MISSING_BINDING, LinkPeer, binding_available, describe
from livegen.session.live import SessionOptions, hold_stop_signals
from livegen.session.lyrics import LyricsStreamer, build_lyrics_streamer
from livegen.session.part_outputs import PartOutputs, part_port_name
from livegen.session.presets import PresetSwitcher
from livegen.voices.abc import AbcVoice
from livegen.voices.follow import KeyFollowingVoice, roll_voice
from livegen.web.stage import StageHub

#: ``--demo`` without ``--bars`` plays this many bars.
DEMO_BARS = 13


@dataclass(frozen=True)
class LyricsRequest:
    """``--lyrics``: the model, where lines go, every how many bars, label and first words."""

    model: str
    target: str
    every_bars: int = 1
    artist: str | None = None
    prime: str = ""


@dataclass(frozen=True)
class PlayRequest:
    """What ``livegen play`` was asked for (every value already checked).

    Attributes:
        model: shipped model name or checkpoint path.
        state: the controls in force at the start.
        inp, out: port names (substrings) to open; None: none / a virtual output.
        virtual: create virtual ports ``livegen in`` / ``livegen out``.
        bars: stop after this many bars (None: until a stop signal).
        beats_per_bar: bar length in beats.
        steps_per_beat: the grid (None: the model's own).
        channel: MIDI channel 1..16 of livegen's notes.
        seed: sampling seed (None: random).
        clock: ``internal``, ``midi`` (follow the input's MIDI clock) or ``link`` (join the
            Ableton Link session on the network and play on its beat grid).
        link_start_stop: with ``clock`` ``link``: start and stop with the session's transport.
        send_clock: be the MIDI clock master.
        wiring: OSC, feedback and recording.
        lyrics: stream lyrics lines, or None.
        demo: start JACK and a built-in performer; no hardware needed.
        presets: a live set's presets, complete, in file order (switched by
            ``/livegen/preset NAME`` and program changes); empty: none.
        preset: the preset in force at the start, or None.
        midi_backend: ``jack`` (livegen's JACK helper process, sample-accurate), ``rtmidi``
            or ``auto`` (:func:`~livegen.io.midi_backend.resolve_midi_backend`).
    """

    model: str
    state: ControlState
    wiring: LiveWiring
    inp: str | None = None
    out: str | None = None
    virtual: bool = False
    bars: int | None = None
    beats_per_bar: int = 4
    steps_per_beat: int | None = None
    channel: int = 1
    seed: int | None = None
    clock: str = "internal"
    link_start_stop: bool = False
    send_clock: bool = False
    lyrics: LyricsRequest | None = None
    demo: bool = False
    presets: Mapping[str, Mapping[str, Value]] = field(default_factory=dict)
    preset: str | None = None
    midi_backend: str = "auto"
    parts: str = "one"
    parts_out: bool = False
    part_values: Mapping[str, Mapping[str, Value]] = field(default_factory=dict)
    part_presets: Mapping[str, Mapping[str, Mapping[str, Value]]] = field(default_factory=dict)


def parts_out_backend(request: PlayRequest) -> str:
    """The MIDI backend to play through: ``rtmidi`` for ``--parts-out`` (livegen's JACK helper
    has one output port), else :func:`~livegen.io.midi_backend.resolve_midi_backend`'s.

    Raises:
        LivegenError: ``--parts-out`` without parts, without ``--virtual``, or with
            ``--midi-backend jack`` (one line each).
    """
    if not request.parts_out:
        return resolve_midi_backend(request.midi_backend)
    if request.parts == "one":
        raise LivegenError("--parts-out puts each part on a port of its own: add --parts melody-chords-bass or satb")
    if request.demo:
        raise LivegenError("--parts-out with --demo: the demo performer listens on 'livegen out'; play the demo "
                           "without --parts-out, or use --virtual")
    if not request.virtual:
        raise LivegenError("--parts-out makes a virtual port a part ('livegen bass', ...) for your DAW or synths "
                           "to connect to: add --virtual")
    if request.midi_backend == "jack":
        raise LivegenError("--parts-out opens its ports through rtmidi (livegen's JACK helper has one output "
                           "port): leave --midi-backend at auto or rtmidi")
    return "rtmidi"


def start_parts(request: PlayRequest) -> PartsState | None:
    """The parts' controls at the start: the layout's (channels from ``--channel`` on) with
    the live set's over them; None for ``one``."""
    if request.parts == "one":
        if request.part_values:
            raise LivegenError("the live set sets parts' controls but livegen plays one part: "
                               "add --parts LAYOUT or parts = \"LAYOUT\" to the set")
        return None
    try:
        return PartsState.for_layout(LAYOUTS[request.parts], request.channel).apply_many(request.part_values)
    except ControlError as exc:
        raise LivegenError(f"--parts {request.parts}: the live set's parts: {exc}") from None


def build_voice(model_spec: str, seed: int | None
                ) -> tuple[KeyFollowingVoice | AbcVoice, Mapping[str, Any], int]:
    """The voice for ``model_spec``, its checkpoint metadata and its grid (steps per beat)."""
    model, meta = load_checkpoint(resolve_model(model_spec))
    seed = random.SystemRandom().randrange(2**31) if seed is None else seed
    if isinstance(model, CharLSTM):
        return AbcVoice.from_checkpoint(model, meta, seed), meta, 4  # ABC tunes: a sixteenth-note grid
    return roll_voice(model, meta, seed), meta, int(meta.get("steps_per_beat", 2))


def check_port_names(inp: str | None, out: str | None) -> None:
    """Fail with the list of real ports before anything is opened.

    A port object left open when the process exits stalls a synchronous JACK server for
    seconds, and a failed ``ReconnectingOutput`` leaves its port-listing client open.
    """
    if inp is None and out is None:
        return
    inputs, outputs = list_ports()
    if inp is not None:
        match_port(inp, inputs, "input")
    if out is not None:
        match_port(out, outputs, "output")


def play(request: PlayRequest, *, announce: Callable[[str], None],
         on_status: Callable[[dict[str, Any]], None] | None = None) -> EngineStats:
    """Run one performance for ``request``; ``announce`` gets the start-up line.

    Raises:
        LivegenError: a port, model, lyrics target or grid that cannot work (one line).
    """
    if request.clock == "link" and not binding_available():  # before the model loads
        raise LivegenError(MISSING_BINDING)
    configure_for_stepping(1)
    sys.setswitchinterval(0.0005)  # let the precise send thread get the GIL quickly
    voice, _meta, spb = build_voice(request.model, request.seed)
    interrupts.checkpoint()  # a Ctrl-C while the model loaded ends livegen before a port opens
    if not isinstance(voice, AbcVoice):
        spb = request.steps_per_beat or spb
    if (request.clock == "midi" or request.send_clock) and 24 % spb:
        raise LivegenError(f"MIDI clock has 24 ticks per beat: with --clock midi or --send-clock "
                           f"--steps-per-beat must divide 24 (1, 2, 3, 4, 6, 8, 12, 24), not {spb}")
    if request.link_start_stop and request.clock != "link":
        raise LivegenError("--link-start-stop follows a Link session's transport: add --clock link")
    controls = LiveControls(request.state, parts=start_parts(request))
    backend = parts_out_backend(request)
    presets = (PresetSwitcher(controls, request.presets, request.preset, request.part_presets)
               if request.presets else None)
    virtual = request.virtual or request.demo
    bars = DEMO_BARS if request.demo and request.bars is None else request.bars
    jack: JackServer | None = None
    performer: subprocess.Popen[bytes] | None = None
    restore_signals: Callable[[], None] | None = None
    midi_in: MidiIn | None = None
    midi_out: MidiOut | None = None
    lyrics: LyricsStreamer | None = None
    link: LinkPeer | None = None
    jack_ports: JackPorts | None = None
    try:
        if request.clock == "link":  # join first: peers answer while the rest opens
            link = LinkPeer(request.state.tempo, start_stop=request.link_start_stop)
        if request.demo:  # the server the environment names, or livegen's own
            jack = JackServer(os.environ.get("JACK_DEFAULT_SERVER") or DEFAULT_SERVER_NAME).start()
        if request.lyrics is not None:
            lyrics = build_lyrics_streamer(request.lyrics.model, request.lyrics.target, seed=request.seed,
                                           every_bars=request.lyrics.every_bars, artist=request.lyrics.artist,
                                           prime=request.lyrics.prime,
                                           temperature=request.state.lyrics_temperature)
            follow_lyrics_controls(controls, lyrics)
            lyrics.wait_ready(timeout=10.0)  # a line is ready for the first downbeat
        if isinstance(voice, AbcVoice):
            voice.wait_ready(10.0)  # the first tune is ready before bar 1
        if not virtual:
            check_port_names(request.inp, request.out)
        # the output first: once the input exists its rtmidi callback may take the GIL on the MIDI
        # system's thread, and opening a JACK port meanwhile can stall the JACK graph
        # reconnecting either way: a device comes back by name; a virtual port is made again
        # when a JACK server that died returns
        if backend == "jack":  # a helper process writes by frame
            # with the internal clock the engine keeps time on JACK's frames; an external clock
            # (MIDI, Link) keeps its own, mapped onto frames through JACK's clock
            jack_ports = open_jack_ports(request.out, request.inp, virtual=virtual,
                                         frame_clock=request.clock == "internal")
            midi_out, midi_in = jack_ports.output, jack_ports.input
        elif request.parts_out:  # a virtual port a part
            midi_out = PartOutputs([open_output(part_port_name(p.name), virtual=True, reconnect=True)
                                    for p in LAYOUTS[request.parts]], controls)
            midi_in = open_input(None, virtual=True)
        else:
            midi_out = open_output(request.out, virtual=virtual, reconnect=True)
            if request.inp and not virtual:
                midi_in = ReconnectingInput(request.inp)  # reopened by name if the keyboard comes back
            elif virtual:
                midi_in = open_input(None, virtual=True)
        if request.demo:
            # its own session: a Ctrl-C at the terminal is livegen's to handle (it reached the
            # performer while Python imported, before its handlers, as a traceback); livegen
            # ends it with SIGTERM, which it takes quietly (or dies of, silently, while importing)
            performer = subprocess.Popen([sys.executable, "-m", "livegen.session.demo", "--bpm",
                                          str(request.state.tempo), "--calls", "3"], env=dict(os.environ),
                                         start_new_session=True)
        stage = None
        if request.wiring.web is not None:
            stage = StageHub(controls, steps_per_beat=spb, beats_per_bar=request.beats_per_bar, presets=presets,
                             parts=[p.name for p in LAYOUTS[request.parts]] if request.parts != "one" else ())
            if lyrics is not None:
                lyrics.add_listener(stage.lyrics)
        options = SessionOptions(steps_per_beat=spb, bars=bars, channel=request.channel - 1,
                                 beats_per_bar=request.beats_per_bar, clock_source=request.clock,
                                 send_clock=request.send_clock, seed=request.seed,
                                 link_start_stop=request.link_start_stop, parts=request.parts)
        clock_text = ("following the MIDI clock on the input" if request.clock == "midi"
                      else f"at {request.state.tempo:g} BPM (internal clock)")
        if link is not None:
            joined = link.wait_joined()
            announce(describe(link.capture(request.beats_per_bar))
                     + ("" if joined is None else f" (joined in {joined:.2f} s)"))
            clock_text = ("on the Link session's beat grid"
                          + (", starting and stopping with it" if request.link_start_stop else ""))
        preset_text = f", preset {request.preset}" if request.preset else ""
        # everything loaded so far (torch, the model, the modules: hundreds of thousands of
        # objects) lives as long as the performance: out of the collector's sight, so a full
        # collection no longer walks it (it held the GIL, and so every thread, for 50-120 ms
        # at a time under a flood of input: steps late, beats stalled)
        gc.collect()
        gc.freeze()
        # from "Ctrl-C stops" on, a stop signal is noted until the session's handlers take it
        restore_signals = hold_stop_signals()
        announce(f"livegen: playing {request.model} ({spb} steps/beat) in {request.state.mode} mode {clock_text}"
                 f"{preset_text}{'' if bars is None else f' for {bars} bars'}; Ctrl-C stops")
        engine = run_performance(voice, controls, options, request.wiring, midi_in=midi_in,
                                 midi_out=midi_out, on_status=on_status,
                                 on_downbeat=lyrics.on_downbeat if lyrics else None, presets=presets,
                                 link=link, scheduler=jack_ports.scheduler if jack_ports is not None else None,
                                 clock=jack_ports.backend.clock if jack_ports is not None else None,
                                 stage=stage, announce=announce)
        return engine.stats
    finally:
        if link is not None:
            link.close()
        if lyrics is not None:
            lyrics.close()
        if isinstance(voice, AbcVoice):
            voice.close()
        if performer is not None:
            if performer.poll() is None:
                performer.terminate()
            try:
                performer.wait(timeout=10)
            except subprocess.TimeoutExpired:
                performer.kill()
                performer.wait()
        if jack_ports is not None:
            jack_ports.close()  # the ports, then the helper: what is due leaves, what sounds is released
        else:
            for port in (midi_in, midi_out):
                if port is not None:
                    port.close()
        if jack is not None:
            jack.stop()
        if restore_signals is not None:
            restore_signals()  # once all is released

