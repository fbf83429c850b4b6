"""``livegen play`` end to end: the real CLI in a subprocess, real JACK ports, a tester client.

Each test starts ``python -m livegen play --virtual`` on the session's JACK server, connects
a client called ``tester`` to livegen's ports, plays the performer's part into
``livegen in`` and records what arrives from ``livegen out`` with ``time.monotonic()``
stamps. livegen's OSC feedback goes to a UDP socket the test reads, so the tester knows
where livegen's beats fall (``/livegen/beat``) without guessing start-up time.

Models are tiny random-weight checkpoints whose output bias fixes what they play:
``busy`` sounds each of C4..B4 with probability 1/2 every step and nothing else; ``drone``
holds C4 forever. 240 BPM at 2 steps per beat: one step is 125 ms.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import mido
import numpy as np
import pretty_midi
import pytest
import torch
from play_rig import START_TIMEOUT, PlayProcess
from pythonosc.osc_message import OscMessage

from livegen.io.ports import open_input, open_output
from livegen.music.keys import Key, estimate_key
from livegen.nets.checkpoint import save_checkpoint
from livegen.nets.roll import RollConfig, RollLSTM

pytestmark = pytest.mark.jack

BPM = 240.0
BEAT = 60.0 / BPM
PERIOD = BEAT / 2  # the models' steps_per_beat is 2
CHANNEL = 3  # --channel is 1-based; mido channel 2
#: the tester plays 0.3 step after livegen's beats, so no performer event sits on a step boundary
OFFSET = 0.3 * PERIOD
GRID_TOLERANCE = 0.030  # s: on the 125 ms grid, not timing precision (a non-realtime JACK on a loaded
# machine delays single deliveries by 10-20 ms; precision is measured by `livegen bench`)


def _model(path: Path, pitches: range | list[int], bias: float) -> Path:
    net = RollLSTM(RollConfig(hidden=8, layers=1, dropout=0.0))
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.fill_(-30.0)
        for p in pitches:
            net.head.bias[p - 21] = bias
    save_checkpoint(path, net, {"data": "test", "steps_per_beat": 2, "hears": "own key"})  # plays its pitches as set
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    return {"busy": _model(d / "busy.pt", range(60, 72), 0.0), "drone": _model(d / "drone.pt", [60], 30.0)}


class Play(PlayProcess):
    """``livegen play --virtual`` in a subprocess plus the tester's ports and feedback socket."""

    def __init__(self, model: Path | str, tmp: Path, *extra: str) -> None:
        self.take = tmp / "take.mid"
        self.sent: list[tuple[float, mido.Message]] = []
        self.beats: list[tuple[float, int]] = []
        super().__init__(["--model", str(model), "--virtual", "--bpm", str(BPM), "--osc-port", "0",
                          "--record", str(self.take), "--channel", str(CHANNEL), "--seed", "7", *extra])

    def on_feedback(self, t: float, msg: OscMessage) -> None:
        if msg.address == "/livegen/beat":
            self.beats.append((t, int(msg.params[0])))

    def beat_time(self, k: float) -> float:
        """Monotonic time of livegen's beat ``k`` (from the ``/livegen/beat`` feedback; the tempo
        is constant in these tests)."""
        end = time.monotonic() + START_TIMEOUT
        while not any(b == 0 for _, b in self.beats):
            assert time.monotonic() < end and self.proc.poll() is None, "no /livegen/beat feedback"
            time.sleep(0.01)
        # every /livegen/beat arrives a little after its beat, some later than others on a
        # loaded machine: the least delayed of the latest few places beat 0 best (the latest
        # only: with the JACK backend livegen's beats follow JACK's frames, which fall behind
        # the wall clock when the server stalls)
        t0 = min(t - b * BEAT for t, b in list(self.beats)[-4:])
        return t0 + k * BEAT

    def at(self, k: float) -> float:
        """When the tester plays beat ``k``: :data:`OFFSET` after livegen's beat."""
        return self.beat_time(k) + OFFSET

    def next_beat(self, after: float = 0.3) -> int:
        """The first beat at least ``after`` seconds from now."""
        k = 0
        while self.beat_time(k) < time.monotonic() + after:
            k += 1
        return k

    def perform(self, notes: list[tuple[float, float, int]], *, zero_velocity_off: bool = False,
                velocity: int = 100) -> None:
        """Play ``(on beat, off beat, pitch)`` notes at livegen's beat times (blocking).

        ``zero_velocity_off``: release keys with a note-on of velocity 0, as many keyboards
        and DAWs do, instead of a note-off. ``velocity``: of every note-on.
        """
        events = sorted([(self.at(a), "note_on", p) for a, _, p in notes]
                        + [(self.at(b), "note_off", p) for _, b, p in notes])
        assert events[0][0] > time.monotonic(), "the performance was scheduled in the past"
        assert self.out is not None
        for t, kind, pitch in events:
            while time.monotonic() < t:
                time.sleep(0.0005)
            if kind == "note_off" and zero_velocity_off:
                msg = mido.Message("note_on", note=pitch, velocity=0)
            else:
                msg = mido.Message(kind, note=pitch, velocity=velocity if kind == "note_on" else 0)
            self.sent.append((time.monotonic(), msg))
            self.out.send(msg)

    def finish(self, timeout: float = 30.0) -> tuple[int, str, str]:
        result = self.wait_exit(timeout)
        self.close()
        return result

    # -- what arrived ----------------------------------------------------------------------------

    def notes(self) -> list[tuple[float, mido.Message]]:
        return [(t, m) for t, m in self.received if m.type in ("note_on", "note_off")]

    def onsets(self, pitches: set[int] | None = None) -> list[tuple[float, int]]:
        return [(t, m.note) for t, m in self.notes()
                if m.type == "note_on" and m.velocity > 0 and (pitches is None or m.note in pitches)]

    def sounding_at(self, when: float) -> set[int]:
        """livegen's pitches sounding at ``when`` as the tester heard them."""
        on: set[int] = set()
        for t, m in self.notes():
            if t > when:
                break
            if m.type == "note_on" and m.velocity > 0:
                on.add(m.note)
            else:
                on.discard(m.note)
        return on


@pytest.fixture
def play_factory(jack_server, tmp_path):
    started: list[Play] = []

    def make(model: Path | str, *extra: str) -> Play:
        p = Play(model, tmp_path, *extra)
        started.append(p)
        return p

    yield make
    for p in started:
        p.close()


def hanging(notes: list[tuple[float, mido.Message]]) -> list[int]:
    """Pitches whose last note-on the tester heard has no note-off after it."""
    open_: dict[tuple[int, int], int] = {}
    for _, m in notes:
        key = (m.channel, m.note)
        if m.type == "note_on" and m.velocity > 0:
            open_[key] = open_.get(key, 0) + 1
        elif open_.get(key):
            open_[key] -= 1
    return sorted(k[1] for k, v in open_.items() if v)


def off_grid(times: list[float], period: float) -> list[float]:
    """Distance (s) of each time from the best-fitting grid of ``period``."""
    t = np.asarray(times)
    phase = np.angle(np.exp(2j * np.pi * (t - t[0]) / period).mean())
    residual = (t - t[0]) / period - phase / (2 * np.pi)
    return list(np.abs(residual - np.rint(residual)) * period)


def check_common(play: Play, rc: int, out: str, err: str, steps: int) -> None:
    assert rc == 0, err[-2000:]
    assert f"{steps} steps" in out, out
    notes = play.notes()
    assert len(play.onsets()) >= 10, "livegen played almost nothing"
    assert {m.channel for _, m in notes} == {CHANNEL - 1}
    assert hanging(notes) == []
    # on the clock livegen keeps (JACK's frames with the JACK backend: the dummy driver's frames
    # fall behind the wall clock by the cycles an xrun loses, so arrival times would bend)
    worst = max(off_grid([t for t, _ in play.grid_onsets()], PERIOD))
    assert worst < GRID_TOLERANCE, f"an onset is {worst * 1000:.1f} ms off the 125 ms grid"


def take_parts(path: Path) -> dict[str, list[pretty_midi.Note]]:
    pm = pretty_midi.PrettyMIDI(str(path))
    return {inst.name: inst.notes for inst in pm.instruments}


def test_accompany_plays_along_on_the_grid_and_records_both_parts(jack_server, play_factory, models):
    play = play_factory(models["busy"], "--bars", "4", "--mode", "accompany")
    play.connect(jack_server)
    k = play.next_beat()
    chord = [(k, k + 4, 60), (k, k + 4, 64), (k + 1, k + 2, 48)]
    play.perform(chord)
    rc, out, err = play.finish()
    check_common(play, rc, out, err, steps=32)
    press, release = play.at(k), play.at(k + 4)
    # accompany plays while the performer plays ...
    assert any(press < t < release for t, _ in play.onsets())
    # ... but never strikes a key the performer holds (once a step has seen it)
    held = [t for t, p in play.onsets({60, 64}) if press + 2 * PERIOD + 0.02 < t < release]
    assert held == []
    assert len(play.onsets({60, 64})) >= 3, "the model never plays C4/E4: the check above would prove nothing"
    parts = take_parts(play.take)
    assert set(parts) == {"livegen", "performer"}
    performer = sorted((n.pitch, n.end - n.start) for n in parts["performer"])
    assert [p for p, _ in performer] == [48, 60, 64]
    assert np.allclose([d for _, d in performer], [BEAT, 4 * BEAT, 4 * BEAT], atol=0.03)
    assert len(parts["livegen"]) >= len(play.onsets())
    assert {n.pitch for n in parts["livegen"]} >= {p for _, p in play.onsets()}


@pytest.mark.parametrize("mode", ["call", "accompany", "solo"])
def test_zero_velocity_note_on_is_a_release_in_every_mode(jack_server, play_factory, models, mode):
    """The note-off many keyboards send (note-on, velocity 0) must not end the session."""
    play = play_factory(models["busy"], "--bars", "3", "--mode", mode)
    play.connect(jack_server)
    k = play.next_beat()
    play.perform([(k, k + 1, 60), (k, k + 1.5, 64), (k + 2, k + 3, 48)], zero_velocity_off=True)
    rc, out, err = play.finish()
    assert rc == 0, err[-2000:]
    assert "Traceback" not in err
    assert "24 steps" in out, out
    assert hanging(play.notes()) == []
    performer = sorted((n.pitch, round((n.end - n.start) / BEAT, 1)) for n in take_parts(play.take)["performer"])
    # the velocity-0 note-ons released the keys when they were sent
    assert performer == [(48, 1.0), (60, 1.0), (64, 1.5)]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def oscsend(port: int, address: str, *args: str | int | float) -> None:
    """Send one OSC message with liblo's ``oscsend`` (an independent OSC peer)."""
    types = "".join("s" if isinstance(a, str) else "i" if isinstance(a, int) else "f" for a in args)
    subprocess.run(["oscsend", "127.0.0.1", str(port), address, types, *map(str, args)], check=True, timeout=10)


def most_sounding(notes: list[tuple[float, mido.Message]], after: float) -> int:
    """Most livegen notes the tester heard sounding at once from ``after`` on."""
    on: set[int] = set()
    best = 0
    for t, m in notes:
        if m.type == "note_on" and m.velocity > 0:
            on.add(m.note)
        else:
            on.discard(m.note)
        if t > after:
            best = max(best, len(on))
    return best


C_MINOR = {0, 2, 3, 5, 7, 8, 10}
D_MINOR = {2, 4, 5, 7, 9, 10, 0}


@pytest.mark.skipif(not shutil.which("oscsend"), reason="oscsend (liblo-tools) is not installed")
def test_scale_key_mode_and_polyphony_over_osc_are_what_plays(jack_server, play_factory):
    """The shipped NADE model live over JACK, steered by liblo's ``oscsend``:
    ``/livegen/scale minor`` (key left at C), then ``/livegen/key D``, then accompany mode
    with a held triad and ``/livegen/polyphony 2``. Every note after each change obeys it
    (one step of look-ahead allowed), the session survives (the cap once crashed it) and
    the feedback shows the values in force."""
    port = free_udp_port()
    play = play_factory("nottingham", "--bars", "7", "--mode", "solo", "--osc-port", str(port),
                        "--temperature", "1", "--density", "2", "--max-note-beats", "0.5")
    play.connect(jack_server)
    k = play.next_beat(0.5)
    changes = [(k, "/livegen/scale", "minor"), (k + 6, "/livegen/key", "D"),
               (k + 12, "/livegen/mode", "accompany"), (k + 14, "/livegen/polyphony", 2)]
    for beat, address, value in changes:
        threading.Timer(max(0.0, play.beat_time(beat) + OFFSET - time.monotonic()), oscsend,
                        (port, address, value)).start()
    play.perform([(k + 12.5, k + 22, 62), (k + 12.5, k + 22, 65), (k + 12.5, k + 22, 69)])
    rc, out, err = play.finish()
    assert rc == 0, err[-2000:]
    assert "Traceback" not in err

    def onsets_between(a: float, b: float) -> list[int]:
        return [p for t, p in play.onsets() if play.beat_time(a) + OFFSET + PERIOD < t < play.beat_time(b)]

    c_minor, d_minor = onsets_between(k, k + 6), onsets_between(k + 6, k + 22)
    assert len(c_minor) >= 5 and len(d_minor) >= 5, "too few notes to tell"
    assert {p % 12 for p in c_minor} <= C_MINOR
    assert {p % 12 for p in d_minor} <= D_MINOR
    # sent at beat k+14 + OFFSET: the next step computes a capped frame, which sounds a step later
    capped = play.beat_time(k + 14) + OFFSET + 2 * PERIOD + 0.02
    assert [t for t, _ in play.onsets() if t > capped], "livegen stopped playing"
    assert most_sounding(play.notes(), capped) <= 2
    assert hanging(play.notes()) == []
    # the controller was told each value in force, raw and as a fader position
    told = {(a, args) for _, a, args in play.feedback}
    assert ("/livegen/scale", ("minor",)) in told and ("/livegen/key", ("D",)) in told
    assert ("/livegen/mode", ("accompany",)) in told and ("/livegen/polyphony", (2,)) in told
    assert ("/livegen/key", ("C",)) in told  # the key in force when the scale changed was sent at start


def test_call_mode_listens_answers_and_yields(jack_server, play_factory, models):
    play = play_factory(models["busy"], "--bars", "6", "--mode", "call")
    play.connect(jack_server)
    k = play.next_beat()
    phrase = [(k + i, k + i + 0.8, p) for i, p in enumerate([48, 50, 52, 53])]
    second = [(k + 9, k + 11, 55)]
    play.perform(phrase + second)
    rc, out, err = play.finish()
    check_common(play, rc, out, err, steps=48)
    e1 = play.at(k + 3.8)
    s2, e2 = play.at(k + 9), play.at(k + 11)
    onsets = [t for t, _ in play.onsets()]
    assert not [t for t in onsets if t < e1], "livegen played before the call was over"
    answer = min(t for t in onsets if t > e1)
    # one beat of silence (the default --silence), then the next step that can sound
    assert e1 + 2 * PERIOD - 0.02 <= answer <= e1 + 5 * PERIOD + 0.02
    # the performer plays again: livegen's notes are released within a step and it keeps quiet
    assert play.sounding_at(s2 - 0.01), "livegen was silent when the performer came back"
    # the frame computed before the performer came back still sounds at the next step (one
    # step of look-ahead) and is cut at once; after that livegen keeps quiet
    assert play.sounding_at(s2 + PERIOD + 0.02) == set()
    assert not [t for t in onsets if s2 + PERIOD + 0.02 < t < e2]
    assert [t for t in onsets if t > e2], "livegen did not answer the second call"
    parts = take_parts(play.take)
    assert [n.pitch for n in parts["performer"]] == [48, 50, 52, 53, 55]
    assert parts["livegen"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_release_every_note_and_write_the_take(jack_server, play_factory, models, sig):
    """SIGHUP (the terminal or SSH session closed) is handled like SIGTERM."""
    # re-struck every beat, so the tester hears a note-on whenever it connects
    play = play_factory(models["drone"], "--mode", "solo", "--max-note-beats", "1")
    play.connect(jack_server)
    end = time.monotonic() + START_TIMEOUT
    while not play.onsets({60}):
        assert time.monotonic() < end, "the drone never started"
        time.sleep(0.01)
    time.sleep(0.3 + OFFSET)  # not on a step boundary
    assert play.sounding_at(time.monotonic()) == {60}
    t_term = time.monotonic()
    play.proc.send_signal(sig)
    rc, out, err = play.finish(timeout=15)
    assert rc == 0, err[-2000:]
    offs = [t for t, m in play.notes() if m.note == 60 and (m.type == "note_off" or m.velocity == 0)]
    assert offs and offs[-1] > t_term
    assert hanging(play.notes()) == []
    assert "take written" in out
    parts = take_parts(play.take)
    assert {n.pitch for n in parts["livegen"]} == {60}


def test_bad_port_names_exit_2_with_the_real_ports(jack_server, models):
    keys = open_output("keys", virtual=True, client_name="keyboard")
    synth = open_input("synth in", virtual=True, client_name="synth")
    try:
        base = [sys.executable, "-m", "livegen", "play", "--model", str(models["busy"]), "--osc-port", "0", "--no-view"]
        # one after the other: JACK clients opened and closed concurrently by two processes
        # have been seen to stall a loaded synchronous JACK server
        done = {}
        for name, ports in (("in", ["--in", "no such keyboard", "--out", "synth"]),
                            ("out", ["--in", "keys", "--out", "no such synth"])):
            run = subprocess.run(base + ports, capture_output=True, text=True, timeout=START_TIMEOUT)
            done[name] = (run.stdout, run.stderr, run.returncode)
    finally:
        keys.close()
        synth.close()
    for name, expected in (("in", "'keyboard:keys'"), ("out", "'synth:synth in'")):
        out, err, rc = done[name]
        assert rc == 2, err
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("livegen: error: no MIDI input" if name == "in" else "livegen: error: no MIDI output")
        assert expected in lines[0]


def test_swing_is_what_plays_on_the_port(jack_server, play_factory, models):
    """--swing 50 moves every second step half a step later, as the synth hears it."""
    play = play_factory(models["busy"], "--bars", "3", "--mode", "solo", "--swing", "50")
    play.connect(jack_server)
    rc, out, err = play.finish()
    assert rc == 0, err[-2000:]
    # on the clock livegen keeps (JACK's frames with the JACK backend), from its first onset:
    # on a beat, or (the phases then come out half a step) on a swung off-beat
    onsets = [t for t, _ in play.grid_onsets()]
    assert len(onsets) >= 10

    def on_grid(t0: float) -> tuple[list[float], list[float], list[float]]:
        phase = [((t - t0) % BEAT) for t in onsets]
        return (phase, [p for p in phase if min(p, BEAT - p) < GRID_TOLERANCE],
                [p for p in phase if abs(p - 1.5 * PERIOD) < GRID_TOLERANCE])

    # the beat is where most onsets say it is: each onset, taken as a beat or as a swung
    # off-beat, proposes one; a single late delivery (the first one included) proposes a
    # beat few others agree with
    t0 = max((t - shift for t in onsets for shift in (0.0, 1.5 * PERIOD)),
             key=lambda c: sum(map(len, on_grid(c)[1:])))
    phase, straight, swung = on_grid(t0)
    assert straight and swung, phase
    assert len(straight) + len(swung) == len(phase), ("an onset is neither on the beat nor swung",
                                                      [round(p, 4) for p in phase])
    assert not [p for p in phase if abs(p - PERIOD) < GRID_TOLERANCE], "an off-beat was not swung"


# -- listening, live: the shipped model over real ports ------------------------------------------

#: F# major, the key the shipped models never saw (every training piece is in C): a melody over
#: I-IV-V-I, 8 beats (pitch classes of the scale below)
F_SHARP_MAJOR = {6, 8, 10, 11, 1, 3, 5}
F_SHARP_CALL = ([(i, i + 0.9, p) for i, p in enumerate([66, 68, 70, 71, 73, 70, 68, 66])]
                + [(a, a + 1.9, p) for a, chord in [(0, (54, 58, 61)), (2, (59, 63, 66)), (4, (61, 65, 68)),
                                                    (6, (54, 58, 61))] for p in chord])


def _answer(model: str, play_factory, jack_server, *extra: str, velocity: int = 100,
            call: list[tuple[float, float, int]] = F_SHARP_CALL, beats: int = 8):
    """The shipped ``model`` in call mode answers ``call`` (``beats`` beats of ``(on beat, off
    beat, pitch)``); the note-ons it played after it."""
    play = play_factory(model, "--bars", "8", "--mode", "call", *extra)
    play.connect(jack_server)
    k = play.next_beat()
    play.perform([(k + a, k + b, p) for a, b, p in call], velocity=velocity)
    rc, out, err = play.finish(timeout=60.0)
    assert rc == 0, err[-2000:]
    assert hanging(play.notes()) == []
    end = play.at(k + beats)
    answer = [m for t, m in play.notes() if t > end and m.type == "note_on" and m.velocity > 0]
    assert len(answer) >= 8, f"the answer had {len(answer)} notes"
    return answer


#: E-flat minor (harmonic minor's D natural in the V chord): the same shapes, another unseen key
E_FLAT_MINOR = {3, 5, 6, 8, 10, 11, 1, 2}
E_FLAT_MINOR_CALL = ([(i, i + 0.9, p) for i, p in enumerate([63, 65, 66, 68, 70, 66, 65, 63])]
                     + [(a, a + 1.9, p) for a, chord in [(0, (51, 54, 58)), (2, (56, 59, 63)), (4, (58, 62, 65)),
                                                         (6, (51, 54, 58))] for p in chord])
#: Nottingham's test set (DESIGN.md): share of notes in the key's scale and outside its tonic
#: triad, and its pitch-class entropy in bits
NOTTINGHAM_IN_SCALE, NOTTINGHAM_OFF_TRIAD, NOTTINGHAM_ENTROPY = 0.968, 0.468, 3.07


@pytest.mark.slow  # listening is the same on either MIDI backend: it runs once
@pytest.mark.xfail(reason="open (issue 23): live, after a 4-bar call in a key the model never saw, the mixture "
                   "over keys sometimes settles on a transposition the C-trained model drifts away from; "
                   "measured over eight takes: 48-99% of the answer's notes in the call's scale (the music: "
                   "96.8%)", strict=False)
@pytest.mark.parametrize("key, call", [(Key(6, "major"), F_SHARP_CALL), (Key(3, "minor"), E_FLAT_MINOR_CALL)],
                         ids=["F# major", "Eb minor"])
def test_live_answers_are_in_the_performers_key_and_as_varied_as_the_music(jack_server, play_factory, key, call):
    """What the shipped model plays on the port after a 4-bar call in a key it never saw in
    training, measured as benchmarks/continuations.py measures answers (the README's
    listening table holds the figures over 30 openings in 12 keys). One live take is a small
    sample; the bounds fail an answer of the tonic triad alone (1.8% of its notes outside the
    triad, entropy 1.5 bits) and one in an unrelated key, and some takes fail them today
    (the xfail above says why). With
    ``follow`` off the model stays in its own key (the check is not empty)."""
    call = call + [(a + 8, b + 8, p) for a, b, p in call]  # 4 bars: the benchmark's openings are 4 bars
    answer = _answer("nottingham", play_factory, jack_server, "--bars", "14", call=call, beats=16)
    pcs = [m.note % 12 for m in answer]
    n = len(pcs)
    assert n >= 24, f"{n} notes in about 39 beats: too few to judge"
    scale = F_SHARP_MAJOR if key.mode == "major" else E_FLAT_MINOR
    in_scale = sum(pc in scale for pc in pcs) / n
    triad = {key.tonic, (key.tonic + (3 if key.mode == "minor" else 4)) % 12, (key.tonic + 7) % 12}
    off_triad = sum(pc not in triad for pc in pcs) / n
    counts = np.bincount(pcs, minlength=12) / n
    entropy = float(-(counts[counts > 0] * np.log2(counts[counts > 0])).sum())
    heard = estimate_key(np.bincount(pcs, minlength=12).astype(float))
    print(f"\n{key.name}, live: {n} notes, in scale {in_scale:.0%}, outside the triad {off_triad:.0%}, "
          f"entropy {entropy:.2f} bits, key {heard.name if heard else None}")
    assert in_scale >= 0.6, in_scale
    assert abs(off_triad - NOTTINGHAM_OFF_TRIAD) <= 0.25, off_triad
    # a sample of n notes reads low by about 11 / (2 n ln 2) bits (Miller-Madow)
    assert entropy >= NOTTINGHAM_ENTROPY - 0.8 - 11 / (2 * n * np.log(2)), entropy
    assert heard is not None
    off = _answer("nottingham", play_factory, jack_server, "--bars", "14", "--follow", "0", call=call, beats=16)
    assert sum(m.note % 12 in scale for m in off) / len(off) < in_scale


@pytest.mark.slow  # listening is the same on either MIDI backend: it runs once
def test_live_answers_follow_the_performers_dynamics(jack_server, play_factory):
    """The same call played soft (40) and loud (110) on a real port: answers 30 or more apart."""
    means = {}
    for velocity in (40, 110):
        answer = _answer("nottingham", play_factory, jack_server, velocity=velocity)
        means[velocity] = sum(m.velocity for m in answer) / len(answer)
    print(f"\nanswer velocity, live: after soft {means[40]:.0f}, after loud {means[110]:.0f}")
    assert means[110] - means[40] >= 30, means


#: 8 beats of C major at two densities over a held bass C: half notes (5 onsets: 0.6 a beat)
#: and eighth notes (17 onsets: 2.1 a beat)
SPARSE_CALL = [(a, a + 1.9, p) for a, p in zip(range(0, 8, 2), [60, 64, 67, 64], strict=True)] + [(0, 7.9, 48)]
BUSY_CALL = [(i / 2, i / 2 + 0.45, [60, 62, 64, 65, 67, 65, 64, 62][i % 8]) for i in range(16)] + [(0, 7.9, 48)]
ANSWER_BEATS = 24  # 8 bars of 4 beats, less the 8-beat call


@pytest.mark.slow
@pytest.mark.xfail(reason="open (issue 23): heard in every key, the answer after the sparse call is sometimes "
                   "sparser than the bounds (6 notes in 24 beats in one take of four today)", strict=False)
def test_live_answers_follow_the_performers_density(jack_server, play_factory):
    """A sparse call and a busy one on a real port: with density following on the answer
    after the busy call strikes at least twice as many notes a beat as the answer after the
    sparse one, each within a factor 2 of its call's rate. With following off (the default)
    the answer after the busy call is measured beside it: the model heard in every key
    follows a busy call by itself (measured 1.88 a beat off, 1.46 on: following holds
    notes; README, Listening)."""
    rate = {}
    for name, call, follow in (("sparse", SPARSE_CALL, "1"), ("busy", BUSY_CALL, "1"), ("busy off", BUSY_CALL, "0")):
        answer = _answer("nottingham", play_factory, jack_server, "--density-follow", follow, call=call)
        rate[name] = len(answer) / ANSWER_BEATS
    print(f"\nanswer onsets a beat, live: after sparse {rate['sparse']:.2f}, after busy {rate['busy']:.2f}, "
          f"after busy with following off {rate['busy off']:.2f}")
    assert rate["busy"] >= 2 * rate["sparse"], rate
    assert 0.6 / 2 <= rate["sparse"] <= 0.6 * 2 and 2.1 / 2 <= rate["busy"] <= 2.1 * 2, rate
    assert 2.1 / 2 <= rate["busy off"] <= 2.1 * 2, rate
