"""MIDI ports: name matching, byte-stream input parsing, memory ports, reconnection, and
end-to-end over a real JACK server (the ``jack_server`` fixture in conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import mido
import pytest
import rtmidi

from livegen.cli import main as cli_main
from livegen.errors import LivegenError
from livegen.io import jackd as jack_mod
from livegen.io import ports
from livegen.io.base import MidiIn, MidiOut
from livegen.io.jackd import JackServer
from livegen.io.memory import MemoryInput, MemoryOutput
from livegen.io.ports import (
    ReconnectingInput,
    ReconnectingOutput,
    RtMidiInput,
    match_port,
    normalize_port_name,
    open_input,
    open_output,
)

# -- name matching ----------------------------------------------------------------------------

ALSA = ["Midi Through:Midi Through Port-0 14:0", "Launchkey 49:Launchkey 49 MIDI 1 20:0",
        "Launchkey 49:Launchkey 49 InControl 20:1"]
WINDOWS = ["loopMIDI Port 1", "loopMIDI Port 2", "Microsoft GS Wavetable Synth 0"]
JACK = ["livegen:livegen out", "fluidsynth:midi_00", "a2j:Keystation [20] (capture): Keystation MIDI 1"]


def test_normalize_strips_alsa_numbers_and_windows_suffixes():
    assert normalize_port_name("Midi Through:Midi Through Port-0 14:0") == "midi through:midi through port-0"
    assert normalize_port_name("loopMIDI Port 1") == "loopmidi port"
    assert normalize_port_name("  Some   Synth ") == "some synth"
    assert normalize_port_name("livegen:livegen out") == "livegen:livegen out"


@pytest.mark.parametrize(("query", "names", "expected"), [
    ("midi through", ALSA, ALSA[0]),
    ("MIDI THROUGH PORT-0", ALSA, ALSA[0]),
    ("Midi Through:Midi Through Port-0 14:0", ALSA, ALSA[0]),
    ("midi through:midi through port-0", ALSA, ALSA[0]),  # exact after dropping "14:0"
    ("incontrol", ALSA, ALSA[2]),
    ("port 2", WINDOWS, WINDOWS[1]),
    ("loopMIDI Port 1", WINDOWS, WINDOWS[0]),
    ("wavetable", WINDOWS, WINDOWS[2]),
    ("Microsoft GS Wavetable Synth", WINDOWS, WINDOWS[2]),  # without the " 0" index
    ("fluid", JACK, JACK[1]),
    ("livegen out", JACK, JACK[0]),
    ("keystation", JACK, JACK[2]),
])
def test_match_port_finds_the_one_meant(query, names, expected):
    assert match_port(query, names, "output") == expected


def test_exact_match_wins_over_substring():
    names = ["Synth Pro", "Synth", "Synth Pro Max"]
    assert match_port("synth", names, "output") == "Synth"
    assert match_port("synth pro", names, "output") == "Synth Pro"
    # two identical devices differ only by ALSA numbers: the normalised name is ambiguous
    twins = ["Keys:Keys MIDI 1 20:0", "Keys:Keys MIDI 1 24:0"]
    with pytest.raises(LivegenError, match="ambiguous"):
        match_port("keys", twins, "input")
    assert match_port("Keys:Keys MIDI 1 24:0", twins, "input") == twins[1]


def test_missing_and_ambiguous_errors_list_candidates():
    with pytest.raises(LivegenError) as missing:
        match_port("korg", ALSA, "input")
    text = str(missing.value)
    assert "no MIDI input matches 'korg'" in text and all(repr(n) in text for n in ALSA)
    assert "\n" not in text
    with pytest.raises(LivegenError) as ambiguous:
        match_port("launchkey", ALSA, "input")
    assert "ambiguous" in str(ambiguous.value)
    assert repr(ALSA[1]) in str(ambiguous.value) and repr(ALSA[2]) in str(ambiguous.value)
    assert repr(ALSA[0]) not in str(ambiguous.value)
    with pytest.raises(LivegenError, match="there are no MIDI outputs"):
        match_port("synth", [], "output")


# -- input parsing ----------------------------------------------------------------------------

class FakeRt:
    """Stands in for rtmidi.MidiIn: records the callback the port installs, and holds it as a
    (callback, data) pair the way python-rtmidi does (``pair``; None: like a binding whose pair
    cannot be found)."""

    __slots__ = ("callback", "ignored", "closed", "deleted", "pair", "keeps_pair")

    def __init__(self, keeps_pair: bool = True) -> None:
        self.callback: Callable | None = None
        self.ignored: dict | None = None
        self.closed = False
        self.deleted = False
        self.pair: tuple | None = None
        self.keeps_pair = keeps_pair

    def ignore_types(self, **kwargs):
        self.ignored = kwargs

    def set_callback(self, func):
        self.callback = func
        self.pair = (func, None) if self.keeps_pair else None

    def cancel_callback(self):
        self.callback = self.pair = None

    def close_port(self):
        self.closed = True

    def delete(self):
        self.deleted = True


def test_input_parses_several_messages_in_one_event_as_a_stream():
    rt = FakeRt()
    got: list[tuple[mido.Message, float]] = []
    port = RtMidiInput(rt, "fake", lambda msg, t: got.append((msg, t)))
    assert rt.ignored == {"sysex": False, "timing": False, "active_sense": True}
    before = time.monotonic()
    # note on, a clock tick, note off, sysex (skipped), then half a message (JACK hands over
    # whole messages, several per event; a split one is completed by the next event)
    rt.callback(([0x90, 60, 100, 0xF8, 0x80, 60, 0, 0xF0, 1, 2, 0xF7, 0x90, 64], 0.0))
    rt.callback(([90], 0.0))
    kinds = [(m.type, getattr(m, "note", None)) for m, _ in got]
    assert kinds == [("note_on", 60), ("clock", None), ("note_off", 60), ("note_on", 64)]
    assert got[3][0].velocity == 90
    assert port.stream.counts["sysex"] == 4  # F0, two data bytes, F7
    assert all(t >= before for _, t in got)
    assert got[0][1] == got[2][1]  # one event, one time stamp
    pair = rt.pair
    port.close()
    assert port.closed and rt.closed and rt.deleted and rt.callback is None
    # the pair rtmidi dropped is kept: a call already waiting for the GIL can still use it
    assert any(p is pair for p in ports._PINNED_CALLBACKS)
    pair[0](([0x90, 61, 100], 0.0))  # such a late call passes nothing on
    assert len(got) == 4


def test_an_input_whose_callback_pair_is_not_found_stays_open_as_a_no_op():
    rt = FakeRt(keeps_pair=False)
    got: list[mido.Message] = []
    port = RtMidiInput(rt, "fake", lambda msg, t: got.append(msg))
    port.close()
    assert port.closed and not rt.closed and rt.callback is not None
    rt.callback(([0x90, 61, 100], 0.0))
    assert got == [] and ports.rtmidi_inputs_left_open()


def test_input_callback_errors_are_logged_not_raised(caplog):
    rt = FakeRt()

    def broken(msg, t):
        raise RuntimeError("boom")

    RtMidiInput(rt, "fake", broken)
    rt.callback(([0x90, 60, 100], 0.0))  # must not raise into rtmidi's thread
    assert "callback failed" in caplog.text


def test_memory_ports_match_the_protocols():
    clock = iter([1.0, 2.0])
    out = MemoryOutput(clock=lambda: next(clock))
    assert isinstance(out, MidiOut)
    out.send(mido.Message("note_on", note=60))
    out.send(mido.Message("note_off", note=60))
    assert [t for t, _ in out.sent] == [1.0, 2.0] and out.messages[1].type == "note_off"
    got = []
    inp = MemoryInput()
    assert isinstance(inp, MidiIn)
    inp.feed(mido.Message("note_on", note=1), 0.5)  # kept until a callback is set
    inp.set_callback(lambda m, t: got.append((t, m.note)))
    inp.feed_bytes(bytes([0x90, 2, 10, 0x90, 3, 10]), 0.75)
    inp.feed_many([(1.0, mido.Message("note_on", note=4))])
    assert got == [(0.5, 1), (0.75, 2), (0.75, 3), (1.0, 4)]


# -- reconnection with injected devices -------------------------------------------------------

class Devices:
    """A fake MIDI system: names come and go; opening makes a MemoryOutput."""

    def __init__(self, names: list[str]) -> None:
        self.names = list(names)
        self.opened: list[MemoryOutput] = []

    def lister(self) -> list[str]:
        return list(self.names)

    def opener(self, name: str) -> MemoryOutput:
        if name not in self.names:
            raise OSError("gone")
        port = MemoryOutput(name)
        self.opened.append(port)
        return port


def test_reconnecting_output_drops_while_gone_and_reopens_by_name():
    dev = Devices(["Synth A 20:0", "Other"])
    out = ReconnectingOutput("synth", background=False, opener=dev.opener, lister=dev.lister)
    assert out.connected and out.name == "Synth A 20:0"
    out.send(mido.Message("note_on", note=60))
    dev.names.remove("Synth A 20:0")
    assert out.check() is False and dev.opened[0].closed
    out.send(mido.Message("note_on", note=61))  # dropped, never raises
    assert out.dropped == 1
    dev.names.append("Synth A 24:0")  # comes back on another ALSA client number
    assert out.check() is True and out.reconnects == 1 and out.name == "Synth A 24:0"
    out.send(mido.Message("note_on", note=62))
    assert [m.note for m in dev.opened[0].messages] == [60]
    # after a reconnect the device first gets All Notes Off on every channel
    reopened = dev.opened[1].messages
    assert [(m.channel, m.control) for m in reopened[:16]] == [(c, 123) for c in range(16)]
    assert [m.note for m in reopened[16:]] == [62]
    out.close()
    assert dev.opened[1].closed


def test_reconnecting_output_notices_a_failing_send():
    dev = Devices(["Synth"])
    out = ReconnectingOutput("synth", background=False, opener=dev.opener, lister=dev.lister)
    dev.opened[0].close()  # the next send raises inside the port
    out.send(mido.Message("note_on"))
    assert not out.connected and out.dropped == 1
    assert out.check() and out.reconnects == 1
    out.close()


def test_reconnecting_requires_a_match_at_start():
    dev = Devices(["Synth"])
    with pytest.raises(LivegenError, match="'Synth'"):
        ReconnectingOutput("piano", background=False, opener=dev.opener, lister=dev.lister)
    lazy = ReconnectingOutput("piano", background=False, require=False, opener=dev.opener, lister=dev.lister)
    assert not lazy.connected
    lazy.close()


def test_reconnecting_background_thread_reopens():
    dev = Devices(["Synth"])
    out = ReconnectingOutput("synth", interval=0.01, opener=dev.opener, lister=dev.lister)
    dev.names.clear()
    _wait_for(lambda: not out.connected)
    dev.names.append("Synth")
    _wait_for(lambda: out.connected)
    assert out.reconnects == 1
    out.close()


def test_reconnecting_input_keeps_its_callback():
    made: list[MemoryInput] = []
    names = ["Keys"]

    def opener(name: str) -> MemoryInput:
        made.append(MemoryInput(name))
        return made[-1]

    got = []
    told: list[tuple[bool, str, str]] = []
    inp = ReconnectingInput("keys", lambda m, t: got.append((m.type, m.channel, m.note)), background=False,
                            opener=opener, lister=lambda: list(names))
    inp.set_listener(lambda *change: told.append(change))
    made[0].feed(mido.Message("note_on", note=1), 0.0)
    made[0].feed(mido.Message("note_on", channel=9, note=5), 0.0)
    made[0].feed(mido.Message("note_on", note=7), 0.0)
    made[0].feed(mido.Message("note_on", note=7, velocity=0), 0.0)  # released: not held
    names.clear()
    inp.check()
    # the keys the vanished device held are released, once each
    assert got[4:] == [("note_off", 0, 1), ("note_off", 9, 5)]
    assert told == [(False, "Keys", "device gone")]
    names.append("Keys")
    inp.check()
    assert told[-1] == (True, "Keys", "reconnected")
    made[1].feed(mido.Message("note_on", note=2), 1.0)
    assert got[-1] == ("note_on", 0, 2) and made[0].closed
    inp.close()


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


# -- errors without a MIDI system -------------------------------------------------------------

class BrokenBackend:
    name = "mido.backends.rtmidi"
    api = None

    def get_input_names(self):
        raise rtmidi.SystemError("MidiInAlsa::initialize: error creating ALSA sequencer client object.")


def test_no_midi_system_gives_a_one_line_hint(monkeypatch):
    monkeypatch.setattr(ports, "current_backend", lambda: BrokenBackend())
    with pytest.raises(LivegenError) as err:
        ports.list_ports()
    assert "JACK" in str(err.value) and "MIDO_BACKEND" in str(err.value) and "\n" not in str(err.value)


def test_virtual_ports_on_windows_point_to_loopmidi():
    with pytest.raises(LivegenError, match="loopMIDI"):
        ports._check_virtual_supported(rtmidi.API_WINDOWS_MM)
    ports._check_virtual_supported(rtmidi.API_UNIX_JACK)  # supported: no error


def test_jack_server_errors(monkeypatch):
    with pytest.raises(LivegenError, match="client name"):
        JackServer("livegen")
    monkeypatch.setattr(jack_mod, "jack_ports", lambda name, timeout=3.0: None)
    monkeypatch.setattr(jack_mod, "_jackd_pids", lambda name: [4321])
    monkeypatch.setattr(jack_mod, "jackd_path", lambda: "/usr/bin/jackd")
    with pytest.raises(LivegenError, match="kill 4321"):  # a hung server is never started twice
        JackServer("livegen-test-hung", timeout=0.3).start()
    monkeypatch.setattr(jack_mod, "jackd_path", lambda: None)
    with pytest.raises(LivegenError, match="apt-get install --no-install-recommends jackd2"):
        JackServer("livegen-test-missing").start()


def test_a_running_server_slow_to_answer_is_reused_not_called_hung(monkeypatch):
    """A loaded synchronous server left jack_lsp unanswered for more than 3 s under the suite on
    both cores, and ``livegen play --demo`` exited 2 calling it hung; it has the server's
    ``timeout`` to answer."""
    answers = iter([None, None, None, ["system:playback_1"]])
    monkeypatch.setattr(jack_mod, "jack_ports", lambda name, timeout=3.0: next(answers))
    monkeypatch.setattr(jack_mod, "_jackd_pids", lambda name: [4321])
    monkeypatch.setattr(jack_mod, "jackd_path", lambda: "/usr/bin/jackd")
    server = JackServer("livegen-test-slow", timeout=5.0, set_environ=False).start()
    assert not server.started  # reused, never launched a second jackd


def test_stale_jack_files_of_one_server_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(jack_mod, "SHM_DIR", tmp_path)
    stale = ["jack_livegen-jack_0_0", "jack_sem.0_livegen-jack_system", "jack_sem.0_livegen-jack_livegen"]
    kept = ["jack_other_0_0", "jack_sem.0_other_system", "jack-shm-registry", "jack_db-0"]
    for name in stale + kept:
        (tmp_path / name).touch()
    removed = jack_mod.remove_stale_files("livegen-jack")
    assert sorted(Path(p).name for p in removed) == sorted(stale)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)


# -- end to end over JACK ---------------------------------------------------------------------

class Collector:
    def __init__(self) -> None:
        self.messages: list[mido.Message] = []
        self.stamps: list[float] = []

    def __call__(self, msg: mido.Message, t: float) -> None:
        self.messages.append(msg)
        self.stamps.append(t)


def _settle(out: MidiOut, got: Collector) -> None:
    """Send probes until the reader sees one (JACK connections settle within a cycle or two)."""
    probe = mido.Message("control_change", control=119, value=1)
    deadline = time.monotonic() + 10.0
    while not got.messages:
        assert time.monotonic() < deadline, "reader never received anything"
        out.send(probe)
        time.sleep(0.02)
    time.sleep(0.05)
    got.messages.clear()
    got.stamps.clear()


@pytest.mark.jack
def test_jack_notes_arrive_in_order_without_loss(jack_server):
    out = open_output(None, virtual=True)
    got = Collector()
    reader = open_input("livegen out", got, client_name="reader")
    try:
        assert out.name == "livegen out" and reader.name == "livegen:livegen out"
        assert "livegen:livegen out" in jack_server.ports()
        _settle(out, got)
        sent = []
        for i in range(150):
            note = 36 + (i * 7) % 60
            sent.append(mido.Message("note_on", note=note, velocity=1 + i % 127))
            sent.append(mido.Message("note_off", note=note, velocity=0))
        for msg in [*sent[:100], mido.Message("sysex", data=[1, 2, 3]), *sent[100:]]:
            out.send(msg)  # back to back: JACK may deliver several as one event
        _wait_for(lambda: len(got.messages) >= len(sent))
        time.sleep(0.05)
        assert got.messages == sent  # the sysex is skipped, and nothing around it lost
        assert reader.stream.counts["sysex"] == 5
        assert got.stamps == sorted(got.stamps)
    finally:
        reader.close()
        out.close()


@pytest.mark.jack
def test_jack_fuzzy_names_and_errors_list_real_ports(jack_server):
    a = open_output(None, virtual=True, client_name="keys1")
    b = open_output(None, virtual=True, client_name="keys2")
    try:
        inputs, _ = ports.list_ports()
        assert {"keys1:livegen out", "keys2:livegen out"} <= set(inputs)
        with pytest.raises(LivegenError) as missing:
            open_input("no such keyboard", Collector())
        assert "'keys1:livegen out'" in str(missing.value) and "'keys2:livegen out'" in str(missing.value)
        with pytest.raises(LivegenError, match="ambiguous"):
            open_input("livegen out", Collector())
        got = Collector()
        reader = open_input("KEYS2", got, client_name="reader2")
        assert reader.name == "keys2:livegen out"
        _settle(b, got)
        a.send(mido.Message("note_on", note=1))
        b.send(mido.Message("note_on", note=2))
        _wait_for(lambda: len(got.messages) >= 1)
        time.sleep(0.05)
        assert [m.note for m in got.messages] == [2]
        reader.close()
    finally:
        a.close()
        b.close()


@pytest.mark.jack
def test_jack_output_reconnects_when_the_synth_returns(jack_server):
    synth_got = Collector()
    synth = open_input("synth in", synth_got, virtual=True, client_name="synth")
    out = ReconnectingOutput("synth", background=False)
    try:
        assert out.connected and out.name == "synth:synth in"
        _settle(out, synth_got)
        synth.close()
        assert out.check() is False
        out.send(mido.Message("note_on", note=50))
        assert out.dropped == 1
        synth_got = Collector()
        synth = open_input("synth in", synth_got, virtual=True, client_name="synth")
        assert out.check() is True and out.reconnects == 1
        _settle(out, synth_got)
        out.send(mido.Message("note_on", note=51))
        _wait_for(lambda: len(synth_got.messages) >= 1)
        assert [m.note for m in synth_got.messages] == [51]
    finally:
        out.close()
        synth.close()


@pytest.mark.jack
def test_jack_server_is_reused_not_restarted(jack_server):
    again = JackServer(jack_server.name, set_environ=False).start()
    assert again.started is False
    again.stop()
    assert jack_server.running()
    assert again.env["JACK_DEFAULT_SERVER"] == jack_server.name
    assert again.env["MIDO_BACKEND"] == "mido.backends.rtmidi/UNIX_JACK"


@pytest.mark.jack
def test_ports_command_lists_jack_ports(jack_server, capsys):
    out = open_output(None, virtual=True)
    try:
        assert cli_main(["ports"]) == 0
        text = capsys.readouterr().out
        assert "livegen:livegen out" in text.split("MIDI outputs")[0]  # listed as an input
    finally:
        out.close()
