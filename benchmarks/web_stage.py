"""The browser stage measured: change-to-sound latency from a page beside OSC's, the update
rate of two pages open while livegen plays, and the stage's pictures on a phone and a laptop.

``livegen play --virtual --web`` runs on a JACK server of the benchmarks' own (dummy driver)
with the tester of :mod:`benchmarks.panic` on its ports (every message it plays noted with
``time.monotonic()``). Then, in one run:

* **change to sound**: ``--changes`` times, alternating, the velocity is set to a new value
  from a page's WebSocket (the page's own protocol, ``{"set": "velocity", "value": V}``, with
  the page's origin) or over OSC (``/livegen/velocity V``); the latency is from the send to
  the first note-on at velocity V on the port. A change applies from the next step livegen
  computes, so both paths carry the wait for the grid: the figure that tells them apart is
  the difference of their medians.
* **update rate**: two headless chromium pages (a 1280x900 laptop window and a 390x844
  phone) open for ``--seconds``; each page's messages and frames drawn per second, read
  from the page itself (``window.livegenStage``).
* **pictures**: ``livegen play --demo --web`` (the built-in performer's calls and livegen's
  answers) in the two windows at beat 30, saved to ``docs/stage-laptop.png`` and
  ``docs/stage-phone.png``.

    python -m benchmarks.web_stage [--changes 80] [--seconds 10] [--no-pictures]

Results go to ``benchmarks/results/web_stage.json``, and the figures to the README and
docs/live.md (between ``<!-- web:start -->`` and ``<!-- web:end -->``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from benchmarks.common import machine, percentiles
from benchmarks.panic import BenchJack, Rig, load_average

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "web_stage.json"
PICTURES = {"laptop": (ROOT / "docs" / "stage-laptop.png", 1280, 900),
            "phone": (ROOT / "docs" / "stage-phone.png", 390, 844)}
BPM = 240.0
STEPS_PER_BEAT = 4
DENSITY = 1.5  # more onsets a step: a change is heard sooner, alike on both paths


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def first_note_at(rig: Rig, velocity: int, after: float) -> float | None:
    for t, m in list(rig.received):
        if t > after and m.type == "note_on" and m.velocity == velocity:
            return t
    return None


async def measure_changes(rig: Rig, url: str, port: int, changes: int) -> dict[str, list[float]]:
    """Alternate page and OSC velocity changes; seconds from send to the first note at it."""
    out: dict[str, list[float]] = {"web": [], "osc": []}
    rng = random.Random(0)
    values = iter(rng.sample(range(20, 120), 100) * 10)
    async with aiohttp.ClientSession() as http, http.ws_connect(
            url.replace("http", "ws") + "ws", headers={"Origin": f"http://127.0.0.1:{port}"}) as ws:
        await ws.receive()  # hello
        reader = asyncio.ensure_future(_drain(ws))
        for i in range(changes):
            via = "web" if i % 2 == 0 else "osc"
            v = next(values)
            await asyncio.sleep(0.15 + 0.2 * rng.random())  # a random phase of the grid
            if via == "web":
                sent = time.monotonic()
                await ws.send_str(json.dumps({"set": "velocity", "value": v}))
            else:
                sent = rig.send_osc("/livegen/velocity", v)
            end = sent + 3.0
            while (got := first_note_at(rig, v, sent)) is None and time.monotonic() < end:
                await asyncio.sleep(0.001)
            if got is not None:
                out[via].append(got - sent)
        reader.cancel()
    return out


async def _drain(ws: aiohttp.ClientWebSocketResponse) -> None:
    async for _ in ws:
        pass


#: Debian's chromium and its driver (scripts/setup.sh installs both).
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def browser(width: int = 1280, height: int = 900) -> Any:
    """A headless chromium with a window of ``width`` x ``height`` CSS pixels (below 500 px
    wide, a phone's screen emulated); the benchmark's and the browser tests'."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    if width < 500:  # a phone: chromium's windows are at least 500 px wide, so emulate its screen
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": {
            "width": width, "height": height, "pixelRatio": 2.0, "touch": True}})
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", "--hide-scrollbars", "--disable-background-timer-throttling"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def pictures(beat: float = 30.0) -> dict[str, Any]:
    """``livegen play --demo --web``: a phone and a laptop window at ``beat`` (the demo's
    second call and livegen's answer on the roll), saved as PNG."""
    port = free_tcp_port()
    url = f"http://127.0.0.1:{port}/"
    proc = subprocess.Popen([sys.executable, "-m", "livegen", "play", "--demo", "--seed", "2", "--no-view",
                             "--osc-port", "0", "--web", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    drivers: dict[str, Any] = {}
    try:
        end = time.monotonic() + 120
        while True:  # the stage answers once livegen plays
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > end:
                    err = proc.stderr.read()[-2000:] if proc.stderr else ""
                    raise RuntimeError(f"livegen play --demo --web never served: {err}") from None
                time.sleep(0.2)
        drivers = {name: browser(w, h) for name, (_, w, h) in PICTURES.items()}
        for d in drivers.values():
            d.get(url)
        for d in drivers.values():
            _wait(d, f"window.livegenStage && window.livegenStage.beat >= {beat}", timeout=120)
        shots = {}
        for name, d in drivers.items():
            d.save_screenshot(str(PICTURES[name][0]))
            shots[name] = d.execute_script("return {beat: window.livegenStage.beat, notes: "
                                           "window.livegenStage.onsets.length}")
        return shots
    finally:
        for d in drivers.values():
            d.quit()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def page_rates(url: str, seconds: float) -> dict[str, Any]:
    """Two pages open for ``seconds``: messages and frames per second in each."""
    drivers = {name: browser(w, h) for name, (_, w, h) in PICTURES.items()}
    try:
        for d in drivers.values():
            d.get(url)
        for d in drivers.values():
            _wait(d, "window.livegenStage && window.livegenStage.steps > 4")
        read = "return [performance.now(), window.livegenStage.messages, window.livegenStage.frames, " \
               "window.livegenStage.steps]"
        before = {n: d.execute_script(read) for n, d in drivers.items()}
        time.sleep(seconds)
        after = {n: d.execute_script(read) for n, d in drivers.items()}
        rates = {}
        for n in drivers:
            dt = (after[n][0] - before[n][0]) / 1000.0
            rates[n] = {"seconds": round(dt, 2), "messages_per_s": round((after[n][1] - before[n][1]) / dt, 1),
                        "frames_per_s": round((after[n][2] - before[n][2]) / dt, 1),
                        "steps_per_s": round((after[n][3] - before[n][3]) / dt, 2)}
        return rates
    finally:
        for d in drivers.values():
            d.quit()


def _wait(driver: Any, script: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not driver.execute_script("return " + script):
        if time.monotonic() > end:
            raise RuntimeError(f"the page never showed {script}")
        time.sleep(0.05)


def run(args: argparse.Namespace) -> dict[str, Any]:
    server = BenchJack(realtime=not args.no_jack_realtime).start()
    web_port = free_tcp_port()
    url = f"http://127.0.0.1:{web_port}/"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rig = Rig(server, ["--model", args.model, "--mode", "solo", "--bpm", str(BPM), "--steps-per-beat",
                               str(STEPS_PER_BEAT), "--density", str(DENSITY), "--dynamics", "0", "--accent", "0",
                               "--seed", "1", "--web", f"127.0.0.1:{web_port}"], Path(tmp))
            try:
                rig.start()
                rig.wait_for(lambda: len(rig.beats) >= 4, 30)
                load_before = load_average()
                latency = asyncio.run(measure_changes(rig, url, web_port, args.changes))
                rates = page_rates(url, args.seconds)
                load_after = load_average()
                status, out = rig.stop()
            finally:
                rig.close()
            stderr = rig.stderr()
    finally:
        server.stop()
    shots = None if args.no_pictures else pictures()
    web, osc = latency["web"], latency["osc"]
    return {"command": "python -m benchmarks.web_stage " + " ".join(sys.argv[1:]),
            "model": args.model, "bpm": BPM, "steps_per_beat": STEPS_PER_BEAT, "step_ms": 60000 / BPM / STEPS_PER_BEAT,
            "change_to_sound": {"web": percentiles(web), "osc": percentiles(osc),
                                "median_difference_ms": round(1000 * (float(np.median(web)) - float(np.median(osc))), 2),
                                "unanswered": args.changes - len(web) - len(osc)},
            "pages": rates, "pictures": shots, "livegen_status": status,
            "livegen_summary": out.strip().splitlines()[-1] if out.strip() else "",
            "tracebacks": stderr.count("Traceback"),
            "load_average_before": load_before, "load_average_after": load_after, "machine": machine()}


def table(doc: dict[str, Any]) -> str:
    c = doc["change_to_sound"]
    lines = [f"change to sound (step {doc['step_ms']:.1f} ms): page median {c['web']['median_ms']:.1f} ms, "
             f"p99 {c['web']['p99_ms']:.1f} (n {c['web']['n']}); OSC median {c['osc']['median_ms']:.1f} ms, "
             f"p99 {c['osc']['p99_ms']:.1f} (n {c['osc']['n']}); difference of medians {c['median_difference_ms']} ms"]
    for name, r in doc["pages"].items():
        lines.append(f"page {name}: {r['messages_per_s']} messages/s, {r['frames_per_s']} frames/s, "
                     f"{r['steps_per_s']} steps/s")
    lines.append(f"livegen: {doc['livegen_summary']} (exit {doc['livegen_status']}, {doc['tracebacks']} tracebacks)")
    return "\n".join(lines)


def markdown(doc: dict[str, Any]) -> str:
    """The README's and docs/live.md's block (between ``<!-- web:start -->`` and ``<!-- web:end -->``)."""
    c, pages = doc["change_to_sound"], doc["pages"]
    rows = [f"| {via} | {c[key]['median_ms']:.1f} | {c[key]['p99_ms']:.1f} | {c[key]['n']} |"
            for via, key in (("a page (WebSocket)", "web"), ("OSC (UDP)", "osc"))]
    return "\n".join([
        f"Change to sound: the velocity set to a new value, from the send to the first note-on at it on the "
        f"JACK port; livegen at {doc['bpm']:g} BPM, {doc['steps_per_beat']} steps a beat ({doc['step_ms']:.1f} ms), "
        "both paths alternating in one run. A change applies from the next step livegen schedules, so both "
        "carry the wait for the grid; the difference of the medians is what the page costs: "
        f"{c['median_difference_ms']:+.1f} ms.",
        "",
        "| from | median (ms) | p99 (ms) | changes |",
        "|---|---|---|---|",
        *rows,
        "",
        "Two pages open while livegen plays (headless chromium, one laptop window and one phone-sized): "
        + "; ".join(f"{name}: {r['messages_per_s']:g} messages a second, {r['frames_per_s']:g} frames drawn "
                    f"a second, {r['steps_per_s']:g} steps a second" for name, r in pages.items())
        + f". livegen meanwhile, the whole run: {doc['livegen_summary'].removeprefix('livegen: ')}.",
        "",
        "`python -m benchmarks.web_stage` (results/web_stage.json; it also takes the pictures).",
    ])


def write_docs(text: str) -> None:
    start, end = "<!-- web:start -->", "<!-- web:end -->"
    for path in (ROOT / "README.md", ROOT / "docs" / "live.md"):
        doc = path.read_text()
        if start in doc and end in doc:
            a, b = doc.index(start) + len(start), doc.index(end)
            path.write_text(doc[:a] + "\n" + text + "\n" + doc[b:])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--changes", type=int, default=80, help="velocity changes, alternating page and OSC")
    ap.add_argument("--seconds", type=float, default=10.0, help="how long two pages are watched")
    ap.add_argument("--model", default="nottingham")
    ap.add_argument("--no-pictures", action="store_true", help="do not rewrite docs/stage-*.png")
    ap.add_argument("--no-jack-realtime", action="store_true")
    ap.add_argument("--no-docs", action="store_true", help="do not rewrite the README's and docs/live.md's block")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    doc = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(table(doc))
    if not args.no_docs:
        write_docs(markdown(doc))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
