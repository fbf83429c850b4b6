"""Generate controller patches from the control table (:mod:`livegen.controls.table`).

Three files, all derived from :data:`~livegen.controls.table.CONTROLS` and
:data:`~livegen.controls.table.FEEDBACK`, so a control added to the table appears in
every controller after ``livegen patches``:

* ``livegen.touchosc`` — TouchOSC (Mk1 layout format, also imported by current TouchOSC):
  a zip holding ``index.xml`` (layout version 17; names, addresses and texts base64).
  Faders send 0..1 to ``/livegen/<name>/norm``; a label beside each shows the raw value
  livegen echoes to ``/livegen/<name>``; a wide label shows ``/livegen/lyrics/line``.
  Mk1 has no text entry, so string controls are left to the other two patches.
* ``livegen.pd`` — Pure Data (vanilla >= 0.46: ``oscformat``, ``oscparse``,
  ``netsend -u -b``, ``netreceive -u -b``). Sends raw values to 127.0.0.1:9000 and shows
  feedback received on UDP 9001. Every GUI object has the receive name
  ``livegen-<name>``, so ``; livegen-tempo 96`` moves it (and sends) from anywhere.
* ``livegen-osc.json`` — an Open Stage Control session: faders with the real ranges,
  dropdowns for enums, buttons, text inputs for strings, text displays for feedback.

Output is deterministic (fixed zip time stamps, sorted keys) so the shipped files can be
compared with a fresh generation in the tests.
"""

from __future__ import annotations

import base64
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

from livegen.controls.parts import PART_CONTROLS, part_address
from livegen.controls.table import CONTROLS, FEEDBACK, NORM_SUFFIX, Control
from livegen.music.parts import LAYOUTS

#: the layout the patches' band page shows
BAND = "melody-chords-bass"

TOUCHOSC_FILE = "livegen.touchosc"
PD_FILE = "livegen.pd"
OSC_SESSION_FILE = "livegen-osc.json"
#: UDP port livegen listens on, and the port the patches listen on for feedback.
LIVEGEN_PORT = 9000
FEEDBACK_PORT = 9001
_ZIP_TIME = (2024, 1, 1, 0, 0, 0)


def _faders() -> list[Control]:
    return [c for c in CONTROLS.values() if c.kind in ("float", "int", "enum")]


def _kind(kind: str) -> list[Control]:
    return [c for c in CONTROLS.values() if c.kind == kind]


# -- TouchOSC ---------------------------------------------------------------------------------

def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _tosc_control(kind: str, name: str, x: int, y: int, w: int, h: int, color: str, **attrs: str) -> str:
    parts = [f'name="{_b64(name)}"', f'x="{x}"', f'y="{y}"', f'w="{w}"', f'h="{h}"', f'color="{color}"']
    if kind not in ("labelh", "labelv"):
        parts += ['scalef="0.0"', 'scalet="1.0"']
    parts.append(f'type="{kind}"')
    for key, value in attrs.items():
        if key in ("osc_cs", "text"):
            value = _b64(value)
        parts.append(f"{key}={quoteattr(value)}")
    return "<control " + " ".join(parts) + " ></control>"


def touchosc_xml() -> str:
    """``index.xml`` of the TouchOSC layout (iPad portrait, 768 x 1024)."""
    rows: list[str] = []
    y = 10
    rows.append(_tosc_control("labelh", "title", 10, y, 500, 40, "gray", text="livegen", size="24",
                              background="false", outline="false"))
    rows.append(_tosc_control("labelh", "status", 520, y, 238, 40, "gray", text="status",
                              size="14", background="true", outline="false",
                              osc_cs=FEEDBACK["status"].address))
    y += 50
    label_w, fader_w, value_w = 170, 440, 128
    faders = _faders()
    # the fader rows share what the page leaves them (buttons, beat and lyrics take 190 px)
    pitch = min(52, (1024 - y - 190 - 10) // max(1, len(faders)))
    h = pitch - 8
    for i, c in enumerate(faders):
        color = ("red", "orange", "yellow", "green", "blue", "purple")[i % 6]
        rows.append(_tosc_control("labelh", f"{c.name}_label", 10, y, label_w, h, "gray", text=c.name,
                                  size="14", background="false", outline="false"))
        rows.append(_tosc_control("faderh", c.name, 10 + label_w, y, fader_w, h, color,
                                  response="absolute", inverted="false", centered="false",
                                  osc_cs=str(c.norm_address)))
        rows.append(_tosc_control("labelh", f"{c.name}_value", 20 + label_w + fader_w, y, value_w, h, "gray",
                                  text=str(c.default), size="14", background="true", outline="false",
                                  osc_cs=c.address))
        y += pitch
    x = 10
    for c in _kind("toggle"):
        rows.append(_tosc_control("toggle", c.name, x, y, 90, 60, "yellow", local_off="false", osc_cs=c.address))
        rows.append(_tosc_control("labelh", f"{c.name}_label", x, y + 62, 90, 24, "gray", text=c.name,
                                  size="14", background="false", outline="false"))
        x += 110
    for c in _kind("trigger"):
        rows.append(_tosc_control("push", c.name, x, y, 90, 60, "red", local_off="false", sp="true", sr="true",
                                  osc_cs=c.address))
        rows.append(_tosc_control("labelh", f"{c.name}_label", x, y + 62, 90, 24, "gray", text=c.name,
                                  size="14", background="false", outline="false"))
        x += 110
    rows.append(_tosc_control("labelh", "beat", x + 20, y, 120, 60, "gray", text="beat", size="20",
                              background="true", outline="false", osc_cs=FEEDBACK["beat"].address))
    y += 100
    rows.append(_tosc_control("labelh", "lyrics_line", 10, y, 748, 80, "green", text="lyrics", size="20",
                              background="true", outline="true", osc_cs=FEEDBACK["lyrics_line"].address))
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<layout version="17" mode="1" orientation="vertical">\n'
            + _tab("livegen", rows) + _tab("band", _touchosc_band()) + "</layout>\n")


def _tab(name: str, rows: list[str]) -> str:
    head = (f'<tabpage name="{_b64(name)}" scalef="0.0" scalet="1.0" li_t="" li_c="gray" li_s="14" li_o="false" '
            'li_b="false" la_t="" la_c="gray" la_s="14" la_o="false" la_b="false" >')
    return head + "\n" + "\n".join(rows) + "\n</tabpage>\n"


def _touchosc_band() -> list[str]:
    """The second page: each part of :data:`BAND` (``--parts melody-chords-bass``) with its
    mute and solo and its velocity and octave faders (:mod:`livegen.controls.parts`)."""
    rows = [_tosc_control("labelh", "band_title", 10, 10, 748, 40, "gray", text=f"--parts {BAND}", size="20",
                          background="false", outline="false")]
    y = 60
    for part in LAYOUTS[BAND]:
        rows.append(_tosc_control("labelh", f"{part.name}_part", 10, y, 200, 40, "gray", text=part.name, size="20",
                                  background="false", outline="false"))
        for i, what in enumerate(("mute", "solo")):
            rows.append(_tosc_control("toggle", f"{part.name}_{what}", 220 + 110 * i, y, 90, 60, "yellow",
                                      local_off="false", osc_cs=part_address(part.name, what)))
            rows.append(_tosc_control("labelh", f"{part.name}_{what}_label", 220 + 110 * i, y + 62, 90, 24, "gray",
                                      text=what, size="14", background="false", outline="false"))
        y += 100
        for what in ("velocity", "octave"):
            control = PART_CONTROLS[what]
            rows.append(_tosc_control("labelh", f"{part.name}_{what}_name", 10, y, 200, 40, "gray",
                                      text=f"{part.name} {what}", size="14", background="false", outline="false"))
            rows.append(_tosc_control("faderh", f"{part.name}_{what}", 220, y, 400, 40, "blue", response="absolute",
                                      inverted="false", centered="false",
                                      osc_cs=part_address(part.name, what) + NORM_SUFFIX))
            rows.append(_tosc_control("labelh", f"{part.name}_{what}_value", 630, y, 128, 40, "gray",
                                      text=str(control.default), size="14", background="true", outline="false",
                                      osc_cs=part_address(part.name, what)))
            y += 50
        y += 20
    return rows


def write_touchosc(path: Path) -> None:
    """Write the ``.touchosc`` zip (one member, ``index.xml``, fixed time stamp)."""
    info = zipfile.ZipInfo("index.xml", date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(info, touchosc_xml())


# -- Pure Data ------------------------------------------------------------------------------

def _pd_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("$", "\\$").replace(",", " \\,").replace(";", " \\;")


@dataclass
class PdPatch:
    """A tiny Pd file writer: objects get indices in creation order, used by connections."""

    width: int = 1400
    height: int = 900
    lines: list[str] = field(default_factory=list)
    connections: list[tuple[int, int, int, int]] = field(default_factory=list)

    def add(self, kind: str, x: int, y: int, body: str) -> int:
        """Add ``#X kind x y body;`` and return its index (kind: obj, msg, text, floatatom, ...)."""
        self.lines.append(f"#X {kind} {x} {y} {body};" if body else f"#X {kind} {x} {y};")
        return len(self.lines) - 1

    def obj(self, x: int, y: int, text: str) -> int:
        return self.add("obj", x, y, text)

    def msg(self, x: int, y: int, text: str) -> int:
        return self.add("msg", x, y, _pd_escape(text))

    def comment(self, x: int, y: int, text: str) -> int:
        return self.add("text", x, y, _pd_escape(text))

    def connect(self, src: int, outlet: int, dst: int, inlet: int = 0) -> None:
        self.connections.append((src, outlet, dst, inlet))

    def render(self) -> str:
        out = [f"#N canvas 0 50 {self.width} {self.height} 12;", *self.lines]
        out += [f"#X connect {a} {o} {b} {i};" for a, o, b, i in self.connections]
        return "\n".join(out) + "\n"


_PD_COLORS = "-262144 -1 -1"  # background, foreground, label (Pd's classic numeric colours)


def _pd_gui(p: PdPatch, c: Control, x: int, y: int) -> int:
    receive = f"livegen-{c.name}"
    if c.kind in ("float", "int"):
        return p.obj(x, y, f"hsl 200 18 {c.minimum:g} {c.maximum:g} 0 0 empty {receive} empty "
                           f"-2 -8 0 10 {_PD_COLORS} 0 1")
    if c.kind == "enum":
        return p.obj(x, y, f"hradio 18 1 0 {len(c.choices)} empty {receive} empty 0 -8 0 10 {_PD_COLORS} 0")
    if c.kind == "toggle":
        return p.obj(x, y, f"tgl 18 0 empty {receive} empty 17 7 0 10 {_PD_COLORS} 0 1")
    if c.kind == "trigger":
        return p.obj(x, y, f"bng 18 250 50 0 empty {receive} empty 17 7 0 10 {_PD_COLORS}")
    return p.add("symbolatom", x, y, f"24 0 0 0 - {receive} -")


def pd_patch() -> str:
    """The Pure Data patch text."""
    p = PdPatch()
    p.comment(20, 10, f"livegen remote: sends to 127.0.0.1:{LIVEGEN_PORT}; shows feedback received on UDP "
                      f"{FEEDBACK_PORT}. Generated by `livegen patches` from the control table.")
    # sending side: every oscformat -> [s livegen-out] -> netsend
    load = p.obj(20, 40, "loadbang")
    connect = p.msg(20, 65, f"connect 127.0.0.1 {LIVEGEN_PORT}")
    disconnect = p.msg(230, 65, "disconnect")
    bus = p.obj(20, 95, "r livegen-out")
    prepend = p.obj(20, 120, "list prepend send")
    trim = p.obj(20, 145, "list trim")
    netsend = p.obj(20, 170, "netsend -u -b")
    status = p.add("floatatom", 20, 195, "3 0 0 0 - - -")
    p.comment(60, 195, "1 = connected")
    p.connect(load, 0, connect)
    p.connect(connect, 0, netsend)
    p.connect(disconnect, 0, netsend)
    p.connect(bus, 0, prepend)
    p.connect(prepend, 0, trim)
    p.connect(trim, 0, netsend)
    p.connect(netsend, 0, status)

    setters: dict[str, tuple[int, int | None, Control]] = {}  # name -> (gui, display, control)
    y = 240
    for c in CONTROLS.values():
        note = f"{c.name} {c.range_text if c.kind in ('float', 'int') else ''} {c.unit}".strip()
        p.comment(20, y, " ".join(note.split()))
        gui = _pd_gui(p, c, 250, y)
        display: int | None = None
        if c.kind in ("float", "int"):
            display = p.add("floatatom", 470, y, "7 0 0 0 - - -")
            p.connect(gui, 0, display)
        elif c.kind == "enum":
            display = p.add("symbolatom", 470, y, "10 0 0 0 - - -")
        fmt = p.obj(580, y, "oscformat " + " ".join(c.address.strip("/").split("/")))
        send = p.obj(850, y, "s livegen-out")
        p.connect(gui, 0, fmt)
        p.connect(fmt, 0, send)
        setters[c.address] = (gui, display, c)
        y += 36

    # receiving side: netreceive -> oscparse -> list trim -> a tree of [route]s
    fx, fy = 1000, 40
    p.comment(fx, fy, f"feedback from livegen (UDP {FEEDBACK_PORT})")
    recv = p.obj(fx, fy + 25, f"netreceive -u -b {FEEDBACK_PORT}")
    parse = p.obj(fx, fy + 50, "oscparse")
    ftrim = p.obj(fx, fy + 75, "list trim")
    p.connect(recv, 0, parse)
    p.connect(parse, 0, ftrim)

    leaves: dict[str, str] = {a: "control" for a, (_, _, c) in setters.items() if c.kind != "trigger"}
    leaves.update({f.address: f.name for f in FEEDBACK.values()})
    cursor = [fy + 110]

    def leaf(address: str, src: int, outlet: int, x: int) -> None:
        # oscparse turns a string argument into a bare selector: [symbol] makes it a symbol
        yy = cursor[0]
        if address in setters:
            gui, display, c = setters[address]
            norm = p.obj(x, yy, "route norm")
            p.connect(src, outlet, norm)
            if c.kind == "enum":  # the GUI follows /norm, the display shows the raw name
                scale = p.obj(x, yy + 25, f"* {len(c.choices) - 1}")
                half = p.obj(x + 50, yy + 25, "+ 0.5")
                whole = p.obj(x + 100, yy + 25, "i")
                setmsg = p.msg(x, yy + 50, "set $1")
                p.connect(norm, 0, scale)
                p.connect(scale, 0, half)
                p.connect(half, 0, whole)
                p.connect(whole, 0, setmsg)
                if display is not None:
                    sym = p.obj(x + 150, yy + 25, "symbol")
                    p.connect(norm, 1, sym)
                    p.connect(sym, 0, display)
            else:  # the GUI follows the raw value
                setmsg = p.msg(x + 90, yy + 50, "set $1")
                if c.kind == "string":
                    sym = p.obj(x + 90, yy + 25, "symbol")
                    p.connect(norm, 1, sym)
                    p.connect(sym, 0, setmsg)
                else:
                    p.connect(norm, 1, setmsg)
                if display is not None:
                    p.connect(setmsg, 0, display)
            to_gui = p.obj(x + 180, yy + 50, f"s livegen-{c.name}")
            p.connect(setmsg, 0, to_gui)
            cursor[0] = yy + 80
            return
        name = leaves[address]
        if FEEDBACK[name].kind == "string":
            sym = p.obj(x, yy, "symbol")
            p.connect(src, outlet, sym)
            src, outlet, yy = sym, 0, yy + 25
            show = p.add("symbolatom", x, yy, f"{60 if name == 'lyrics_line' else 16} 0 0 0 {name} - -")
        else:
            show = p.add("floatatom", x, yy, f"8 0 0 0 {name} - -")
        printer = p.obj(x + 20, yy + 25, f"print livegen-{name.replace('_', '-')}")
        p.connect(src, outlet, show)
        p.connect(src, outlet, printer)
        cursor[0] = yy + 55

    def tree(prefix: str, src: int, outlet: int, x: int) -> None:
        children: dict[str, None] = {}
        for address in leaves:
            if address.startswith(prefix + "/"):
                children[address[len(prefix) + 1:].split("/")[0]] = None
        if prefix in leaves and not children:
            leaf(prefix, src, outlet, x)
            return
        names = list(children)
        route = p.obj(x, cursor[0], "route " + " ".join(names))
        p.connect(src, outlet, route)
        cursor[0] += 30
        for i, part in enumerate(names):
            tree(f"{prefix}/{part}", route, i, x + 30)

    tree("", ftrim, 0, fx)
    p.height = max(900, y + 40, cursor[0] + 40)
    return p.render()


# -- Open Stage Control ---------------------------------------------------------------------

def _osc_widget(c: Control) -> dict[str, object]:
    base: dict[str, object] = {"id": c.name, "address": c.address, "expand": True}
    if c.kind in ("float", "int"):
        return {**base, "type": "fader", "horizontal": True, "range": {"min": c.minimum, "max": c.maximum},
                "default": c.default, "decimals": 0 if c.kind == "int" else 2,
                "typeTags": "i" if c.kind == "int" else "f", "html": c.name}
    if c.kind == "enum":
        return {**base, "type": "dropdown", "values": list(c.choices), "default": c.default,
                "label": f"{c.name}: %value"}
    if c.kind == "toggle":
        return {**base, "type": "button", "mode": "toggle", "on": 1, "off": 0, "label": c.name, "typeTags": "i"}
    if c.kind == "trigger":
        return {**base, "type": "button", "mode": "tap", "on": 1, "label": c.name, "typeTags": "i"}
    return {**base, "type": "input", "default": c.default, "html": c.name}


def _row(widgets: Iterable[dict[str, object]], row_id: str) -> dict[str, object]:
    return {"type": "panel", "id": row_id, "layout": "horizontal", "height": 70, "widgets": list(widgets)}


def osc_session() -> dict[str, object]:
    """The Open Stage Control session as a JSON-ready dict."""
    rows = []
    fb = {f.name: f for f in FEEDBACK.values()}
    rows.append(_row([
        {"type": "text", "id": "status", "address": fb["status"].address, "default": "status", "expand": True},
        {"type": "text", "id": "beat", "address": fb["beat"].address, "default": "beat", "width": 120},
    ], "row_status"))
    rows.append(_row([{"type": "text", "id": "lyrics_line", "address": fb["lyrics_line"].address,
                       "default": "lyrics", "expand": True, "wrap": True}], "row_lyrics"))
    for c in CONTROLS.values():
        if c.kind in ("toggle", "trigger"):
            continue
        shown = [_osc_widget(c)]
        if c.kind in ("float", "int"):
            shown.append({"type": "text", "id": f"{c.name}_value", "address": c.address,
                          "default": c.default, "width": 120})
        rows.append(_row(shown, f"row_{c.name}"))
    rows.append(_row([_osc_widget(c) for c in CONTROLS.values() if c.kind in ("toggle", "trigger")],
                     "row_buttons"))
    for part in LAYOUTS[BAND]:  # --parts melody-chords-bass: each part's switches and faders
        widgets = [{"type": "text", "id": f"{part.name}_part", "default": part.name, "width": 120,
                    "address": part_address(part.name, "program")}]  # shows the program in force
        for what in ("mute", "solo", "velocity", "octave"):
            widget = {**_osc_widget(PART_CONTROLS[what]), "id": f"{part.name}_{what}",
                      "address": part_address(part.name, what)}
            for text in ("label", "html"):
                if text in widget:
                    widget[text] = f"{part.name} {what}"
            widgets.append(widget)
        rows.append(_row(widgets, f"row_part_{part.name}"))
    return {
        "createdWith": "Open Stage Control",
        "version": "1.26.2",
        "type": "session",
        "content": {"type": "root", "id": "root", "layout": "vertical", "widgets": rows, "tabs": []},
    }


def osc_session_text() -> str:
    return json.dumps(osc_session(), indent=2, sort_keys=False) + "\n"


# -- all --------------------------------------------------------------------------------------

def generate(out_dir: Path) -> list[Path]:
    """Write the three patches into ``out_dir`` (created if needed); return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    touchosc = out_dir / TOUCHOSC_FILE
    write_touchosc(touchosc)
    pd = out_dir / PD_FILE
    pd.write_text(pd_patch(), encoding="utf-8")
    session = out_dir / OSC_SESSION_FILE
    session.write_text(osc_session_text(), encoding="utf-8")
    return [touchosc, pd, session]
