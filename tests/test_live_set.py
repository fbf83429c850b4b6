"""Live sets (``livegen play --set FILE.toml``): reading and checking the file, the command
line over it, switching presets, and the shipped example played over real ports.

The end-to-end test runs ``livegen play --set examples/example-set.toml`` on the session's
JACK server (dummy driver), switches presets by OSC over UDP on 127.0.0.1 (python-osc's
client, not livegen's encoder) and by a program change on a real JACK MIDI port, and checks
what arrives on a tester's port: the notes stay in each preset's key and scale and fall on
each preset's tempo grid.
"""

from __future__ import annotations

import io
import logging
import socket
import threading
import time
from pathlib import Path

import mido
import numpy as np
import pytest
from play_rig import START_TIMEOUT, PlayProcess
from pythonosc.udp_client import SimpleUDPClient

from livegen.cli import build_parser, main
from livegen.commands.live_view import LiveView
from livegen.commands.play import build_request
from livegen.controls.state import LiveControls
from livegen.controls.table import CONTROLS, FEEDBACK, ControlError, ControlState, parse_osc
from livegen.errors import LivegenError
from livegen.io.osc import OscServer
from livegen.music.scales import pitch_class_mask
from livegen.session.live_set import (
    SETTABLE,
    LiveSet,
    LiveSetError,
    find_line,
    load_live_set,
)
from livegen.session.presets import PRESET_ADDRESS, PresetSwitcher

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "example-set.toml"

GOOD = """\
model = "nottingham"
clock = "midi"
send_clock = true
preset = "slow"

[ports]
in = "Keyboard"
out = "Synth"

[osc]
port = 9100
host = "0.0.0.0"
feedback = "127.0.0.1:9101"

[controls]
temperature = 0.8
key = "D"
scale = "dorian"
follow = true
polyphony = 4.0

[presets.slow]
tempo = 70
low = 40
high = 80

[presets."fast one"]
tempo = 150
mode = "solo"
"""


def write(tmp_path: Path, text: str, name: str = "my-set.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> LiveSetError:
    path = write(tmp_path, text)
    with pytest.raises(LiveSetError) as info:
        load_live_set(path).start()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path)), message
    return info.value


def line_of(text: str, needle: str) -> int:
    """1-based line of the first line containing ``needle``."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


# ---- reading a good file ----------------------------------------------------------------------


def test_a_good_file_is_read_typed_and_in_order(tmp_path):
    s = load_live_set(write(tmp_path, GOOD))
    assert (s.model, s.clock, s.send_clock, s.preset) == ("nottingham", "midi", True, "slow")
    assert (s.inp, s.out, s.virtual, s.names_ports) == ("Keyboard", "Synth", None, True)
    assert (s.osc_port, s.osc_host, s.osc_feedback) == (9100, "0.0.0.0", "127.0.0.1:9101")
    assert dict(s.controls) == {"temperature": 0.8, "key": "D", "scale": "dorian", "follow": True, "polyphony": 4}
    assert type(s.controls["polyphony"]) is int  # typed by the table's validator
    assert list(s.presets) == ["slow", "fast one"]  # file order: the order program changes count in
    assert dict(s.presets["fast one"]) == {"tempo": 150.0, "mode": "solo"}
    assert s.named_controls == ("temperature", "tempo", "polyphony", "low", "high", "key", "scale", "mode", "follow")


def test_presets_are_complete_over_the_base_and_the_start_is_the_starting_preset(tmp_path):
    start = load_live_set(write(tmp_path, GOOD)).start()
    base = ControlState.default().apply_many({"temperature": 0.8, "key": "D", "scale": "dorian", "polyphony": 4})
    # every control the set names, the preset's value or the base value
    assert dict(start.presets["fast one"]) == {
        "temperature": 0.8, "tempo": 150.0, "polyphony": 4, "low": 21, "high": 108, "key": "D",
        "scale": "dorian", "mode": "solo", "follow": True}
    assert start.preset == "slow"
    assert start.state == base.apply_many({"tempo": 70, "low": 40, "high": 80})


def test_the_example_set_is_valid_and_documents_its_program_numbers():
    s = load_live_set(EXAMPLE)
    assert s.virtual is True and s.preset == "ballad"
    text = EXAMPLE.read_text(encoding="utf-8")
    for number, name in enumerate(s.presets):
        header = next(line for line in text.splitlines() if line.startswith(f"[presets.{name}]"))
        assert header.endswith(f"# program change {number}")
    start = s.start()
    assert start.state.tempo == s.presets["ballad"]["tempo"]
    assert {p["tempo"] for p in start.presets.values()} == {76.0, 132.0, 96.0, 112.0}


def test_find_line_follows_headers_dotted_keys_and_inline_tables():
    text = ('model = "x"\n[controls]\ntempo = 1\n[presets.a]\ntempo = 2\n[presets."b c"]\n  "tempo" = 3\n'
            '[presets]\nd = { tempo = 4 }\n[ports]\npresets.e.tempo = 5\n')
    assert find_line(text, ("model",)) == 1
    assert find_line(text, ("controls", "tempo")) == 3
    assert find_line(text, ("presets", "a", "tempo")) == 5
    assert find_line(text, ("presets", "b c", "tempo")) == 7
    assert find_line(text, ("presets", "d", "tempo")) == 9  # inside an inline table: the table's line
    assert find_line(text, ("ports", "presets", "e", "tempo")) == 11
    assert find_line(text, ("presets", "a")) == 4
    assert find_line(text, ("nowhere", "at all")) == 1


# ---- every kind of mistake: one line with file, line and key ---------------------------------


def test_a_control_out_of_range_names_file_line_table_and_key_with_the_tables_reason(tmp_path):
    text = GOOD.replace("tempo = 70", "tempo = 70\ntemperature = 7")
    exc = error_of(tmp_path, text)
    line = line_of(text, "temperature = 7")
    assert exc.line == line
    with pytest.raises(ControlError) as osc:  # the same validator OSC goes through
        parse_osc("/livegen/temperature", [7])
    reason = str(osc.value).removeprefix("temperature ")
    assert str(exc) == f"{tmp_path / 'my-set.toml'} line {line}, [presets.slow] temperature: {reason}"
    assert reason == "7 is outside 0..2"


@pytest.mark.parametrize(("edit", "key", "words"), [
    (("temperature = 0.8", 'temperature = "hot"'), "[controls] temperature", "takes a number, got string 'hot'"),
    (("polyphony = 4.0", "polyphony = 2.5"), "[controls] polyphony", "takes a whole number, got 2.5"),
    (('scale = "dorian"', 'scale = "lydian"'), "[controls] scale", "'lydian' is not one of chromatic|major"),
    (("follow = true", 'follow = "perhaps"'), "[controls] follow", "takes 0/1 or on/off"),
    (("tempo = 150", "tempo = true"), '[presets."fast one"] tempo', "takes a number, got bool"),
    (("temperature = 0.8", "temprature = 0.8"), "[controls] temprature",
     "unknown key (did you mean temperature?); known keys here: " + ", ".join(SETTABLE)),
    (("temperature = 0.8", "panic = true"), "[controls] panic", "panic is a trigger"),
    (('model = "nottingham"', 'modle = "nottingham"'), "modle",
     "unknown key (did you mean model?); known keys here: model, clock, send_clock, preset, parts, web, ports, osc, controls, presets"),
    (('in = "Keyboard"', 'input = "Keyboard"'), "[ports] input", "known keys here: in, out, virtual"),
    (("port = 9100", "prot = 9100"), "[osc] prot", "known keys here: port, host, feedback"),
    (('clock = "midi"', 'clock = "ableton"'), "clock", "'ableton' is not one of internal, midi"),
    (("send_clock = true", 'send_clock = "yes"'), "send_clock", "takes true or false, got string 'yes'"),
    (("send_clock = true", 'web = "somewhere"\nsend_clock = true'), "web", "--web takes [HOST:]PORT"),
    (('in = "Keyboard"', "in = 3"), "[ports] in", "takes a non-empty string, got int 3"),
    (("port = 9100", "port = 70000"), "[osc] port", "takes a whole number 0..65535"),
    (('feedback = "127.0.0.1:9101"', 'feedback = "somewhere"'), "[osc] feedback", "bad OSC target 'somewhere'"),
    (('preset = "slow"', 'preset = "fast"'), "preset", "no preset 'fast'; the presets are: slow, fast one"),
    (('[ports]\nin = "Keyboard"\nout = "Synth"', "ports = 3"), "ports", "must be a table ([ports]), got int 3"),
])
def test_each_kind_of_mistake_is_one_line_with_file_line_and_key(tmp_path, edit, key, words):
    old, new = edit
    assert GOOD.count(old) == 1
    text = GOOD.replace(old, new)
    exc = error_of(tmp_path, text)
    line = line_of(text, new.splitlines()[0])
    assert str(exc).startswith(f"{tmp_path / 'my-set.toml'} line {line}, {key}: "), str(exc)
    assert words in str(exc)
    assert exc.line == line


def test_the_stage_address_of_a_set(tmp_path):
    path = tmp_path / "my-set.toml"
    path.write_text(GOOD.replace("send_clock = true", 'send_clock = true\nweb = "0.0.0.0:8080"'))
    assert load_live_set(path).web == "0.0.0.0:8080"


def test_a_preset_that_is_not_a_table_and_a_clash_inside_a_preset(tmp_path):
    exc = error_of(tmp_path, 'model = "x"\n[presets]\nverse = 3\n')
    assert str(exc) == (f"{tmp_path / 'my-set.toml'} line 3, [presets] verse: a preset is a table "
                        "([presets.verse]) of control values, got int 3")
    exc = error_of(tmp_path, "[presets.verse]\nlow = 90\nhigh = 60\n")
    assert str(exc).startswith(f"{tmp_path / 'my-set.toml'} line 1, [presets] verse: low pitch 90 is above high pitch 60")


def test_a_preset_that_clashes_with_the_base_is_reported_at_the_preset(tmp_path):
    text = "[controls]\nlow = 70\n\n[presets.verse]\nhigh = 60\n"
    exc = error_of(tmp_path, text)
    assert str(exc).startswith(f"{tmp_path / 'my-set.toml'} line 4, [presets] verse: low pitch 70 is above")


def test_a_clash_made_by_a_command_line_flag_says_so(tmp_path):
    s = load_live_set(write(tmp_path, "[controls]\nlow = 70\n"))
    with pytest.raises(LiveSetError) as info:
        s.start({"high": 60})
    assert str(info.value).startswith(f"{tmp_path / 'my-set.toml'} line 1, controls: low pitch 70 is above")
    assert str(info.value).endswith("(with the command line's flags)")


def test_not_toml_and_no_file(tmp_path):
    exc = error_of(tmp_path, '[controls]\ntempo = 100\nkey = D\n')
    assert str(exc).startswith(f"{tmp_path / 'my-set.toml'} line 3, column 7: not valid TOML: Invalid value")
    assert exc.line == 3
    with pytest.raises(LiveSetError) as info:
        load_live_set(tmp_path / "missing.toml")
    assert str(info.value) == f"{tmp_path / 'missing.toml'}: cannot read the live set: No such file or directory"


def test_the_command_line_prints_a_bad_set_as_one_error_line(tmp_path, capsys):
    path = write(tmp_path, "[presets.ballad]\ntempo = 96\ntemperature = 7\n")
    assert main(["play", "--set", str(path), "--no-view"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"livegen: error: {path} line 3, [presets.ballad] temperature: 7 is outside 0..2"]


# ---- the command line over the file -------------------------------------------------------------


def request(*argv: str):
    return build_request(build_parser("play").parse_args(["play", *argv]))


def test_the_file_fills_what_the_command_line_leaves_out(tmp_path):
    r = request("--set", str(write(tmp_path, GOOD)))
    assert (r.model, r.clock, r.send_clock) == ("nottingham", "midi", True)
    assert (r.inp, r.out, r.virtual) == ("Keyboard", "Synth", False)
    assert (r.wiring.osc_port, r.wiring.osc_host, r.wiring.osc_feedback) == (9100, "0.0.0.0", "127.0.0.1:9101")
    assert r.preset == "slow" and list(r.presets) == ["slow", "fast one"]
    assert (r.state.tempo, r.state.temperature, r.state.key, r.state.scale) == (70.0, 0.8, "D", "dorian")


def test_flags_given_explicitly_override_the_file(tmp_path):
    r = request("--set", str(write(tmp_path, GOOD)), "--model", "jsb", "--clock", "internal", "--bpm", "100",
                "--temperature", "1.5", "--osc-port", "0", "--osc-host", "127.0.0.1", "--osc-feedback",
                "127.0.0.1:7000", "--in", "Piano")
    assert (r.model, r.clock) == ("jsb", "internal")
    assert r.send_clock is True  # a store_true flag cannot say "off": the file's true stands
    # ports come as a group: --in replaces the whole [ports] table
    assert (r.inp, r.out, r.virtual) == ("Piano", None, False)
    assert (r.wiring.osc_port, r.wiring.osc_host, r.wiring.osc_feedback) == (None, "127.0.0.1", "127.0.0.1:7000")
    # the flags beat the starting preset and [controls] ...
    assert (r.state.tempo, r.state.temperature, r.state.low) == (100.0, 1.5, 40)
    # ... and are the base a preset falls back to; a preset's own value still applies when switched
    assert r.presets["slow"]["temperature"] == 1.5 and r.presets["fast one"]["tempo"] == 150.0


def test_without_a_set_the_defaults_are_unchanged():
    r = request()
    assert (r.model, r.clock, r.wiring.osc_port, r.wiring.osc_host) == ("nottingham", "internal", 9000, "127.0.0.1")
    assert r.state == ControlState.default() and r.presets == {} and r.preset is None
    assert request("--key", "D").state.scale == "major"  # --key alone still implies a major scale


def test_key_on_the_command_line_keeps_the_sets_scale(tmp_path):
    path = write(tmp_path, '[controls]\nscale = "minor"\n')
    assert (request("--set", str(path), "--key", "E").state.scale) == "minor"
    assert (request("--set", str(write(tmp_path, "[controls]\ntempo = 90\n", "b.toml")), "--key", "E")
            .state.scale) == "major"


def test_a_checkpoint_beside_the_set_is_found_relative_to_it(tmp_path):
    (tmp_path / "mine.pt").write_bytes(b"")
    r = request("--set", str(write(tmp_path, 'model = "mine.pt"\n')))
    assert r.model == str(tmp_path / "mine.pt")


# ---- switching presets --------------------------------------------------------------------------


def switcher(tmp_path: Path) -> tuple[PresetSwitcher, LiveControls, list]:
    start = load_live_set(write(tmp_path, GOOD)).start()
    controls = LiveControls(start.state)
    presets = PresetSwitcher(controls, start.presets, start.preset)
    changes: list = []
    controls.on_change(lambda names, state: changes.append((tuple(names), state)))
    told: list = []
    presets.on_switch(told.append)
    return presets, controls, [changes, told]


def test_a_switch_applies_every_value_at_once_through_the_live_state(tmp_path):
    presets, controls, (changes, told) = switcher(tmp_path)
    assert presets.select("fast one")
    assert controls.state.tempo == 150.0 and controls.state.mode == "solo"
    assert (controls.state.low, controls.state.high) == (21, 108)  # back to the base: the preset leaves them out
    assert len(changes) == 1  # one change with every name: listeners (feedback, engine) see it whole
    assert set(changes[0][0]) == {"tempo", "mode", "low", "high"}
    assert told == ["fast one"] and presets.current == "fast one"
    assert presets.program(0) and controls.state.tempo == 70.0 and told[-1] == "slow"
    assert presets.osc(("fast one",)) and told[-1] == "fast one"


def test_an_unknown_preset_changes_nothing_and_logs_one_line(tmp_path, caplog):
    presets, controls, (changes, told) = switcher(tmp_path)
    seconds = iter(range(0, 100, 2))
    presets.log.clock = lambda: float(next(seconds))  # two seconds apart: past the one-a-second limit
    before = controls.state
    with caplog.at_level(logging.WARNING, logger="livegen.session.presets"):
        assert not presets.osc(("encore",))
    assert [r.getMessage() for r in caplog.records] == [
        "OSC: no preset 'encore' (the presets: slow, fast one); nothing changed"]
    assert controls.state == before and changes == []
    assert told == ["slow"]  # the name in force is sent back
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="livegen.session.presets"):
        assert not presets.program(5)
        assert not presets.osc((3,))
    assert [r.getMessage() for r in caplog.records] == [
        "program change 5: the set has 2 presets (programs 0..1); nothing changed",
        "OSC /livegen/preset takes one preset name (a string), got (3,); nothing changed"]
    assert controls.state == before and presets.refused == 3


def test_the_osc_server_hands_preset_messages_to_the_handler_over_udp():
    got: list = []
    done = threading.Event()

    def handler(args: tuple) -> None:
        got.append(args)
        done.set()

    with OscServer("127.0.0.1", 0, commands={PRESET_ADDRESS: handler}) as server:
        SimpleUDPClient(*server.address).send_message(PRESET_ADDRESS, "ballad")
        assert done.wait(5)
        assert server.refused == 0 and server.poll() == []
    assert got == [("ballad",)]


# ---- end to end: the example set over real ports ---------------------------------------------

GRID_TOLERANCE = 0.030  # s, as in test_play_e2e: a non-realtime JACK delays single deliveries
EB_MAJOR = {i for i, on in enumerate(pitch_class_mask("Eb", "major")) if on}
D_MAJOR = {i for i, on in enumerate(pitch_class_mask("D", "major")) if on}
A_BLUES = {i for i, on in enumerate(pitch_class_mask("A", "blues")) if on}


def off_grid(times: list[float], period: float) -> float:
    """Largest distance (s) of ``times`` from the best-fitting grid of ``period`` seconds."""
    t = np.asarray(times)
    phase = np.angle(np.exp(2j * np.pi * (t - t[0]) / period).mean())
    residual = (t - t[0]) / period - phase / (2 * np.pi)
    return float(np.max(np.abs(residual - np.rint(residual))) * period)


class Gig(PlayProcess):
    """``livegen play --set`` in a subprocess, a tester client on its ports, its feedback."""

    def __init__(self, tmp: Path, *argv: str) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            self.osc_port = probe.getsockname()[1]
        super().__init__([*argv, "--osc-port", str(self.osc_port)])

    def wait_beat(self, k: int) -> float:
        """Wait for livegen's ``/livegen/beat k`` feedback; its arrival time."""
        end = time.monotonic() + START_TIMEOUT
        while True:
            hit = [t for t, a, args in list(self.feedback) if a == "/livegen/beat" and args == (k,)]
            if hit:
                return hit[0]
            assert time.monotonic() < end and self.proc.poll() is None, f"no beat {k}"
            time.sleep(0.005)

    def told(self, address: str) -> list[tuple[float, tuple]]:
        return [(t, args) for t, a, args in list(self.feedback) if a == address]

    def wait_feedback(self, address: str, value: float, after: float) -> float:
        """Wait for livegen's feedback ``address value`` arriving after monotonic ``after``
        (the value in force: a preset applied); its arrival time."""
        end = time.monotonic() + START_TIMEOUT
        while True:
            hit = [t for t, a, args in list(self.feedback)
                   if a == address and t > after and len(args) == 1 and args[0] == value]
            if hit:
                return hit[0]
            assert time.monotonic() < end, f"no {address} {value} in the feedback: {list(self.feedback)[-20:]}"
            threading.Event().wait(0.02)

    def onsets(self, start: float, end: float) -> list[tuple[float, int]]:
        return [(t, m.note) for t, m in self.received
                if m.type == "note_on" and m.velocity > 0 and start < t < end]

    def finish(self, timeout: float = 60.0) -> tuple[int, str, str]:
        return self.wait_exit(timeout)


@pytest.mark.jack
@pytest.mark.slow
def test_the_example_set_switches_presets_by_osc_and_program_change_and_the_notes_follow(jack_server, tmp_path):
    """Starts in ``ballad`` (Eb major, 76 BPM), ``/livegen/preset reel`` over UDP (D major,
    132 BPM), an unknown name that changes nothing, then program change 2 on livegen's JACK
    input (``blues``: A blues). Every note the tester hears in a phase, one step after the
    switch on, is in that preset's scale, and ballad and reel notes sit on their own tempo's
    step grid. Solo mode, a strong density and short notes (flags over the set) make the
    shipped model busy enough to tell."""
    gig = Gig(tmp_path, "--set", str(EXAMPLE), "--bars", "7", "--mode", "solo", "--density", "2",
              "--max-note-beats", "0.5", "--seed", "3")
    try:
        gig.connect(jack_server)
        osc = SimpleUDPClient("127.0.0.1", gig.osc_port)
        gig.wait_beat(6)
        sent_reel = time.monotonic()  # the ballad's notes end before this, the reel's start after t_reel
        osc.send_message(PRESET_ADDRESS, "reel")
        t_reel = gig.wait_feedback("/livegen/tempo", 132.0, sent_reel)  # the preset is in force from here
        gig.wait_beat(11)
        osc.send_message(PRESET_ADDRESS, "encore")  # unknown: one log line, nothing changes
        gig.wait_beat(15)
        sent_blues = time.monotonic()
        assert gig.out is not None
        gig.out.send(mido.Message("program_change", program=2, channel=4))
        t_blues = gig.wait_feedback("/livegen/tempo", 96.0, sent_blues)
        rc, out, err = gig.finish()
    finally:
        gig.close()
    assert rc == 0, err[-2000:]
    assert "Traceback" not in err
    assert "preset ballad" in err  # the start-up line
    assert [line for line in err.splitlines() if "encore" in line] == [
        "WARNING livegen.session.presets: OSC: no preset 'encore' (the presets: ballad, reel, blues, band); nothing changed"]

    steps = {name: 60.0 / tempo / 2 for name, tempo in (("ballad", 76), ("reel", 132), ("blues", 96))}
    settle = {name: 1.5 * step + 0.05 for name, step in steps.items()}  # one step of look-ahead
    ballad = gig.onsets(0.0, sent_reel)
    reel = gig.onsets(t_reel + settle["ballad"], sent_blues)
    blues = gig.onsets(t_blues + settle["reel"], float("inf"))
    assert len(ballad) >= 5 and len(reel) >= 5 and len(blues) >= 5, (len(ballad), len(reel), len(blues))
    # what is played follows each preset's key and scale
    assert {p % 12 for _, p in ballad} <= EB_MAJOR
    assert {p % 12 for _, p in reel} <= D_MAJOR
    assert {p % 12 for _, p in reel} - EB_MAJOR, "the reel played nothing the ballad could not"
    assert {p % 12 for _, p in blues} <= A_BLUES
    # ... and each preset's tempo: the onsets sit on its step grid (and not on the other's), on
    # the clock livegen keeps (JACK's frames with the JACK backend)
    ballad_times = [t for t, _ in gig.grid_onsets(0.0, sent_reel)]
    reel_times = [t for t, _ in gig.grid_onsets(t_reel + settle["ballad"], sent_blues)]
    assert off_grid(ballad_times, steps["ballad"]) < GRID_TOLERANCE, (ballad_times, err[-1500:])
    assert off_grid(reel_times, steps["reel"]) < GRID_TOLERANCE, (reel_times, err[-1500:])
    assert off_grid(reel_times, steps["ballad"]) > GRID_TOLERANCE
    # the controller was told the preset in force and the values it brought
    names = [args for _, args in gig.told(PRESET_ADDRESS)]
    assert names[0] == ("ballad",) and ("reel",) in names and names[-1] == ("blues",)
    after_encore = names[names.index(("reel",)) + 1]
    assert after_encore == ("reel",)  # the refused name is answered with the one in force
    tempos = [args[0] for _, args in gig.told(CONTROLS["tempo"].address)]
    assert tempos[0] == 76.0 and 132.0 in tempos and tempos[-1] == 96.0
    assert [args for _, args in gig.told(CONTROLS["scale"].address)][-1] == ("blues",)


def test_the_live_set_is_a_complete_preset_table_for_the_example(tmp_path):
    """The example's presets, once complete, all set the same controls."""
    start = LiveSet().start()
    assert start.presets == {} and start.state == ControlState.default()
    complete = load_live_set(EXAMPLE).start().presets
    assert len({tuple(sorted(p)) for p in complete.values()}) == 1


def test_the_live_view_and_the_controls_listing_name_the_preset(capsys):
    status = {"status": "playing", "mode": "call", "bar": 1, "beat": 0, "bpm": 120.0, "temperature": 1.0,
              "sounding": [], "held": [], "compute_ms": 1.0, "late_steps": 0, "lateness_ms": 0.0}
    view = LiveView(stream=io.StringIO())
    assert "preset" not in view.line(status)
    assert "| preset reel | call" in view.line({**status, "preset": "reel"})
    assert "| preset - | call" in view.line({**status, "preset": None})
    assert "| parts melody chords bass (muted) | call" in view.line(
        {**status, "parts": ["melody", "chords", "bass"], "parts_muted": ["bass"], "parts_soloed": []})
    assert PRESET_ADDRESS == FEEDBACK["preset"].address == "/livegen/preset"
    assert main(["controls"]) == 0
    assert "/livegen/preset" in capsys.readouterr().out


def test_a_set_names_its_parts_and_a_wrong_name_is_one_line(tmp_path) -> None:
    assert load_live_set(write(tmp_path, 'parts = "satb"\n' + GOOD)).parts == "satb"
    assert load_live_set(write(tmp_path, GOOD)).parts is None
    with pytest.raises(LivegenError) as caught:
        load_live_set(write(tmp_path, 'parts = "sab"\n' + GOOD))
    assert "'sab' is not one of one, melody-chords-bass, satb" in str(caught.value)
    assert "\n" not in str(caught.value)


PARTS = """\
[parts]
layout = "melody-chords-bass"

[parts.bass]
program = 33
octave = -1

[presets.loud.parts.melody]
velocity = 1.5

[presets.quiet]
tempo = 80

[presets.quiet.parts.bass]
mute = true
"""


def test_a_parts_table_sets_each_parts_controls_and_presets_are_complete_over_them(tmp_path) -> None:
    live = load_live_set(write(tmp_path, PARTS))
    assert live.parts == "melody-chords-bass"
    assert live.part_values == {"bass": {"program": 33, "octave": -1}}
    start = live.start()
    assert start.part_values == live.part_values
    # every part control the set names, in every preset: its own value or the base one
    assert start.part_presets["loud"] == {"bass": {"program": 33, "octave": -1, "mute": False},
                                          "melody": {"velocity": 1.5}}
    assert start.part_presets["quiet"] == {"bass": {"program": 33, "octave": -1, "mute": True},
                                           "melody": {"velocity": 1.0}}


def test_a_preset_switch_sets_the_parts_and_a_later_preset_gives_them_back(tmp_path) -> None:
    from livegen.controls.parts import PartsState
    from livegen.music.parts import LAYOUTS

    live = load_live_set(write(tmp_path, PARTS))
    start = live.start()
    parts = PartsState.for_layout(LAYOUTS["melody-chords-bass"]).apply_many(start.part_values)
    controls = LiveControls(start.state, parts=parts)
    switcher = PresetSwitcher(controls, start.presets, None, start.part_presets)
    heard: list[tuple[str, str]] = []
    controls.on_part_change(lambda changes, _: heard.extend(changes))
    assert switcher.select("quiet")
    assert controls.parts is not None and controls.parts.of("bass").mute and controls.state.tempo == 80
    assert ("bass", "mute") in heard
    assert switcher.select("loud")
    assert controls.parts.of("melody").velocity == 1.5 and not controls.parts.of("bass").mute
    assert controls.parts.of("bass").octave == -1


@pytest.mark.parametrize("text, key, words", [
    ('[parts]\nlayout = "satb"\n[parts.melody]\nmute = true\n', "melody", "known keys here: soprano"),
    ('[parts]\nlayout = "melody-chords-bass"\n[parts.bass]\noctave = 5\n', "octave", "outside -3..3"),
    ('[parts]\nlayout = "melody-chords-bass"\n[parts.bass]\nloud = 1\n', "loud", "known keys here: channel"),
    ('[parts]\nlayout = "melody-chords-bass"\n[parts.bass]\nchannel = 1\n', "parts:", "the melody part's already"),
    ('[parts.bass]\nmute = true\n', "[parts]", "names its layout"),
    ('[presets.x.parts.bass]\nmute = true\n', "[presets.x] parts", "need a layout"),
])
def test_a_bad_parts_table_is_one_line_with_file_line_and_key(tmp_path, text, key, words) -> None:
    with pytest.raises(LiveSetError) as caught:
        load_live_set(write(tmp_path, text))
    message = str(caught.value)
    assert key in message and words in message and "\n" not in message and "line" in message, message


def test_the_example_sets_band_plays_each_part_with_its_controls(tmp_path) -> None:
    from livegen.session.play import start_parts

    args = build_parser().parse_args(["play", "--set", str(EXAMPLE)])
    request = build_request(args)
    parts = start_parts(request)
    assert request.parts == "melody-chords-bass" and parts is not None
    assert parts.of("melody").program == 73 and parts.of("bass").program == 33
    assert [s.channel for s in parts.settings] == [1, 2, 3]
    band = request.part_presets["band"]
    assert band["bass"] == {"program": 33, "octave": -1, "velocity": 1.2} and band["chords"] == {"velocity": 0.8}
    assert request.part_presets["ballad"]["bass"] == {"program": 33, "octave": 0, "velocity": 1.0}
