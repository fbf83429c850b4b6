"""``livegen play --parts`` over real JACK ports: each part on its channel, a one-voice part
never sounds two notes at once, a note-off goes where its note-on went, muting a part over
OSC silences its channel from the next step and releases what it held, and panic (OSC) sends
All Notes Off on every part's channel."""

from __future__ import annotations

import socket
import threading

import mido
import pytest
from play_rig import PlayProcess
from pythonosc.udp_client import SimpleUDPClient

pytestmark = [pytest.mark.jack]

WAIT_S = 30.0


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check, timeout: float = WAIT_S) -> bool:
    """Poll ``check`` every 20 ms until true or ``timeout`` s (the messages arrive on the
    tester's thread; nothing here waits a fixed time for them)."""
    done = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if check():
            return True
        done.wait(0.02)
    return bool(check())


def test_parts_arrive_on_their_channels_and_panic_clears_every_channel(jack_server) -> None:
    port = free_udp_port()
    live = PlayProcess(["--virtual", "--parts", "melody-chords-bass", "--mode", "solo", "--bpm", "240",
                        "--density", "1.5", "--channel", "2", "--osc-port", str(port)])
    try:
        live.connect(jack_server)
        channels: tuple[int, ...] = (1, 2, 3)  # --channel 2 (0-based 1) and on

        def onsets() -> dict[int, int]:
            count: dict[int, int] = {}
            for _, m in list(live.received):
                if m.type == "note_on" and m.velocity:
                    count[m.channel] = count.get(m.channel, 0) + 1
            return count

        assert wait_until(lambda: sum(onsets().values()) >= 40 and len(onsets()) >= 2), onsets()
        osc = SimpleUDPClient("127.0.0.1", port)
        bass = channels[2]
        osc.send_message("/livegen/part/bass/mute", "loud")  # refused: one log line, nothing else
        osc.send_message("/livegen/part/bass/mute", 1)
        assert wait_until(lambda: any(a == "/livegen/part/bass/mute" and list(v) == [1]
                                      for _, a, v in list(live.feedback)))
        muted_at = next(t for t, a, v in list(live.feedback) if a == "/livegen/part/bass/mute")

        def after(t0: float) -> list:
            return [(t, m) for t, m in list(live.received) if t > t0]

        # the step the mute came with may already be on its way: from the first note of another
        # part heard after it, the bass is silent and holds nothing
        assert wait_until(lambda: any(m.type == "note_on" and m.velocity and m.channel != bass
                                      for _, m in after(muted_at)))
        settled = next(t for t, m in after(muted_at) if m.type == "note_on" and m.velocity and m.channel != bass)
        assert wait_until(lambda: sum(1 for _, m in after(settled) if m.type == "note_on" and m.velocity) >= 20)
        assert not [m for _, m in after(settled) if m.type == "note_on" and m.velocity and m.channel == bass]
        osc.send_message("/livegen/part/bass/mute", 0)
        assert wait_until(lambda: any(m.type == "note_on" and m.velocity and m.channel == bass
                                      for _, m in after(settled)))  # the bass is back
        # the bass moves to channel 5 with program 40, the melody to half velocity (the octave's
        # exact effect: tests/test_parts.py, on memory ports)
        before = [m for _, m in list(live.received) if m.type == "note_on" and m.velocity]
        osc.send_message("/livegen/part/bass/channel", 5)
        osc.send_message("/livegen/part/bass/program", 40)
        osc.send_message("/livegen/part/melody/velocity", 0.5)
        osc.send_message("/livegen/part/melody/velocity/norm", 7)  # refused: a fader sends 0..1
        assert wait_until(lambda: any(a == "/livegen/part/melody/velocity" and list(v) == [0.5]
                                      for _, a, v in list(live.feedback)))
        moved_at = max(t for t, a, _ in list(live.feedback) if a.startswith("/livegen/part/"))
        assert wait_until(lambda: sum(1 for _, m in after(moved_at) if m.type == "note_on" and m.channel == 4) >= 6)
        melody = channels[0]
        # a step scheduled before the change may still arrive after its echo: judge the later notes
        assert wait_until(lambda: sum(1 for _, m in after(moved_at) if m.type == "note_on" and m.channel == melody) >= 8,
                          timeout=60)
        changed = [m for _, m in after(moved_at)]
        assert any(m.type == "program_change" and m.channel == 4 and m.program == 40
                   for _, m in list(live.received))
        # notes go out in step order: after the bass's first note on its new channel, none on its old one
        moved_bass = next(t for t, m in after(moved_at) if m.type == "note_on" and m.channel == 4)
        assert not [m for _, m in after(moved_bass) if m.type == "note_on" and m.velocity and m.channel == bass]
        loud = max(m.velocity for m in before if m.channel == melody)
        later = [m.velocity for m in changed if m.type == "note_on" and m.channel == melody][-4:]
        assert max(later) <= loud * 0.5 + 1, (loud, later)
        channels = (1, 2, 3, 4)  # the bass's old channel keeps its All Notes Off
        osc.send_message("/livegen/panic", 1)
        assert wait_until(lambda: {m.channel for _, m in after(moved_at)
                                   if m.type == "control_change" and m.control == 123} >= set(channels))
        live.proc.send_signal(2)
        code, _, err = live.wait_exit(30)
        assert code == 0, err[-2000:]
        assert "refused /livegen/part/bass/mute ('loud',): mute takes 0/1 or on/off, got 'loud'" in err
        assert "refused /livegen/part/melody/velocity/norm (7,)" in err
    finally:
        live.close()
    held: dict[int, set[int]] = {}
    seen: set[tuple[int, int]] = set()
    for _, m in live.received:
        if m.type not in ("note_on", "note_off"):
            continue
        assert m.channel in channels, m
        notes = held.setdefault(m.channel, set())
        first = (m.channel, m.note) not in seen
        seen.add((m.channel, m.note))
        if m.type == "note_on" and m.velocity:
            notes.add(m.note)
        elif first:  # the release of a note struck before the tester connected (rtmidi's
            continue  # --virtual port: livegen is not told when someone connects; issue 27)
        else:
            history = [(round(t, 4), x.type, getattr(x, "velocity", x.dict().get("value"))) for t, x in live.received
                       if x.type in ("note_on", "note_off", "control_change") and x.channel == m.channel
                       and (x.type == "control_change" or x.note == m.note)]
            assert m.note in notes, f"a note-off on channel {m.channel + 1} for a note it never got: {m} {history}"
            notes.discard(m.note)
        for channel, name in ((1, "melody"), (3, "bass"), (4, "bass")):  # the one-voice parts
            assert len(held.get(channel, ())) <= 1, f"the {name} sounded two notes at once"
    assert not any(held.values()), f"left sounding: {held}"


def test_parts_out_gives_each_part_its_own_port_and_panic_reaches_each(jack_server) -> None:
    """``--parts-out --virtual``: 'livegen melody', 'livegen chords' and 'livegen bass' each
    carry their own part's channel only; a part moved to another channel live keeps its port;
    panic sends All Notes Off on each port; nothing is left sounding on any."""
    from livegen.io.ports import open_input

    port = free_udp_port()
    live = PlayProcess(["--virtual", "--parts", "melody-chords-bass", "--parts-out", "--mode", "solo", "--bpm",
                        "240", "--density", "1.5", "--osc-port", str(port)])
    names = ("melody", "chords", "bass")
    got: dict[str, list[mido.Message]] = {name: [] for name in names}
    inputs = []
    try:
        assert live.hello.wait(60), "livegen never answered"
        ports: dict[str, str] = {}

        def found() -> bool:
            ports.update({n: p for p in jack_server.ports() for n in names if p.endswith(f":livegen {n}")})
            return len(ports) == 3

        assert wait_until(found, timeout=30), ports
        assert not [p for p in jack_server.ports() if p.endswith(":livegen out")]
        for name in names:
            inputs.append(open_input(ports[name], lambda m, t, name=name: got[name].append(m),
                                     client_name=f"tester-{name}"))

        def ons(name: str) -> list[mido.Message]:
            return [m for m in list(got[name]) if m.type == "note_on" and m.velocity]

        assert wait_until(lambda: len(ons("melody")) >= 6 and len(ons("bass")) >= 2, timeout=60), \
            {n: len(ons(n)) for n in names}
        for i, name in enumerate(names):
            assert {m.channel for m in ons(name)} == {i}, (name, {m.channel for m in ons(name)})
        SimpleUDPClient("127.0.0.1", port).send_message("/livegen/part/bass/channel", 9)
        assert wait_until(lambda: any(m.channel == 8 for m in ons("bass")), timeout=60)
        assert not any(m.channel == 8 for n in ("melody", "chords") for m in ons(n))
        SimpleUDPClient("127.0.0.1", port).send_message("/livegen/panic", 1)
        assert wait_until(lambda: all(any(m.type == "control_change" and m.control == 123 for m in list(got[n]))
                                      for n in names), timeout=30)
        live.proc.send_signal(2)
        code, _, err = live.wait_exit(30)
        assert code == 0, err[-2000:]
    finally:
        live.close()
        for inp in inputs:
            inp.close()
    for name in names:
        held: dict[tuple[int, int], int] = {}
        for m in got[name]:
            if m.type == "note_on" and m.velocity:
                held[(m.channel, m.note)] = held.get((m.channel, m.note), 0) + 1
            elif m.type in ("note_on", "note_off") and held.get((m.channel, m.note)):
                held[(m.channel, m.note)] -= 1
        assert not {k for k, v in held.items() if v}, f"left sounding on 'livegen {name}': {held}"
