"""Ableton Link: how close livegen's notes land to a second peer's beat grid, how fast it
joins a session and follows a tempo change.

Everything runs in a private network namespace with only loopback (Link discovers peers by
multicast on every interface): run as root, the script re-runs itself under ``unshare -n``.

* **Join**: livegen's Link peer (:class:`~livegen.session.link_peer.LinkPeer`) enabled next
  to a running session, ``--joins`` times: seconds until it sees the peer.
* **Grid**: ``livegen play --clock link --link-start-stop`` (a drone model struck on every
  step) against the peer of :mod:`benchmarks.link_rig`: waiting, start, 100 -> 130 BPM,
  stop and start, livegen's tempo to 90 BPM over OSC, the peer leaving. livegen's output
  goes through rtmidi to a JACK server of its own (``livegen-link``, dummy driver, ``-R``); a
  recorder client reads ``jack_get_time()`` (``CLOCK_MONOTONIC_RAW``, Link's clock too) in
  its process callback for each cycle that brings a note-on. Grid error = recorded time
  minus the peer's grid time of that step (steps handed out before a tempo change, 60 ms
  around it, are reported apart).
* **Transport floor**: before livegen starts, the rig sends its own note-ons through rtmidi
  to the recorder at exact deadlines (``--hop-notes``): how late the path itself delivers.
* **Tempo follow**: from the peer's change to livegen's ``/livegen/link/tempo`` feedback,
  and to the first note-on on the new grid (the next step due).

    python -m benchmarks.link_grid [--phase-bars 8] [--spb 4] [--jack-period 128]
                                   [--no-jack-realtime] [--joins 10] [--hop-notes 300]

Results: ``benchmarks/results/link_grid.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.common import machine
from benchmarks.link_rig import NETNS_ENV, join_trials, netns_command, netns_unavailable, scenario_play

RESULTS = Path(__file__).resolve().parent / "results" / "link_grid.json"


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Inside the namespace: the join trials, then the play scenario."""
    joins = join_trials(args.joins)
    load_before = [round(x, 2) for x in os.getloadavg()]
    play = scenario_play(args.phase_bars, args.spb, args.jack_period, realtime=args.jack_realtime,
                         hop_notes=args.hop_notes)
    play.pop("onsets", None)
    seen = [j for j in joins if j is not None]
    return {
        "command": "python -m benchmarks.link_grid " + " ".join(sys.argv[1:]),
        "join_s": {"n": len(joins), "joined": len(seen), "median": round(sorted(seen)[len(seen) // 2], 3)
                   if seen else None, "max": round(max(seen), 3) if seen else None},
        "grid_error_ms": play["grid"],
        "transport_floor_ms": play["hop_floor"],
        "grid_error_ms_by_tempo": play["grid_by_tempo"],
        "grid_error_ms_steps_handed_out_before_a_tempo_change": play["around_tempo_changes"],
        "tempo_100_to_130": {"seen_ms": play["tempo_change_seen_ms"],
                             "first_note_on_new_grid_ms": play["first_note_on_new_grid_ms"],
                             "one_beat_at_100_ms": 600.0},
        "livegen_tempo_to_peer_ms": play["livegen_tempo_to_peer_ms"],
        "release_after_stop_ms": play["release_after_stop_ms"],
        "play": play,
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "machine": machine(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="livegen on an Ableton Link session's beat grid (see module doc)")
    p.add_argument("--phase-bars", type=float, default=8.0, help="bars per phase of the scenario")
    p.add_argument("--spb", type=int, default=4, help="livegen's steps per beat")
    p.add_argument("--jack-period", type=int, default=128, help="JACK frames per period at 48 kHz")
    p.add_argument("--no-jack-realtime", dest="jack_realtime", action="store_false",
                   help="jackd --no-realtime (default: -R, as the other JACK benchmarks)")
    p.add_argument("--joins", type=int, default=10, help="join trials")
    p.add_argument("--hop-notes", type=int, default=300,
                   help="notes of the transport floor: the rig's own exactly timed notes through rtmidi and JACK")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if os.environ.get(NETNS_ENV) != "1":
        reason = netns_unavailable()
        if reason:
            print(f"link_grid: {reason}", file=sys.stderr)
            return 2
        return subprocess.call(netns_command([sys.executable, "-m", "benchmarks.link_grid",
                                              *(argv if argv is not None else sys.argv[1:])]))
    result = measure(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    g, t = result["grid_error_ms"], result["tempo_100_to_130"]
    print(f"join: median {result['join_s']['median']} s, max {result['join_s']['max']} s "
          f"({result['join_s']['joined']}/{result['join_s']['n']})")
    print(f"grid error: median {g.get('median_ms')} ms, p99 {g.get('p99_ms')} ms, max {g.get('max_ms')} ms "
          f"over {g.get('n')} note-ons")
    print(f"transport floor (the rig's own notes through rtmidi and JACK): {result['transport_floor_ms']}")
    print(f"tempo 100 -> 130: seen after {t['seen_ms']} ms, first note on the new grid after "
          f"{t['first_note_on_new_grid_ms']} ms")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
