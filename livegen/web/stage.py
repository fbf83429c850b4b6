"""The browser stage's hub: every open page, and what they are told and may ask.

:class:`StageHub` sits between the running session and the pages. It owns no socket: a page
is anything with a non-blocking ``post(text)`` (the server's WebSocket writer, or a list in
a test). On the event loop's thread it

* tells every page the values in force whenever they change, whoever changed them (OSC,
  MIDI CC, a preset, another page): the change reaches the pages in the loop's next turn,
  or within one frame of a page (:data:`PAGE_FRAME_S`) when one just went out;
* hands every step that sounded and every note played or heard to the pages as they happen
  (``step`` messages carry the notes since the last step; notes between steps, a release or a
  panic, follow in a ``notes`` message in the loop's next turn)
  (an :class:`~livegen.engine.engine.EngineWatcher`), positioned in *beats* on the engine's
  own grid, so the roll scrolls on the engine's beat and never on the browser's clock;
* sends the engine's status ten times a second (listening/answering, devices lost and back,
  the key livegen hears, Link peers and tempo, step time and lateness, parts muted);
* takes what a page asks (:mod:`livegen.web.messages`): control changes are validated as
  OSC messages are, then coalesced per control (what arrives before the loop's next turn is
  applied once, the last value winning; nothing from another source is lost) and applied
  through the one live state; a panic acts at once.

Every message is one JSON object with a ``type`` (see :meth:`StageHub.hello`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import mido

from livegen.controls.parts import PartChange, PartsState
from livegen.controls.state import LiveControls
from livegen.controls.table import CONTROLS, ControlChange, ControlState
from livegen.engine.engine import Engine
from livegen.io.ratelog import RateLimitedLog
from livegen.web.messages import (
    PageRequest,
    PresetRequest,
    parse_request,
    part_schema,
    schema,
)

log = logging.getLogger(__name__)

#: seconds between status messages.
STATUS_S = 0.1
#: seconds of one frame of a page (60 Hz): values go out at most once a frame.
PAGE_FRAME_S = 1 / 60
#: bars of history a page is sent when it opens (what its roll shows).
ROLL_BARS = 4
#: livegen's messages remembered for a cancel (a step's worth many times over).
MAX_CANCELLABLE = 2048


class Presets(Protocol):
    """A live set's presets (:class:`~livegen.session.presets.PresetSwitcher`)."""

    names: tuple[str, ...]

    @property
    def current(self) -> str | None:
        """The preset in force."""

    def select(self, name: str, source: str = "OSC") -> bool:
        """Switch to ``name``; False (and one log line) when refused."""

    def on_switch(self, listener: Callable[[str | None], None]) -> None:
        """Call ``listener(name in force)`` after every switch and refusal."""


class Page(Protocol):
    """One open page: ``post`` queues a text message without blocking."""

    def post(self, text: str) -> None:
        """Queue ``text`` for the page."""


class StageHub:
    """Tells the pages what happens; applies what they ask (see the module docstring).

    Args:
        controls: the one live state.
        steps_per_beat, beats_per_bar: the engine's grid.
        presets: the live set's presets, or None.
        parts: the names of livegen's parts (empty: one part).
        source: the name refusals and logs give this source (``web``).

    Call it on the event loop's thread, except :meth:`noted` (any thread).
    """

    def __init__(self, controls: LiveControls, *, steps_per_beat: int, beats_per_bar: int,
                 presets: Presets | None = None,
                 parts: Sequence[str] = (), source: str = "web") -> None:
        self.controls = controls
        self.steps_per_beat = steps_per_beat
        self.beats_per_bar = beats_per_bar
        self.presets = presets
        self.panic: Callable[[], None] | None = None
        self.parts = tuple(parts)
        self.source = source
        self.pages: set[Page] = set()
        self.engine: Engine | None = None
        self.lyrics_line = ""
        self.received = 0  # messages from pages
        self.refused = 0  # of them, refused
        self.applied = 0  # changes applied through the live state
        self.log = RateLimitedLog(log)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[str, ControlChange] = {}
        self._pending_preset: str | None = None
        self._apply_handle: asyncio.Handle | None = None
        self._dirty: set[str] = set()
        self._values_handle: asyncio.Handle | None = None
        self._values_sent = float("-inf")  # loop time of the last values message
        self._lock = threading.Lock()
        self._notes: list[list[Any]] = []  # [who, pitch, velocity (0: off), beat] since the last step
        self._history: list[list[Any]] = []  # the same, for the last ROLL_BARS bars (new pages)
        self._anchor: tuple[int, float] | None = None  # (step, engine seconds) of the last step
        self._step = -1
        self._flush_due = False
        #: id of each livegen message told to the pages -> its row (the newest only)
        self._rows: dict[int, list[Any]] = {}
        controls.on_change(self._changed)
        controls.on_part_change(self._parts_changed)
        if presets is not None:
            presets.on_switch(self._preset_switched)

    # ---- wiring -------------------------------------------------------------------------

    def attach(self, engine: Engine, loop: asyncio.AbstractEventLoop,
               panic: Callable[[], None] | None = None) -> None:
        """Watch ``engine`` (its steps and notes) from now on; run on ``loop``. ``panic``:
        all notes off at once from the loop's thread (default: the engine's own)."""
        self.engine = engine
        self._loop = loop
        self.panic = panic or engine.panic
        engine.watchers.append(self)

    def detach(self) -> None:
        """Stop watching the engine and cancel anything scheduled."""
        if self.engine is not None and self in self.engine.watchers:
            self.engine.watchers.remove(self)
        for handle in (self._apply_handle, self._values_handle):
            if handle is not None:
                handle.cancel()
        self._apply_handle = self._values_handle = None

    def join(self, page: Page) -> None:
        """A page opened: send it everything it needs to draw (:meth:`hello`)."""
        self.pages.add(page)
        page.post(_dump(self.hello()))

    def leave(self, page: Page) -> None:
        self.pages.discard(page)

    def hello(self) -> dict[str, Any]:
        """The first message a page gets: ``{"type": "hello", "controls": [...groups],
        "values": {name: value}, "presets": [...], "preset": name|None, "parts": [...],
        "part_controls": [...], "part_values": {part: {control: value}}, "steps_per_beat", "beats_per_bar", "roll_bars", "history": [[who, pitch,
        velocity, beat], ...], "step", "lyrics"}`` and the status fields."""
        with self._lock:
            history = list(self._history) + list(self._notes)
        return {"type": "hello", "controls": schema(), "values": _values(self.controls.state),
                "presets": list(self.presets.names) if self.presets is not None else [],
                "preset": self.presets.current if self.presets is not None else None,
                "parts": list(self.parts), "part_controls": part_schema(),
                "part_values": self.controls.parts.as_dict() if self.controls.parts is not None else {},
                "steps_per_beat": self.steps_per_beat,
                "beats_per_bar": self.beats_per_bar, "roll_bars": ROLL_BARS, "history": history,
                "step": self._step, "lyrics": self.lyrics_line, "status": self.status()}

    # ---- what the pages are told -----------------------------------------------------------

    def broadcast(self, message: dict[str, Any]) -> None:
        if not self.pages:
            return
        text = _dump(message)
        for page in list(self.pages):
            page.post(text)

    def _changed(self, names: Sequence[str], state: ControlState) -> None:
        """A change (or a refusal) in the live state: the values in force of ``names`` to
        every page, in the loop's next turn when none went out within the last
        :data:`PAGE_FRAME_S`, else when that frame is over (a burst, a fader sweep or a
        flood, is sent at most once a frame, its latest values)."""
        self._dirty.update(n for n in names if n in CONTROLS)
        loop = self._loop
        if self._values_handle is None and loop is not None and self.pages:
            wait = self._values_sent + PAGE_FRAME_S - loop.time()
            self._values_handle = (loop.call_later(wait, self._send_values) if wait > 0
                                   else loop.call_soon(self._send_values))

    def _send_values(self) -> None:
        self._values_handle = None
        if self._loop is not None:
            self._values_sent = self._loop.time()
        values = _values(self.controls.state)
        changed = {n: values[n] for n in values if n in self._dirty}
        self._dirty.clear()
        if changed:
            self.broadcast({"type": "values", "values": changed})

    def _parts_changed(self, changes: Sequence[tuple[str, str]], parts: PartsState) -> None:
        """A part's control changed (or was refused): every part's values to every page."""
        self.broadcast({"type": "parts", "values": parts.as_dict()})

    def _preset_switched(self, name: str | None) -> None:
        self.broadcast({"type": "preset", "preset": name})

    def lyrics(self, line: str) -> None:
        """A lyrics line streamed (any thread)."""
        self.lyrics_line = line
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: the performance is over
                loop.call_soon_threadsafe(self.broadcast, {"type": "lyrics", "line": line})

    def _beat(self, t: float) -> float:
        """Engine seconds ``t`` as beats from the start, on the grid of the last step."""
        if self._anchor is None or self.engine is None:
            return 0.0
        step, t0 = self._anchor
        return round((step + (t - t0) / self.engine.period) / self.steps_per_beat, 4)

    def noted(self, part: str, t: float, messages: list[mido.Message]) -> None:
        """:class:`~livegen.engine.engine.EngineWatcher`: notes played or heard (any thread)."""
        rows = []
        for m in messages:
            if m.type == "note_on":
                rows.append((m, [part, m.note, m.velocity, self._beat(t)]))
            elif m.type == "note_off":
                rows.append((m, [part, m.note, 0, self._beat(t)]))
        if not rows:
            return
        with self._lock:
            for m, row in rows:
                self._notes.append(row)
                if part != "performer":  # livegen's may be cancelled before they are sent
                    self._rows[id(m)] = row
                    if len(self._rows) > MAX_CANCELLABLE:
                        del self._rows[next(iter(self._rows))]
            flush = not self._flush_due
            self._flush_due = True
        if flush and self._loop is not None:  # notes between steps (a release, a panic) go soon
            with contextlib.suppress(RuntimeError):  # the loop closed: the performance is over
                self._loop.call_soon_threadsafe(self._flush_notes)

    def retracted(self, part: str, messages: list[mido.Message]) -> None:
        """:class:`~livegen.engine.engine.EngineWatcher`: notes cancelled before they were
        sent (a panic, a mute): out of the roll (any thread)."""
        gone = []
        with self._lock:
            for m in messages:
                row = self._rows.pop(id(m), None)
                if row is None:
                    continue
                if row in self._notes:
                    self._notes.remove(row)  # not yet told: never told
                else:
                    gone.append(row)
                    with contextlib.suppress(ValueError):
                        self._history.remove(row)
        if gone and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: the performance is over
                self._loop.call_soon_threadsafe(self.broadcast, {"type": "retract", "notes": gone})

    def _take_notes(self) -> list[list[Any]]:
        with self._lock:
            notes, self._notes = self._notes, []
            self._flush_due = False
            self._history.extend(notes)
        return notes

    def _flush_notes(self) -> None:
        notes = self._take_notes()
        if notes:
            self.broadcast({"type": "notes", "notes": notes})

    def stepped(self, step: int, t: float) -> None:
        """:class:`~livegen.engine.engine.EngineWatcher`: a step sounded: the notes since
        the last one and the grid position to every page."""
        self._anchor = (step, t)
        self._step = step
        notes = self._take_notes()
        keep_from = step / self.steps_per_beat - ROLL_BARS * self.beats_per_bar
        with self._lock:
            if self._history and self._history[0][3] < keep_from:
                self._history = [n for n in self._history if n[3] >= keep_from]
        self.broadcast({"type": "step", "step": step, "beat": step / self.steps_per_beat,
                        "bpm": round(self.engine.bpm if self.engine is not None else 0.0, 3), "notes": notes})

    def status(self) -> dict[str, Any]:
        """The status fields: the engine's (:meth:`Engine.status`, with the parts muted and
        soloed), the key heard, the preset, the pages open."""
        engine = self.engine
        if engine is None:
            return {"status": "starting", "pages": len(self.pages)}
        s = engine.status()
        s.pop("sounding", None)
        s.pop("held", None)
        key = getattr(engine.voice, "key", None)
        s["key_heard"] = getattr(key, "name", None)
        s["pages"] = len(self.pages)
        if self.presets is not None:
            s["preset"] = self.presets.current
        return s

    async def run_status(self) -> None:
        """Send the status :data:`STATUS_S` apart until cancelled."""
        while True:
            await asyncio.sleep(STATUS_S)
            if self.pages:
                self.broadcast({"type": "status", **self.status()})

    # ---- what the pages ask ------------------------------------------------------------------

    def receive(self, page: Page, text: str) -> None:
        """One message from ``page``: validated now, applied in the loop's next turn. A bad
        one is refused with a rate-limited log line, and the page is told the reason and
        the value in force."""
        self.received += 1
        try:
            request = parse_request(text)
        except ValueError as exc:
            self.refused += 1
            self.log.warning("refused", "refused a message from a page: %s", str(exc))
            name = _name_in(text)
            reply: dict[str, Any] = {"type": "refused", "reason": str(exc)}
            if name is not None:
                reply["name"] = name
                reply["value"] = _values(self.controls.state)[name]
            page.post(_dump(reply))
            return
        self._take(request)

    def _take(self, request: PageRequest) -> None:
        if isinstance(request, ControlChange):
            if request.name == "panic" and self.panic is not None:
                self.panic()  # at once
                return
            if request.is_trigger:
                self.controls.offer(request, source=self.source)
                return
            self._pending[request.name] = request
        elif isinstance(request, PresetRequest):
            self._pending_preset = request.name
        elif isinstance(request, PartChange):
            if not self.controls.offer_part(request, source=self.source):
                self.refused += 1
            return
        if self._apply_handle is None and self._loop is not None:
            self._apply_handle = self._loop.call_soon(self._apply)
        elif self._loop is None:
            self._apply()

    def _apply(self) -> None:
        self._apply_handle = None
        pending, self._pending = self._pending, {}
        for change in pending.values():
            if self.controls.offer(change, source=self.source):
                self.applied += 1
        preset, self._pending_preset = self._pending_preset, None
        if preset is not None and self.presets is not None:
            self.presets.select(preset, source=self.source)


def _values(state: ControlState) -> dict[str, Any]:
    return dict(state.as_dict())


def _dump(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


def _name_in(text: str) -> str | None:
    """The control a refused message named, if it named one (to send its value back)."""
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        name = json.loads(text).get("set")
        if isinstance(name, str) and name in CONTROLS and CONTROLS[name].kind not in ("trigger",):
            return name
    return None
