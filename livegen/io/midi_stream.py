"""Parse a MIDI byte stream the way real devices send it.

mido's own parser drops a message whose status byte was left out (running status, which
serial and USB-serial devices send for note runs), loses a channel message when a clock
byte arrives in the middle of it, and buffers sysex of any length. :class:`MidiStream`
follows the MIDI 1.0 rules instead:

* **Running status.** A data byte where a status is expected reuses the last channel
  status (0x80-0xEF), so ``90 3C 64 3E 64`` is two note-ons. System common messages and
  sysex cancel it.
* **Real-time bytes** (0xF8 clock, 0xFA start, 0xFB continue, 0xFC stop, 0xFF reset) may
  arrive anywhere, even between the data bytes of another message; they come out as their
  own message and leave the message around them intact. Active sensing (0xFE) is dropped.
* **Sysex** (0xF0 ... 0xF7) is skipped byte by byte, never buffered: livegen uses none, and
  a device may send megabytes of it. A status byte other than real-time ends it.
* **Stray data bytes** (no status in force) and undefined status bytes (0xF4, 0xF5, 0xF9,
  0xFD) are dropped.

Every dropped or skipped byte is counted in :attr:`MidiStream.counts` (``sysex``,
``stray``, ``undefined``, ``active_sense``), so a caller can report garbage without
logging each byte.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import mido

from livegen.io.base import MessageCallback
from livegen.io.ratelog import Quoted, RateLimitedLog

SYSEX_START = 0xF0
SYSEX_END = 0xF7
ACTIVE_SENSE = 0xFE
#: data bytes after each status; 0 for messages of one byte.
_SYSTEM_COMMON_DATA = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0}
_REALTIME = frozenset({0xF8, 0xFA, 0xFB, 0xFC, 0xFF})
_UNDEFINED = frozenset({0xF4, 0xF5, 0xF9, 0xFD})


def _channel_data_bytes(status: int) -> int:
    """Data bytes of a channel message: program change and channel pressure take one."""
    return 1 if 0xC0 <= status <= 0xDF else 2


class MidiStream:
    """Incremental MIDI 1.0 parser; feed it bytes in any chunking, get whole messages."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._running = 0  # channel status in force for running status (0: none)
        self._status = 0  # status of the message being read (0: none)
        self._data: list[int] = []
        self._need = 0
        self._in_sysex = False

    def feed(self, data: Iterable[int]) -> list[mido.Message]:
        """Parse ``data`` (ints 0..255) and return the messages it completed, in order."""
        out: list[mido.Message] = []
        for byte in data:
            if byte >= 0xF8:
                self._realtime(byte, out)
            elif byte >= 0x80:
                self._status_byte(byte, out)
            elif self._in_sysex:
                self.counts["sysex"] += 1
            else:
                self._data_byte(byte, out)
        return out

    def deliver(self, data: Iterable[int], callback: MessageCallback, t: float, rate_log: RateLimitedLog,
                source: str) -> None:
        """Parse ``data`` and pass each message it completes to ``callback(msg, t)`` (``t``:
        engine-clock s). Nothing raises: bad bytes and a failing callback are logged,
        rate-limited, on ``rate_log`` naming ``source`` (this runs on a MIDI driver's thread)."""
        try:
            messages = self.feed(data)
        except Exception as exc:
            rate_log.warning("bad-bytes", "bad MIDI bytes from %s: %s", source, exc)
            return
        for msg in messages:
            try:
                callback(msg, t)
            except Exception as exc:
                rate_log.warning("callback", "MIDI input callback failed on %s: %r", Quoted(msg), exc)

    def _realtime(self, byte: int, out: list[mido.Message]) -> None:
        if byte in _REALTIME:
            out.append(mido.Message.from_bytes([byte]))
        elif byte == ACTIVE_SENSE:
            self.counts["active_sense"] += 1
        else:
            self.counts["undefined"] += 1

    def _status_byte(self, byte: int, out: list[mido.Message]) -> None:
        if self._in_sysex:
            self._in_sysex = False
            self.counts["sysex"] += 1
            if byte == SYSEX_END:
                return
        self._data = []
        if byte < 0xF0:  # a channel message
            self._status = self._running = byte
            self._need = _channel_data_bytes(byte)
            return
        self._running = 0  # system messages cancel running status
        self._status = 0
        if byte == SYSEX_START:
            self._in_sysex = True
            self.counts["sysex"] += 1
        elif byte in _SYSTEM_COMMON_DATA:
            need = _SYSTEM_COMMON_DATA[byte]
            if need == 0:
                out.append(mido.Message.from_bytes([byte]))
            else:
                self._status, self._need = byte, need
        elif byte == SYSEX_END:
            self.counts["stray"] += 1  # an end without a start
        else:
            self.counts["undefined"] += 1

    def _data_byte(self, byte: int, out: list[mido.Message]) -> None:
        if not self._status:
            if not self._running:
                self.counts["stray"] += 1
                return
            self._status, self._need = self._running, _channel_data_bytes(self._running)
        self._data.append(byte)
        if len(self._data) < self._need:
            return
        out.append(mido.Message.from_bytes([self._status, *self._data]))
        self._data = []
        self._status = 0  # the next data byte starts a running-status message (or is stray)
