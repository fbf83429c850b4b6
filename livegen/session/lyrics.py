"""Lyrics beside the music: one generated line per bar (or every N bars), sent on the downbeat.

:class:`LyricsStreamer` owns a :class:`~livegen.voices.text.TextGenerator` and a worker thread
that keeps up to ``lines_ahead`` lines ready; the generator's state runs on from line to line
(one song, line after line). The engine calls :meth:`LyricsStreamer.on_downbeat` one step
ahead of each bar with the bar's absolute deadline ``t`` (seconds on ``time.monotonic()``);
the streamer takes a ready line at once and schedules ``send_line(line)`` for ``t`` on the
running asyncio loop (``loop.call_at``: CPython's loop clock *is* ``time.monotonic()``; the
offset between the two is measured anyway, so any loop clock works), or on a
``threading.Timer`` when there is no running loop. Nothing waits: with no line ready at a
downbeat, that bar gets no line (logged and counted in :attr:`LyricsStreamer.skipped`).

Controls (:meth:`LyricsStreamer.on_control`, the ``lyrics_*`` names of the control table):

- ``lyrics_artist``: condition on another label (artist/collection) from the next line on;
  ``""`` keeps the current one; an unknown name (or a model without labels) is logged and
  ignored.
- ``lyrics_prime``: the next line starts with this text and the model completes it (text
  up to its last newline is fed to the model but not sent).
- ``lyrics_temperature``: character sampling temperature from the next line on.

A control makes the lines already waiting stale: they are dropped and the next line is
generated under the new setting (a line takes tens of milliseconds, a bar seconds).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import SupportsFloat

from livegen.errors import LivegenError
from livegen.io.osc import OscFeedback
from livegen.nets.manifest import resolve_model
from livegen.training.char_tasks import load_char_model
from livegen.voices.text import SEPARATOR, TextGenerator

log = logging.getLogger(__name__)

CONTROLS = ("lyrics_artist", "lyrics_prime", "lyrics_temperature")


class LyricsStreamer:
    """Generate lyrics lines ahead on a worker thread and send one per bar on the downbeat.

    Args:
        generator: the text generator (used only by the worker thread from now on).
        send_line: called with each line at its downbeat (on the loop's thread, or a timer
            thread without a loop); e.g. ``OscFeedback.send_lyrics_line``. Must not block.
        lines_ahead: lines kept ready.
        every_bars: send a line on bars ``0, N, 2N, ...``.
        temperature: initial character sampling temperature.
        max_chars: a line longer than this is cut.
        clock: the time base of the downbeat deadlines (``time.monotonic``).
        on_close: called by :meth:`close` (e.g. to close the socket behind ``send_line``).
    """

    def __init__(self, generator: TextGenerator, send_line: Callable[[str], object], lines_ahead: int = 2,
                 every_bars: int = 1, *, temperature: float = 0.8, max_chars: int = 120,
                 clock: Callable[[], float] = time.monotonic,
                 on_close: Callable[[], object] | None = None) -> None:
        if lines_ahead < 1 or every_bars < 1:
            raise LivegenError("lines ahead and bars per line must be at least 1")
        if temperature < 0:
            raise LivegenError("lyrics temperature must be >= 0")
        self.generator = generator
        self.send_line = send_line
        self._listeners: list[Callable[[str], None]] = []
        self.lines_ahead = lines_ahead
        self.every_bars = every_bars
        self.max_chars = max_chars
        self.clock = clock
        self.on_close = on_close
        #: lines sent, downbeats skipped for want of a line, lines generated then dropped.
        self.sent = 0
        self.skipped = 0
        self.dropped = 0
        #: ``(deadline, send time, line)`` of every line sent (send time on ``clock``).
        self.history: deque[tuple[float, float, str]] = deque(maxlen=256)
        self._temperature = float(temperature)
        self._ready: deque[str] = deque()
        #: controls not yet applied by the worker: temperature (float), artist, prime (str)
        self._changes: dict[str, float | str] = {}
        self._epoch = 0
        self._closed = False
        self._cond = threading.Condition()
        self._pending: dict[int, asyncio.TimerHandle | threading.Timer] = {}
        self._next_key = 0
        self._thread = threading.Thread(target=self._work, name="lyrics", daemon=True)
        self._thread.start()

    # ---- state shared with the worker -----------------------------------------------------

    @property
    def temperature(self) -> float:
        return self._temperature

    def ready_lines(self) -> int:
        """Lines generated and waiting."""
        with self._cond:
            return len(self._ready)

    def wait_ready(self, n: int | None = None, timeout: float = 10.0) -> bool:
        """Block until ``n`` (default ``lines_ahead``) lines wait; for start-up and tests."""
        n = self.lines_ahead if n is None else min(n, self.lines_ahead)
        with self._cond:
            return self._cond.wait_for(lambda: len(self._ready) >= n and not self._changes, timeout)

    def _change(self, name: str, value: float | str) -> None:
        with self._cond:
            self._changes[name] = value
            self._epoch += 1
            self.dropped += len(self._ready)
            self._ready.clear()
            self._cond.notify_all()

    def _work(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or self._changes
                                    or len(self._ready) < self.lines_ahead)
                if self._closed:
                    return
                changes, self._changes = self._changes, {}
                epoch = self._epoch
            try:
                line = self._next_line(changes)
            except Exception:  # the worker must survive anything the model does
                log.exception("lyrics: line generation failed")
                line = ""
            with self._cond:
                if epoch == self._epoch:
                    self._ready.append(line)
                    self._cond.notify_all()
                else:
                    self.dropped += 1

    def _next_line(self, changes: dict[str, float | str]) -> str:
        """Apply pending controls, then generate one line (worker thread only)."""
        gen = self.generator
        if "temperature" in changes:
            self._temperature = float(changes["temperature"])
        if "artist" in changes:
            gen.set_label(str(changes["artist"]))
            log.info("lyrics: artist %s", gen.label)
        prefix = ""
        if changes.get("prime"):
            text = str(changes["prime"])
            gen.prime(text)
            prefix = text.rsplit("\n", 1)[-1]
        return prefix + gen.next_line(self._temperature, self.max_chars, skip_blank=not prefix)

    # ---- engine and control hooks ---------------------------------------------------------

    def on_control(self, name: str, value: object) -> None:
        """Handle a ``lyrics_*`` control (see the module docstring); never raises."""
        if name == "lyrics_temperature":
            try:
                if not isinstance(value, SupportsFloat | str):
                    raise TypeError(value)
                temperature = float(value)
            except (TypeError, ValueError):
                log.warning("lyrics: temperature %r is not a number: ignored", value)
                return
            if not temperature >= 0:
                log.warning("lyrics: temperature %r must be >= 0: ignored", value)
                return
            self._change("temperature", temperature)
        elif name == "lyrics_artist":
            artist = str(value or "").strip()
            labels = self.generator.labels if self.generator.model.config.n_labels else []
            if not artist:
                log.info("lyrics: no artist given: keeping %s", self.generator.label)
                return
            known = {label.casefold(): label for label in labels}
            if artist.casefold() not in known:
                log.warning("lyrics: unknown artist %r: keeping %s (known: %s)", artist,
                            self.generator.label, ", ".join(labels[:12]) or "none, the model has no labels")
                return
            self._change("artist", known[artist.casefold()])
        elif name == "lyrics_prime":
            self._change("prime", str(value or ""))
        else:
            log.warning("lyrics: unknown control %r ignored", name)

    def on_downbeat(self, bar: int, t: float) -> None:
        """Take the next ready line and send it at ``t`` (``clock`` seconds); never blocks."""
        if self._closed or bar % self.every_bars:
            return
        with self._cond:
            line = self._ready.popleft() if self._ready else None
            self._cond.notify_all()
        if line is None:
            self.skipped += 1
            log.warning("lyrics: no line ready for bar %d: skipped", bar)
            return
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._cond:
            self._next_key += 1
            key = self._next_key
            if loop is not None:
                handle: asyncio.TimerHandle | threading.Timer = loop.call_at(
                    t + (loop.time() - self.clock()), self._send, key, line, t)
            else:
                handle = threading.Timer(max(0.0, t - self.clock()), self._send, (key, line, t))
                handle.daemon = True
                handle.start()
            self._pending[key] = handle

    def _send(self, key: int, line: str, t: float) -> None:
        with self._cond:
            if self._pending.pop(key, None) is None:
                return  # cancelled by close()
        try:
            self.send_line(line)
        except Exception:  # a dead socket must not kill the loop
            log.exception("lyrics: sending a line failed")
            return
        self.sent += 1
        self.history.append((t, self.clock(), line))
        for listener in self._listeners:
            listener(line)

    def add_listener(self, listener: Callable[[str], None]) -> None:
        """Also hand every line sent to ``listener`` (the browser stage); it must not block."""
        self._listeners.append(listener)

    def close(self) -> None:
        """Stop the worker, cancel lines not yet sent, then call ``on_close``."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            pending, self._pending = list(self._pending.values()), {}
        for handle in pending:
            handle.cancel()
        self._thread.join(timeout=5.0)
        if self.on_close is not None:
            self.on_close()
            self.on_close = None


def build_lyrics_streamer(model: str, target: str, *, seed: int | None = None, every_bars: int = 1,
                          artist: str | None = None, prime: str = "", temperature: float = 0.8,
                          lines_ahead: int = 2) -> LyricsStreamer:
    """A streamer for ``livegen play --lyrics``: load ``model``, send lines to ``target``.

    Args:
        model: shipped model name or checkpoint path of a lyrics char model.
        target: ``HOST:PORT`` receiving ``/livegen/lyrics/line`` messages.
        seed: generator seed (None: random).
        artist: label to condition on (must be one of the model's labels).
        prime: text the first line starts with.

    Raises:
        LivegenError: the model is missing or not a lyrics model, an unknown artist, a bad target.
    """
    net, vocab, labels, meta = load_char_model(resolve_model(model))
    if meta.get("text_kind", "lyrics") != "lyrics":
        raise LivegenError(f"model {model!r} is not a lyrics model ({meta.get('text_kind')} text); "
                           "give --lyrics a lyrics model")
    seed = random.SystemRandom().randrange(2**31) if seed is None else seed
    gen = TextGenerator(net, vocab, labels, seed=seed, separator=str(meta.get("separator", SEPARATOR)))
    if artist:
        gen.set_label(artist)
    feedback = OscFeedback(target)
    streamer = LyricsStreamer(gen, feedback.send_lyrics_line, lines_ahead, every_bars,
                              temperature=temperature, on_close=feedback.close)
    if prime:
        streamer.on_control("lyrics_prime", prime)
    return streamer
