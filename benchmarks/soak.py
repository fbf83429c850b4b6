"""Soak: ``livegen play`` over real JACK for N minutes while it is steered, played to and
panicked, as on a long night.

``livegen play --virtual`` runs in a subprocess (the real command line) on a JACK server of
the benchmarks' own; a tester client (this process, see :class:`benchmarks.panic.Rig`)
holds its ports and its OSC feedback. Meanwhile:

* an OSC change every second, cycling temperature, density, key, scale, mode, polyphony
  and tempo through valid values, with an invalid one (out of range, wrong type, unknown
  choice, NaN) every fifth change;
* a performer phrase every bar (four eighth notes at the tempo in force), started on
  livegen's ``/livegen/beat`` feedback;
* a panic every ~30 s, alternating ``/livegen/panic`` and CC 103; each is timed (send to the
  All Notes Off's arrival) and checked (every sounding note released first).

Recorded: livegen's RSS (start, end, max, growth over the second half), late steps,
notes on/off balance and the notes left sounding at the end, the beat feedback's largest
gap beyond the beat period in force, panic latency (median, p99, max, for OSC and CC),
log lines, and the load average (the machine is shared).

    python -m benchmarks.soak [--minutes 10] [--model nottingham] [--jack-period 64]

Results go to ``benchmarks/results/soak.json`` and a table is printed.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import mido

from benchmarks.common import machine, percentiles
from benchmarks.panic import BenchJack, PanicRecord, Rig, load_average, sounding, summarize

RESULTS = Path(__file__).resolve().parent / "results" / "soak.json"
BEATS_PER_BAR = 4
START_BPM = 120.0
#: control -> valid values cycled through.
VALID: dict[str, list[Any]] = {
    "temperature": [0.6, 1.0, 1.3, 0.8],
    "density": [0.5, -0.5, 1.0, 0.0],
    "key": ["D", "A", "F", "C"],
    "scale": ["major", "minor", "dorian", "chromatic"],
    "mode": ["accompany", "solo", "call"],
    "polyphony": [3, 6, 0, 4],
    "tempo": [140.0, 100.0, 180.0, 120.0],
}
#: (control, invalid value): each must be refused and the value in force kept.
INVALID: list[tuple[str, Any]] = [
    ("temperature", 9.0), ("density", "lots"), ("key", "H"), ("scale", "lydian-ish"),
    ("mode", "duet"), ("polyphony", 3.5), ("tempo", 5000.0), ("temperature", math.nan),
]


def change_plan(n: int) -> list[tuple[str, Any, bool]]:
    """The ``n`` OSC changes, one a second: ``(control, value, valid)``."""
    plan: list[tuple[str, Any, bool]] = []
    names = list(VALID)
    v = i = 0
    while len(plan) < n:
        if len(plan) % 5 == 4:
            name, value = INVALID[i % len(INVALID)]
            plan.append((name, value, False))
            i += 1
        else:
            name = names[v % len(names)]
            plan.append((name, VALID[name][(v // len(names)) % len(VALID[name])], True))
            v += 1
    return plan


class Soak:
    def __init__(self, rig: Rig, minutes: float, panic_every: float) -> None:
        self.rig = rig
        self.seconds = minutes * 60.0
        self.panic_every = panic_every
        self.stop = threading.Event()
        self.rss_kb: list[tuple[float, int]] = []
        self.load: list[tuple[float, list[float]]] = []
        self.tempo: list[tuple[float, float]] = [(0.0, START_BPM)]  # (sent, value) of valid tempo changes
        self.changes: list[tuple[float, str, Any, bool]] = []
        self.panics: list[PanicRecord] = []
        self.phrases = 0
        self.errors: list[str] = []

    # ---- the workers ----------------------------------------------------------------------

    def _controls(self) -> None:
        plan = change_plan(int(self.seconds) + 10)
        due = time.monotonic() + 1.0
        for name, value, valid in plan:
            if self.stop.wait(max(0.0, due - time.monotonic())):
                return
            due += 1.0
            t = self.rig.send_osc(f"/livegen/{name}", value)
            self.changes.append((t, name, value, valid))
            if valid and name == "tempo":
                self.tempo.append((t, float(value)))

    def _performer(self) -> None:
        seen = len(self.rig.beats)
        rng = random.Random(3)
        while not self.stop.is_set():
            if len(self.rig.beats) == seen:
                time.sleep(0.002)
                continue
            t_beat, k = self.rig.beats[-1]
            seen = len(self.rig.beats)
            if k % BEATS_PER_BAR:
                continue
            beat_s = 60.0 / self.tempo[-1][1]
            root = rng.choice([48, 55, 60, 62, 65])
            for j, step in enumerate((0, 4, 7, 12)):
                start = t_beat + (0.1 + j * 0.5) * beat_s
                self._at(start, mido.Message("note_on", note=root + step, velocity=90))
                self._at(start + 0.45 * beat_s, mido.Message("note_off", note=root + step, velocity=0))
            self.phrases += 1

    def _at(self, t: float, msg: mido.Message) -> None:
        delay = t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            self.rig.send_midi(msg)
        except OSError as exc:
            self.errors.append(f"performer send: {exc}")

    def _panics(self) -> None:
        rng = random.Random(5)
        i = 0
        while not self.stop.wait(self.panic_every * (0.8 + 0.4 * rng.random())):
            via = "osc" if i % 2 == 0 else "cc"
            self.panics.append(self.rig.check_panic(via, self.rig.panic(via)))
            i += 1

    def _sample(self) -> None:
        assert self.rig.proc is not None
        status = Path(f"/proc/{self.rig.proc.pid}/status")
        last_load = 0.0
        while not self.stop.wait(1.0):
            try:
                rss = next(int(line.split()[1]) for line in status.read_text().splitlines()
                           if line.startswith("VmRSS:"))
            except (OSError, StopIteration):
                continue
            now = time.monotonic()
            self.rss_kb.append((now, rss))
            if now - last_load >= 60.0:
                self.load.append((now, load_average()))
                last_load = now

    # ---- the run --------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        rig = self.rig
        rig.start()
        if not rig.wait_for(lambda: len(rig.beats) >= 2, 30):
            raise RuntimeError("no beat feedback from livegen")
        t0 = time.monotonic()
        workers = [threading.Thread(target=f, daemon=True, name=f.__name__)
                   for f in (self._controls, self._performer, self._panics, self._sample)]
        for w in workers:
            w.start()
        last_report = t0
        while time.monotonic() - t0 < self.seconds:
            time.sleep(1.0)
            if rig.proc is not None and rig.proc.poll() is not None:
                self.errors.append(f"livegen exited early with status {rig.proc.returncode}")
                break
            if time.monotonic() - last_report >= 60:
                last_report = time.monotonic()
                print(f"  {(last_report - t0) / 60:.0f} min: {len(rig.beats)} beats, {len(self.panics)} panics, "
                      f"RSS {self.rss_kb[-1][1] / 1024 if self.rss_kb else 0:.1f} MB", file=sys.stderr, flush=True)
        self.stop.set()
        for w in workers:
            w.join(timeout=5)
        t_end = time.monotonic()
        status, out = rig.stop()
        return self.report(t0, t_end, status, out)

    def tempo_at(self, t: float) -> float:
        bpm = START_BPM
        for ts, value in self.tempo:
            if ts <= t:
                bpm = value
        return bpm

    def report(self, t0: float, t_end: float, status: int, out: str) -> dict[str, Any]:
        rig = self.rig
        rss = [kb for _, kb in self.rss_kb]
        half = [(t, kb) for t, kb in self.rss_kb if t >= t0 + self.seconds / 2]
        slope = None
        if len(half) > 2:
            ts = [t for t, _ in half]
            ks = [kb for _, kb in half]
            tm, km = sum(ts) / len(ts), sum(ks) / len(ks)
            den = sum((t - tm) ** 2 for t in ts)
            slope = sum((t - tm) * (k - km) for t, k in zip(ts, ks)) / den * 60 / 1024 if den else None
        beats = list(rig.beats)
        gaps = []
        for (t1, k1), (t2, k2) in zip(beats, beats[1:]):
            period = max(60.0 / self.tempo_at(t1 - 0.5), 60.0 / self.tempo_at(t2))
            gaps.append((t2 - t1, (t2 - t1) - (k2 - k1) * period, k2 - k1 - 1, t2))
        worst = sorted(gaps, key=lambda g: -g[1])[:3]
        lateness = [(t, args) for t, a, args in rig.feedback if a == "/livegen/lateness"]
        late_at = [round((t - t0) / 60, 2) for (_, (n0, _)), (t, (n1, _)) in zip(lateness, lateness[1:]) if n1 > n0]
        received = list(rig.received)
        ons = sum(1 for _, m in received if m.type == "note_on" and m.velocity > 0)
        offs = sum(1 for _, m in received if m.type == "note_off" or (m.type == "note_on" and m.velocity == 0))
        valid = [c for c in self.changes if c[3]]
        summary = out.strip().splitlines()[-1] if out.strip() else ""
        stderr = rig.stderr()
        return {
            "command": "python -m benchmarks.soak " + " ".join(sys.argv[1:]),
            "minutes": round((t_end - t0) / 60, 2),
            "livegen_args": list(rig.play_args),
            "rss_mb": {"start": round(rss[0] / 1024, 1) if rss else None,
                       "end": round(rss[-1] / 1024, 1) if rss else None,
                       "max": round(max(rss) / 1024, 1) if rss else None,
                       "growth": round((rss[-1] - rss[0]) / 1024, 1) if rss else None,
                       "second_half_slope_mb_per_min": round(slope, 3) if slope is not None else None,
                       "samples": len(rss)},
            "late_steps": {"feedback": int(lateness[-1][1][0]) if lateness else None,
                           "at_minutes": late_at, "livegen_summary": summary,
                           "max_wakeup_lateness_ms": max(float(a[1]) for _, a in lateness) if lateness else None},
            "beat": {"beats": len(beats), "largest_gap_ms": round(max(g[0] for g in gaps) * 1000, 1) if gaps else None,
                     "largest_excess_over_period_ms": round(worst[0][1] * 1000, 1) if gaps else None,
                     "worst_gaps": [{"minute": round((g[3] - t0) / 60, 2), "gap_ms": round(g[0] * 1000, 1),
                                     "beyond_period_ms": round(g[1] * 1000, 1)} for g in worst],
                     "beats_missing": sum(g[2] for g in gaps)},
            "notes": {"on": ons, "off": offs, "left_sounding_at_end": sorted(p for _, p in sounding(received))},
            "performer_phrases": self.phrases,
            "osc_changes": {"valid": len(valid), "invalid": len(self.changes) - len(valid)},
            "panics": summarize(self.panics),
            "panic_latency_ms_all": percentiles([p.latency_s for p in self.panics if p.latency_s is not None])
            if any(p.latency_s is not None for p in self.panics) else None,
            "livegen_status": status,
            "log_lines": len(stderr.splitlines()), "tracebacks": stderr.count("Traceback"),
            "errors": self.errors,
            "load_average": [la for _, la in self.load], "load_average_end": load_average(),
        }


def table(doc: dict[str, Any]) -> str:
    r, b, n = doc["rss_mb"], doc["beat"], doc["notes"]
    rows = [
        ("minutes", f"{doc['minutes']}"),
        ("RSS MB start / end / max", f"{r['start']} / {r['end']} / {r['max']} (growth {r['growth']}, "
                                     f"second half {r['second_half_slope_mb_per_min']} MB/min)"),
        ("late steps", f"{doc['late_steps']['feedback']} (at minutes {doc['late_steps']['at_minutes']}); "
                       f"largest wake-up lateness at a beat {doc['late_steps']['max_wakeup_lateness_ms']} ms"),
        ("beats, missing", f"{b['beats']}, {b['beats_missing']}"),
        ("largest beat gap", f"{b['largest_gap_ms']} ms ({b['largest_excess_over_period_ms']} ms beyond the period)"),
        ("notes on / off", f"{n['on']} / {n['off']}; left sounding: {n['left_sounding_at_end'] or 'none'}"),
        ("phrases, OSC changes", f"{doc['performer_phrases']}, {doc['osc_changes']}"),
    ]
    for via, p in doc["panics"].items():
        lat = p.get("latency_ms", {})
        rows.append((f"panic {via} median/p99/max",
                     f"{lat.get('median_ms')} / {lat.get('p99_ms')} / {lat.get('max_ms')} ms "
                     f"({p['answered']}/{p['sent']} answered, {p['within_5ms']} <= 5 ms, "
                     f"{p['not_released']} unreleased)"))
    rows += [("livegen exit, log lines", f"{doc['livegen_status']}, {doc['log_lines']}"),
             ("load average", f"{doc['load_average']} end {doc['load_average_end']}")]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--model", default="nottingham")
    ap.add_argument("--steps-per-beat", type=int, default=4)
    ap.add_argument("--panic-every", type=float, default=30.0)
    ap.add_argument("--jack-period", type=int, default=64)
    ap.add_argument("--no-jack-realtime", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    server = BenchJack(period=args.jack_period, realtime=not args.no_jack_realtime).start()
    load_before = load_average()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rig = Rig(server, ["--model", args.model, "--bpm", str(START_BPM), "--steps-per-beat",
                               str(args.steps_per_beat), "--seed", "11"], Path(tmp), client="soak-tester")
            try:
                doc = Soak(rig, args.minutes, args.panic_every).run()
            finally:
                rig.close()
    finally:
        server.stop()
    doc = {**doc, "jack": {"period": args.jack_period, "rate": 48000, "realtime": not args.no_jack_realtime},
           "load_average_before": load_before, "machine": machine()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(table(doc))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
