"""``livegen play``: jam live over MIDI, steered over OSC."""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

from livegen.commands.live_view import LiveView
from livegen.commands.options import add_control_options, address_list, control_values, number
from livegen.controls.state import LiveControls
from livegen.controls.table import ControlState
from livegen.errors import LivegenError
from livegen.io.base import MidiIn, MidiOut
from livegen.io.jack import JackServer
from livegen.io.ports import ReconnectingInput, list_ports, match_port, open_input, open_output
from livegen.nets.char import CharLSTM
from livegen.nets.checkpoint import load_checkpoint
from livegen.nets.manifest import resolve_model
from livegen.nets.runtime import configure_for_stepping
from livegen.session.factory import LiveWiring, follow_lyrics_controls, run_performance
from livegen.session.live import SessionOptions
from livegen.session.lyrics import build_lyrics_streamer
from livegen.voices.abc import AbcVoice
from livegen.voices.roll import RollGenerator

#: live controls settable from the command line (the same bounds as OSC and MIDI CC).
PLAY_CONTROLS = ["tempo", "mode", "temperature", "density", "repeat", "polyphony", "low", "high", "key",
                 "scale", "velocity", "max_note_beats", "silence", "mute"]


def register(p: argparse.ArgumentParser) -> None:
    """Add this command's options to its parser ``p`` and set ``func``."""
    p.add_argument("--model", default="nottingham", help="shipped model name or checkpoint path")
    p.add_argument("--in", dest="inp", default=None, metavar="PORT",
                   help="MIDI input to listen to (substring of its name; see `livegen ports`)")
    p.add_argument("--out", default=None, metavar="PORT", help="MIDI output to play on")
    p.add_argument("--virtual", action="store_true",
                   help="create virtual ports 'livegen in' / 'livegen out' for other programs")
    add_control_options(p, PLAY_CONTROLS)
    p.add_argument("--bars", type=number(int, 1, 100_000), default=None,
                   help="stop after N bars (default: until Ctrl-C)")
    p.add_argument("--beats-per-bar", type=number(int, 1, 32), default=4)
    p.add_argument("--steps-per-beat", type=number(int, 1, 24), default=None,
                   help="grid steps per beat, 1..24 (default: the model's)")
    p.add_argument("--channel", type=number(int, 1, 16), default=1, help="MIDI channel 1-16 of livegen's notes")
    p.add_argument("--seed", type=number(int, 0, 2**31 - 1), default=None, help="sampling seed (default: random)")
    p.add_argument("--clock", choices=["internal", "midi"], default="internal",
                   help="midi: follow the DAW's MIDI clock on the input port")
    p.add_argument("--send-clock", action="store_true", help="send MIDI clock (livegen is the master)")
    p.add_argument("--osc-port", type=number(int, 0, 65535), default=9000, help="OSC control port (0 = off)")
    p.add_argument("--osc-host", default="127.0.0.1", help="OSC interface; 0.0.0.0 for a phone on the LAN")
    p.add_argument("--osc-allow", type=address_list, default=None, metavar="ADDRS",
                   help="comma-separated IPs or networks (192.168.1.0/24) allowed to send OSC; "
                        "use with --osc-host 0.0.0.0 (docs/live.md: what an open port allows)")
    p.add_argument("--osc-feedback", default=None, metavar="HOST:PORT", help="send values and state here")
    p.add_argument("--record", type=Path, default=None, help="write performer and livegen tracks here")
    p.add_argument("--no-view", action="store_true", help="no live status line")
    p.add_argument("--lyrics", nargs="?", const="lyrics", default=None, metavar="MODEL",
                   help="stream one generated lyrics line per bar over OSC (default model: lyrics)")
    p.add_argument("--lyrics-to", default=None, metavar="HOST:PORT",
                   help="where lyrics lines go (default: the --osc-feedback target)")
    p.add_argument("--lyrics-every", type=number(int, 1, 64), default=1, metavar="BARS",
                   help="bars per lyrics line")
    p.add_argument("--lyrics-artist", default=None, help="artist/collection label of the lyrics model")
    p.add_argument("--lyrics-prime", default="", help="text the first lyrics line starts with")
    p.add_argument("--demo", action="store_true",
                   help="no hardware needed: start JACK, play a built-in phrase into livegen, record both")
    p.set_defaults(func=run)


def live_state(args: argparse.Namespace) -> ControlState:
    """The starting live state from the command line (one validator; combinations checked).

    ``--key`` alone implies ``--scale major`` (the table's default scale, chromatic, would
    make the key do nothing).
    """
    values = control_values(args)
    if "key" in values and "scale" not in values:
        values["scale"] = "major"
    return ControlState.default().apply_many(values)


def _build_voice(model_spec: str, seed: int | None) -> tuple[RollGenerator | AbcVoice, dict[str, Any], int]:
    """The voice for ``model_spec``, its checkpoint metadata and its grid (steps per beat)."""


    model, meta = load_checkpoint(resolve_model(model_spec))
    seed = random.SystemRandom().randrange(2**31) if seed is None else seed
    if isinstance(model, CharLSTM):
        return AbcVoice.from_checkpoint(model, meta, seed), meta, 4
    return RollGenerator(model, seed=seed), meta, int(meta.get("steps_per_beat", 2))


def _check_port_names(inp: str | None, out: str | None) -> None:
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


def run(args: argparse.Namespace) -> int:

    state = live_state(args)  # bad values and combinations fail before anything is opened
    configure_for_stepping(1)
    sys.setswitchinterval(0.0005)  # let the precise send thread get the GIL quickly
    voice, meta, spb = _build_voice(args.model, args.seed)
    text_voice = isinstance(voice, AbcVoice)  # ABC tunes: a fixed sixteenth-note grid
    spb = spb if text_voice else (args.steps_per_beat or spb)
    if (args.clock == "midi" or args.send_clock) and 24 % spb:
        raise LivegenError(f"MIDI clock has 24 ticks per beat: with --clock midi or --send-clock "
                           f"--steps-per-beat must divide 24 (1, 2, 3, 4, 6, 8, 12, 24), not {spb}")
    controls = LiveControls(state)

    jack = performer = None
    if args.demo:

        jack = JackServer().start()
        args.virtual = True
        if args.bars is None:
            args.bars = 13
    midi_in: MidiIn | None = None
    midi_out: MidiOut | None = None
    lyrics = None
    try:
        if args.lyrics:

            target = args.lyrics_to or args.osc_feedback
            if not target:
                raise LivegenError("--lyrics needs a destination: add --lyrics-to HOST:PORT or "
                                   "--osc-feedback HOST:PORT")
            lyrics = build_lyrics_streamer(args.lyrics, target, seed=args.seed, every_bars=args.lyrics_every,
                                           artist=args.lyrics_artist, prime=args.lyrics_prime,
                                           temperature=state.lyrics_temperature)
            follow_lyrics_controls(controls, lyrics)
            lyrics.wait_ready(timeout=10.0)  # a line is ready for the first downbeat
        if isinstance(voice, AbcVoice):
            voice.wait_ready(10.0)  # the first tune is ready before bar 1
        if not args.virtual:
            _check_port_names(args.inp, args.out)
        # the output first: once the input exists its rtmidi callback may take the GIL on the MIDI
        # system's thread, and opening a JACK port meanwhile can stall the JACK graph
        midi_out = open_output(args.out, virtual=args.virtual, reconnect=not args.virtual)
        if args.inp and not args.virtual:

            midi_in = ReconnectingInput(args.inp)  # reopened by name if the keyboard comes back
        else:
            midi_in = open_input(None, virtual=True) if args.virtual else None
        if args.demo:
            performer = subprocess.Popen([sys.executable, "-m", "livegen.session.demo", "--bpm", str(state.tempo),
                                          "--calls", "3"], env=dict(os.environ))
        view = None if args.no_view else LiveView()
        options = SessionOptions(steps_per_beat=spb, bars=args.bars, channel=args.channel - 1,
                                 beats_per_bar=args.beats_per_bar, clock_source=args.clock,
                                 send_clock=args.send_clock)
        wiring = LiveWiring(osc_host=args.osc_host, osc_port=args.osc_port or None, osc_allow=args.osc_allow,
                            osc_feedback=args.osc_feedback, record=args.record)
        clock_text = "following the MIDI clock on the input" if args.clock == "midi" else f"at {state.tempo:g} BPM"
        print(f"livegen: playing {args.model} ({spb} steps/beat) in {state.mode} mode {clock_text}"
              f"{'' if args.bars is None else f' for {args.bars} bars'}; Ctrl-C stops", file=sys.stderr)
        engine = run_performance(voice, controls, options, wiring, midi_in=midi_in, midi_out=midi_out,
                                 on_status=view, on_downbeat=lyrics.on_downbeat if lyrics else None)
        if view is not None:
            view.close()
    finally:
        if lyrics is not None:
            lyrics.close()
        if isinstance(voice, AbcVoice):
            voice.close()
        if performer is not None:
            try:
                performer.wait(timeout=10)
            except subprocess.TimeoutExpired:
                performer.terminate()
        for port in (midi_in, midi_out):
            if port is not None:
                port.close()
        if jack is not None:
            jack.stop()
    s = engine.stats
    print(f"livegen: {s.steps} steps, {s.notes_on} notes played, {s.performer_events} performer events, "
          f"{s.late_steps} late steps" + (f"; take written to {args.record}" if args.record else ""))
    return 0
