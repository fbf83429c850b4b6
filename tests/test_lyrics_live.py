"""LyricsStreamer: lines generated ahead, sent on the downbeat over a real UDP socket."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time

import pytest
import torch
from pythonosc.osc_message import OscMessage

from livegen.controls.table import FEEDBACK
from livegen.io.osc import OscFeedback
from livegen.nets.char import CharConfig, CharLSTM
from livegen.session.lyrics import LyricsStreamer
from livegen.training.char_tasks import build_vocab
from livegen.voices.text import TextGenerator

TEXTS = ["the cat sat on the mat\nand sang all day\n", "O bury me not\non the lone prairie\n"]
LABELS = ["cowboy", "hymns"]
LINE_ADDRESS = FEEDBACK["lyrics_line"].address




class RecordingGenerator(TextGenerator):
    """A TextGenerator that records the label and temperature of every line it makes."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.made: list[tuple[str | None, float]] = []
        self.gate: threading.Event | None = None

    def next_line(self, temperature: float = 1.0, max_chars: int = 200, skip_blank: bool = True) -> str:
        if self.gate is not None:
            self.gate.wait(10.0)
        self.made.append((self.label, temperature))
        return super().next_line(temperature, max_chars, skip_blank)


def _generator(seed: int = 0) -> RecordingGenerator:
    torch.manual_seed(seed)
    vocab = build_vocab(TEXTS, min_count=1)
    net = CharLSTM(CharConfig(len(vocab), embed=8, hidden=16, layers=1, n_labels=len(LABELS), label_dim=4))
    return RecordingGenerator(net, vocab, LABELS, seed=seed)


class Receiver:
    """A UDP socket on localhost that timestamps every OSC message it gets (time.monotonic)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.got: list[tuple[float, str, tuple]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            t = time.monotonic()
            msg = OscMessage(data)
            self.got.append((t, msg.address, tuple(msg.params)))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _play_bars(streamer: LyricsStreamer, bars: int, bar_s: float = 0.2, ahead_s: float = 0.1,
               between=None) -> list[float]:
    """Call on_downbeat like the engine does: ``ahead_s`` before each bar's deadline.

    ``between(bar)`` runs after each downbeat call (to send controls). Returns the deadlines.
    """
    deadlines: list[float] = []

    async def main() -> None:
        start = time.monotonic() + 0.1
        for bar in range(bars):
            t = start + bar * bar_s
            await asyncio.sleep(max(0.0, t - ahead_s - time.monotonic()))
            deadlines.append(t)
            streamer.on_downbeat(bar, t)
            if between is not None:
                between(bar)
        await asyncio.sleep(max(0.0, deadlines[-1] + 0.1 - time.monotonic()))

    asyncio.run(main())
    return deadlines


def _wait_for(pred, timeout: float = 2.0) -> None:
    end = time.monotonic() + timeout
    while not pred() and time.monotonic() < end:
        time.sleep(0.005)


def test_one_line_per_bar_arrives_on_the_downbeat(receiver: Receiver) -> None:
    feedback = OscFeedback(("127.0.0.1", receiver.port))
    streamer = LyricsStreamer(_generator(), feedback.send_lyrics_line, lines_ahead=2, on_close=feedback.close)
    try:
        assert streamer.wait_ready()
        deadlines = _play_bars(streamer, 4)
        _wait_for(lambda: len(receiver.got) >= 4)
    finally:
        streamer.close()
    assert len(receiver.got) == 4 and streamer.sent == 4 and streamer.skipped == 0
    for (arrived, address, params), deadline in zip(receiver.got, deadlines, strict=True):
        assert address == LINE_ADDRESS
        assert len(params) == 1 and isinstance(params[0], str)
        # scheduled for the deadline, not sent when on_downbeat was called 100 ms earlier
        assert deadline - 0.002 <= arrived <= deadline + 0.05, (arrived - deadline)
    sent_lines = [line for _, _, line in streamer.history]
    assert [p[0] for _, _, p in receiver.got] == sent_lines


def test_every_n_bars_and_without_an_event_loop(receiver: Receiver) -> None:
    feedback = OscFeedback(("127.0.0.1", receiver.port))
    streamer = LyricsStreamer(_generator(), feedback.send_lyrics_line, every_bars=2, on_close=feedback.close)
    try:
        assert streamer.wait_ready()
        _play_bars(streamer, 5)
        assert streamer.sent == 3  # bars 0, 2, 4
        # no running loop: a timer thread sends it at the deadline
        assert streamer.wait_ready()
        t = time.monotonic() + 0.15
        streamer.on_downbeat(6, t)
        _wait_for(lambda: len(receiver.got) >= 4)
    finally:
        streamer.close()
    assert len(receiver.got) == 4
    assert t - 0.002 <= receiver.got[-1][0] <= t + 0.05


def test_controls_change_artist_prime_and_temperature(receiver: Receiver, caplog) -> None:
    gen = _generator()
    feedback = OscFeedback(("127.0.0.1", receiver.port))
    streamer = LyricsStreamer(gen, feedback.send_lyrics_line, temperature=0.8, on_close=feedback.close)

    def controls(bar: int) -> None:
        if bar == 0:
            streamer.on_control("lyrics_artist", "Hymns")
            streamer.on_control("lyrics_temperature", 0.3)
        if bar == 1:
            streamer.on_control("lyrics_prime", "the cat")

    try:
        assert streamer.wait_ready()
        before = len(gen.made)
        assert gen.made[:before] == [("cowboy", 0.8)] * before
        with caplog.at_level(logging.WARNING, logger="livegen.session.lyrics"):
            streamer.on_control("lyrics_artist", "Nobody Known")
        assert "unknown artist 'Nobody Known'" in caplog.text
        _play_bars(streamer, 3, bar_s=0.3, between=controls)
        _wait_for(lambda: len(receiver.got) >= 3)
    finally:
        streamer.close()
    # lines made after the artist/temperature controls use them; the unknown artist changed nothing
    assert ("hymns", 0.3) in gen.made and gen.label == "hymns"
    assert all(made in (("cowboy", 0.8), ("hymns", 0.3)) for made in gen.made)
    assert len(receiver.got) == 3
    assert receiver.got[2][2][0].startswith("the cat")  # the bar after the prime
    assert streamer.dropped >= 1  # lines made before a control were dropped, not sent


def test_a_downbeat_without_a_ready_line_is_skipped_without_waiting(receiver: Receiver, caplog) -> None:
    gen = _generator()
    gen.gate = threading.Event()  # the worker cannot finish a line
    feedback = OscFeedback(("127.0.0.1", receiver.port))
    streamer = LyricsStreamer(gen, feedback.send_lyrics_line, on_close=feedback.close)
    try:
        with caplog.at_level(logging.WARNING, logger="livegen.session.lyrics"):
            t0 = time.monotonic()
            streamer.on_downbeat(0, t0 + 0.05)
            returned = time.monotonic() - t0
        assert streamer.skipped == 1 and streamer.sent == 0
        assert returned < 1.0  # did not wait for the 10 s gate
        assert "no line ready for bar 0" in caplog.text
        gen.gate.set()
        assert streamer.wait_ready()
        streamer.on_downbeat(1, time.monotonic() + 0.02)
        _wait_for(lambda: len(receiver.got) >= 1)
    finally:
        gen.gate.set()
        streamer.close()
    assert len(receiver.got) == 1


def test_bad_control_values_are_ignored() -> None:
    gen = _generator()
    sent: list[str] = []
    streamer = LyricsStreamer(gen, sent.append)
    try:
        streamer.on_control("lyrics_temperature", "hot")
        streamer.on_control("lyrics_artist", "")
        assert streamer.wait_ready()
        assert streamer.temperature == 0.8 and gen.label == "cowboy"
    finally:
        streamer.close()
