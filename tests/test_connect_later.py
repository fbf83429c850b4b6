"""A device connected to ``livegen out`` while livegen plays hears All Notes Off before
anything else, and never a note-off for a note it did not get (docs/live.md, *MIDI backends*,
*Faults*): ``livegen play --virtual`` on a real JACK server, a synth client connected and
disconnected many times mid-run, every event it got noted per connection."""

from __future__ import annotations

import signal
import threading

import pytest
from play_rig import PlayProcess

pytestmark = [pytest.mark.jack]

CONNECTIONS = 25
NOTES_EACH = 3  # note-ons a connection must hear before it is cut
WAIT_S = 30.0


class Synth:
    """A JACK client that notes every event on its input, per connection (``epoch``)."""

    def __init__(self, server: str) -> None:
        jack = pytest.importorskip("jack")
        self.client = jack.Client("later-synth", no_start_server=True, servername=server)
        self.port = self.client.midi_inports.register("in")
        self.epoch = 0
        self.events: dict[int, list[bytes]] = {}
        self.cycles = 0
        self.note_ons = threading.Condition()

        def process(frames: int) -> None:
            got = [bytes(data) for _, data in self.port.incoming_midi_events()]
            with self.note_ons:
                self.cycles += 1
                if got:
                    self.events.setdefault(self.epoch, []).extend(got)
                self.note_ons.notify_all()

        self.client.set_process_callback(process)
        self.client.activate()

    def onsets(self, epoch: int) -> int:
        return sum(1 for e in self.events.get(epoch, []) if len(e) == 3 and e[0] & 0xF0 == 0x90 and e[2])

    def close(self) -> None:
        self.client.deactivate()
        self.client.close()


def stray_note_offs(events: list[bytes]) -> list[bytes]:
    """Note-offs (or velocity-0 note-ons) for a key this device was not sounding."""
    sounding: dict[tuple[int, int], int] = {}
    stray = []
    for e in events:
        if len(e) != 3 or e[0] & 0xF0 not in (0x80, 0x90):
            continue
        key = (e[0] & 0x0F, e[1])
        if e[0] & 0xF0 == 0x90 and e[2]:
            sounding[key] = sounding.get(key, 0) + 1
        elif sounding.get(key):
            sounding[key] -= 1
        else:
            stray.append(e)
    return stray


@pytest.mark.parametrize("backend", ["jack", pytest.param("rtmidi", marks=pytest.mark.xfail(
    strict=True, reason="rtmidi's JACK port is rtmidi's own client: livegen is not told when someone "
                        "connects to its --virtual port, so it cannot put All Notes Off first (open)"))])
def test_a_synth_connected_later_hears_all_notes_off_first_and_no_stray_note_off(
        jack_server, backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEGEN_MIDI_BACKEND", backend)
    live = PlayProcess(["--virtual", "--mode", "solo", "--bpm", "240", "--osc-port", "0", "--temperature", "1.2"])
    synth = None
    try:
        live.connect(jack_server)  # the rig's tester is connected from the start
        source = "livegen:livegen out"  # livegen's own (the rig's tester names a port "livegen out" too)
        synth = Synth(jack_server.name)
        # asked through the synth's own client: jack_lsp, a new client each time, can go
        # unanswered for seconds by a loaded synchronous server
        assert source in [p.name for p in synth.client.get_ports(is_midi=True, is_output=True)]
        for _ in range(CONNECTIONS):
            synth.epoch += 1
            synth.client.connect(source, "later-synth:in")
            with synth.note_ons:
                heard = synth.note_ons.wait_for(lambda: synth.onsets(synth.epoch) >= NOTES_EACH, WAIT_S)
            synth.client.disconnect(source, "later-synth:in")
            # gone for a whole cycle or more (reconnected within one period, a device misses
            # nothing: it never was away)
            with synth.note_ons:
                gone = synth.cycles
                assert synth.note_ons.wait_for(lambda: synth.cycles >= gone + 3, WAIT_S)  # noqa: B023
            assert heard, f"connection {synth.epoch}: {synth.events.get(synth.epoch, [])[:10]}"
        all_off = [bytes((0xB0 | ch, 123, 0)) for ch in range(16)]
        for epoch in range(1, CONNECTIONS + 1):
            events = synth.events[epoch]
            assert events[:16] == all_off, (epoch, [e.hex() for e in events[:20]])
            assert not stray_note_offs(events), (epoch, [e.hex() for e in stray_note_offs(events)])
        live.proc.send_signal(signal.SIGINT)
        code, _, err = live.wait_exit(30)
        assert code == 0, err[-2000:]
    finally:
        if synth is not None:
            synth.close()
        live.close()
