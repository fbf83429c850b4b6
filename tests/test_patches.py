"""The shipped controller patches: every OSC address they use is in the control table, they
equal a fresh generation, and the Pure Data patch works against livegen's OSC code."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import socket
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from livegen.cli import main as cli_main
from livegen.controls import patches as patches_gen
from livegen.controls.patches import BAND
from livegen.controls.table import CONTROLS, FEEDBACK, ControlState, all_addresses
from livegen.io.osc import OscFeedback, OscServer
from livegen.music.parts import LAYOUTS
from livegen.session.part_commands import part_addresses

PATCHES = Path(__file__).resolve().parents[1] / "patches"
PART_ADDRESSES = set(part_addresses([p.name for p in LAYOUTS[BAND]]))
KNOWN = all_addresses() | PART_ADDRESSES


def _raw(kind: str) -> set[str]:
    return {c.address for c in CONTROLS.values() if c.kind == kind}


# -- TouchOSC -------------------------------------------------------------------------------

def _touchosc_controls(xml_text: str) -> list[dict[str, str]]:
    root = ET.fromstring(xml_text)
    assert root.tag == "layout" and root.get("version") == "17"
    controls = []
    for el in root.iter("control"):
        attrs = dict(el.attrib)
        for key in ("name", "osc_cs", "text"):
            if key in attrs:
                attrs[key] = base64.b64decode(attrs[key], validate=True).decode("utf-8")
        controls.append(attrs)
    return controls


def test_touchosc_layout_uses_only_table_addresses():
    with zipfile.ZipFile(PATCHES / "livegen.touchosc") as zf:
        assert zf.namelist() == ["index.xml"]
        controls = _touchosc_controls(zf.read("index.xml").decode("utf-8"))
    names = [c["name"] for c in controls]
    assert len(names) == len(set(names))
    used = {c["osc_cs"] for c in controls if "osc_cs" in c}
    assert all(c["type"].startswith("label") for c in controls if "osc_cs" not in c)  # no auto addresses
    assert used <= KNOWN, used - KNOWN
    faders = {c["osc_cs"] for c in controls if c["type"] == "faderh"}
    band = [p.name for p in LAYOUTS[BAND]]
    assert faders == {c.norm_address for c in CONTROLS.values() if c.kind in ("float", "int", "enum")} | {
        f"/livegen/part/{p}/{w}/norm" for p in band for w in ("velocity", "octave")}
    assert {c["osc_cs"] for c in controls if c["type"] in ("toggle", "push")} == _raw("toggle") | _raw("trigger") | {
        f"/livegen/part/{p}/{w}" for p in band for w in ("mute", "solo")}
    assert FEEDBACK["lyrics_line"].address in {c.get("osc_cs") for c in controls if c["type"] == "labelh"}
    for c in controls:
        assert int(c["x"]) >= 0 and int(c["x"]) + int(c["w"]) <= 768 and int(c["y"]) + int(c["h"]) <= 1024


# -- Pure Data ------------------------------------------------------------------------------

def _pd_records(text: str) -> tuple[list[list[str]], list[tuple[int, int, int, int]]]:
    """Objects (as atom lists after ``#X kind x y``, kind first) and connections."""
    objects, connections = [], []
    for record in re.split(r"(?<!\\);\n", text.strip().rstrip(";")):
        atoms = record.split()
        if atoms[0] == "#N":
            continue
        assert atoms[0] == "#X", record
        if atoms[1] == "connect":
            connections.append(tuple(int(a) for a in atoms[2:6]))
        else:
            objects.append([atoms[1], *atoms[4:]])
    return objects, connections


def _pd_addresses(text: str) -> tuple[set[str], set[str]]:
    """(addresses sent by [oscformat]s, addresses reached through the [route] tree)."""
    objects, connections = _pd_records(text)
    sent = {"/" + "/".join(o[2:]) for o in objects if o[:2] == ["obj", "oscformat"]}
    received: set[str] = set()

    def walk(index: int, path: list[str]) -> None:
        obj = objects[index]
        outs = [(outlet, dst) for src, outlet, dst, _ in connections if src == index]
        if obj[:3] == ["obj", "list", "trim"]:
            for _, dst in outs:
                walk(dst, path)
        elif obj[:2] == ["obj", "route"]:
            args = obj[2:]
            for outlet, dst in outs:
                walk(dst, path + [args[outlet]] if outlet < len(args) else path)
        else:
            received.add("/" + "/".join(path))

    parsers = [i for i, o in enumerate(objects) if o[:2] == ["obj", "oscparse"]]
    assert len(parsers) == 1
    for src, _, dst, _ in connections:
        if src == parsers[0]:
            walk(dst, [])
    return sent, received


def test_pd_patch_uses_only_table_addresses():
    sent, received = _pd_addresses((PATCHES / "livegen.pd").read_text(encoding="utf-8"))
    assert sent == {c.address for c in CONTROLS.values()}
    assert received <= KNOWN, received - KNOWN
    assert {f.address for f in FEEDBACK.values()} <= received
    assert {c.address for c in CONTROLS.values() if c.kind != "trigger"} <= received


# -- Open Stage Control ---------------------------------------------------------------------

def _osc_widgets(node: dict) -> list[dict]:
    found = []
    for child in node.get("widgets", []) + node.get("tabs", []):
        found.append(child)
        found += _osc_widgets(child)
    return found


def test_open_stage_control_session_uses_only_table_addresses():
    session = json.loads((PATCHES / "livegen-osc.json").read_text(encoding="utf-8"))
    assert session["type"] == "session" and session["content"]["type"] == "root"
    widgets = _osc_widgets(session["content"])
    ids = [w["id"] for w in widgets]
    assert len(ids) == len(set(ids))
    leaves = [w for w in widgets if w["type"] != "panel"]
    assert all("address" in w for w in leaves)  # no automatic /<id> addresses
    used = {w["address"] for w in leaves}
    assert used <= KNOWN, used - KNOWN
    senders = {w["address"] for w in leaves if w["type"] != "text"}
    assert senders == {c.address for c in CONTROLS.values()} | {
        f"/livegen/part/{p.name}/{w}" for p in LAYOUTS[BAND] for w in ("mute", "solo", "velocity", "octave")}
    assert FEEDBACK["lyrics_line"].address in {w["address"] for w in leaves if w["type"] == "text"}


# -- freshness ------------------------------------------------------------------------------

def test_shipped_patches_equal_a_fresh_generation(tmp_path):
    assert cli_main(["patches", "--out", str(tmp_path)]) == 0
    for name in (patches_gen.PD_FILE, patches_gen.OSC_SESSION_FILE):
        assert (tmp_path / name).read_text(encoding="utf-8") == (PATCHES / name).read_text(encoding="utf-8"), (
            f"patches/{name} is stale: run `livegen patches`")
    with zipfile.ZipFile(tmp_path / patches_gen.TOUCHOSC_FILE) as fresh, \
            zipfile.ZipFile(PATCHES / patches_gen.TOUCHOSC_FILE) as shipped:
        assert fresh.read("index.xml") == shipped.read("index.xml"), "patches/livegen.touchosc is stale"
    assert (PATCHES / "README.md").is_file()


# -- Pure Data as an independent OSC peer ---------------------------------------------------

needs_pd = pytest.mark.skipif(shutil.which("pd") is None, reason="Pure Data not installed (apt-get install puredata-core)")


@needs_pd
def test_pd_loads_the_patch_without_errors():
    done = subprocess.run(["pd", "-nogui", "-nosound", "-nomidi", "-stderr", "-open", str(PATCHES / "livegen.pd"),
                           "-send", "pd quit"], capture_output=True, text=True, timeout=60)
    assert "couldn't create" not in done.stderr and "error" not in done.stderr.lower(), done.stderr


def _free_udp_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@needs_pd
def test_pd_patch_talks_to_livegen_both_ways(tmp_path):
    """Pd's sliders send to an OscServer; OscFeedback's messages move Pd's GUIs and displays."""
    text = (PATCHES / "livegen.pd").read_text(encoding="utf-8")
    objects, _ = _pd_records(text)
    n = len(objects)
    # spy on what the feedback sends to the GUIs' receive names
    spies = (f"#X obj 20 2000 r livegen-key;\n#X obj 20 2030 print KEYSET;\n"
             f"#X obj 200 2000 r livegen-tempo;\n#X obj 200 2030 print TEMPOSET;\n"
             f"#X connect {n} 0 {n + 1} 0;\n#X connect {n + 2} 0 {n + 3} 0;\n")
    feedback_port = _free_udp_port()

    async def scenario() -> tuple[dict[str, object], str]:
        async with OscServer(port=0) as server:
            patch = text.replace("connect 127.0.0.1 9000", f"connect 127.0.0.1 {server.address[1]}")
            patch = patch.replace("netreceive -u -b 9001", f"netreceive -u -b {feedback_port}")
            assert patch != text
            (tmp_path / "test.pd").write_text(patch + spies, encoding="utf-8")
            proc = subprocess.Popen(
                ["pd", "-nogui", "-nosound", "-nomidi", "-stderr", "-open", str(tmp_path / "test.pd"), "-send",
                 "livegen-tempo 96; livegen-key 3; livegen-reset bang; livegen-mute 1; "
                 "livegen-lyrics_artist symbol burns"],
                stderr=subprocess.PIPE, text=True)
            lines: list[str] = []
            reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)  # type: ignore[arg-type]
            reader.start()
            try:
                got: dict[str, object] = {}
                while len(got) < 5:  # five controls; a control sent twice keeps its latest value
                    change = await asyncio.wait_for(server.get(), 20)
                    got[change.name] = change.value
                fb = OscFeedback(("127.0.0.1", feedback_port))
                deadline = time.monotonic() + 20
                while not any("livegen-beat: 999" in ln for ln in lines):  # resend until Pd is listening
                    assert time.monotonic() < deadline, "".join(lines)
                    fb.send_lyrics_line("hello there, world")
                    fb.send_status("listening")
                    fb.send_state(ControlState.default().apply("key", "E").apply("tempo", 90))
                    fb.send_beat(999)
                    await asyncio.sleep(0.2)
                fb.close()
            finally:
                proc.terminate()
                proc.wait(timeout=10)
                reader.join(timeout=10)
            return got, "".join(lines)

    got, log = asyncio.run(scenario())
    assert sorted(got.items()) == [("key", "D#"), ("lyrics_artist", "burns"), ("mute", True), ("reset", True),
                                   ("tempo", 96.0)]
    assert "livegen-lyrics-line: symbol hello" in log and "livegen-status: symbol listening" in log
    assert "KEYSET: set 4" in log  # /livegen/key/norm 4/11 -> radio index 4 (E)
    assert "TEMPOSET: set 90" in log
    assert "error" not in log.lower(), log
