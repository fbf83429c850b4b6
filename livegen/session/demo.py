"""The built-in performer for ``livegen play --demo``: a separate MIDI client process.

It waits for livegen's ports, plays a short phrase into ``livegen in``, leaves room for
livegen to answer (call and response), repeats, and records what arrives from
``livegen out``. Run as ``python -m livegen.session.demo`` with the same MIDO_BACKEND /
JACK_DEFAULT_SERVER as livegen.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time

import mido

from livegen.errors import LivegenError
from livegen.io.ports import list_ports, open_input, open_output

#: (beat offset, duration in beats, pitch): two bars of a D-major reel-like phrase.
PHRASE: tuple[tuple[float, float, int], ...] = (
    (0.0, 0.5, 62), (0.5, 0.5, 66), (1.0, 0.5, 69), (1.5, 0.5, 66),
    (2.0, 0.5, 74), (2.5, 0.5, 73), (3.0, 1.0, 71),
    (4.0, 0.5, 69), (4.5, 0.5, 71), (5.0, 0.5, 69), (5.5, 0.5, 66),
    (6.0, 1.0, 64), (7.0, 1.0, 62),
    (0.0, 4.0, 50), (4.0, 2.0, 45), (6.0, 2.0, 50),  # a bass line under it
)


def wait_for_ports(timeout: float = 15.0) -> tuple[str, str]:
    """Block until livegen's virtual ports are visible; return their full names
    ``(livegen's input, livegen's output)``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        inputs, outputs = list_ports()
        # livegen's input is somewhere we send (an output for us) and vice versa
        theirs_in = [n for n in outputs if n.endswith("livegen in") and not n.startswith("performer")]
        theirs_out = [n for n in inputs if n.endswith("livegen out") and not n.startswith("performer")]
        if theirs_in and theirs_out:
            return theirs_in[0], theirs_out[0]
        time.sleep(0.1)
    raise LivegenError("livegen's ports did not appear; is `livegen play --virtual` running?")


def phrase_events(start: float, beat_s: float, transpose: int = 0) -> list[tuple[float, mido.Message]]:
    """Timed messages of :data:`PHRASE` starting at ``start`` (s)."""
    events = []
    for offset, length, pitch in PHRASE:
        t_on = start + offset * beat_s
        t_off = t_on + length * beat_s * 0.95
        events.append((t_on, mido.Message("note_on", note=pitch + transpose, velocity=96)))
        events.append((t_off, mido.Message("note_off", note=pitch + transpose, velocity=0)))
    return sorted(events, key=lambda e: (e[0], e[1].type == "note_on"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="livegen's demo performer")
    ap.add_argument("--bpm", type=float, default=120.0)
    ap.add_argument("--calls", type=int, default=3, help="phrases to play")
    ap.add_argument("--gap-bars", type=float, default=2.0, help="bars left for livegen to answer")
    ap.add_argument("--delay", type=float, default=0.5, help="seconds before the first note")
    ap.add_argument("--report", action="store_true", help="print a JSON summary of what livegen played")
    args = ap.parse_args(argv)
    try:
        their_in, their_out = wait_for_ports()
        received: list[tuple[float, mido.Message]] = []
        out = open_output(their_in, client_name="performer")
        inp = open_input(their_out, lambda m, t: received.append((t, m)), client_name="performer")
    except LivegenError as exc:
        print(f"demo performer: {exc}", file=sys.stderr)
        return 2
    beat = 60.0 / args.bpm
    t0 = time.monotonic() + args.delay
    events: list[tuple[float, mido.Message]] = []
    for k in range(args.calls):
        start = t0 + k * (8 + 4 * args.gap_bars) * beat
        events += phrase_events(start, beat, transpose=(0, 5, -2, 7)[k % 4])
    try:
        for t, msg in events:
            delay = t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            out.send(msg)
        time.sleep(4 * args.gap_bars * beat)
    finally:
        for pitch in {m.note for _, m in events}:
            out.send(mido.Message("note_off", note=pitch))
        out.close()
        inp.close()
    if args.report:
        ons = [m for _, m in received if m.type == "note_on" and m.velocity > 0]
        print(json.dumps({"sent_notes": sum(1 for _, m in events if m.type == "note_on"),
                          "received_notes": len(ons)}))
    return 0


def run() -> int:
    """:func:`main`, ending quietly on Ctrl-C (the terminal sends it to livegen and to this
    process alike) and on SIGTERM: no traceback, exit status 0."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return main()
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    raise SystemExit(run())
