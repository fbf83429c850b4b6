"""The stage in a real headless browser (Debian's chromium, driven through chromedriver by
selenium) over a running ``livegen play --web`` on a real JACK server: what a page does is
checked by what is played on the port and fed back over OSC, and what livegen does by what
the page shows."""

from __future__ import annotations

import http.server
import shutil
import signal
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from play_rig import PlayProcess
from pythonosc.udp_client import SimpleUDPClient

from benchmarks.web_stage import CHROMEDRIVER, CHROMIUM
from benchmarks.web_stage import browser as stage_browser
from livegen.controls.table import CONTROLS

pytestmark = [pytest.mark.jack]

BPM = 240.0
PERIOD = 60.0 / BPM / 2  # nottingham's 2 steps a beat
GRID_TOLERANCE = 0.030  # s, as tests/test_play_e2e.py: on the grid, not timing precision
WAIT_S = 30.0


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def browser(width: int = 1280, height: int = 900):
    """A headless chromium of the given window size (the README's commands install it)."""
    assert shutil.which(CHROMEDRIVER) and shutil.which(CHROMIUM), \
        "chromium and chromium-driver are missing: run scripts/setup.sh (the README's test command does)"
    return stage_browser(width, height)


def wait_for(driver, script: str, timeout: float = WAIT_S):
    """Poll ``return <script>`` in the page until it is truthy; its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(lambda d: d.execute_script("return " + script))


def wait_until(check, timeout: float = WAIT_S) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.02)
    return False


class Stage:
    """One ``livegen play --web`` with the tester on its ports and OSC both ways."""

    def __init__(self, jack_server) -> None:
        self.web_port = free_port()
        self.osc_port = free_port(socket.SOCK_DGRAM)
        self.live = PlayProcess(["--virtual", "--mode", "solo", "--bpm", str(BPM), "--seed", "3",
                                 "--dynamics", "0", "--accent", "0", "--density", "1.5", "--osc-port", str(self.osc_port),
                                 "--web", f"127.0.0.1:{self.web_port}"])
        self.live.connect(jack_server)
        self.url = f"http://127.0.0.1:{self.web_port}/"
        self.osc = SimpleUDPClient("127.0.0.1", self.osc_port)

    def onsets(self, after: float = float("-inf")) -> list[tuple[float, int, int]]:
        """``(arrival s, pitch, velocity)`` of every note-on on the tester's port."""
        return [(t, m.note, m.velocity) for t, m in list(self.live.received)
                if m.type == "note_on" and m.velocity > 0 and t > after]

    def fed_back(self, address: str, value: object, after: float) -> bool:
        return any(t > after and a == address and args and args[0] == value
                   for t, a, args in list(self.live.feedback))


@pytest.fixture(scope="module")
def stage(jack_server) -> Iterator[Stage]:
    s = Stage(jack_server)
    try:
        yield s
        s.live.proc.send_signal(signal.SIGINT)
        code, out, err = s.live.wait_exit(30)
        assert code == 0, err[-2000:]
        assert "Traceback" not in err
    finally:
        s.live.close()


@pytest.fixture(scope="module")
def page(stage: Stage):
    driver = browser()
    try:
        driver.get(stage.url)
        wait_for(driver, "window.livegenStage && window.livegenStage.hello > 0")
        yield driver
    finally:
        driver.quit()


def test_every_control_has_one_element_named_after_it(page) -> None:
    names = page.execute_script("return [...document.querySelectorAll('body [name]')].map(e => e.name)")
    assert sorted(names) == sorted(CONTROLS)


def test_a_thousand_messages_a_second_from_a_page_do_not_move_the_beat(stage: Stage, page) -> None:
    start = time.monotonic()
    # 10 messages every 10 ms for 3 s: 3,000 changes of the temperature, the last one 1.1
    page.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const ws = new WebSocket(`ws://${location.host}/ws`);
        ws.onopen = () => {
          let sent = 0;
          const timer = setInterval(() => {
            for (let i = 0; i < 10; i++) {
              sent += 1;
              ws.send(JSON.stringify({set: "temperature", value: sent >= 3000 ? 1.1 : 0.9 + (sent % 50) / 100}));
            }
            if (sent >= 3000) { clearInterval(timer); setTimeout(() => { ws.close(); done(sent); }, 200); }
          }, 10);
        };
    """)
    end = time.monotonic()
    assert wait_until(lambda: stage.fed_back("/livegen/temperature", pytest.approx(1.1), start))
    # the beat went on: livegen's beat counter (fed back once a beat) advanced with the clock
    # through the flood, and it kept playing
    beats = [(t, args[0]) for t, a, args in list(stage.live.feedback) if a == "/livegen/beat" and start < t < end]
    assert len(beats) >= 8, "no beats fed back during the flood"
    expected = (beats[-1][0] - beats[0][0]) * BPM / 60.0
    assert abs((beats[-1][1] - beats[0][1]) - expected) <= 1.5, (beats[0], beats[-1])
    assert len(stage.live.grid_onsets(start, end)) >= 10, "livegen played almost nothing during the flood"
    assert wait_for(page, "window.livegenStage.values.temperature === 1.1")
    # (that no step comes late is checked where only the flood could make one late, on a scripted
    # voice at 250 ms steps: tests/test_web.py; here a browser shares the two cores with a
    # non-realtime JACK, whose onsets move by tens of ms under any load: the benchmarks measure
    # timing, the tests what happens)


def test_a_slider_moved_on_the_page_changes_what_is_played_and_what_osc_feeds_back(stage: Stage, page) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    slider = page.find_element(By.NAME, "velocity")
    page.execute_script("arguments[0].scrollIntoView({block: 'center'})", slider)
    sent = time.monotonic()
    slider.send_keys(Keys.HOME)  # 1, as a finger at the left end
    slider.send_keys(*[Keys.ARROW_RIGHT] * 32)  # 33
    assert wait_until(lambda: stage.fed_back("/livegen/velocity", 33, sent)), "no OSC feedback of velocity 33"
    changed = next(t for t, a, args in stage.live.feedback if t > sent and a == "/livegen/velocity" and args[0] == 33)
    assert wait_until(lambda: len([o for o in stage.onsets(changed + 0.5)]) >= 3), "livegen stopped playing"
    assert {v for _, _, v in stage.onsets(changed + 0.5)} == {33}  # every note since, at the page's velocity
    assert wait_for(page, "document.getElementById('v-velocity').textContent") == "33"


def test_an_osc_change_shows_on_the_page(stage: Stage, page) -> None:
    stage.osc.send_message("/livegen/temperature", 0.55)
    # OSC carries a 32-bit float: the value in force is 0.55 to 7 digits
    assert wait_for(page, "Math.abs(Number(document.querySelector('[name=temperature]').value) - 0.55) < 1e-6")
    assert wait_for(page, "document.getElementById('v-temperature').textContent") == "0.55"
    stage.osc.send_message("/livegen/key", "F#")
    assert wait_for(page, "document.querySelector('[name=key]').value === 'F#'")


def test_the_roll_shows_the_notes_that_arrived_on_the_port(stage: Stage, page) -> None:
    start = time.monotonic()
    assert wait_until(lambda: len(stage.onsets(start)) >= 12)
    stage.osc.send_message("/livegen/mute", 1)  # nothing new: both sides settle
    assert wait_for(page, "document.querySelector('[name=mute]').getAttribute('aria-pressed') === 'true'")
    def same_tail() -> bool:
        port = [(p, v) for _, p, v in stage.onsets()]
        roll = [(p, v) for who, p, v, _ in page.execute_script("return window.livegenStage.onsets") if who == "livegen"]
        tail = min(len(roll), len(port), 40)
        return tail >= 12 and sorted(roll[-tail:]) == sorted(port[-tail:])

    # what was queued before the mute reaches the port; then the roll and the port hold the same
    # notes, pitch and velocity
    if not wait_until(same_tail):
        port = [(p, v) for _, p, v in stage.onsets()]
        roll = [(p, v) for who, p, v, _ in page.execute_script("return window.livegenStage.onsets") if who == "livegen"]
        pytest.fail(f"the roll's last notes are not the port's: roll {roll[-20:]}, port {port[-20:]}")
    drawn = page.execute_script("return window.livegenStage.frames")
    assert drawn > 0
    stage.osc.send_message("/livegen/mute", 0)


def test_two_pages_stay_in_step(stage: Stage, page) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    second = browser(390, 844)  # a phone's window
    try:
        second.get(stage.url)
        wait_for(second, "window.livegenStage && window.livegenStage.hello > 0")
        Select(second.find_element(By.NAME, "scale")).select_by_value("minor")
        assert wait_for(page, "document.querySelector('[name=scale]').value === 'minor'")
        page.execute_script("document.querySelector('[name=silence]').value = '2';"
                            "document.querySelector('[name=silence]').dispatchEvent(new Event('input'))")
        assert wait_for(second, "window.livegenStage.values.silence === 2")
        # both rolls hold the same notes at the same beats from the second page's first step on;
        # livegen may rest a few beats, so wait for notes (the event), not for a number of beats
        first_beat = wait_for(second, "window.livegenStage.steps > 8 && window.livegenStage.beat")
        last_onset = wait_for(second, "(() => { const b = window.livegenStage.onsets"
                                      f".map(r => r[3]).filter(b => b >= {first_beat});"
                                      " return b.length >= 6 && Math.max(...b); })()")
        for driver in (page, second):
            wait_for(driver, f"window.livegenStage.beat >= {last_onset + 2}")

        def rows(driver, since: float) -> list:
            return sorted(tuple(r) for r in driver.execute_script("return window.livegenStage.onsets") if r[3] >= since)

        since = first_beat
        common_end = min(page.execute_script("return window.livegenStage.beat"),
                         second.execute_script("return window.livegenStage.beat"))
        a = [r for r in rows(page, since) if r[3] <= common_end - 1]
        b = [r for r in rows(second, since) if r[3] <= common_end - 1]
        assert a == b and a, (a[:5], b[:5])
    finally:
        second.quit()


class _OtherSite(http.server.BaseHTTPRequestHandler):
    """A page of another origin that tries to open the stage's socket."""

    target = ""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = (f"<script>window.result='pending';const ws=new WebSocket('{self.target}');"
                "ws.onopen=()=>{window.result='open'};ws.onerror=()=>{window.result='refused'};"
                "</script>").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_page_from_another_origin_is_refused(stage: Stage, page) -> None:
    _OtherSite.target = f"ws://127.0.0.1:{stage.web_port}/ws"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OtherSite)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    other = browser()
    try:
        other.get(f"http://127.0.0.1:{server.server_address[1]}/")
        assert wait_for(other, "window.result !== 'pending' && window.result") == "refused"
    finally:
        other.quit()
        server.shutdown()
