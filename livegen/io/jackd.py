"""A headless JACK server for MIDI where there is no ALSA sequencer (containers, CI).

:class:`JackServer` starts ``jackd -n NAME -S --no-realtime -d dummy -r 48000 -p 128``
(or reuses a running server of that name), waits until ``jack_lsp`` answers, and points
this process at it through the environment::

    JACK_DEFAULT_SERVER=NAME
    MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK
    JACK_NO_START_SERVER=1

Facts this module is built on (measured on the target machine):

* ``-S`` (synchronous mode) is required: without it MIDI is silently lost under CPU load.
* The server name must differ from every client name. A JACK2 client binds its
  notification socket at the same path as a server of the same name
  (``/dev/shm/jack_<name>_<uid>_0``) and unlinks the server's socket, after which nobody
  can connect. livegen's client is called ``livegen``, so the server defaults to
  ``livegen-jack``.
* JACK's registry keeps only a few servers and dead ones leave entries behind, so one
  fixed name is reused instead of a fresh name per run; after a ``kill -9`` the stale
  ``/dev/shm/jack_<name>_*`` and ``/dev/shm/jack_sem.*_<name>_*`` files are removed
  before starting again.
* A client cannot tell that its server died: port listings read shared memory and keep
  showing the dead server's ports. The server's request socket
  (``/dev/shm/jack_<name>_<uid>_0``) does tell: a live server accepts a connection, a dead
  one's stale socket refuses it (:func:`server_answers`, ~0.1 ms, no client is registered).
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

from livegen.errors import LivegenError

log = logging.getLogger(__name__)

#: default JACK server name; must not equal a client name (see the module docstring).
DEFAULT_SERVER_NAME = "livegen-jack"
#: mido backend string that selects python-rtmidi's JACK API.
JACK_MIDO_BACKEND = "mido.backends.rtmidi/UNIX_JACK"
INSTALL_HINT = "apt-get install --no-install-recommends jackd2"
SHM_DIR = Path("/dev/shm")


def jackd_path() -> str | None:
    """Path of the ``jackd`` executable, or None when JACK is not installed."""
    return shutil.which("jackd")


def jack_env(name: str = DEFAULT_SERVER_NAME) -> dict[str, str]:
    """Environment variables that point JACK clients and mido at server ``name``."""
    return {"JACK_DEFAULT_SERVER": name, "MIDO_BACKEND": JACK_MIDO_BACKEND, "JACK_NO_START_SERVER": "1"}


def jack_ports(name: str = DEFAULT_SERVER_NAME, timeout: float = 3.0) -> list[str] | None:
    """Port names of server ``name`` via ``jack_lsp``, or None when it does not answer."""
    lsp = shutil.which("jack_lsp")
    if lsp is None:
        raise LivegenError(f"jack_lsp not found; install JACK: {INSTALL_HINT}")
    env = {**os.environ, **jack_env(name)}
    try:
        done = subprocess.run([lsp, "-s", name], env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if done.returncode != 0:
        return None
    return [line for line in done.stdout.splitlines() if line.strip()]


def server_name() -> str:
    """The JACK server this process's clients connect to (``JACK_DEFAULT_SERVER``, else ``default``)."""
    return os.environ.get("JACK_DEFAULT_SERVER") or "default"


def server_socket(name: str) -> Path:
    """The request socket a JACK2 server ``name`` listens on."""
    return SHM_DIR / f"jack_{name}_{os.getuid()}_0"


def server_answers(name: str) -> bool:
    """False when JACK server ``name`` is gone: its request socket refuses a connection.

    A dead server's socket file stays behind and refuses connections, while port listings
    keep showing its ports, so this is how a client notices its server is gone. It
    registers no client (JACK takes it for a server check), takes ~0.1 ms and never waits:
    a server too busy to take the connection (a full backlog) counts as alive.
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        sock.connect(str(server_socket(name)))
        return True
    except BlockingIOError:  # the backlog is full: alive, busy
        return True
    except OSError:
        return False
    finally:
        sock.close()


def _jackd_pids(name: str) -> list[int]:
    """Pids of running (non-zombie) ``jackd`` processes serving ``name`` (Linux /proc)."""
    pids = []
    for stat in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            argv = Path(stat).read_bytes().split(b"\0")
            state = Path(stat).with_name("stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if not argv or Path(argv[0].decode(errors="replace")).name not in ("jackd", "jackdmp"):
            continue
        if state == "Z":
            continue
        args = [a.decode(errors="replace") for a in argv]
        for i, arg in enumerate(args[:-1]):
            if arg in ("-n", "--name") and args[i + 1] == name:
                pids.append(int(Path(stat).parent.name))
    return pids


def remove_stale_files(name: str) -> list[str]:
    """Delete the /dev/shm sockets and semaphores a dead server ``name`` left behind.

    Only call this when no server of that name is running. Returns the removed paths.
    """
    removed = []
    patterns = [f"jack_{glob.escape(name)}_*", f"jack_sem.*_{glob.escape(name)}_*"]
    for pattern in patterns:
        for path in SHM_DIR.glob(pattern):
            try:
                path.unlink()
                removed.append(str(path))
            except OSError as exc:
                log.warning("could not remove stale JACK file %s: %s", path, exc)
    if removed:
        log.info("removed %d stale JACK files of server %r", len(removed), name)
    return removed


class JackServer:
    """Start (or reuse) a headless JACK server and point this process at it.

    Use as a context manager or call :meth:`start` / :meth:`stop`. Only a server this
    object started is stopped (SIGTERM); a reused one is left running.

    Args:
        name: JACK server name; must not be ``livegen`` (the client name).
        rate: sample rate in Hz of the dummy driver.
        period: frames per period (128 at 48 kHz = 2.7 ms).
        timeout: seconds to wait for the server to answer.
        set_environ: also set :attr:`env` in ``os.environ`` while running (restored on stop).
    """

    def __init__(self, name: str = DEFAULT_SERVER_NAME, *, rate: int = 48000, period: int = 128,
                 timeout: float = 10.0, set_environ: bool = True) -> None:
        if name == "livegen":
            raise LivegenError("the JACK server cannot be named 'livegen' (livegen's client name); "
                               f"use {DEFAULT_SERVER_NAME!r}")
        self.name = name
        self.rate = rate
        self.period = period
        self.timeout = timeout
        self.set_environ = set_environ
        self.started = False  # True when this object launched jackd
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None  # jackd's output, read back when it fails
        self._saved_env: dict[str, str | None] = {}

    @property
    def env(self) -> dict[str, str]:
        """The variables to give a subprocess so it uses this server."""
        return jack_env(self.name)

    def subprocess_env(self) -> dict[str, str]:
        """A copy of ``os.environ`` with :attr:`env` applied, for ``subprocess`` calls."""
        return {**os.environ, **self.env}

    @property
    def command(self) -> list[str]:
        """The jackd command line this object runs."""
        return [jackd_path() or "jackd", "-n", self.name, "-S", "--no-realtime",
                "-d", "dummy", "-r", str(self.rate), "-p", str(self.period)]

    def running(self) -> bool:
        """True when the server answers ``jack_lsp``."""
        return jack_ports(self.name) is not None

    def ports(self) -> list[str]:
        """All port names on the server (audio and MIDI), via ``jack_lsp``."""
        ports = jack_ports(self.name)
        if ports is None:
            raise LivegenError(f"JACK server {self.name!r} is not running; start it first")
        return ports

    def start(self) -> JackServer:
        """Reuse a running server or start one; set the environment. Returns self."""
        if jackd_path() is None:
            raise LivegenError(f"jackd is not installed; install it with `{INSTALL_HINT}`")
        if self.running():
            log.info("reusing running JACK server %r", self.name)
        elif pids := _jackd_pids(self.name):
            # a loaded synchronous server can leave jack_lsp unanswered for seconds: it has
            # ``timeout`` s to answer before it counts as hung
            if not self._answers_within(self.timeout):
                raise LivegenError(f"a jackd named {self.name!r} (pid {pids[0]}) runs but does not answer; "
                                   f"stop it with `kill {pids[0]}` and retry")
            log.info("reusing running JACK server %r (slow to answer)", self.name)
        else:
            remove_stale_files(self.name)
            self._launch()
        self._apply_env()
        return self

    def _answers_within(self, seconds: float) -> bool:
        """Whether the server answers ``jack_lsp`` within ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if jack_ports(self.name, timeout=max(0.1, min(3.0, left))) is not None:
                return True
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        return False

    def _launch(self) -> None:
        self._log = tempfile.TemporaryFile(prefix="livegen-jackd-")  # noqa: SIM115 (kept open while jackd runs)
        env = {**os.environ, "JACK_NO_START_SERVER": "1"}
        log.info("starting %s", " ".join(self.command))
        self._proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=self._log,
                                      stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.started = True
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                reason = self._log_tail()
                self._cleanup_after_exit()
                raise LivegenError(f"jackd exited with status {self._proc.returncode}: {reason}")
            if self.running():
                log.info("JACK server %r ready (pid %d)", self.name, self._proc.pid)
                return
            time.sleep(0.05)
        self.stop()
        raise LivegenError(f"JACK server {self.name!r} did not answer within {self.timeout:g} s; "
                           f"check `{' '.join(self.command)}` by hand")

    def _log_tail(self) -> str:
        if self._log is None:
            return "no output"
        self._log.seek(0)
        lines = [ln.strip() for ln in self._log.read().decode(errors="replace").splitlines() if ln.strip()]
        useful = [ln for ln in lines if not ln.startswith(("Copyright", "jackdmp", "This is free", "under cert"))]
        return " | ".join(useful[-3:]) or "no output"

    def _apply_env(self) -> None:
        if not self.set_environ:
            return
        for key, value in self.env.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def _restore_env(self) -> None:
        for key, old in self._saved_env.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
        self._saved_env.clear()

    def _cleanup_after_exit(self) -> None:
        self.started = False
        if self._log is not None:
            self._log.close()
            self._log = None

    def stop(self) -> None:
        """SIGTERM the server if this object started it; restore the environment."""
        self._restore_env()
        proc = self._proc
        if proc is None or not self.started:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=5.0)
            except subprocess.TimeoutExpired:
                log.warning("jackd %d ignored SIGTERM; killing it", proc.pid)
                proc.kill()
                proc.wait(timeout=5.0)
                remove_stale_files(self.name)
        log.info("JACK server %r stopped", self.name)
        self._proc = None
        self._cleanup_after_exit()

    def __enter__(self) -> JackServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
