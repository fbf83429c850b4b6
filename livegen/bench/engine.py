"""The engine benchmark: livegen's live path over real JACK ports, measured from outside.

What runs (:func:`run_condition`):

* a JACK server of its own (``livegen-bench``: dummy driver, synchronous mode ``-S``; the
  period and realtime scheduling are options) so its settings are the ones asked for;
* in this process, the real :class:`~livegen.session.live.LiveSession` (asyncio engine + the
  precise :class:`~livegen.engine.scheduler.ThreadScheduler`) on virtual ports, solo mode,
  playing a :class:`BenchVoice` around the real model;
* a *probe* process (``python -m livegen.bench.engine --probe``) that records livegen's
  output with ``time.monotonic()`` taken in its rtmidi callback and plays performer notes
  into livegen's input at random times;
* for the ``loaded`` condition, a busy-loop process that keeps one core fully busy.

``time.monotonic()`` is the system-wide ``CLOCK_MONOTONIC`` on Linux, so times taken in the
two processes compare directly.

:class:`BenchVoice` steps the model every step exactly like ``livegen play`` (so model time
is real) and plays its notes from C2 (MIDI 36) up; below that it adds a *tick* key (B1, 35)
that toggles every step, so every step sends at least one message and a missed step is
visible, and it *echoes* performer keys A0..D#1 (21..27) a fifth up (28..34) so the reaction
to a performer note is unambiguous.

Figures (:func:`analyze`), times in ms:

* ``out_error``: arrival of step ``n``'s first message - ``(t0 + n * period)``, where ``t0`` is
  the engine's first step deadline: how far from the ideal grid a listener hears each
  step, JACK hop included;
* ``out_error_first_anchor``: ``|arrival - (first arrival + n * period)|``, the same grid
  anchored at the first step's arrival (pure jitter, but it inherits that step's error);
* ``send_error``: the scheduler's own ``actual - deadline`` (``ThreadScheduler.stats``);
* ``transport``: arrival - send, per message (the JACK hop: with the dummy driver a message
  waits for the next JACK period, so it spreads over ``0..period``);
* ``worst_steps``: the five latest steps as ``[step, out_error, ms since the last performer
  note was sent]`` (to see whether input handling delays output);
* ``late_steps`` (engine counter), ``missed_steps`` (grid steps with nothing sent),
  ``lost`` (messages sent but never received);
* ``step`` (:func:`step_summary`): the voice's step inside the engine (deadline's wake-up
  to the next frame), its CPU time, how many steps were taken from the step-ahead worker,
  beside ``step_outside``: the same model stepped outside the engine in the same run, back
  to back and at the engine's period (:mod:`livegen.bench.step_times`);
* ``reaction``: performer note sent -> its echo arrives, and the same in grid steps after
  the first step at or after the send (1 when the note was in time for that step's frame,
  2 when it arrived just after that step was computed).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import random
import select
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import mido
import numpy as np

from livegen.bench.step_times import time_steps
from livegen.controls.state import LiveControls
from livegen.controls.table import ControlState
from livegen.engine.clock import LiveClock
from livegen.engine.scheduler import ThreadScheduler
from livegen.errors import LivegenError
from livegen.io.jackd import JackServer
from livegen.io.ports import list_ports, open_input, open_output
from livegen.nets.char import CharLSTM
from livegen.nets.checkpoint import load_checkpoint
from livegen.nets.manifest import resolve_model
from livegen.nets.runtime import configure_for_stepping
from livegen.sampling.constraints import RollControls
from livegen.session.live import LiveSession, SessionOptions
from livegen.voices.roll import RollGenerator

log = logging.getLogger(__name__)

#: JACK server name used by the benchmark (never the tests' server, so its period is ours).
BENCH_SERVER = "livegen-bench"
PERFORMER_KEYS = tuple(range(21, 28))  # A0..D#1: what the probe plays
ECHO_SHIFT = 7  # echoed a fifth up: 28..34
TICK_PITCH = 35  # B1, toggles every step
MODEL_LOW = 36  # the model's notes from C2 up
PROBE_CLIENT = "bench-probe"


class BenchVoice:
    """Wrap a voice: model notes from C2 up, an every-step tick, an echo of the performer.

    Args:
        inner: the real voice (e.g. a :class:`~livegen.voices.roll.RollGenerator`); it is
            stepped every step with the observed frame above B1.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.steps = 0
        self.cpu_s: list[float] = []  # this thread's CPU time in each step (s)
        self.ahead: list[bool] = []  # each step was taken whole from a prepare (StepAhead)

    def step(self, frame: np.ndarray, controls: RollControls) -> np.ndarray:
        """``(88,)`` observed frame -> ``(88,)`` frame to play next."""
        c0 = time.thread_time()
        hits = getattr(self.inner, "drawn_ahead", 0)
        out = self._step(frame, controls)
        self.cpu_s.append(time.thread_time() - c0)
        self.ahead.append(getattr(self.inner, "drawn_ahead", 0) > hits)
        return out

    def _step(self, frame: np.ndarray, controls: RollControls) -> np.ndarray:
        frame = np.asarray(frame, dtype=bool)
        low = MODEL_LOW - 21
        model_in = frame.copy()
        model_in[:low] = False
        out = np.asarray(self.inner.step(model_in, controls), dtype=bool).copy()
        out[:low] = False
        k0 = PERFORMER_KEYS[0] - 21
        out[k0 + ECHO_SHIFT:k0 + ECHO_SHIFT + len(PERFORMER_KEYS)] = frame[k0:k0 + len(PERFORMER_KEYS)]
        out[TICK_PITCH - 21] = self.steps % 2 == 0
        self.steps += 1
        return out

    def prepare(self, frame: np.ndarray, controls: RollControls | None = None) -> None:
        """Compute ahead what :meth:`step` will ask of the model for ``frame``
        (:class:`~livegen.engine.ahead.StepAhead`)."""
        model_in = np.array(frame, dtype=bool)
        model_in[:MODEL_LOW - 21] = False
        self.inner.prepare(model_in, controls)

    def sample(self, controls: RollControls) -> np.ndarray:
        """Never primed: the next frame as if nothing had sounded."""
        return self.step(np.zeros(88, dtype=bool), controls)

    def reset(self) -> None:
        self.inner.reset()


# ---- analysis (pure) ------------------------------------------------------------------------

def _pct(values_ms: Sequence[float]) -> dict[str, float]:
    a = np.asarray(values_ms, dtype=np.float64)
    if a.size == 0:
        return {"median": math.nan, "p99": math.nan, "max": math.nan, "n": 0}
    return {"median": round(float(np.median(a)), 4), "p99": round(float(np.percentile(a, 99)), 4),
            "max": round(float(a.max()), 4), "n": int(a.size)}


def analyze(arrivals: Sequence[tuple[float, bytes]], batches: Sequence[tuple[float, float, int]],
            performer: Sequence[tuple[float, int]], period: float, steps: int) -> dict[str, Any]:
    """Timing figures of one run (see the module docstring).

    Args:
        arrivals: ``(t, message bytes)`` received from livegen, in arrival order (s).
        batches: ``(deadline, actual, message count)`` of each batch livegen's scheduler
            sent, in sending order (s); the first is step 0 (the tick key guarantees one
            batch per step).
        performer: ``(t, pitch)`` of each performer note-on the probe sent (s).
        period: seconds per step.
        steps: steps the engine played (batches at grid index >= ``steps``, such as the
            final release, are not grid steps).
    """
    n_sent = sum(n for _, _, n in batches)
    result: dict[str, Any] = {"steps": steps, "sent": n_sent, "received": len(arrivals),
                              "lost": max(0, n_sent - len(arrivals))}
    empty = _pct([])
    result.update(missed_steps=steps, out_error_ms=empty, out_error_first_anchor_ms=empty, transport_ms=empty,
                  reaction_ms=empty, reaction_steps={}, unanswered=len(performer))
    if not batches:
        return result
    t0 = batches[0][0]
    # message k of the run was sent in batch owner[k]
    owner = [b for b, (_, _, n) in enumerate(batches) for _ in range(n)]
    index = [round((d - t0) / period) for d, _, _ in batches]
    result["missed_steps"] = steps - len({n for n in index if 0 <= n < steps})
    if n_sent != len(arrivals):
        log.warning("%d messages sent, %d received: timing per message is not matched", n_sent, len(arrivals))
        return result
    first_arrival: dict[int, float] = {}
    hops = []
    for k, (t, _) in enumerate(arrivals):
        b = owner[k]
        hops.append((t - batches[b][1]) * 1000)
        if 0 <= index[b] < steps:
            first_arrival.setdefault(index[b], t)
    result["transport_ms"] = _pct(hops)
    errors = {n: (t - (t0 + n * period)) * 1000 for n, t in first_arrival.items()}
    result["out_error_ms"] = _pct(list(errors.values()))
    sends = sorted(s for s, _ in performer)

    def since_performer(n: int) -> float | None:
        """ms from the latest performer note sent before step ``n``'s deadline."""
        before = [s for s in sends if s <= t0 + n * period]
        return round((t0 + n * period - before[-1]) * 1000, 1) if before else None

    result["worst_steps"] = [[n, round(e, 3), since_performer(n)]
                             for n, e in sorted(errors.items(), key=lambda kv: -kv[1])[:5]]
    if first_arrival:
        n1 = min(first_arrival)
        a1 = first_arrival[n1] - n1 * period
        result["out_error_first_anchor_ms"] = _pct(
            [abs(t - (a1 + n * period)) * 1000 for n, t in first_arrival.items()])
    # reaction: performer note -> first echo note-on after it
    echoes: dict[int, list[tuple[float, int]]] = {}
    for k, (t, data) in enumerate(arrivals):
        if len(data) == 3 and data[0] & 0xF0 == 0x90 and data[2] > 0:
            echoes.setdefault(data[1], []).append((t, index[owner[k]]))
    reactions: list[float] = []
    in_steps: dict[str, int] = {}
    unanswered = 0
    t_last = t0 + (steps - 3) * period  # later notes may not be answered before the end
    for s, pitch in performer:
        if s < t0 or s > t_last:
            continue
        later = [(t, n) for t, n in echoes.get(pitch + ECHO_SHIFT, []) if t > s]
        if not later or later[0][0] - s > 4 * period:
            unanswered += 1
            continue
        reactions.append((later[0][0] - s) * 1000)
        k = later[0][1] - math.ceil((s - t0) / period)
        in_steps[str(k)] = in_steps.get(str(k), 0) + 1
    result["reaction_ms"] = _pct(reactions)
    result["reaction_steps"] = dict(sorted(in_steps.items()))
    result["unanswered"] = unanswered
    return result


def step_summary(compute_s: Sequence[float], cpu_s: Sequence[float], ahead: Sequence[bool],
                 prepare_s: Sequence[float]) -> dict[str, Any]:
    """The voice's step inside the engine (ms): ``wall`` is the engine's ``compute_s`` (the
    deadline's wake-up to the next frame ready), ``cpu`` the stepping thread's CPU time in it
    (wall - cpu: time the thread was preempted), ``ahead``/``computed`` the steps taken whole
    from a prepare or computed (at least in part) at the deadline and their wall times,
    ``prepare`` the worker's time per prepare (off the deadline's path)."""
    wall = [c * 1000 for c in compute_s]
    n = min(len(wall), len(ahead))
    return {"wall_ms": _pct(wall), "cpu_ms": _pct([c * 1000 for c in cpu_s]),
            "ahead": sum(ahead[:n]), "computed": n - sum(ahead[:n]),
            "ahead_wall_ms": _pct([w for w, a in zip(wall[:n], ahead[:n], strict=True) if a]),
            "computed_wall_ms": _pct([w for w, a in zip(wall[:n], ahead[:n], strict=True) if not a]),
            "prepare_ms": _pct([p * 1000 for p in prepare_s])}


# ---- the probe process ------------------------------------------------------------------------

def _wait_for_ports(timeout: float) -> tuple[str, str]:

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        inputs, outputs = list_ports()
        theirs_in = [n for n in outputs if n.endswith("livegen in") and not n.startswith(PROBE_CLIENT)]
        theirs_out = [n for n in inputs if n.endswith("livegen out") and not n.startswith(PROBE_CLIENT)]
        if theirs_in and theirs_out:
            return theirs_in[0], theirs_out[0]
        time.sleep(0.05)
    raise LivegenError("the benchmark's livegen ports did not appear on JACK")


def probe_main(argv: Sequence[str] | None = None) -> int:
    """The measuring client. Prints ``ready`` once connected; on ``go`` (stdin) plays a
    performer note (held ``--hold`` s) every ``--gap`` s (uniform random range); on ``stop``
    prints one JSON line ``{"arrivals": [[t, [bytes]]...], "performer": [[t, pitch]...]}``."""

    ap = argparse.ArgumentParser(prog="python -m livegen.bench.engine --probe")
    ap.add_argument("--probe", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gap", type=float, nargs=2, default=(0.15, 0.45))
    ap.add_argument("--hold", type=float, default=0.02)
    ap.add_argument("--realtime", action="store_true",
                    help="SCHED_FIFO for the probe's own threads, so a preempted thread holding the GIL "
                         "cannot delay the rtmidi callback that stamps arrivals")
    args = ap.parse_args(argv)
    if args.realtime:
        with contextlib.suppress(AttributeError, PermissionError, OSError):
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(5))
    arrivals: list[tuple[float, list[int]]] = []
    performer: list[tuple[float, int]] = []

    def on_message(msg: mido.Message, t: float) -> None:
        arrivals.append((t, msg.bytes()))

    their_in, their_out = _wait_for_ports(30.0)
    # the output first: a JACK call made while this process's input callback is already
    # receiving (it takes the GIL on JACK's thread) can stall a synchronous server
    out = open_output(their_in, client_name=PROBE_CLIENT)
    inp = open_input(their_out, on_message, client_name=PROBE_CLIENT)
    commands: list[str] = []
    got = threading.Event()

    def read_stdin() -> None:
        for line in sys.stdin:
            commands.append(line.strip())
            got.set()

    threading.Thread(target=read_stdin, daemon=True).start()
    print("ready", flush=True)
    while "go" not in commands and "stop" not in commands:
        got.wait(1.0)
        got.clear()
    rng = random.Random(args.seed)
    k = 0
    next_t = time.monotonic() + 0.3
    while "stop" not in commands:
        if time.monotonic() >= next_t:
            pitch = PERFORMER_KEYS[k % len(PERFORMER_KEYS)]
            k += 1
            performer.append((time.monotonic(), pitch))
            out.send(mido.Message("note_on", note=pitch, velocity=100))
            time.sleep(args.hold)
            out.send(mido.Message("note_off", note=pitch, velocity=0))
            next_t = time.monotonic() + rng.uniform(*args.gap)
        time.sleep(min(0.002, max(0.0, next_t - time.monotonic())))
    time.sleep(0.3)  # the final release is on its way
    inp.close()
    out.close()
    print(json.dumps({"arrivals": arrivals, "performer": performer}), flush=True)
    return 0


# ---- one measured condition -------------------------------------------------------------------

@dataclass
class BenchOptions:
    """Settings of a benchmark run.

    Attributes:
        model: shipped model name or checkpoint path.
        seconds: length of each condition (s).
        bpm: tempo; ``steps_per_beat`` 4 makes sixteenths.
        jack_period: JACK frames per period at 48 kHz (the dummy driver's MIDI quantum).
        jack_realtime: run jackd with ``-R`` (SCHED_FIFO for JACK's threads) instead of
            ``--no-realtime``.
        seed: sampling seed and the probe's random timing.
        step_ahead: the engine computes each step ahead on a worker thread and takes it at
            the deadline when its frame came as expected (:mod:`livegen.engine.ahead`, as
            ``livegen play``); False: the whole step is computed at its deadline.
        step_steps / spaced_steps: steps of the model timed outside the engine, back to
            back and at the engine's period (:func:`livegen.bench.step_times.time_steps`).
    """

    model: str = "nottingham"
    seconds: float = 60.0
    bpm: float = 240.0
    steps_per_beat: int = 4
    jack_period: int = 32
    jack_realtime: bool = True
    seed: int = 0
    conditions: list[str] = field(default_factory=lambda: ["idle", "loaded"])
    step_ahead: bool = True
    step_steps: int = 1000
    spaced_steps: int = 200

    @property
    def period(self) -> float:
        return 60.0 / self.bpm / self.steps_per_beat


def _jack_server(options: BenchOptions) -> Any:

    class BenchJack(JackServer):
        @property
        def command(self) -> list[str]:
            cmd = super().command
            if options.jack_realtime:
                cmd[cmd.index("--no-realtime")] = "-R"
            return cmd

    return BenchJack(BENCH_SERVER, period=options.jack_period)


def _load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        raise LivegenError(f"benchmark probe gave no answer within {timeout:g} s")
    line = proc.stdout.readline()
    if not line:
        raise LivegenError(f"benchmark probe exited (status {proc.poll()})")
    return line.strip()


def run_condition(options: BenchOptions, loaded: bool) -> dict[str, Any]:
    """Run livegen for ``options.seconds`` against the probe; return :func:`analyze`'s figures
    plus the engine's and scheduler's own numbers."""

    configure_for_stepping(1)
    model, _ = load_checkpoint(resolve_model(options.model))
    if isinstance(model, CharLSTM):
        raise LivegenError(f"model {options.model!r} is a text model; the engine benchmark needs a roll model")
    voice = BenchVoice(RollGenerator(model, seed=options.seed))
    beats = options.seconds * options.bpm / 60.0
    bars = max(2, math.ceil(beats / 4))
    server = _jack_server(options).start()
    busy = probe = None
    midi_in = midi_out = None
    switch = sys.getswitchinterval()
    try:
        if not server.started:
            log.warning("reusing a running JACK server %r: its period may differ from --jack-period", server.name)
        midi_in = open_input(None, virtual=True)
        midi_out = open_output(None, virtual=True)
        probe = subprocess.Popen([sys.executable, "-m", "livegen.bench.engine", "--probe", "--seed", str(options.seed)]
                                 + (["--realtime"] if options.jack_realtime else []),
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                 env=server.subprocess_env())
        if _read_line(probe, 60.0) != "ready":
            raise LivegenError("benchmark probe did not connect")
        if loaded:
            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            time.sleep(0.5)
        sys.setswitchinterval(0.0005)  # as `livegen play`: the send thread gets the GIL quickly
        # density following off: it may hold a step's chord, and the tick key must change every step
        controls = LiveControls(ControlState.default().apply_many({"tempo": options.bpm, "mode": "solo",
                                                                   "density_follow": 0}))
        batches: list[tuple[float, float, int]] = []
        scheduler = ThreadScheduler(midi_out, on_sent=lambda deadline, actual, msgs: batches.append(
            (deadline, actual, len(msgs))))
        session = LiveSession(voice, controls, clock=LiveClock(), scheduler=scheduler, midi_in=midi_in,
                              options=SessionOptions(steps_per_beat=options.steps_per_beat, bars=bars,
                                                     start_delay=0.5))
        if not options.step_ahead:
            session.engine.ahead = None
        assert probe.stdin is not None
        probe.stdin.write("go\n")
        probe.stdin.flush()
        load_before = _load_average()
        engine = asyncio.run(session.run())
        scheduler.close()
        probe.stdin.write("stop\n")
        probe.stdin.flush()
        report = json.loads(_read_line(probe, 30.0))
        probe.wait(timeout=10)
    finally:
        sys.setswitchinterval(switch)
        if busy is not None:
            busy.kill()
            busy.wait()
        if probe is not None and probe.poll() is None:
            probe.kill()
            probe.wait()
        for port in (midi_in, midi_out):
            if port is not None:
                port.close()
        server.stop()
    arrivals = [(t, bytes(b)) for t, b in report["arrivals"] if b and b[0] < 0xF0]
    performer = [(t, int(p)) for t, p in report["performer"]]
    result = analyze(arrivals, batches, performer, options.period, engine.stats.steps)
    sched = scheduler.stats
    result["send_error_ms"] = _pct([e * 1000 for e in sched.errors_s])
    result["late_steps"] = engine.stats.late_steps
    result["compute_ms"] = _pct([c * 1000 for c in engine.stats.compute_s])
    result["step"] = step_summary(engine.stats.compute_s, voice.cpu_s, voice.ahead,
                                  engine.ahead.prepare_s if engine.ahead is not None else [])
    result["send_thread_realtime"] = scheduler.realtime
    result["load_average"] = load_before
    result["loaded"] = loaded
    return result


def measure_outside(options: BenchOptions) -> dict[str, Any]:
    """The same model's step timed outside the engine in this run: back to back and at the
    engine's period (ms; :func:`~livegen.bench.step_times.time_steps`)."""
    configure_for_stepping(1)
    model, _ = load_checkpoint(resolve_model(options.model))
    if isinstance(model, CharLSTM):
        raise LivegenError(f"model {options.model!r} is a text model; the engine benchmark needs a roll model")
    log.info("engine benchmark: %d steps back to back, %d at %.1f ms", options.step_steps,
             options.spaced_steps, options.period * 1000)
    result: dict[str, Any] = {"load_average": _load_average()}
    result["back_to_back_ms"] = _pct([t * 1000 for t in time_steps(model, options.step_steps, seed=options.seed)])
    result["spaced_ms"] = _pct([t * 1000 for t in time_steps(model, options.spaced_steps, options.period,
                                                             seed=options.seed)])
    return result


def run_benchmark(options: BenchOptions) -> dict[str, Any]:
    """Every condition in ``options.conditions`` (``idle``, ``loaded``); a results document."""
    doc: dict[str, Any] = {"options": asdict(options), "period_ms": round(options.period * 1000, 4),
                           "reaction_mode": "echo: performer key -> same step's frame a fifth up (BenchVoice)"}
    for name in options.conditions:
        if name not in ("idle", "loaded"):
            raise LivegenError(f"unknown benchmark condition {name!r}; use idle and/or loaded")
    doc["step_outside"] = measure_outside(options)
    for name in options.conditions:
        log.info("engine benchmark: %s for %g s", name, options.seconds)
        doc[name] = run_condition(options, loaded=name == "loaded")
    return doc


def format_table(doc: dict[str, Any]) -> str:
    """A plain-text table of :func:`run_benchmark`'s document."""
    head = (f"{'condition':<9} {'out err med/p99/max ms':>24} {'jitter p99/max':>15} {'send err med/p99/max ms':>25} "
            f"{'jack hop med/max':>17} {'late':>4} {'miss':>4} {'lost':>4} {'reaction med/p99/max ms':>25} "
            f"{'steps':>9} {'load':>5}")
    lines = [head]

    def three(p: dict[str, float]) -> str:
        return f"{p['median']:.3f}/{p['p99']:.3f}/{p['max']:.3f}"

    for name in ("idle", "loaded"):
        r = doc.get(name)
        if r is None:
            continue
        steps = "/".join(f"{k}:{v}" for k, v in r["reaction_steps"].items())
        hop = r["transport_ms"]
        load = r["load_average"][0] if r["load_average"] else math.nan
        jit = r["out_error_first_anchor_ms"]
        lines.append(f"{name:<9} {three(r['out_error_ms']):>24} {jit['p99']:>7.3f}/{jit['max']:<7.3f} "
                     f"{three(r['send_error_ms']):>25} "
                     f"{hop['median']:>8.3f}/{hop['max']:<8.3f} {r['late_steps']:>4} {r['missed_steps']:>4} "
                     f"{r['lost']:>4} {three(r['reaction_ms']):>25} {steps:>9} {load:>5.2f}")
    outside = doc.get("step_outside")
    if outside is None:
        return "\n".join(lines)
    b2b, spaced = outside["back_to_back_ms"], outside["spaced_ms"]
    lines += ["", f"model step (ms, median/p99): back to back {b2b['median']:.3f}/{b2b['p99']:.3f}, "
                  f"at the engine's period {spaced['median']:.3f}/{spaced['p99']:.3f} "
                  f"({spaced['median'] / b2b['median']:.2f}x), load {outside['load_average'][:1]}",
              f"{'in engine':<9} {'wall med/p99/max ms':>22} {'cpu med/p99':>12} {'/b2b':>5} {'ahead':>6} "
              f"{'computed':>8} {'computed med/p99':>17} {'prepare med/p99':>16}"]
    for name in ("idle", "loaded"):
        r = doc.get(name)
        if r is None or "step" not in r:
            continue
        st = r["step"]
        wall, cpu, comp, prep = st["wall_ms"], st["cpu_ms"], st["computed_wall_ms"], st["prepare_ms"]
        lines.append(f"{name:<9} {three(wall):>22} {cpu['median']:>5.3f}/{cpu['p99']:<6.3f} "
                     f"{wall['median'] / b2b['median']:>5.2f} {st['ahead']:>6} {st['computed']:>8} "
                     f"{comp['median']:>8.3f}/{comp['p99']:<8.3f} {prep['median']:>7.3f}/{prep['p99']:<8.3f}")
    return "\n".join(lines)


if __name__ == "__main__":
    if "--probe" in sys.argv[1:]:
        with contextlib.suppress(BrokenPipeError):
            raise SystemExit(probe_main(sys.argv[1:]))
    raise SystemExit("usage: python -m livegen.bench.engine --probe (used by `livegen bench`)")
