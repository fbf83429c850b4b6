"""The docs check: every shell command in README.md and docs/*.md runs, and shown output is
compared (issue 27).

Built on Sybil (https://sybil.readthedocs.io), collected by pytest from the root
``conftest.py``. Sybil was chosen over pytest-markdown-docs and mktestdocs because those run
Python fences only (or whole bash blocks with no say per command), while Sybil's documented
parser API lets one parser turn each shell fence into a pytest item named by file and line,
with per-command rules: livegen's docs are shell sessions against MIDI devices, JACK and
hours-long training runs, and each needs its own shortened form. Sybil is maintained and
released regularly.

A fence is a command block when every line that is not blank or a ``#`` comment starts with
a command (:data:`COMMANDS`); ``$ `` lines in a fence are commands whose following lines are
the output shown, compared line by line (``...`` stands for any lines). Other fences
(diagrams, sample output shown for reading) are prose. Each block runs in a fresh folder
with the checkout's ``examples``, ``scripts`` and ``benchmarks`` linked in, and nothing
beside it (as in a fresh clone), with its own user data folder.

Rules (:data:`RULES`), first match wins, each saying why:

* ``livegen play`` runs for real on the test JACK server, where a stand-in client holds a
  port for every device name the docs use ("Keyboard", "IAC Bus 1", ...): it must say it is
  playing, then gets Ctrl-C and must end with status 0 and no traceback. Commands after it
  in the same block run while it plays.
* long runs (training, the benchmarks, ``livegen bench``) run shortened: the whole command
  line with ``--help``, which must succeed and list every ``--flag`` the command uses.
* ``livegen eval`` runs on two pieces (``--max-sequences 2``); ``livegen data fetch`` from the
  shared data folder as its mirror.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sybil import Document, Example, Region
from sybil.parsers.markdown.lexers import RawFencedCodeBlockLexer

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ("livegen ", "python ", "python3 ", "scripts/", "jack_", "pip ", "torchrun ", "export ", "fluidsynth ")
#: device names the docs give to --in / --out, held by a stand-in JACK client during the check
DEVICES = ("Keyboard", "IAC Bus 1", "IAC Bus 2", "Keystation", "JD-Xi", "Synth", "to livegen", "from livegen")
#: where the documented commands find the data sets (set by the root conftest's docs_data)
DATA_ROOT: Path | None = None
#: the docs' JACK server (``JACK_DEFAULT_SERVER``...), set by the root conftest's docs_devices:
#: given to the documented commands only, so tests run beside the check keep their own server
JACK_ENV: dict[str, str] = {}
START_S = 90.0  # livegen play: torch, the model and JACK on a loaded 2-core machine
RUN_S = 300.0


@dataclass
class Command:
    line: int  # 1-based line in the document
    text: str
    shown: list[str] | None = None  # output the doc shows (``$`` blocks)


@dataclass
class Block:
    commands: list[Command]
    env: dict[str, str] = field(default_factory=dict)


def commands_of(source: str, first_line: int) -> Block | None:
    """The commands of a fence (continuations joined), or None when it is not a command block."""
    lines = source.splitlines()
    console = any(ln.startswith("$ ") for ln in lines)
    out: list[Command] = []
    i = 0
    while i < len(lines):
        raw = lines[i]
        stripped = raw.strip()
        if console:
            if raw.startswith("$ "):
                text, j = raw[2:], i
                while text.endswith("\\"):
                    j += 1
                    text = text[:-1] + " " + lines[j].strip()
                shown = []
                k = j + 1
                while k < len(lines) and not lines[k].startswith("$ "):
                    shown.append(lines[k])
                    k += 1
                while shown and not shown[-1].strip():
                    shown.pop()
                out.append(Command(first_line + i, strip_comment(text), shown))
                i = k
                continue
            i += 1
            continue
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        if not stripped.startswith(COMMANDS):
            return None
        text, j = stripped, i
        while text.endswith("\\"):
            j += 1
            text = text[:-1] + " " + lines[j].strip()
        out.append(Command(first_line + i, strip_comment(text)))
        i = j + 1
    return Block(out) if out else None


def strip_comment(text: str) -> str:
    """The command without a trailing ``# comment`` (outside quotes)."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=False)
    lexer.whitespace_split, lexer.commenters = True, "#"
    try:
        kept = list(lexer)
    except ValueError:
        return text
    # keep the original quoting: cut the text where the comment starts
    cut = re.search(r"\s+#\s", text)
    return text[:cut.start()] if cut and len(shlex.split(text[:cut.start()])) == len(kept) else text


def flags(text: str) -> list[str]:
    return sorted({m.split("=")[0] for m in re.findall(r"(?<![\w-])--[a-z][\w-]*(?:=\S*)?", text)})


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- how each command runs -------------------------------------------------------------------

class Runner:
    """Runs one block's commands in a folder of its own."""

    def __init__(self, doc: Path, env_defs: dict[str, str]) -> None:
        self.doc = doc
        self.dir = Path(tempfile.mkdtemp(prefix="livegen-docs-"))
        for name in ("examples", "scripts", "benchmarks"):
            (self.dir / name).symlink_to(ROOT / name)
        self.env = {**os.environ, "XDG_DATA_HOME": str(self.dir / "xdg"), "PYTHONPATH": str(ROOT),
                    **env_defs}
        self.env.update(JACK_ENV)
        self.env.pop("LIVEGEN_DATA", None)
        if DATA_ROOT is not None:  # the shared sets, or the stand-ins of a fresh clone (conftest.py)
            self.env["LIVEGEN_DATA"] = str(DATA_ROOT)
        self.playing: list[tuple[Command, subprocess.Popen[str]]] = []
        self.readers: dict[int, tuple[threading.Thread, list[str]]] = {}

    def where(self, cmd: Command) -> str:
        return f"{self.doc.name}:{cmd.line}: {cmd.text}"

    def shell(self, cmd: Command, text: str, timeout: float = RUN_S) -> str:
        proc = subprocess.run(["bash", "-c", text], cwd=self.dir, env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        assert proc.returncode == 0, f"{self.where(cmd)}\n  ran: {text}\n  exit {proc.returncode}\n{proc.stderr[-3000:]}"
        assert "Traceback" not in proc.stderr, f"{self.where(cmd)}\n{proc.stderr[-3000:]}"
        return proc.stdout

    def help_only(self, cmd: Command, why: str) -> str:
        """The shortened form of a long run: the command line with ``--help``."""
        text = re.sub(r"\s*(\|\||&&|;).*$", "", cmd.text)
        if text.startswith("torchrun "):
            text = "python -m livegen " + text.split(" -m livegen ", 1)[1]
        out = self.shell(cmd, text + " --help", timeout=120)
        missing = [f for f in flags(text) if f not in out]
        assert not missing, f"{self.where(cmd)}: {missing} not in its --help ({why})"
        return ""

    def play(self, cmd: Command, why: str) -> str:
        port = free_port()
        proc = subprocess.Popen(["bash", "-c", f"exec {cmd.text} --no-view --osc-port {port}"
                                 if "--osc-port 0" not in cmd.text else f"exec {cmd.text} --no-view"],
                                cwd=self.dir, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        said: list[str] = []
        playing = threading.Event()

        def read() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                said.append(line)
                if "Ctrl-C stops" in line:
                    playing.set()
            playing.set()  # ended

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        playing.wait(START_S)
        if proc.poll() is not None or "Ctrl-C stops" not in "".join(said):
            proc.kill()
            proc.wait()
            reader.join(5)
            raise AssertionError(f"{self.where(cmd)}: not playing (exit {proc.returncode})\n{''.join(said)[-3000:]}")
        self.readers[proc.pid] = (reader, said)
        self.playing.append((cmd, proc))
        return ""

    def stop_playing(self) -> None:
        for cmd, proc in self.playing:
            os.killpg(proc.pid, signal.SIGINT)
            proc.wait(timeout=60)
            reader, said = self.readers[proc.pid]
            reader.join(10)
            err = "".join(said)
            assert proc.returncode == 0 and "Traceback" not in err, \
                f"{self.where(cmd)}: Ctrl-C gave exit {proc.returncode}\n{err[-3000:]}"
        self.playing = []

    def run(self, cmd: Command) -> str:
        for pattern, action, why in RULES:
            if re.search(pattern, cmd.text):
                return action(self, cmd, why)
        return self.shell(cmd, cmd.text)


def skip(runner: Runner, cmd: Command, why: str) -> str:
    return ""


def export(runner: Runner, cmd: Command, why: str) -> str:
    for item in shlex.split(cmd.text)[1:]:
        name, _, value = item.partition("=")
        if name == "MIDO_BACKEND" or name == "JACK_DEFAULT_SERVER":
            continue  # the test server's own settings stay
        runner.env[name] = value
    return ""


def shortened(extra: str) -> Callable[[Runner, Command, str], str]:
    def run(runner: Runner, cmd: Command, why: str) -> str:
        return runner.shell(cmd, cmd.text + " " + extra)
    return run


def fetch(runner: Runner, cmd: Command, why: str) -> str:
    from livegen.data.locations import shared_data_root

    shared = shared_data_root()
    if shared is None:
        return ""
    text = re.sub(r"\s--mirror\s+\S+", "", cmd.text) + f" --mirror {shared.resolve().as_uri()}/"
    return runner.shell(cmd, text)


#: (pattern, action, why): the first whose pattern the command matches decides how it runs
RULES: list[tuple[str, Callable[[Runner, Command, str], str], str]] = [
    (r"^scripts/test\.sh", skip, "the command that runs this check"),
    (r"^scripts/demo\.sh", lambda r, c, w: r.shell(c, "bash -n scripts/demo.sh"),
     "installs system packages first: its syntax is checked, and `livegen play --demo` runs below"),
    (r"^pip install", lambda r, c, w: r.shell(c, "python -c 'import link'"),
     "installs packages: the check is that the binding it installs is there"),
    (r"^export ", export, "sets the environment of the commands after it"),
    (r"--clock link", lambda r, c, w: r.help_only(c, w),
     "joins the network's Link session: tests/test_link.py runs it in a private network namespace"),
    (r"^livegen play", lambda r, c, w: r.play(c, w), "plays until Ctrl-C"),
    (r"^livegen (train|bench)|^torchrun|^python3? -m benchmarks", lambda r, c, w: r.help_only(c, w),
     "minutes to hours of work"),
    (r"^livegen eval my\.pt", lambda r, c, w: r.shell(c, "livegen train roll --data nottingham --hidden 8 "
                                                         "--layers 1 --epochs 1 --threads 1 --out my.pt && " + c.text
                                                         + " --max-sequences 2"),
     "evaluates the checkpoint trained above (a tiny one stands in)"),
    (r"^livegen models ship", lambda r, c, w: r.help_only(c, w),
     "ships the checkpoint the runs above train (tests/test_new_user.py ships one for real)"),
    (r"^livegen eval .*--data (nottingham|musedata|jsb|piano-midi|irish)", shortened("--max-sequences 2"),
     "a whole test split takes minutes"),
    (r"^livegen data fetch", fetch, "no internet here: the shared data folder is the mirror"),
    (r"--prime my-riff\.mid", lambda r, c, w: r.shell(c, "livegen render --model nottingham --bars 2 --seed 1 "
                                                         "-o my-riff.mid && " + c.text),
     "needs a riff of the reader's own: a rendered one stands in"),
]


def compare(shown: list[str], got: str, where: str) -> None:
    """Shown output against what the command printed; ``...`` matches any lines."""
    lines = [ln.rstrip() for ln in got.rstrip("\n").splitlines()]
    pattern = "\n".join(".*?" if ln.strip() == "..." else re.escape(ln.rstrip()) for ln in shown)
    assert re.fullmatch(pattern, "\n".join(lines), re.S), (
        f"{where}: the output shown is not what it prints now:\n--- shown\n" + "\n".join(shown)
        + "\n--- printed\n" + "\n".join(lines))


_STAND_IN = """
import sys, jack
client = jack.Client(sys.argv[1], no_start_server=True)
for name in sys.argv[2].split("|") if sys.argv[2] else []:
    client.midi_inports.register(name)
for name in sys.argv[3].split("|") if sys.argv[3] else []:
    client.midi_outports.register(name)
client.activate()
print("ready", flush=True)
sys.stdin.read()  # until the check closes stdin
client.deactivate()
client.close()
"""


class StandIn:
    """A JACK client holding MIDI ports in a process of its own, on the docs' server.

    Not in the test process: libjack connects every client of a process to the server its
    first client found, so a docs client here would pull the tests run beside the check (in
    one pytest-xdist worker) onto the docs' server."""

    def __init__(self, client: str, inputs: Iterable[str] = (), outputs: Iterable[str] = ()) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _STAND_IN, client, "|".join(inputs), "|".join(outputs)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, **JACK_ENV})
        assert self.proc.stdout is not None
        ready = self.proc.stdout.readline()
        assert ready.strip() == "ready", f"the stand-in {client!r} did not start: {ready!r}"

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def evaluate(example: Example) -> None:
    block: Block = example.parsed
    doc = Path(example.path)
    defs = dict(re.findall(r'`(\w+)="([^"`]*)"`', example.document.text))  # e.g. `C="--head nade ..."`
    runner = Runner(doc, defs)
    synth = None
    if any("fluidsynth:midi_00" in c.text for c in block.commands):  # a stand-in with its port name
        synth = StandIn("fluidsynth", inputs=["midi_00"])
    try:
        for cmd in block.commands:
            out = runner.run(cmd)
            if cmd.shown is not None:
                compare(cmd.shown, out, runner.where(cmd))
    finally:
        try:
            runner.stop_playing()
        finally:
            for _, proc in runner.playing:
                proc.kill()
            if synth is not None:
                synth.close()


def parse(document: Document) -> Iterable[Region]:
    lexer = RawFencedCodeBlockLexer(info_pattern=re.compile(r"(?P<arguments>[\w-]*)[ \t]*$\n", re.MULTILINE))
    for region in lexer(document):
        if region.lexemes["arguments"] not in ("", "sh", "console"):
            continue
        source = str(region.lexemes["source"])
        first_line = document.text.count("\n", 0, region.start) + 2
        block = commands_of(textwrap.dedent(source), first_line)
        if block is None:
            continue
        yield Region(region.start, region.end, block, evaluate)

