"""The few libjack calls a process callback makes each cycle, bound with ctypes so they keep the GIL.

JACK-Client (CFFI) opens the client, registers ports, connects them and runs the process
callback; its per-event MIDI calls look the port's buffer up again for every event, and CFFI
releases Python's GIL around every C call. Inside a process callback each release is a chance
for another Python thread (the engine stepping its model) to take the GIL, and getting it back
can take a whole switch interval (0.5 ms in ``livegen play``) per call. These calls take
microseconds and never block, so they are bound here through ``ctypes.PyDLL``, which holds the
GIL across the call: one GIL acquisition per cycle (JACK-Client's, on entry), not one per call.

Also :meth:`JackCalls.cycle_times` and :meth:`JackCalls.time_us` (``jack_get_cycle_times`` and
``jack_get_time``), which JACK-Client does not wrap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Iterator
from typing import Any

from livegen.errors import LivegenError

try:
    import jack
except (ImportError, OSError) as _exc:  # JACK-Client not installed, or no libjack on this system
    jack = None
    JACK_IMPORT_ERROR: str | None = f"{type(_exc).__name__}: {_exc}"
else:
    JACK_IMPORT_ERROR = None


def jack_module() -> Any:
    """The ``jack`` module (JACK-Client), or a one-line :class:`LivegenError` saying what is missing."""
    if jack is None:
        raise LivegenError(f"the JACK MIDI backend needs JACK-Client and libjack ({JACK_IMPORT_ERROR}); "
                           "pip install JACK-Client; apt-get install --no-install-recommends jackd2")
    return jack


class _MidiEvent(ctypes.Structure):
    _fields_ = [("time", ctypes.c_uint32), ("size", ctypes.c_size_t), ("buffer", ctypes.c_void_p)]


def _library() -> ctypes.PyDLL:
    path = ctypes.util.find_library("jack") or ctypes.util.find_library("libjack")
    if path is None:
        raise LivegenError("libjack not found; install JACK: apt-get install --no-install-recommends jackd2")
    lib = ctypes.PyDLL(path)
    u32, u64, vp = ctypes.c_uint32, ctypes.c_uint64, ctypes.c_void_p
    lib.jack_get_cycle_times.argtypes = [vp, ctypes.POINTER(u32), ctypes.POINTER(u64), ctypes.POINTER(u64),
                                         ctypes.POINTER(ctypes.c_float)]
    lib.jack_get_cycle_times.restype = ctypes.c_int
    lib.jack_get_time.argtypes = []
    lib.jack_get_time.restype = u64
    lib.jack_port_get_buffer.argtypes = [vp, u32]
    lib.jack_port_get_buffer.restype = vp
    lib.jack_midi_clear_buffer.argtypes = [vp]
    lib.jack_midi_clear_buffer.restype = None
    lib.jack_midi_event_write.argtypes = [vp, u32, ctypes.c_char_p, ctypes.c_size_t]
    lib.jack_midi_event_write.restype = ctypes.c_int
    lib.jack_midi_get_event_count.argtypes = [vp]
    lib.jack_midi_get_event_count.restype = u32
    lib.jack_midi_event_get.argtypes = [ctypes.POINTER(_MidiEvent), vp, u32]
    lib.jack_midi_event_get.restype = ctypes.c_int
    lib.jack_port_get_connections.argtypes = [vp]
    lib.jack_port_get_connections.restype = ctypes.POINTER(ctypes.c_char_p)
    lib.jack_free.argtypes = [vp]
    lib.jack_free.restype = None
    return lib


def address(obj: Any) -> int:
    """The C pointer behind a JACK-Client ``Client`` or ``Port`` (its private ``_ptr``) as an int."""
    return int(jack_module()._ffi.cast("uintptr_t", obj._ptr))


def abandon(client: Any) -> None:
    """Let go of a client whose server died without ever closing it: ``jack_client_close`` on a
    dead or stalled server can block, and JACK-Client closes a client when it is collected.
    Clears its private ``_ptr`` so that neither ``close()`` nor collection calls into libjack."""
    client._ptr = jack_module()._ffi.NULL


class JackCalls:
    """libjack calls for one client's process callback (every method: callback thread only).

    Args:
        client: the ``jack.Client`` whose cycles these calls read.
    """

    def __init__(self, client: Any) -> None:
        self._lib = _library()
        self._client = ctypes.c_void_p(address(client))
        self._frame = ctypes.c_uint32()
        self._start = ctypes.c_uint64()
        self._next = ctypes.c_uint64()
        self._period = ctypes.c_float()
        self._frame_p = ctypes.pointer(self._frame)
        self._start_p = ctypes.pointer(self._start)
        self._next_p = ctypes.pointer(self._next)
        self._period_p = ctypes.pointer(self._period)
        self._event = _MidiEvent()
        self._event_p = ctypes.pointer(self._event)

    def cycle_times(self) -> tuple[int, int, int] | None:
        """``(first frame, start µs, next cycle's start µs)`` of this cycle; None on failure."""
        if self._lib.jack_get_cycle_times(self._client, self._frame_p, self._start_p, self._next_p,
                                          self._period_p) != 0:
            return None
        return self._frame.value, self._start.value, self._next.value

    def time_us(self) -> int:
        """JACK's clock now (µs)."""
        return int(self._lib.jack_get_time())

    def buffer(self, port_address: int, frames: int) -> int:
        """The port's MIDI buffer for this cycle (an address)."""
        return int(self._lib.jack_port_get_buffer(port_address, frames) or 0)

    def connections(self, port_address: int) -> frozenset[bytes]:
        """The names of the ports the port is connected to in this cycle's graph (a new one
        shows here in the first cycle it receives anything, even when another went in the
        same period, which a count of connections would miss)."""
        names = self._lib.jack_port_get_connections(port_address)
        if not names:
            return frozenset()
        out = []
        i = 0
        while names[i] is not None:
            out.append(names[i])
            i += 1
        self._lib.jack_free(ctypes.cast(names, ctypes.c_void_p))
        return frozenset(out)

    def clear(self, buffer: int) -> None:
        """Empty an output buffer (first thing each cycle)."""
        self._lib.jack_midi_clear_buffer(buffer)

    def write(self, buffer: int, offset: int, data: bytes) -> bool:
        """Write one event at frame ``offset``; False when JACK refused it (buffer full, order)."""
        return bool(self._lib.jack_midi_event_write(buffer, offset, data, len(data)) == 0)

    def events(self, buffer: int) -> Iterator[tuple[int, bytes]]:
        """``(frame offset, bytes)`` of each event in an input buffer, in order."""
        lib, event, event_p = self._lib, self._event, self._event_p
        for i in range(lib.jack_midi_get_event_count(buffer)):
            if lib.jack_midi_event_get(event_p, buffer, i) != 0:
                return
            yield event.time, ctypes.string_at(event.buffer, event.size)
