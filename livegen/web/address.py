"""Where the browser stage listens: ``--web [HOST:]PORT`` and its token (no server code here,
so a live set can check its ``web`` key without loading the server)."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass

from livegen.errors import LivegenError

#: the stage's interface when ``--web`` names a port alone: this machine only.
DEFAULT_HOST = "127.0.0.1"


@dataclass(frozen=True)
class StageAddress:
    """Where ``livegen play --web`` serves the stage.

    Attributes:
        host: interface (127.0.0.1: this machine only).
        port: TCP port (0: any free one).
        token: what every request must carry (None: none; required off loopback).
    """

    host: str = "127.0.0.1"
    port: int = 8080
    token: str | None = None


def stage_address(text: str, token: str | None) -> StageAddress:
    """``--web [HOST:]PORT`` and ``--web-token``: a network address without a token gets a
    fresh one (printed once, in the URL).

    Raises:
        LivegenError: a bad address or token (one line).
    """
    host, port = parse_web_address(text)
    if token is not None and (len(token) < 8 or not all(ch.isalnum() or ch in "-_." for ch in token)):
        raise LivegenError("--web-token takes at least 8 letters, digits, '-', '_' or '.' "
                           "(it travels in the page's URL)")
    if token is None and not is_loopback(host):
        token = new_token()
    return StageAddress(host, port, token)


def new_token() -> str:
    """A fresh random token for a stage on the network (22 URL-safe characters)."""
    return secrets.token_urlsafe(16)


def is_loopback(host: str) -> bool:
    """``host`` is this machine only (127.0.0.0/8, ::1, ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_web_address(text: str) -> tuple[str, int]:
    """``PORT``, ``:PORT`` or ``HOST:PORT`` (port 0: any free port) as ``(host, port)``.

    Raises:
        LivegenError: not an address (one line naming the fix).
    """
    host, sep, port_text = text.rpartition(":")
    host = (host if sep else "") or DEFAULT_HOST
    host = host.strip("[]")
    try:
        port = int(port_text)
    except ValueError:
        raise LivegenError(f"--web takes [HOST:]PORT, e.g. 8080 or 0.0.0.0:8080, not {text!r}") from None
    if not 0 <= port <= 65535:
        raise LivegenError(f"--web port must be 0..65535 (0: any free port), not {port}")
    return host, port


