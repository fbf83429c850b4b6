"""The browser stage's server: one page and its WebSocket, served from livegen's event loop.

aiohttp serves HTTP and WebSocket from the asyncio loop the engine already runs on, so a
page's request reaches the live state with no thread between them. Routes:

* ``GET /``: the page (``static/index.html``); ``GET /static/NAME``: its script and style,
  shipped in the package (no CDN, no build step: the page works with no internet).
* ``GET /ws``: the WebSocket (:class:`~livegen.web.stage.StageHub` says what travels).

Safety: the server listens on 127.0.0.1 unless asked. On any other address every request
must carry the token (``?token=...``; :func:`~livegen.web.address.new_token` makes one, printed once in the URL),
and with an allow list (``--osc-allow``, the same as OSC's) only those addresses are
answered. The WebSocket refuses a page from another origin (a site open in the same
browser must not steer the performer's livegen). A page whose messages cannot be sent fast
enough (:data:`MAX_BACKLOG`) is closed rather than let memory grow.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Sequence
from importlib import resources
from typing import Any

from aiohttp import WSMsgType, web

from livegen.errors import LivegenError
from livegen.io.osc import AllowList
from livegen.io.ratelog import RateLimitedLog
from livegen.web.address import DEFAULT_HOST, is_loopback
from livegen.web.stage import StageHub

log = logging.getLogger(__name__)

#: messages waiting for one page before it is closed as too slow.
MAX_BACKLOG = 2000
#: the files the page is made of (``livegen/web/static``), with their content types.
STATIC = {"index.html": "text/html", "stage.js": "text/javascript", "stage.css": "text/css"}


class _Socket:
    """One open page's WebSocket: ``post`` queues, a task writes."""

    def __init__(self, ws: web.WebSocketResponse, peer: str) -> None:
        self.ws = ws
        self.peer = peer
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.too_slow = False

    def post(self, text: str) -> None:
        if self.too_slow:
            return
        if self.queue.qsize() >= MAX_BACKLOG:
            self.too_slow = True
            self.queue.put_nowait(None)
            return
        self.queue.put_nowait(text)

    async def write(self) -> None:
        while True:
            text = await self.queue.get()
            if text is None:
                log.warning("page %s closed: it could not keep up (%d messages waiting)", self.peer, MAX_BACKLOG)
                await self.ws.close()
                return
            await self.ws.send_str(text)


class WebStage:
    """Serve the stage for ``hub`` on ``host:port``.

    Args:
        hub: the pages' hub (attached to the running session).
        host, port: where to listen (port 0: any free port; :attr:`url` says which).
        token: every request must carry ``?token=`` this (None: none needed). Required on an
            address other than loopback.
        allow: IPs or networks allowed to open the page (None: anyone who can reach it).

    Raises:
        LivegenError: a network address without a token.
    """

    def __init__(self, hub: StageHub, host: str = DEFAULT_HOST, port: int = 0, *, token: str | None = None,
                 allow: Sequence[str] | None = None) -> None:
        if token is None and not is_loopback(host):
            raise LivegenError(f"a stage on {host} needs a token: give --web-token TOKEN, or let livegen "
                               "make one (it does when --web names a network address)")
        self.hub = hub
        self.host = host
        self.port = port
        self.token = token
        self.allow = AllowList(allow) if allow is not None else None
        self.refused_origins = 0
        self.refused_tokens = 0
        self.log = RateLimitedLog(log)
        self._runner: web.AppRunner | None = None
        self._sockets: set[_Socket] = set()
        self._status: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        """The page's address (with the token when one is needed)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/" + (f"?token={self.token}" if self.token else "")

    async def start(self) -> WebStage:
        """Listen; :attr:`port` is the real port from here on.

        Raises:
            LivegenError: the address cannot be listened on (in use, not this machine's).
        """
        app = web.Application()
        app.router.add_get("/", self._page)
        app.router.add_get("/static/{name}", self._static)
        app.router.add_get("/ws", self._socket)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise LivegenError(f"the stage cannot listen on {self.host}:{self.port} ({exc.strerror}): "
                               "choose another --web address (this machine's own, or 0.0.0.0) or port (0: any free one)") from None
        server = site._server  # the real port when 0 was asked for
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        self._status = asyncio.ensure_future(self.hub.run_status())
        log.info("stage at %s", self.url)
        return self

    async def close(self) -> None:
        """Close every page and stop listening."""
        if self._status is not None:
            self._status.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._status
        for sock in list(self._sockets):
            with contextlib.suppress(Exception):
                await sock.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ---- requests ---------------------------------------------------------------------------

    def _check(self, request: web.Request) -> None:
        """Refuse a request from outside the allow list or without the token."""
        peer = request.remote or ""
        if self.allow is not None and peer not in self.allow:
            self.log.warning("denied", "stage request from %s denied: not in the allow list (%s)", peer,
                             str(self.allow))
            raise web.HTTPForbidden(text="livegen: this address may not open the stage\n")
        if self.token is not None and not hmac.compare_digest(request.query.get("token", ""), self.token):
            self.refused_tokens += 1
            self.log.warning("token", "stage request from %s refused: no or a wrong token", peer)
            raise web.HTTPForbidden(text="livegen: open the stage with the URL livegen printed "
                                         "(it carries ?token=...)\n")

    async def _page(self, request: web.Request) -> web.StreamResponse:
        self._check(request)
        return self._file("index.html")

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        return self._file(name)

    def _file(self, name: str) -> web.Response:
        body = resources.files("livegen.web").joinpath("static", name).read_bytes()
        return web.Response(body=body, content_type=STATIC[name], charset="utf-8",
                            headers={"Cache-Control": "no-cache"})

    def _same_origin(self, request: web.Request) -> bool:
        """No ``Origin`` (not a browser page) or the stage's own."""
        origin = request.headers.get("Origin")
        return origin is None or origin == f"{request.scheme}://{request.host}"

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        self._check(request)
        if not self._same_origin(request):
            self.refused_origins += 1
            self.log.warning("origin", "stage WebSocket from origin %s refused (the stage is %s://%s)",
                             request.headers.get("Origin", "")[:80], request.scheme, request.host)
            raise web.HTTPForbidden(text="livegen: the stage answers its own page only\n")
        ws = web.WebSocketResponse(heartbeat=20.0, max_msg_size=1 << 16)
        await ws.prepare(request)
        sock = _Socket(ws, request.remote or "?")
        self._sockets.add(sock)
        writer = asyncio.ensure_future(sock.write())
        self.hub.join(sock)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self.hub.receive(sock, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self.hub.refused += 1
                    self.log.warning("binary", "refused a binary message from page %s: the stage speaks JSON text",
                                     sock.peer)
        finally:
            self.hub.leave(sock)
            self._sockets.discard(sock)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
        return ws


def describe(stage: WebStage) -> dict[str, Any]:
    """Counters for tests and benchmarks."""
    return {"url": stage.url, "pages": len(stage.hub.pages), "received": stage.hub.received,
            "refused": stage.hub.refused, "applied": stage.hub.applied,
            "refused_origins": stage.refused_origins, "refused_tokens": stage.refused_tokens}
