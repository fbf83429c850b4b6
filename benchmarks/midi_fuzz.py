"""MIDI fuzz over real JACK: ``livegen play`` fed 10^5 malformed, odd and bursty MIDI events.

``livegen play --virtual`` runs in a subprocess (the real command line) on a JACK server; a
tester (:class:`benchmarks.panic.Rig`) holds its output and OSC feedback, and a raw
python-rtmidi client (``fuzzer``) writes bytes into ``livegen in`` exactly as a broken or
busy device would. The events (:func:`fuzz_events`) mix:

* random 1-3 byte events (any byte values: status, data, undefined, real-time);
* sysex of 1-300 data bytes, some cut short, some with real-time bytes inside;
* running status: a note-on status, then events of data bytes only;
* stray data bytes, note-offs with no note-on, notes on all 16 channels;
* control changes to every CC number (the mapped ones steer livegen's controls);
* clock bytes at odd rates (single 0xF8 events), start/stop/continue;
* bursts of 10,000 notes per second (note-on/off pairs, 1,000 events each).

They are sent at ``--rate`` events per second while livegen plays. Recorded: whether it
lived and exited 0, steps played and late steps (its own count), the largest gap of the
``/livegen/beat`` feedback beyond a beat, notes left sounding at exit, every control value
livegen reported (each must be finite and in its range), livegen's log lines, the lines
libjack printed in its process (one per event dropped from a full port buffer, by C code
livegen cannot rate-limit) and tracebacks.

    python -m benchmarks.midi_fuzz [--events 100000] [--rate 10000] [--model nottingham]

Results go to ``benchmarks/results/midi_fuzz.json``; :func:`run_fuzz` is shared with
``tests/test_midi_fuzz.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import rtmidi

from benchmarks.common import machine
from benchmarks.panic import BenchJack, Rig, load_average, sounding
from livegen.controls.table import CONTROLS, OSC_PREFIX
from livegen.io.jackd import JackServer

RESULTS = Path(__file__).resolve().parent / "results" / "midi_fuzz.json"
BURST = 1000  # events per 10k-notes/s burst
LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


def fuzz_events(n: int, seed: int = 0) -> list[list[int]]:
    """``n`` raw MIDI events (lists of bytes) of every kind a device might send.

    Each event satisfies python-rtmidi's one rule (an event over 3 bytes starts with 0xF0).
    Bursts come as runs of :data:`BURST` note events (the sender paces them at 10k/s).
    """
    rng = random.Random(seed)
    out: list[list[int]] = []
    kinds = ["random", "sysex", "running", "stray", "orphan_off", "notes", "cc", "clock", "transport", "burst"]
    weights = [20, 4, 10, 8, 8, 15, 10, 20, 2, 3]
    while len(out) < n:
        kind = rng.choices(kinds, weights)[0]
        if kind == "random":
            out.append([rng.randrange(256) for _ in range(rng.randint(1, 3))])
        elif kind == "sysex":
            data = [rng.randrange(128) for _ in range(rng.randint(1, 300))]
            if rng.random() < 0.2:
                data.insert(rng.randrange(len(data)), 0xF8)
            out.append([0xF0, *data] + ([0xF7] if rng.random() < 0.8 else []))
        elif kind == "running":
            ch = rng.randrange(16)
            out.append([0x90 | ch, rng.randrange(128), rng.randrange(128)])
            out.extend([rng.randrange(128), rng.randrange(128)] for _ in range(rng.randint(1, 6)))
        elif kind == "stray":
            out.append([rng.randrange(128)])
        elif kind == "orphan_off":
            out.append([0x80 | rng.randrange(16), rng.randrange(128), rng.randrange(128)])
        elif kind == "notes":
            ch, note = rng.randrange(16), rng.randrange(128)
            out.append([0x90 | ch, note, rng.randrange(1, 128)])
            out.append([0x90 | ch, note, 0] if rng.random() < 0.5 else [0x80 | ch, note, 64])
        elif kind == "cc":
            out.append([0xB0 | rng.randrange(16), rng.randrange(128), rng.randrange(128)])
        elif kind == "clock":
            out.extend([0xF8] for _ in range(rng.randint(1, 24)))
        elif kind == "transport":
            out.append([rng.choice([0xFA, 0xFB, 0xFC])])
        else:
            for _ in range(BURST // 2):
                ch, note = rng.randrange(16), rng.randrange(128)
                out.append([0x90 | ch, note, rng.randrange(1, 128)])
                out.append([0x80 | ch, note, 0])
    return out[:n]


def _connect_fuzzer(port_name: str) -> Any:
    """A raw python-rtmidi output (client ``fuzzer``) connected to ``port_name``."""
    rt = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="fuzzer")
    ports = rt.get_ports()
    rt.open_port(ports.index(port_name))
    return rt


def _send_all(rt: Any, events: list[list[int]], rate: float) -> dict[str, Any]:
    """Send ``events`` at ``rate`` per second (bursts of notes at 10k/s); count refusals."""
    refused = 0
    t0 = time.monotonic()
    for i, event in enumerate(events):
        if i % 100 == 0:  # pace in chunks: JACK empties rtmidi's ring buffer once a period
            due = t0 + i / rate
            while time.monotonic() < due:
                time.sleep(0.0005)
        try:
            rt.send_message(event)
        except Exception:
            refused += 1
    return {"seconds": round(time.monotonic() - t0, 3), "refused_by_rtmidi": refused}


def _values_in_range(feedback: list[tuple[float, str, tuple[Any, ...]]]) -> list[str]:
    """Every control value livegen reported that is not finite or not in its range."""
    bad = []
    for _, address, args in feedback:
        name = address[len(OSC_PREFIX) + 1:]
        control = CONTROLS.get(name)
        if control is None or not args or control.kind not in ("float", "int"):
            continue
        value = args[0]
        if not isinstance(value, int | float) or not math.isfinite(value) \
                or (control.minimum is not None and value < control.minimum) \
                or (control.maximum is not None and value > control.maximum):
            bad.append(f"{name}={value!r}")
    return bad


def run_fuzz(server: JackServer, model: str, events: list[list[int]], rate: float, workdir: Path,
             bpm: float = 120.0) -> dict[str, Any]:
    """Play ``model`` on ``server`` while ``events`` arrive at ``rate``; return the findings."""
    seconds = len(events) / rate
    bars = math.ceil((seconds + 6.0) * bpm / 60 / 4)
    take = workdir / "take.mid"
    rig = Rig(server, ["--model", model, "--bpm", str(bpm), "--mode", "accompany", "--bars", str(bars),
                       "--seed", "3", "--record", str(take)], workdir, client="fuzz-tester")
    fuzzer = None
    try:
        rig.start()
        rig.wait_for(lambda: len(rig.beats) >= 2, 30.0)
        fuzzer = _connect_fuzzer(next(n for n in server.ports() if n.endswith(":livegen in")))
        time.sleep(1.0)
        sending = _send_all(fuzzer, events, rate)
        assert rig.proc is not None
        rig.wait_for(lambda: rig.proc is not None and rig.proc.poll() is not None, 60.0)  # its last bars
        status, out = rig.stop()
    finally:
        if fuzzer is not None:
            fuzzer.close_port()
            del fuzzer
        rig.close()
    beats = [t for t, _ in rig.beats]
    gaps = [b - a for a, b in zip(beats, beats[1:], strict=False)]
    # the fuzz moves the tempo (CC 22): a gap is measured against the longest beat in force
    # between the two beats (a change lands at the next step)
    tempi = [(t, float(args[0])) for t, address, args in rig.feedback
             if address == f"{OSC_PREFIX}/tempo" and args and isinstance(args[0], int | float)]


    def slowest(a: float, b: float) -> float:
        before = [v for t, v in tempi if t <= a]
        return min([before[-1] if before else bpm, *[v for t, v in tempi if a < t <= b]])

    beyond = [gap - 60.0 / slowest(a, a + gap) for a, gap in zip(beats, gaps, strict=False)]
    late = [args for _, address, args in rig.feedback if address == f"{OSC_PREFIX}/lateness"]
    err = rig.stderr()
    return {
        "events": len(events), "rate_per_s": rate, **sending, "exit_status": status,
        "take_written": take.is_file() and take.stat().st_size > 0,
        "steps_line": next((line for line in out.splitlines() if " steps" in line), ""),
        "late_steps": int(late[-1][0]) if late else None,
        "worst_beat_gap_beyond_a_beat_ms": round(max(0.0, *beyond) * 1000, 1),
        "beats": len(beats),
        "left_sounding": sorted(sounding(rig.received)),
        "notes_played": sum(m.type == "note_on" and m.velocity > 0 for _, m in rig.received),
        "bad_values": _values_in_range(rig.feedback)[:20],
        "stderr_lines": len(err.splitlines()),
        # livegen's own log lines, and what libjack printed in its process (a device that sends
        # more than a JACK period's buffer holds: each dropped event is one line, from C)
        "log_lines": sum(line.split(" ", 1)[0] in LEVELS for line in err.splitlines()),
        "libjack_lines": sum("Jack" in line for line in err.splitlines()),
        "tracebacks": err.count("Traceback"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=10_000.0)
    parser.add_argument("--model", default="nottingham")
    parser.add_argument("--jack-period", type=int, default=64)
    parser.add_argument("--runs", type=int, default=1,
                        help="play the fuzz this many times in a row and count the runs that did not end "
                             "with exit 0, its take written and nothing sounding (a crash at exit, a stuck note)")
    args = parser.parse_args()
    events = fuzz_events(args.events)
    results = []
    with BenchJack(period=args.jack_period) as server:
        for run in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                results.append(run_fuzz(server, args.model, events, args.rate, Path(tmp)))
            r = results[-1]
            if args.runs > 1:
                print(f"run {run + 1} of {args.runs}: exit {r['exit_status']}, left sounding {r['left_sounding']}, "
                      f"tracebacks {r['tracebacks']}", flush=True)
    result = results[-1]
    bad = [i + 1 for i, r in enumerate(results)
           if r["exit_status"] != 0 or not r["take_written"] or r["left_sounding"] or r["tracebacks"]]
    doc = {"machine": machine(), "load_average": load_average(), "model": args.model,
           "jack_period": args.jack_period, **result,
           **({"runs": args.runs, "runs_not_clean": bad,
               "exit_statuses": [r["exit_status"] for r in results],
               "worst_beat_gaps_ms": [r["worst_beat_gap_beyond_a_beat_ms"] for r in results],
               "late_steps_each": [r["late_steps"] for r in results]} if args.runs > 1 else {})}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
