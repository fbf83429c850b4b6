"""The browser stage without a browser: its messages, its hub on a manual-clock engine (exact
beats), and its server over real HTTP and WebSocket on 127.0.0.1 (token, origin, allow list).
The page in a real browser over a running ``livegen play`` is tests/test_web_browser.py."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys

import aiohttp
import mido
import pytest
from engine_helpers import ScriptVoice, make_engine
from hypothesis import given, settings
from hypothesis import strategies as st

from livegen.controls.parts import PartChange
from livegen.controls.state import LiveControls
from livegen.controls.table import CONTROLS, GROUPS, ControlError, ControlState, parse_osc
from livegen.errors import LivegenError
from livegen.web.address import parse_web_address, stage_address
from livegen.web.messages import PresetRequest, parse_request, schema
from livegen.web.server import WebStage
from livegen.web.stage import StageHub


class ListPage:
    """A page that keeps what it is sent, decoded."""

    def __init__(self) -> None:
        self.got: list[dict] = []

    def post(self, text: str) -> None:
        self.got.append(json.loads(text))

    def of(self, kind: str) -> list[dict]:
        return [m for m in self.got if m["type"] == kind]


# ---- messages ----------------------------------------------------------------------------------


def test_the_schema_holds_every_control_once_in_the_table_order_of_its_group() -> None:
    names = [c["name"] for g in schema() for c in g["controls"]]
    assert sorted(names) == sorted(CONTROLS) and len(names) == len(set(names))
    assert [g["group"] for g in schema()] == list(GROUPS)
    row = next(c for g in schema() for c in g["controls"] if c["name"] == "temperature")
    assert (row["min"], row["max"], row["kind"], row["cc"]) == (0.0, 2.0, "float", 20)
    assert next(c for g in schema() for c in g["controls"] if c["name"] == "polyphony")["step"] == 1.0


@pytest.mark.parametrize("name, value", [("temperature", 0.5), ("tempo", 96), ("key", "D#"), ("follow", False),
                                         ("polyphony", 3), ("lyrics_prime", "hello")])
def test_a_page_change_is_the_osc_change(name: str, value: object) -> None:
    assert parse_request(json.dumps({"set": name, "value": value})) == parse_osc(CONTROLS[name].address, [value])


@given(name=st.sampled_from(sorted(CONTROLS)), value=st.one_of(
    st.floats(allow_nan=False, allow_infinity=False), st.integers(-1000, 1000), st.booleans(), st.text(max_size=5)))
@settings(max_examples=300, deadline=None)
def test_a_page_value_is_refused_exactly_when_osc_refuses_it(name: str, value: object) -> None:
    control = CONTROLS[name]
    try:
        expected = parse_osc(control.address, [value])
    except ControlError as exc:
        with pytest.raises(ValueError) as got:
            parse_request(json.dumps({"set": name, "value": value}))
        assert str(got.value) == str(exc)  # the same one-line reason
        return
    if expected is None:  # a trigger's release
        with pytest.raises(ValueError):
            parse_request(json.dumps({"set": name, "value": value}))
    else:
        assert parse_request(json.dumps({"set": name, "value": value})) == expected


@pytest.mark.parametrize("text, reason", [
    ("{", "not JSON"), ("[1]", "one JSON object"), ('{"set": "tempo", "value": NaN}', "NaN is not a value"),
    ('{"set": "tempo", "value": 1000}', "tempo"), ('{"set": "nope", "value": 1}', "unknown control"),
    ('{"preset": 3}', "preset switch"), ('{"part": "bass", "control": "loud", "value": 1}', "has no control"),
    ('{"part": "bass", "control": "octave", "value": 9}', "outside -3..3"),
    ('{"part": "bass", "switch": "mute", "on": true}', "part's control"),
    ('{"hello": 1}', "a message is"), ("x" * 5000, "characters"), ('{"set": "panic", "value": 0}', "nothing to do"),
])
def test_bad_page_messages_are_refused_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_request(text)


def test_presets_parts_and_triggers_parse() -> None:
    assert parse_request('{"preset": "ballad"}') == PresetRequest("ballad")
    assert parse_request('{"part": "bass", "control": "mute", "value": 1}') == PartChange("bass", "mute", True)
    assert parse_request('{"part": "bass", "control": "octave", "value": -1}') == PartChange("bass", "octave", -1)
    assert parse_request('{"set": "panic"}').name == "panic"


# ---- the hub on a manual clock -------------------------------------------------------------------


def test_steps_and_notes_reach_a_page_in_beats_of_the_engine_grid() -> None:
    engine, out, clock = make_engine(ScriptVoice([60, 62]), spb=2)
    hub = StageHub(engine.controls, steps_per_beat=2, beats_per_bar=4)
    page = ListPage()

    async def go() -> None:
        hub.attach(engine, asyncio.get_running_loop())
        hub.join(page)
        engine.feed_midi(mido.Message("note_on", note=48, velocity=70), 0.8)  # half way into step 1
        engine.feed_midi(mido.Message("note_off", note=48), 1.05)
        await engine.run(1)
        await asyncio.sleep(0)  # the last release, after the last step

    asyncio.run(go())
    steps = page.of("step")
    assert [m["step"] for m in steps] == list(range(8)) and [m["beat"] for m in steps] == [k / 2 for k in range(8)]
    notes = [n for m in page.got if m["type"] in ("step", "notes") for n in m["notes"]]
    played = [(t, m.note, m.velocity if m.type == "note_on" else 0) for t, m in out.sent
              if m.type in ("note_on", "note_off")]
    livegen = [(n[3], n[1], n[2]) for n in notes if n[0] == "livegen"]
    # every message on the port, at its beat: (t - 0.5 s start) / 0.5 s a beat
    assert livegen == [(round((t - 0.5) / 0.5, 4), p, v) for t, p, v in played]
    assert [(n[1], n[2], n[3]) for n in notes if n[0] == "performer"] == [(48, 70, 0.6), (48, 0, 1.1)]
    assert page.of("hello")[0]["steps_per_beat"] == 2


def test_a_change_from_anywhere_reaches_every_page_in_the_next_turn() -> None:
    controls = LiveControls()
    hub = StageHub(controls, steps_per_beat=2, beats_per_bar=4)
    pages = [ListPage(), ListPage()]

    async def go() -> None:
        hub._loop = asyncio.get_running_loop()
        for p in pages:
            hub.join(p)
        controls.set("temperature", 0.4)  # as OSC, a CC or a preset would
        controls.set("key", "E")
        await asyncio.sleep(0)

    asyncio.run(go())
    for p in pages:
        assert p.of("values") == [{"type": "values", "values": {"temperature": 0.4, "key": "E"}}]


def test_a_flood_from_a_page_is_applied_once_per_control_and_the_last_value_wins() -> None:
    controls = LiveControls()
    hub = StageHub(controls, steps_per_beat=2, beats_per_bar=4)
    page, other = ListPage(), ListPage()
    seen: list[float] = []
    controls.on_change(lambda names, state: seen.append(state.temperature))

    async def go() -> None:
        hub._loop = asyncio.get_running_loop()
        hub.join(page)
        hub.join(other)
        for i in range(1000):
            hub.receive(page, json.dumps({"set": "temperature", "value": round(0.001 * i, 3)}))
        controls.set("tempo", 90)  # another source in the middle of the flood: not lost
        await asyncio.sleep(0.05)

    asyncio.run(go())
    assert controls.state.temperature == 0.999 and controls.state.tempo == 90
    assert hub.received == 1000 and hub.applied == 1 and len(seen) == 2
    assert [m["values"].get("temperature") for m in other.of("values")] == [0.999]


def test_a_refused_value_tells_the_page_why_and_what_is_in_force() -> None:
    controls = LiveControls()
    hub = StageHub(controls, steps_per_beat=2, beats_per_bar=4)
    page = ListPage()
    hub.join(page)
    hub.receive(page, json.dumps({"set": "tempo", "value": 1000}))
    (reply,) = page.of("refused")
    assert reply["name"] == "tempo" and reply["value"] == 120.0 and "300" in reply["reason"]
    assert controls.state.tempo == 120.0 and hub.refused == 1


def test_panic_from_a_page_releases_every_note_at_once() -> None:
    engine, out, clock = make_engine(ScriptVoice([60]), spb=2)
    hub = StageHub(engine.controls, steps_per_beat=2, beats_per_bar=4)
    page = ListPage()

    async def go() -> None:
        hub.attach(engine, asyncio.get_running_loop())
        hub.join(page)
        task = asyncio.ensure_future(engine.run(None))
        while not engine.tracker.sounding.any():
            await asyncio.sleep(0)
        hub.receive(page, '{"set": "panic"}')
        assert not engine.tracker.sounding.any()
        engine.request_stop()
        await task

    asyncio.run(go())
    assert any(m.type == "control_change" and m.control == 123 for _, m in out.sent)


def test_what_the_roll_and_the_take_hold_is_what_the_port_got_after_panics_and_mutes() -> None:
    """Notes are told when scheduled; those a panic or a mute cancels before they are sent are
    taken back (they never sounded), from the roll and from the take."""
    # swing: every second step's notes wait in the queue past the step's deadline
    controls = LiveControls(ControlState.default().apply_many({"tempo": 120.0, "mode": "solo", "swing": 50.0}))
    engine, out, clock = make_engine(ScriptVoice([60, 64, 67]), spb=2, controls=controls)
    hub = StageHub(engine.controls, steps_per_beat=2, beats_per_bar=4)
    page = ListPage()

    async def go() -> None:
        hub.attach(engine, asyncio.get_running_loop())
        hub.join(page)
        task = asyncio.ensure_future(engine.run(None))
        for k in range(6):
            while engine.stats.steps < 3 * (k + 1):
                await asyncio.sleep(0)
            if k % 2:
                engine.panic()  # the next step's note-ons are queued: cancelled
            else:
                engine.controls.set("mute", k % 4 == 0)
        engine.request_stop()
        await task
        await asyncio.sleep(0)

    asyncio.run(go())
    rows: list[list] = []
    for m in page.got:
        if m["type"] in ("step", "notes"):
            rows += m["notes"]
        elif m["type"] == "retract":
            for r in m["notes"]:
                rows.remove(r)
    sent_on = sorted(m.note for _, m in out.sent if m.type == "note_on" and m.velocity)
    assert sorted(r[1] for r in rows if r[0] == "livegen" and r[2]) == sent_on
    assert sorted(p for p, _, _ in engine.take.notes("livegen")) == sent_on
    assert len(sent_on) < 3 * engine.stats.steps  # some were cancelled: the check is not empty


# ---- addresses and the command line ----------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [("8080", ("127.0.0.1", 8080)), (":0", ("127.0.0.1", 0)),
                                            ("0.0.0.0:9", ("0.0.0.0", 9)), ("[::1]:80", ("::1", 80))])
def test_web_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_web_address(text) == expected


def test_a_network_stage_gets_a_token_and_loopback_none() -> None:
    assert stage_address("8080", None).token is None
    assert len(stage_address("0.0.0.0:8080", None).token or "") >= 16
    assert stage_address("0.0.0.0:8080", "my-secret-1").token == "my-secret-1"
    with pytest.raises(LivegenError, match="at least 8"):
        stage_address("8080", "short")


@pytest.mark.parametrize("argv, fragment", [
    (["--web", "nonsense"], "--web takes [HOST:]PORT"), (["--web", "70000"], "0..65535"),
    (["--web-token", "abcdefgh12"], "--web-token goes with --web"),
])
def test_bad_web_options_get_one_line(argv: list[str], fragment: str) -> None:
    r = subprocess.run([sys.executable, "-m", "livegen", "play", *argv, "--bars", "1"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode != 0 and fragment in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


# ---- the server over real sockets on 127.0.0.1 -------------------------------------------------------


async def _serve(**kw) -> WebStage:
    hub = StageHub(LiveControls(ControlState.default()), steps_per_beat=2, beats_per_bar=4)
    hub._loop = asyncio.get_running_loop()
    return await WebStage(hub, kw.pop("host", "127.0.0.1"), 0, **kw).start()


def test_the_page_and_its_files_are_served_from_the_package() -> None:
    async def go() -> None:
        stage = await _serve()
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(stage.url) as r:
                    page = await r.text()
                    assert r.status == 200 and 'src="static/stage.js"' in page
                for name in ("stage.js", "stage.css"):
                    async with http.get(f"{stage.url}static/{name}") as r:
                        assert r.status == 200 and len(await r.text()) > 1000
                async with http.get(f"{stage.url}static/../server.py") as r:
                    assert r.status == 404
        finally:
            await stage.close()

    asyncio.run(go())


def test_the_socket_says_hello_and_takes_a_change() -> None:
    async def go() -> None:
        stage = await _serve()
        try:
            async with aiohttp.ClientSession() as http, http.ws_connect(
                    f"{stage.url}ws", headers={"Origin": f"http://127.0.0.1:{stage.port}"}) as ws:
                hello = json.loads((await ws.receive()).data)
                assert hello["type"] == "hello" and hello["values"]["temperature"] == 1.0
                await ws.send_str(json.dumps({"set": "temperature", "value": 0.3}))
                while True:
                    msg = json.loads((await ws.receive(timeout=10)).data)
                    if msg["type"] == "values":
                        assert msg["values"] == {"temperature": 0.3}
                        break
            assert stage.hub.controls.state.temperature == 0.3
        finally:
            await stage.close()

    asyncio.run(go())


def test_a_page_from_another_origin_is_refused() -> None:
    async def go() -> None:
        stage = await _serve()
        try:
            async with aiohttp.ClientSession() as http:
                with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
                    await http.ws_connect(f"{stage.url}ws", headers={"Origin": "http://evil.example"})
                assert exc.value.status == 403
            assert stage.refused_origins == 1 and not stage.hub.pages
        finally:
            await stage.close()

    asyncio.run(go())


def test_off_loopback_every_request_needs_the_token() -> None:
    async def go() -> None:
        with pytest.raises(LivegenError, match="needs a token"):
            await _serve(host="0.0.0.0")
        stage = await _serve(host="0.0.0.0", token="s3cret-token")
        try:
            base = f"http://127.0.0.1:{stage.port}/"
            async with aiohttp.ClientSession() as http:
                for url in (base, base + "?token=wrong", base + "ws"):
                    async with http.get(url) as r:
                        assert r.status == 403, url
                async with http.get(base + "?token=s3cret-token") as r:
                    assert r.status == 200
                async with http.ws_connect(base + "ws?token=s3cret-token") as ws:
                    assert json.loads((await ws.receive()).data)["type"] == "hello"
            assert stage.url.endswith("?token=s3cret-token")
        finally:
            await stage.close()

    asyncio.run(go())


def test_the_allow_list_is_osc_s() -> None:
    async def go() -> None:
        stage = await _serve(allow=["10.0.0.0/8"])
        try:
            async with aiohttp.ClientSession() as http, http.get(stage.url) as r:
                assert r.status == 403
        finally:
            await stage.close()

    asyncio.run(go())


def test_a_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        async def go() -> None:
            hub = StageHub(LiveControls(), steps_per_beat=2, beats_per_bar=4)
            with pytest.raises(LivegenError, match="choose another --web address"):
                await WebStage(hub, "127.0.0.1", port).start()

        asyncio.run(go())


def test_a_flood_from_a_page_over_the_real_server_leaves_the_session_on_time() -> None:
    """As tests/test_live_osc.py does for OSC: a real LiveSession (live clock, threaded
    scheduler), its stage served on 127.0.0.1, 3,000 changes from a page's socket as fast as
    it can send them. A scripted voice and 250 ms steps: only the flood could make a step
    late. The last value wins, every page hears it, the session keeps its steps."""
    from livegen.engine.clock import LiveClock
    from livegen.engine.scheduler import ThreadScheduler
    from livegen.io.memory import MemoryOutput
    from livegen.session.live import LiveSession, SessionOptions

    async def go() -> tuple[LiveSession, float]:
        controls = LiveControls(ControlState.default().apply_many({"tempo": 120.0, "mode": "solo"}))
        scheduler = ThreadScheduler(MemoryOutput(), realtime=False)
        session = LiveSession(ScriptVoice([60, 64]), controls, clock=LiveClock(), scheduler=scheduler,
                              options=SessionOptions(steps_per_beat=2, start_delay=0.05))
        hub = StageHub(controls, steps_per_beat=2, beats_per_bar=4)
        hub.attach(session.engine, asyncio.get_running_loop(), panic=session.panic_now)
        stage = await WebStage(hub, "127.0.0.1", 0).start()
        task = asyncio.ensure_future(session.run())
        try:
            async with aiohttp.ClientSession() as http, http.ws_connect(f"{stage.url}ws") as ws:
                await ws.receive()  # hello
                steps = session.engine.stats.steps
                for i in range(3000):
                    await ws.send_str(json.dumps({"set": "temperature", "value": round(0.5 + (i % 100) / 100, 2)}))
                await ws.send_str(json.dumps({"set": "temperature", "value": 1.23}))
                while True:  # the page hears the last value
                    msg = json.loads((await ws.receive(timeout=10)).data)
                    if msg["type"] == "values" and msg["values"].get("temperature") == 1.23:
                        break
                while session.engine.stats.steps < steps + 3:  # still stepping afterwards
                    await asyncio.sleep(0.05)
            return session, controls.state.temperature
        finally:
            session.engine.request_stop()
            await task
            await stage.close()
            scheduler.close()

    session, temperature = asyncio.run(go())
    assert temperature == 1.23
    assert session.engine.stats.late_steps == 0


def test_presets_and_lyrics_reach_the_pages_and_a_page_switches_presets() -> None:
    from livegen.session.presets import PresetSwitcher

    controls = LiveControls()
    presets = PresetSwitcher(controls, {"ballad": {"tempo": 72.0}, "reel": {"tempo": 132.0}}, "ballad")
    hub = StageHub(controls, steps_per_beat=2, beats_per_bar=4, presets=presets)
    page = ListPage()

    async def go() -> None:
        hub._loop = asyncio.get_running_loop()
        hub.join(page)
        hub.receive(page, '{"preset": "reel"}')
        await asyncio.sleep(0.01)
        hub.receive(page, '{"preset": "encore"}')  # no such preset: refused by the switcher, reel stays
        await asyncio.sleep(0.01)
        hub.lyrics("the first line")
        await asyncio.sleep(0.01)

    asyncio.run(go())
    hello = page.of("hello")[0]
    assert hello["presets"] == ["ballad", "reel"] and hello["preset"] == "ballad"
    assert controls.state.tempo == 132.0 and presets.current == "reel"
    assert [m["preset"] for m in page.of("preset")][-1] == "reel"
    assert page.of("lyrics") == [{"type": "lyrics", "line": "the first line"}]
