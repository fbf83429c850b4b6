"""``livegen play``: jam live over MIDI, steered over OSC."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TypeVar

from livegen.commands.live_view import LiveView
from livegen.commands.options import (
    add_control_options,
    add_midi_backend_option,
    address_list,
    control_values,
    live_state,
    number,
)
from livegen.errors import LivegenError
from livegen.music.parts import LAYOUTS
from livegen.session.factory import LiveWiring
from livegen.session.live_set import CLOCKS, OSC_PORTS, LiveSet, SetStart, load_live_set
from livegen.session.play import LyricsRequest, PlayRequest, play
from livegen.web.address import stage_address

T = TypeVar("T")
#: what play uses when neither the command line nor the live set says.
DEFAULT_MODEL = "nottingham"
DEFAULT_CLOCK = "internal"
DEFAULT_OSC_HOST = "127.0.0.1"
DEFAULT_OSC_PORT = 9000

#: live controls settable from the command line (the same bounds as OSC and MIDI CC).
PLAY_CONTROLS = ["tempo", "mode", "temperature", "density", "repeat", "polyphony", "low", "high", "key",
                 "scale", "follow", "key_pull", "register_follow", "density_follow", "velocity", "dynamics",
                 "accent", "swing", "humanize_ms", "humanize_velocity", "max_note_beats", "silence", "mute"]


def register(p: argparse.ArgumentParser) -> None:
    """Add this command's options to its parser ``p`` and set ``func``."""
    p.add_argument("--set", dest="live_set", type=Path, default=None, metavar="FILE.toml",
                   help="a live set: ports, clock, model, OSC, controls and presets switched by "
                        "/livegen/preset NAME or program change; flags given here override it "
                        "(docs/live.md, Live sets)")
    p.add_argument("--model", default=None, help=f"shipped model name or checkpoint path (default: {DEFAULT_MODEL})")
    p.add_argument("--in", dest="inp", default=None, metavar="PORT",
                   help="MIDI input to listen to (substring of its name; see `livegen ports`)")
    p.add_argument("--out", default=None, metavar="PORT", help="MIDI output to play on")
    p.add_argument("--virtual", action="store_true",
                   help="create virtual ports 'livegen in' / 'livegen out' for other programs")
    add_midi_backend_option(p)
    add_control_options(p, PLAY_CONTROLS)
    p.add_argument("--bars", type=number(int, 1, 100_000), default=None,
                   help="stop after N bars (default: until Ctrl-C)")
    p.add_argument("--beats-per-bar", type=number(int, 1, 32), default=4)
    p.add_argument("--steps-per-beat", type=number(int, 1, 24), default=None,
                   help="grid steps per beat, 1..24 (default: the model's)")
    p.add_argument("--channel", type=number(int, 1, 16), default=1,
                   help="MIDI channel 1-16 of livegen's notes (with --parts: of the first part)")
    p.add_argument("--parts", choices=list(LAYOUTS), default=None,
                   help="split the answer into parts, each on its own channel from --channel on (skipping "
                        "10): satb (soprano, alto, tenor, bass), melody-chords-bass, or one (default)")
    p.add_argument("--parts-out", action="store_true",
                   help="with --parts and --virtual: each part on a virtual port of its own, 'livegen NAME' "
                        "('livegen bass'), instead of all on 'livegen out' (through rtmidi)")
    p.add_argument("--seed", type=number(int, 0, 2**31 - 1), default=None, help="sampling seed (default: random)")
    p.add_argument("--clock", choices=CLOCKS, default=None,
                   help="midi: follow the DAW's MIDI clock on the input port; link: join the Ableton Link "
                        f"session on the network (tempo, phase; needs livegen[link]) (default: {DEFAULT_CLOCK})")
    p.add_argument("--link-start-stop", action="store_true",
                   help="with --clock link: start and stop with the Link session's transport "
                        "(Live's Start Stop Sync); every note is released on stop")
    p.add_argument("--send-clock", action="store_true", help="send MIDI clock (livegen is the master)")
    p.add_argument("--osc-port", type=number(int, *OSC_PORTS), default=None,
                   help=f"OSC control port (0 = off; default: {DEFAULT_OSC_PORT})")
    p.add_argument("--osc-host", default=None,
                   help=f"OSC interface; 0.0.0.0 for a phone on the LAN (default: {DEFAULT_OSC_HOST})")
    p.add_argument("--osc-allow", type=address_list, default=None, metavar="ADDRS",
                   help="comma-separated IPs or networks (192.168.1.0/24) allowed to send OSC; "
                        "use with --osc-host 0.0.0.0 (docs/live.md: what an open port allows)")
    p.add_argument("--osc-feedback", default=None, metavar="HOST:PORT", help="send values and state here")
    p.add_argument("--web", default=None, metavar="[HOST:]PORT",
                   help="serve the stage in the browser: every control and a live piano roll (e.g. --web 8080; "
                        "on a network address such as 0.0.0.0:8080 the printed URL carries a token)")
    p.add_argument("--web-token", default=None, metavar="TOKEN",
                   help="the token the stage's URL must carry (default: a fresh one off 127.0.0.1)")
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
    # Ctrl-C stays noted, not raised, until the session takes it (livegen.interrupts): loading
    # the model and opening JACK run Python from C++ code that an exception cannot unwind
    p.set_defaults(func=run, defers_interrupts=True)


def _first(*values: T | None) -> T:
    """The first value that is not None: the command line's, the live set's, the default."""
    return next(v for v in values if v is not None)


def _start(args: argparse.Namespace, live_set: LiveSet) -> SetStart:
    """The starting controls and presets: the live set (if any) with the flags given over it."""
    if live_set.path is None:
        return SetStart(live_state(args), {}, None)
    overrides = control_values(args)
    if "key" in overrides and "scale" not in overrides and "scale" not in live_set.named_controls:
        overrides["scale"] = "major"  # as without a set: chromatic would ignore the key
    return live_set.start(overrides, first_channel=args.channel)


def build_request(args: argparse.Namespace) -> PlayRequest:
    """What ``livegen play`` is asked for: each setting from the command line if given there,
    else from the live set (``--set``), else the default.

    Raises:
        LivegenError: a bad live set or a combination that does not fit (one line).
    """
    live_set = load_live_set(args.live_set) if args.live_set is not None else LiveSet()
    start = _start(args, live_set)
    # ports come as a group: any of --in, --out, --virtual replaces the set's [ports]
    if live_set.names_ports and not (args.inp or args.out or args.virtual):
        inp, out, virtual = live_set.inp, live_set.out, bool(live_set.virtual)
    else:
        inp, out, virtual = args.inp, args.out, args.virtual
    osc_feedback = args.osc_feedback or live_set.osc_feedback
    osc_port = _first(args.osc_port, live_set.osc_port, DEFAULT_OSC_PORT)
    web_text = args.web or live_set.web
    if args.web_token is not None and web_text is None:
        raise LivegenError("--web-token goes with --web [HOST:]PORT (the stage in the browser)")
    web = stage_address(web_text, args.web_token) if web_text is not None else None
    lyrics = None
    if args.lyrics:
        target = args.lyrics_to or osc_feedback
        if not target:
            raise LivegenError("--lyrics needs a destination: add --lyrics-to HOST:PORT or --osc-feedback HOST:PORT")
        lyrics = LyricsRequest(args.lyrics, target, every_bars=args.lyrics_every, artist=args.lyrics_artist,
                               prime=args.lyrics_prime)
    return PlayRequest(
        model=_first(args.model, live_set.model, DEFAULT_MODEL), state=start.state, inp=inp, out=out,
        virtual=virtual, bars=args.bars, beats_per_bar=args.beats_per_bar, steps_per_beat=args.steps_per_beat,
        channel=args.channel, seed=args.seed, clock=_first(args.clock, live_set.clock, DEFAULT_CLOCK),
        link_start_stop=args.link_start_stop,
        send_clock=args.send_clock or bool(live_set.send_clock), lyrics=lyrics, demo=args.demo,
        midi_backend=args.midi_backend, presets=start.presets, preset=start.preset,
        parts=_first(args.parts, live_set.parts, "one"), parts_out=args.parts_out,
        part_values=start.part_values if args.parts in (None, live_set.parts) else {},
        part_presets=start.part_presets if args.parts in (None, live_set.parts) else {},
        wiring=LiveWiring(osc_host=_first(args.osc_host, live_set.osc_host, DEFAULT_OSC_HOST),
                          osc_port=osc_port or None, osc_allow=args.osc_allow,
                          osc_feedback=osc_feedback, record=args.record, web=web))


def run(args: argparse.Namespace) -> int:
    request = build_request(args)
    view = None if args.no_view else LiveView()
    try:
        s = play(request, announce=lambda line: print(line, file=sys.stderr), on_status=view)
    finally:
        if view is not None:
            view.close()
    print(f"livegen: {s.steps} steps, {s.notes_on} notes played, {s.performer_events} performer events, "
          f"{s.late_steps} late steps" + (f"; take written to {args.record}" if args.record else ""))
    return 0
