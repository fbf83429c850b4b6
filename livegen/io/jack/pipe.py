"""The frames livegen and its JACK helper process exchange over the helper's stdin and stdout.

One frame: a kind byte, a time (s, on the engine's ``time.monotonic`` clock) as a double, a
payload length (uint32), the payload. A frame is at most :data:`MAX_FRAME` bytes so that one
``os.write`` to a pipe is atomic (``PIPE_BUF``): a non-blocking writer sends it whole or not
at all.

Engine to helper: ``E`` a MIDI message due at the time; ``X`` drop every event due after the
time; ``C``/``D`` connect/disconnect two ports and ``L`` list ports (JSON payload with an
``id``, answered by ``A``); ``Q`` quit (write what is due, release what sounds).
Helper to engine: ``R`` ready (JSON: client name, rate, period, latency); ``M`` a MIDI input
event stamped with its frame's engine time; ``A`` an answer (JSON); ``G`` the server shut the
client down (reason); ``S`` the helper's figures at exit (JSON); ``F`` it failed to start (text).
"""

from __future__ import annotations

import struct
from typing import IO

HEADER = struct.Struct("<cdI")
#: a frame's largest size (``PIPE_BUF`` on Linux: writes up to it are atomic)
MAX_FRAME = 4096


def encode(kind: bytes, t: float, payload: bytes = b"") -> bytes:
    """One frame; ``payload`` must fit :data:`MAX_FRAME`."""
    if HEADER.size + len(payload) > MAX_FRAME:
        raise ValueError(f"a {kind!r} frame of {len(payload)} bytes does not fit a pipe write")
    return HEADER.pack(kind, t, len(payload)) + payload


def read_frame(stream: IO[bytes]) -> tuple[bytes, float, bytes] | None:
    """The next ``(kind, time s, payload)`` from ``stream``; None at its end."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    kind, t, n = HEADER.unpack(head)
    payload = stream.read(n) if n else b""
    if len(payload) < n:
        return None
    return kind, t, payload
