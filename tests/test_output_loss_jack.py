"""An output device, a synth process and the JACK server going away under ``livegen play``.

Each test runs on a private JACK server (:data:`FAULT_SERVER`), never the shared
``livegen-jack``: a client killed with SIGKILL stalls a synchronous JACK server for ~5 s
(every client of it stops), and one test kills the server itself. JACK's registry holds
few servers, so the name is fixed; after a kill -9 its stale files are removed.

``livegen play --out synth`` runs in a subprocess on that server; the synth is another
process (``python -c SYNTH``) with a virtual input ``synth:synth in`` that prints every
message it gets with its ``time.monotonic()`` stamp (one clock for all processes here).
The beat is livegen's ``/livegen/beat`` OSC feedback, once a beat, which must never stall
by more than one step; ``/livegen/status`` must say what happened.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import mido
import pretty_midi
import pytest
import torch
from pythonosc.osc_message import OscMessage

from benchmarks.feedback_socket import FeedbackSocket
from livegen.io.jackd import JackServer, jack_env, jackd_path, remove_stale_files
from livegen.io.osc import build_message
from livegen.nets.checkpoint import save_checkpoint
from livegen.nets.roll import RollConfig, RollLSTM

pytestmark = pytest.mark.jack

FAULT_SERVER = "livegen-jack-fault"
BPM = 240.0
BEAT = 60.0 / BPM
PERIOD = BEAT / 2  # the model's steps_per_beat is 2: one step is 125 ms
START_TIMEOUT = 60.0  # s: importing torch on a loaded 2-core machine is slow
RECONNECT_S = 0.5  # a returning device plays again within this (+ one step)
#: a returning JACK server also needs a new helper process (Python, numpy, JACK-Client), which
#: takes up to this long to start on a loaded 2-core machine (0.69 s seen in a full suite run)
HELPER_START_S = 1.0
SYNTH_PORT = "synth:synth in"

SYNTH = """
import sys, time
from livegen.io.ports import open_input

def got(msg, t):
    print(f"{t:.6f} {msg.hex()}", flush=True)

port = open_input("synth in", got, virtual=True, client_name="synth")
print(f"ready {time.monotonic():.6f}", flush=True)
sys.stdin.read()  # until the test closes stdin: then the port goes away
port.close()
"""


KEYBOARD = """
import sys, time
import mido
from livegen.io.ports import open_output

port = open_output("keys", virtual=True, client_name="keyboard")
print(f"ready {time.monotonic():.6f}", flush=True)
for line in sys.stdin:  # "press": C4 and E4 down; "release": both up, as a velocity-0 note-on
    velocity = 100 if line.strip() == "press" else 0
    for note in (60, 64):
        port.send(mido.Message("note_on", note=note, velocity=velocity))
    print(f"{'pressed' if velocity else 'released'} {time.monotonic():.6f}", flush=True)
port.close()  # the test closed stdin (or killed this process): the keys stay as they were
"""


def _busy_model(path: Path) -> Path:
    """Sounds each of C4..B4 with probability 1/2 every step, nothing else."""
    net = RollLSTM(RollConfig(hidden=8, layers=1, dropout=0.0))
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.fill_(-30.0)
        net.head.bias[60 - 21:72 - 21] = 0.0
    save_checkpoint(path, net, {"data": "test", "steps_per_beat": 2, "hears": "own key"})  # plays its pitches as set
    return path


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _busy_model(tmp_path_factory.mktemp("models") / "busy.pt")


class FaultServer:
    """The private JACK server: started, killed with SIGKILL, started again."""

    def __init__(self) -> None:
        self.server = JackServer(FAULT_SERVER, set_environ=False).start()
        self.env = {**os.environ, **jack_env(FAULT_SERVER)}

    def kill(self) -> None:
        proc = self.server._proc
        assert proc is not None, "the fault server was reused, not started by this test"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=5)
        self.server.stop()
        remove_stale_files(FAULT_SERVER)

    def restart(self) -> None:
        self.server = JackServer(FAULT_SERVER, set_environ=False).start()

    def close(self) -> None:
        """SIGKILL, not SIGTERM: a synchronous server busy with the test's killed clients
        leaves SIGTERM unanswered for 5 s; this server is the test's alone."""
        proc = self.server._proc
        if proc is not None and proc.poll() is None:
            self.kill()
        else:
            self.server.stop()


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    if jackd_path() is None:
        pytest.skip("jackd is not installed (apt-get install --no-install-recommends jackd2)")
    server = FaultServer()
    try:
        yield server
    finally:
        server.close()


class Synth:
    """A synth process with a virtual input; records what it gets."""

    def __init__(self, env: dict[str, str]) -> None:
        self.got: list[tuple[float, mido.Message]] = []
        self.proc = subprocess.Popen([sys.executable, "-c", SYNTH], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.startswith("ready"), f"the synth did not start: {line!r}"
        self.ready = float(line.split()[1])
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            t, data = line.split(" ", 1)
            self.got.append((float(t), mido.Message.from_hex(data.strip())))

    def remove(self) -> None:
        """The device goes away cleanly: its port is closed, its process ends."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)

    def note_ons(self) -> list[float]:
        return [t for t, m in self.got if m.type == "note_on" and m.velocity > 0]

    def first(self, pred: Callable[[mido.Message], bool]) -> float | None:
        return next((t for t, m in self.got if pred(m)), None)

    def notes(self) -> list[mido.Message]:
        return [m for _, m in self.got if m.type in ("note_on", "note_off")]


class Livegen:
    """``livegen play --out synth`` in a subprocess, with its OSC feedback collected."""

    def __init__(self, model: Path, env: dict[str, str], tmp: Path, *, mode: str = "solo",
                 inp: str | None = None, extra: tuple[str, ...] = ()) -> None:
        self.beats: list[tuple[float, int]] = []
        self.statuses: list[tuple[float, str]] = []
        self.fb = FeedbackSocket(self._on_feedback)
        self.take = tmp / "take.mid"
        cmd = [sys.executable, "-m", "livegen", *(["-v"] if os.environ.get("LG_VERBOSE") else []), "play", "--model", str(model), "--out", "synth",
               "--mode", mode, "--bpm", str(BPM), "--osc-port", "0", "--no-view", "--seed", "3",
               "--record", str(self.take), "--osc-feedback", self.fb.target,
               *(["--in", inp] if inp else []), *extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)

    def _on_feedback(self, t: float, msg: OscMessage) -> None:
        if msg.address == "/livegen/beat":
            self.beats.append((t, int(msg.params[0])))
        elif msg.address == "/livegen/status":
            self.statuses.append((t, str(msg.params[0])))

    def wait_playing(self, synth: Synth) -> None:
        end = time.monotonic() + START_TIMEOUT
        while len(synth.note_ons()) < 3:
            if self.proc.poll() is not None:
                _, err = self.proc.communicate()
                pytest.fail(f"livegen play exited early ({self.proc.returncode}): {err[-2000:]}")
            assert time.monotonic() < end, "livegen never played to the synth"
            time.sleep(0.02)

    def status_after(self, t: float, prefix: str, timeout: float = 10.0) -> float:
        """When livegen first said a status starting with ``prefix`` after ``t``."""
        end = time.monotonic() + timeout
        while True:
            hit = next((ts for ts, s in self.statuses if ts > t and s.startswith(prefix)), None)
            if hit is not None:
                return hit
            assert time.monotonic() < end, f"no status {prefix!r}; statuses: {self.statuses}"
            time.sleep(0.01)

    def stop(self) -> tuple[int, str, str]:
        self.proc.send_signal(signal.SIGTERM)
        try:
            out, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate()
            pytest.fail(f"livegen play did not stop: {err[-2000:]}")
        return self.proc.returncode, out, err

    def worst_beat_gap(self, after: float) -> float:
        times = [t for t, _ in self.beats if t >= after]
        return max(b - a for a, b in zip(times, times[1:]))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()
        self.fb.close()


@pytest.fixture
def parts(fault_server: FaultServer, busy: Path, tmp_path: Path) -> Iterator[dict[str, list]]:
    made: dict[str, list] = {"synths": [], "livegen": []}
    yield made
    for lg in made["livegen"]:
        lg.close()
    for synth in made["synths"]:
        if synth.proc.poll() is None:
            synth.kill()


def _hanging(notes: list[mido.Message]) -> list[int]:
    count: dict[int, int] = {}
    for m in notes:
        if m.type == "note_on" and m.velocity > 0:
            count[m.note] = count.get(m.note, 0) + 1
        elif count.get(m.note):
            count[m.note] -= 1
    return sorted(n for n, c in count.items() if c)


def _offs_without_ons(notes: list[mido.Message]) -> list[int]:
    on: set[int] = set()
    bad = []
    for m in notes:
        if m.type == "note_on" and m.velocity > 0:
            on.add(m.note)
        else:
            if m.note not in on:
                bad.append(m.note)
            on.discard(m.note)
    return bad


def _check_returned(synth: Synth, label: str, within: float = RECONNECT_S + PERIOD) -> tuple[float, float]:
    """The returned synth: All Notes Off first, notes within 0.5 s + one step of its return,
    no note-off for a note it never got. Returns (reconnect s, first note s) after ready."""
    cc = synth.first(lambda m: m.type == "control_change" and m.control == 123)
    first_note = synth.first(lambda m: m.type == "note_on" and m.velocity > 0)
    assert cc is not None and first_note is not None, f"{label}: livegen never played to the returned synth"
    assert synth.got[0][1].type == "control_change", f"{label}: the returned synth got notes before All Notes Off"
    assert first_note - synth.ready <= within, \
        f"{label}: notes resumed {first_note - synth.ready:.3f} s after the synth returned"
    assert _offs_without_ons(synth.notes()) == []
    return cc - synth.ready, first_note - synth.ready


def test_output_removed_and_returned_two_seconds_later(fault_server, parts, busy, tmp_path):
    synth = Synth(fault_server.env)
    parts["synths"].append(synth)
    lg = Livegen(busy, fault_server.env, tmp_path)
    parts["livegen"].append(lg)
    lg.wait_playing(synth)
    time.sleep(0.6 + 0.3 * PERIOD)
    t_gone = time.monotonic()
    synth.remove()
    lost = lg.status_after(t_gone, "output lost: synth:synth in")
    time.sleep(max(0.0, t_gone + 2.0 - time.monotonic()))
    back = Synth(fault_server.env)
    parts["synths"].append(back)
    lg.status_after(back.ready, "output back: synth:synth in")
    time.sleep(1.5)
    rc, out, err = lg.stop()
    assert rc == 0, err[-2000:]
    assert "Traceback" not in err
    assert lost - t_gone < 0.5, f"the loss was reported {lost - t_gone:.3f} s after the device left"
    reconnect, resumed = _check_returned(back, "removed")
    assert _hanging(back.notes()) == []  # SIGTERM released every note on the returned device
    worst = lg.worst_beat_gap(t_gone - 0.5)
    assert worst <= BEAT + PERIOD, f"the beat stalled for {worst * 1000:.0f} ms"
    print(f"\nremoved/returned: loss seen {1000 * (lost - t_gone):.0f} ms, reconnected {1000 * reconnect:.0f} ms "
          f"and notes {1000 * resumed:.0f} ms after the synth returned; worst beat gap {1000 * worst:.0f} ms")


def test_synth_process_killed_with_sigkill(fault_server, parts, busy, tmp_path):
    synth = Synth(fault_server.env)
    parts["synths"].append(synth)
    lg = Livegen(busy, fault_server.env, tmp_path)
    parts["livegen"].append(lg)
    lg.wait_playing(synth)
    time.sleep(0.6 + 0.3 * PERIOD)
    t_kill = time.monotonic()
    synth.kill()
    # the synchronous server waits for the dead client (~5 s here) before it drops its port
    lost = lg.status_after(t_kill, "output lost: synth:synth in", timeout=15)
    back = Synth(fault_server.env)
    parts["synths"].append(back)
    lg.status_after(back.ready, "output back: synth:synth in")
    time.sleep(1.0)
    rc, out, err = lg.stop()
    assert rc == 0, err[-2000:]
    assert "Traceback" not in err
    reconnect, resumed = _check_returned(back, "SIGKILL")
    assert _hanging(back.notes()) == []
    worst = lg.worst_beat_gap(t_kill - 0.5)
    assert worst <= BEAT + PERIOD, f"the beat stalled for {worst * 1000:.0f} ms"
    print(f"\nSIGKILL: loss seen {lost - t_kill:.2f} s after the kill (the server's wait for the dead client), "
          f"reconnected {1000 * reconnect:.0f} ms and notes {1000 * resumed:.0f} ms after the synth returned; "
          f"worst beat gap {1000 * worst:.0f} ms")


def test_dead_jack_server_is_reported_and_livegen_reconnects_when_it_returns(fault_server, parts, busy, tmp_path):
    synth = Synth(fault_server.env)
    parts["synths"].append(synth)
    lg = Livegen(busy, fault_server.env, tmp_path)
    parts["livegen"].append(lg)
    lg.wait_playing(synth)
    time.sleep(0.6 + 0.3 * PERIOD)
    t_kill = time.monotonic()
    fault_server.kill()
    lost = lg.status_after(t_kill, "output lost: synth:synth in (JACK server gone)")
    synth.kill()  # its client died with the server
    time.sleep(max(0.0, t_kill + 1.5 - time.monotonic()))
    fault_server.restart()
    back = Synth(fault_server.env)
    parts["synths"].append(back)
    lg.status_after(back.ready, "output back: synth:synth in")
    time.sleep(1.0)
    rc, out, err = lg.stop()
    assert rc == 0, err[-2000:]
    assert "Traceback" not in err
    gone_lines = [ln for ln in err.splitlines() if "JACK server" in ln and "gone" in ln]
    assert len(gone_lines) == 1, err[-2000:]
    assert lost - t_kill < 0.5, f"the dead server was reported {lost - t_kill:.3f} s after it died: " \
        f"{lg.statuses} {t_kill} {err[-3000:]}"
    assert "take written" in out and lg.take.exists()
    reconnect, resumed = _check_returned(back, "server", RECONNECT_S + PERIOD + HELPER_START_S)
    assert _hanging(back.notes()) == []
    worst = lg.worst_beat_gap(t_kill - 0.5)
    assert worst <= BEAT + PERIOD, f"the beat stalled for {worst * 1000:.0f} ms"
    print(f"\ndead server: reported {1000 * (lost - t_kill):.0f} ms after the kill; reconnected "
          f"{1000 * reconnect:.0f} ms and notes {1000 * resumed:.0f} ms after the synth returned on the "
          f"new server; worst beat gap {1000 * worst:.0f} ms")


SENDER = """
import sys, time
import mido
from livegen.io.ports import open_output

out = open_output(None, virtual=True, client_name="sender")
print("ready", flush=True)
sys.stdin.readline()  # the test kills the server, then says go
note = mido.Message("note_on", note=60, velocity=90)
refused = 0
t0 = time.monotonic()
for i in range(5000):  # twice what fills rtmidi's JACK ring buffer
    try:
        out.send(note)
    except OSError:
        refused += 1
    time.sleep(0.0001)
out.close()
print(f"done {refused} {time.monotonic() - t0:.3f}", flush=True)
"""


def test_a_plain_output_never_hangs_on_a_dead_server(fault_server):
    """Before: sending to a port of a dead JACK server filled rtmidi's ring buffer after
    ~2,300 messages and then spun forever holding the GIL (a frozen process that not even
    SIGTERM could stop). A plain output (``--virtual``) now refuses to send once its
    server is gone, and closing it does not block."""
    proc = subprocess.Popen([sys.executable, "-c", SENDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=fault_server.env)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "ready"
        fault_server.kill()
        time.sleep(0.2)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("sending to a port of a dead JACK server hung the process")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _, refused, seconds = out.split()
    assert proc.returncode == 0, err[-2000:]
    assert int(refused) >= 4900 and float(seconds) < 10, out


VIRTUAL = """
import sys, time
from livegen.io.ports import open_output

out = open_output(None, virtual=True, reconnect=True, client_name="vout")
out.set_listener(lambda connected, name, reason: print(f"event {connected} {name} {reason}", flush=True))
print("ready", flush=True)
sys.stdin.readline()
out.close()
print("closed", flush=True)
"""


def test_a_reconnecting_virtual_output_comes_back_with_its_server(fault_server):
    """``open_output(virtual=True, reconnect=True)``: the virtual port is made again when a
    dead JACK server returns (a plain virtual port dies with its server)."""
    proc = subprocess.Popen([sys.executable, "-c", VIRTUAL], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=fault_server.env)
    lines: list[str] = []
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "ready"
        reader = threading.Thread(target=lambda: lines.extend(ln.strip() for ln in proc.stdout), daemon=True)
        reader.start()
        assert "vout:livegen out" in fault_server.server.ports()
        fault_server.kill()
        end = time.monotonic() + 5
        while "event False livegen out JACK server gone" not in lines:
            assert time.monotonic() < end, lines
            time.sleep(0.02)
        fault_server.restart()
        end = time.monotonic() + 5
        while "event True livegen out reconnected" not in lines:
            assert time.monotonic() < end, lines
            time.sleep(0.02)
        assert "vout:livegen out" in fault_server.server.ports()
        proc.stdin.write("\n")
        proc.stdin.flush()
        proc.wait(timeout=10)
        reader.join(timeout=2)
        assert lines[-1] == "closed"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class Keyboard:
    """A keyboard process with a virtual output ``keyboard:keys``; presses C4 and E4 and holds them."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", KEYBOARD], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        assert self.proc.stdout is not None and self.proc.stdin is not None
        assert self.proc.stdout.readline().startswith("ready"), "the keyboard did not start"

    def press(self, what: str = "press") -> float:
        """``press`` or ``release`` C4 and E4; when it was done (``time.monotonic()``)."""
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.proc.stdin.write(what + "\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline().split()[1])

    def remove(self, how: str) -> None:
        if how == "sigkill":
            self.proc.kill()
        else:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        self.proc.wait(timeout=10)


@pytest.mark.parametrize("how", ["removed", "sigkill"])
def test_a_vanished_input_releases_the_keys_it_held(fault_server, parts, busy, tmp_path, how):
    """Accompany mode leaves the performer's held keys alone; when the keyboard vanishes with
    C4 and E4 down, they count as released: livegen plays them again and the take ends them."""
    synth = Synth(fault_server.env)
    parts["synths"].append(synth)
    keys = Keyboard(fault_server.env)
    lg = Livegen(busy, fault_server.env, tmp_path, mode="accompany", inp="keys")
    parts["livegen"].append(lg)
    try:
        lg.wait_playing(synth)
        pressed = keys.press()
        time.sleep(1.5)
        t_gone = time.monotonic()
        keys.remove(how)
        lost = lg.status_after(t_gone, "input lost: keyboard:keys")
        time.sleep(2.0)
        rc, out, err = lg.stop()
    finally:
        if keys.proc.poll() is None:
            keys.proc.kill()
    assert rc == 0, err[-2000:]
    assert "Traceback" not in err
    onsets = [(t, m.note) for t, m in synth.got if m.type == "note_on" and m.velocity > 0]
    while_held = [n for t, n in onsets if pressed + 2 * PERIOD + 0.05 < t < t_gone]
    assert while_held and not {60, 64} & set(while_held), "livegen struck a key the performer held"
    assert {60, 64} & {n for t, n in onsets if t > lost + PERIOD}, "the vanished keyboard's keys stay held"
    performer = [i for i in pretty_midi.PrettyMIDI(str(lg.take)).instruments if i.name == "performer"][0]
    assert sorted(n.pitch for n in performer.notes) == [60, 64]
    assert all(n.end <= lost - pressed + n.start + 0.5 for n in performer.notes)  # ended at the loss
    worst = lg.worst_beat_gap(t_gone - 0.5)
    assert worst <= BEAT + PERIOD, f"the beat stalled for {worst * 1000:.0f} ms"


def test_the_fault_scenario_ends_with_nothing_sounding(fault_server, parts, busy, tmp_path):
    """Issue 26's scenario in one run, in its order: a velocity-0 release, the output removed and
    back, the input removed, a panic, a 20,000-datagram OSC flood, a panic, then the ``--bars``
    end. It once left 6 notes sounding on the returned synth (1 run in 4)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        osc_port = int(s.getsockname()[1])
    synth = Synth(fault_server.env)
    parts["synths"].append(synth)
    keys = Keyboard(fault_server.env)
    lg = Livegen(busy, fault_server.env, tmp_path, mode="accompany", inp="keys",
                 extra=("--bars", "24", "--osc-port", str(osc_port)))
    parts["livegen"].append(lg)
    osc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        lg.wait_playing(synth)
        keys.press()
        time.sleep(2 * PERIOD)
        keys.press("release")  # velocity-0 note-ons
        t_gone = time.monotonic()
        synth.remove()
        lg.status_after(t_gone, "output lost: synth:synth in")
        back = Synth(fault_server.env)
        parts["synths"].append(back)
        lg.status_after(back.ready, "output back: synth:synth in")
        t_keys = time.monotonic()
        keys.remove("removed")
        lg.status_after(t_keys, "input lost: keyboard:keys")
        panic = build_message("/livegen/panic", [])
        osc.sendto(panic, ("127.0.0.1", osc_port))
        rng = random.Random(26)
        for _ in range(20_000):
            osc.sendto(build_message("/livegen/temperature", [0.5 + rng.random()]), ("127.0.0.1", osc_port))
        osc.sendto(panic, ("127.0.0.1", osc_port))
        assert lg.proc.poll() is None, "livegen ended before the scenario did: raise --bars"
        try:
            _, err = lg.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("livegen play did not end at --bars")
    finally:
        osc.close()
        if keys.proc.poll() is None:
            keys.proc.kill()
    assert lg.proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err
    assert lg.take.exists()
    notes = back.notes()
    assert notes, "livegen never played to the returned synth"
    assert _hanging(notes) == [], f"left sounding on the returned synth: {_hanging(notes)}"
    assert _offs_without_ons(notes) == []
