"""The control table: OSC value parsing, /norm scaling, MIDI CC mapping, ControlState."""

from __future__ import annotations

import dataclasses
import math

import pytest

from livegen.controls.table import (
    CONTROLS,
    FEEDBACK,
    NORM_SUFFIX,
    ControlChange,
    ControlError,
    ControlState,
    all_addresses,
    cc_table,
    feedback_messages,
    from_cc,
    input_addresses,
    parse_osc,
)
from livegen.music.scales import NOTE_NAMES, SCALES


def test_table_has_the_required_controls_with_their_ranges():
    t = CONTROLS
    assert (t["temperature"].minimum, t["temperature"].maximum, t["temperature"].default) == (0.0, 2.0, 1.0)
    assert (t["tempo"].minimum, t["tempo"].maximum, t["tempo"].default, t["tempo"].unit) == (30, 300, 120, "bpm")
    assert (t["density"].minimum, t["density"].maximum, t["density"].default) == (-3, 3, 0)
    assert t["key"].choices == NOTE_NAMES
    assert t["scale"].choices == tuple(SCALES)
    assert t["mode"].choices == ("call", "accompany", "solo")
    assert (t["polyphony"].minimum, t["polyphony"].maximum) == (0, 12)
    assert t["mute"].kind == "toggle" and t["reset"].kind == "trigger" and t["panic"].kind == "trigger"
    assert {"low", "high", "silence"} <= set(t)
    for name in ("temperature", "artist", "prime"):
        assert t[f"lyrics_{name}"].address == f"/livegen/lyrics/{name}"
    assert t["lyrics_artist"].kind == "string" and t["lyrics_prime"].kind == "string"


def test_addresses_are_unique_and_under_the_prefix():
    addresses = [c.address for c in CONTROLS.values()] + [f.address for f in FEEDBACK.values()]
    assert len(addresses) == len(set(addresses))
    assert all(a.startswith("/livegen/") for a in addresses)
    assert FEEDBACK["lyrics_line"].address == "/livegen/lyrics/line"
    assert "/livegen/tempo/norm" in input_addresses() and "/livegen/reset/norm" not in input_addresses()
    assert input_addresses() < all_addresses()


def test_defaults_are_valid_and_state_fields_match_the_table():
    stateful = [c for c in CONTROLS.values() if c.kind != "trigger"]
    assert [f.name for f in dataclasses.fields(ControlState)] == [c.name for c in stateful]
    assert ControlState() == ControlState.default()
    for c in stateful:
        assert c.coerce(c.default) == c.default


@pytest.mark.parametrize(("address", "args", "name", "value"), [
    ("/livegen/tempo", [96], "tempo", 96.0),
    ("/livegen/tempo", [96.5], "tempo", 96.5),
    ("/livegen/temperature", [0.5], "temperature", 0.5),  # raw address: 0.5 is raw, not a fader
    ("/livegen/temperature/norm", [0.0], "temperature", 0.0),
    ("/livegen/temperature/norm", [1.0], "temperature", 2.0),
    ("/livegen/tempo/norm", [0.5], "tempo", 165.0),
    ("/livegen/density/norm", [0.5], "density", 0.0),
    ("/livegen/polyphony", [4.0], "polyphony", 4),
    ("/livegen/polyphony/norm", [1.0], "polyphony", 12),
    ("/livegen/low", [36], "low", 36),
    ("/livegen/key", ["D"], "key", "D"),
    ("/livegen/key", ["eb"], "key", "D#"),
    ("/livegen/key", [3], "key", "D#"),
    ("/livegen/key", [3.0], "key", "D#"),
    ("/livegen/key/norm", [1.0], "key", "B"),
    ("/livegen/key/norm", [0.0], "key", "C"),
    ("/livegen/scale", ["MINOR"], "scale", "minor"),
    ("/livegen/mode", ["solo"], "mode", "solo"),
    ("/livegen/mode/norm", [0.5], "mode", "accompany"),
    ("/livegen/mute", [1], "mute", True),
    ("/livegen/mute", [0.0], "mute", False),
    ("/livegen/mute", [True], "mute", True),
    ("/livegen/mute", ["on"], "mute", True),
    ("/livegen/mute/norm", [0.7], "mute", True),
    ("/livegen/mute/norm", [0.2], "mute", False),
    ("/livegen/reset", [], "reset", True),
    ("/livegen/panic", [1.0], "panic", True),
    ("/livegen/lyrics/temperature", [1.2], "lyrics_temperature", 1.2),
    ("/livegen/lyrics/artist", ["burns"], "lyrics_artist", "burns"),
    ("/livegen/lyrics/prime", [""], "lyrics_prime", ""),
])
def test_valid_messages(address, args, name, value):
    change = parse_osc(address, args)
    assert change is not None and change.name == name
    if isinstance(value, float):
        assert change.value == pytest.approx(value) and isinstance(change.value, float)
    else:
        assert change.value == value and type(change.value) is type(value)


def test_trigger_release_is_ignored():
    assert parse_osc("/livegen/reset", [0]) is None
    assert parse_osc("/livegen/panic", [False]) is None


@pytest.mark.parametrize(("address", "args", "reason"), [
    ("/livegen/nope", [1], "unknown OSC address"),
    ("/other/tempo", [1], "unknown OSC address"),
    ("/livegen/tempo", [20], "outside 30..300"),
    ("/livegen/tempo", [301.0], "outside"),
    ("/livegen/tempo", ["fast"], "takes a number"),
    ("/livegen/tempo", [float("nan")], "finite"),
    ("/livegen/tempo", [math.inf], "finite"),
    ("/livegen/tempo", [True], "takes a number"),
    ("/livegen/tempo", [b"\x00\x01"], "takes a number"),
    ("/livegen/tempo", [], "one value"),
    ("/livegen/tempo", [100, 110], "one value"),
    ("/livegen/temperature", [-0.1], "outside"),
    ("/livegen/polyphony", [4.4], "whole number"),
    ("/livegen/tempo/norm", [1.5], "0..1"),
    ("/livegen/tempo/norm", [-0.1], "0..1"),
    ("/livegen/polyphony", [13], "outside"),
    ("/livegen/key", ["H"], "not one of"),
    ("/livegen/key", [12], "outside 0..11"),
    ("/livegen/key", [0.5], "norm"),  # a fader value on the raw address is explained, not guessed
    ("/livegen/scale", ["phrygian-ish"], "not one of"),
    ("/livegen/mute", [0.5], "0 or 1"),
    ("/livegen/mute", ["maybe"], "0/1"),
    ("/livegen/reset", [-1], "negative"),
    ("/livegen/reset", ["now"], "number"),
    ("/livegen/lyrics/artist", [3], "string"),
    ("/livegen/lyrics/prime", ["x" * 300], "longer"),
])
def test_bad_messages_are_rejected_with_a_reason(address, args, reason):
    with pytest.raises(ControlError, match=reason):
        parse_osc(address, args)
    assert issubclass(ControlError, ValueError)


def test_norm_roundtrip():
    for c in CONTROLS.values():
        if c.norm_address is None:
            continue
        for x in (0.0, 0.25, 0.5, 1.0):
            value = c.from_normalized(x)
            assert c.from_normalized(c.to_normalized(value)) == value


def test_cc_mapping():
    assert from_cc(22, 0) == ControlChange("tempo", 30.0)
    assert from_cc(22, 127) == ControlChange("tempo", 300.0)
    assert from_cc(27, 127) == ControlChange("key", "B")
    assert from_cc(30, 64) == ControlChange("mute", True)
    assert from_cc(30, 63) == ControlChange("mute", False)
    assert from_cc(102, 127) == ControlChange("reset", True)
    assert from_cc(102, 0) is None  # release
    assert from_cc(1, 64) is None  # mod wheel is not ours
    with pytest.raises(ControlError):
        from_cc(20, 128)
    assert set(cc_table().values()) == {c.name for c in CONTROLS.values() if c.cc is not None}
    assert len(cc_table()) == len({c.cc for c in CONTROLS.values() if c.cc is not None})


def test_state_apply_is_immutable_and_validated():
    s0 = ControlState.default()
    s1 = s0.apply("tempo", 96)
    assert s0.tempo == 120.0 and s1.tempo == 96.0
    s2 = s1.apply(parse_osc("/livegen/key/norm", [0.5]))
    assert s2.key == "F#"
    assert s2.apply(parse_osc("/livegen/reset", [])) is s2  # triggers carry no state
    with pytest.raises(ControlError):
        s0.apply("tempo", 1000)
    with pytest.raises(ControlError, match="unknown control"):
        s0.apply("volume", 1)
    with pytest.raises(ControlError, match="above high"):
        s0.apply("high", 60).apply("low", 70)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s0.tempo = 1  # type: ignore[misc]


def test_pitch_classes_follow_key_and_scale():
    assert ControlState.default().pitch_classes is None
    mask = ControlState.default().apply("key", "D").apply("scale", "major").pitch_classes
    assert mask is not None
    assert [NOTE_NAMES[i] for i, on in enumerate(mask) if on] == ["C#", "D", "E", "F#", "G", "A", "B"]


def test_feedback_messages_cover_raw_and_norm_and_parse_back():
    state = ControlState.default().apply("tempo", 165).apply("key", "E").apply("mute", True)
    messages = dict(feedback_messages(state))
    assert messages["/livegen/tempo"] == [165.0]
    assert messages["/livegen/tempo/norm"] == [pytest.approx(0.5)]
    assert messages["/livegen/key"] == ["E"]
    assert messages["/livegen/mute"] == [1]
    assert "/livegen/reset" not in messages
    # every feedback message is itself a valid control message yielding the same state
    rebuilt = ControlState.default()
    for address, args in feedback_messages(state):
        change = parse_osc(address, args)
        assert change is not None
        if not address.endswith(NORM_SUFFIX):
            rebuilt = rebuilt.apply(change)
    assert rebuilt == state
    assert [a for a, _ in feedback_messages(state, ["tempo"])] == ["/livegen/tempo", "/livegen/tempo/norm"]
