"""``livegen data list`` / ``livegen data fetch`` against a mirror served over HTTP on 127.0.0.1.

The mirror serves ``../shared/data`` when it is there (the catalog's SHA-256 figures are those
files'); in a clean clone it serves small stand-ins written by ``shared_data`` into a temporary
folder, with their sizes and SHA-256 put into the catalog for the test. The server honours
``Range`` requests (``SimpleHTTPRequestHandler`` does not) and can cut a response half way,
ignore ``Range``, or corrupt a byte, so resuming and checking are tested over real sockets.

Every test points ``XDG_DATA_HOME`` (the user data directory) and ``$LIVEGEN_DATA`` into its
own temporary folder: nothing is written outside it.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from shared_data import SYNTHETIC_TUNES, write_abc, write_polyphonic

from livegen.cli import main
from livegen.data import catalog, locations
from livegen.data.abc import default_abc_path, load_abc_splits, read_abc_tunes
from livegen.data.fetch import part_path
from livegen.data.polyphonic import load_rolls
from livegen.errors import LivegenError

NOTTINGHAM = "polyphonic/Nottingham.mat"
IRISH = "abc/irish.abc"
#: the real shared/data, looked up once before any test hides it.
SHARED = locations.shared_data_root()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _shared_complete() -> bool:
    """Whether shared/data holds every catalogued file."""
    return SHARED is not None and all((SHARED / f.path).is_file()
                                      for ds in catalog.CATALOG.values() for f in ds.files)


# --- a mirror with Range support -----------------------------------------------------------------

@dataclass
class Mirror:
    """The served folder, its base URL, what was asked of it, and tricks for the next answers."""

    root: Path
    url: str
    requests: list[tuple[str, str | None, int]] = field(default_factory=list)  # (path, Range, status)
    cut: set[str] = field(default_factory=set)  # paths whose next answer stops half way
    corrupt: set[str] = field(default_factory=set)  # paths served with one byte changed
    ignore_range: bool = False

    def gets(self, path: str) -> list[tuple[str, str | None, int]]:
        return [r for r in self.requests if r[0] == "/" + path]


class RangeHandler(BaseHTTPRequestHandler):
    """GET of files under the mirror's root, answering ``Range: bytes=N-[M]`` with 206."""

    mirror: Mirror  # set on a subclass per server

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        m = self.mirror
        path = m.root / urllib.parse.unquote(self.path.lstrip("/"))
        asked = self.headers.get("Range")
        if not path.is_file():
            m.requests.append((self.path, asked, 404))
            self.send_error(404)
            return
        body = bytearray(path.read_bytes())
        if self.path.lstrip("/") in m.corrupt:
            body[len(body) // 2] ^= 0xFF
        size = len(body)
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", asked or "")
        if match and not m.ignore_range:
            start = int(match[1])
            end = int(match[2]) if match[2] else size - 1
            if start >= size:
                m.requests.append((self.path, asked, 416))
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            chunk = bytes(body[start:end + 1])
            m.requests.append((self.path, asked, 206))
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        else:
            chunk = bytes(body)
            m.requests.append((self.path, asked, 200))
            self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(chunk)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        key = self.path.lstrip("/")
        if key in m.cut:  # promise the whole length, send half, hang up
            m.cut.discard(key)
            self.wfile.write(chunk[: len(chunk) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(chunk)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder the mirror serves: shared/data, or stand-ins written for this module."""
    if _shared_complete():
        assert SHARED is not None
        return SHARED
    root = tmp_path_factory.mktemp("mirror")
    write_polyphonic(root / "polyphonic")
    write_abc(root / IRISH)
    return root


@pytest.fixture
def mirror(served: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mirror]:
    m = Mirror(served, "")
    handler = type("Handler", (RangeHandler,), {"mirror": m})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    m.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    if served != SHARED:  # stand-ins: the catalog takes their sizes and checksums
        for name, ds in catalog.CATALOG.items():
            files = tuple(replace(f, size=(served / f.path).stat().st_size, sha256=_sha256(served / f.path))
                          if (served / f.path).is_file() else f for f in ds.files)
            monkeypatch.setitem(catalog.CATALOG, name, replace(ds, files=files))
    try:
        yield m
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(autouse=True)
def own_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user data directory inside tmp_path; no $LIVEGEN_DATA, no mirror from outside."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(locations.DATA_ENV, raising=False)
    monkeypatch.delenv(locations.MIRROR_ENV, raising=False)
    return tmp_path / "xdg" / "livegen"


@pytest.fixture
def no_shared(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a clean clone: no shared/data to fall back on."""
    monkeypatch.setattr(locations, "shared_data_root", lambda: None)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def error_line(err: str) -> str:
    """What stays on a terminal of stderr (the progress bar clears itself with ``\\r``): one
    line, no traceback."""
    assert "Traceback" not in err
    visible = err.rsplit("\r", 1)[-1]
    assert visible.count("\n") == 1 and visible.startswith("livegen: error: "), repr(err)
    return visible.strip()


# --- the catalog ---------------------------------------------------------------------------------

def test_catalog_checksums_are_those_of_shared_data() -> None:
    if not _shared_complete():
        pytest.skip("needs ../shared/data to compare against (`livegen data fetch all` gets the sets)")
    assert SHARED is not None
    for ds in catalog.CATALOG.values():
        for f in ds.files:
            path = SHARED / f.path
            assert (path.stat().st_size, _sha256(path)) == (f.size, f.sha256), f.path


def test_list_shows_every_set_with_licence_size_source_and_where(
        capsys: pytest.CaptureFixture[str], no_shared: None, own_dirs: Path) -> None:
    code, out, _ = run(capsys, "data", "list", "--json")
    assert code == 0
    listing = json.loads(out)
    rows = {row["name"]: row for row in listing["datasets"]}
    assert {"nottingham", "jsb", "musedata", "piano-midi", "irish"} <= set(rows)
    for row in rows.values():
        assert row["status"] == "not fetched" and row["licence"] and row["bytes"] > 0
        assert all(url.startswith(("http://", "https://")) for url in row["sources"])
    assert "MIT" in rows["irish"]["licence"]
    assert listing["install_root"] == str(own_dirs)
    assert [r["label"] for r in listing["search_order"]] == [locations.USER_LABEL]

    code, out, _ = run(capsys, "data", "list")
    assert code == 0
    lines = out.splitlines()
    nottingham = next(line for line in lines if line.startswith("nottingham "))
    assert "Nottingham" in nottingham and "KiB" in nottingham and nottingham.endswith("not fetched")
    assert any("licence: MIT" in line for line in lines)
    assert any(line.strip().startswith("source:  https://") for line in lines)
    assert lines[-1].endswith(f"installs into {own_dirs}")


def test_list_names_shared_data_as_a_source(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared" / "data"
    write_polyphonic(shared / "polyphonic")
    monkeypatch.setattr(locations, "shared_data_root", lambda: shared)
    code, out, _ = run(capsys, "data", "list", "--json")
    assert code == 0
    listing = json.loads(out)
    rows = {row["name"]: row for row in listing["datasets"]}
    assert rows["nottingham"]["status"] == "found"
    assert rows["nottingham"]["root"] == locations.SHARED_LABEL
    assert rows["nottingham"]["paths"] == [str(shared / NOTTINGHAM)]
    assert rows["irish"]["status"] == "not fetched"
    assert [r["label"] for r in listing["search_order"]] == [locations.USER_LABEL, locations.SHARED_LABEL]
    code, out, _ = run(capsys, "data", "list")
    assert f"{shared / NOTTINGHAM} (shared/data)" in out


# --- fetching ------------------------------------------------------------------------------------

def test_fetch_through_mirror_into_the_user_data_dir(capsys: pytest.CaptureFixture[str], mirror: Mirror,
                                                     own_dirs: Path, no_shared: None) -> None:
    code, out, _ = run(capsys, "data", "fetch", "nottingham", "--mirror", mirror.url)
    assert code == 0
    target = own_dirs / NOTTINGHAM
    assert _sha256(target) == catalog.CATALOG["nottingham"].files[0].sha256
    assert not part_path(target).exists()
    assert mirror.gets(NOTTINGHAM) == [("/" + NOTTINGHAM, None, 200)]
    assert f"downloaded {target}" in out
    code, out, _ = run(capsys, "data", "list", "--json")
    rows = {row["name"]: row for row in json.loads(out)["datasets"]}
    assert rows["nottingham"]["status"] == "found" and rows["nottingham"]["root"] == locations.USER_LABEL
    assert rows["irish"]["status"] == "not fetched"


def test_fetch_through_env_mirror_into_livegen_data(capsys: pytest.CaptureFixture[str], mirror: Mirror,
                                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(locations.MIRROR_ENV, mirror.url)
    monkeypatch.setenv(locations.DATA_ENV, str(tmp_path / "mine"))
    code, _, _ = run(capsys, "data", "fetch", "irish.abc")
    assert code == 0
    assert _sha256(tmp_path / "mine" / IRISH) == catalog.CATALOG["irish"].files[0].sha256
    assert [status for _, _, status in mirror.gets(IRISH)] == [200]


def test_second_fetch_downloads_nothing(capsys: pytest.CaptureFixture[str], mirror: Mirror,
                                        own_dirs: Path) -> None:
    assert run(capsys, "data", "fetch", "nottingham", "irish", "--mirror", mirror.url)[0] == 0
    asked = len(mirror.requests)
    code, out, _ = run(capsys, "data", "fetch", "nottingham", "irish", "--mirror", mirror.url)
    assert code == 0
    assert len(mirror.requests) == asked
    assert out.count("is already there (SHA-256 checked)") == 2


def test_checksum_mismatch_is_refused_and_nothing_installed(capsys: pytest.CaptureFixture[str],
                                                            mirror: Mirror, own_dirs: Path) -> None:
    mirror.corrupt.add(NOTTINGHAM)
    code, _, err = run(capsys, "data", "fetch", "nottingham", "--mirror", mirror.url)
    assert code == 2
    line = error_line(err)
    assert "SHA-256" in line and "nothing was installed" in line and "--mirror" in line
    target = own_dirs / NOTTINGHAM
    assert not target.exists() and not part_path(target).exists()


def test_cut_download_resumes_with_a_range_request(capsys: pytest.CaptureFixture[str], mirror: Mirror,
                                                   own_dirs: Path) -> None:
    size = catalog.CATALOG["nottingham"].files[0].size
    mirror.cut.add(NOTTINGHAM)
    code, _, err = run(capsys, "data", "fetch", "nottingham", "--mirror", mirror.url)
    assert code == 2
    line = error_line(err)
    assert "resume" in line and "livegen data fetch nottingham" in line
    target = own_dirs / NOTTINGHAM
    part = part_path(target)
    assert not target.exists()
    half = part.stat().st_size
    assert half == size // 2

    code, out, _ = run(capsys, "data", "fetch", "nottingham", "--mirror", mirror.url)
    assert code == 0
    assert mirror.gets(NOTTINGHAM)[-1] == ("/" + NOTTINGHAM, f"bytes={half}-", 206)
    assert _sha256(target) == catalog.CATALOG["nottingham"].files[0].sha256
    assert not part.exists()
    assert f"resumed {target}" in out


def test_a_server_that_ignores_range_starts_over(capsys: pytest.CaptureFixture[str], mirror: Mirror,
                                                 own_dirs: Path) -> None:
    target = own_dirs / NOTTINGHAM
    target.parent.mkdir(parents=True)
    part_path(target).write_bytes(b"not the start of the file")
    mirror.ignore_range = True
    code, _, _ = run(capsys, "data", "fetch", "nottingham", "--mirror", mirror.url)
    assert code == 0
    assert mirror.gets(NOTTINGHAM) == [("/" + NOTTINGHAM, "bytes=25-", 200)]
    assert _sha256(target) == catalog.CATALOG["nottingham"].files[0].sha256


def test_unreachable_mirror_missing_file_and_unknown_name_are_one_line(
        capsys: pytest.CaptureFixture[str], mirror: Mirror, own_dirs: Path, tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/"
    code, _, err = run(capsys, "data", "fetch", "nottingham", "--mirror", closed)
    assert code == 2
    line = error_line(err)
    assert "cannot download" in line and "--mirror" in line and closed in line

    code, _, err = run(capsys, "data", "fetch", "nottingham", "--mirror", mirror.url + "nowhere/")
    assert code == 2
    assert "HTTP 404" in error_line(err)

    code, _, err = run(capsys, "data", "fetch", "nottinghm", "--mirror", mirror.url)
    assert code == 2
    line = error_line(err)
    assert "unknown data set 'nottinghm'" in line and "livegen data list" in line
    assert not (own_dirs / NOTTINGHAM).exists() and mirror.requests[-1][0].startswith("/nowhere/")


# --- the readers find what was fetched -----------------------------------------------------------

def test_search_order_livegen_data_then_user_dir_then_shared(tmp_path: Path, own_dirs: Path) -> None:
    mine = tmp_path / "mine"
    for root in (mine, own_dirs):
        (root / "abc").mkdir(parents=True)
        (root / IRISH).write_text("X:1\nT:one\nK:D\nABc|\n")
    assert locations.find_data(IRISH) == own_dirs / IRISH
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(locations.DATA_ENV, str(mine))
        assert locations.find_data(IRISH) == mine / IRISH
        assert default_abc_path() == mine / IRISH
        assert locations.install_root() == mine
    (own_dirs / IRISH).unlink()
    assert locations.find_data(IRISH) == (SHARED / IRISH if SHARED and (SHARED / IRISH).is_file() else None)


def test_names_not_found_anywhere_say_how_to_fetch(no_shared: None) -> None:
    with pytest.raises(LivegenError, match=r"`livegen data fetch nottingham`"):
        load_rolls("nottingham")
    with pytest.raises(LivegenError, match=r"`livegen data fetch irish`"):
        load_abc_splits()


def test_eval_finds_the_fetched_set(capsys: pytest.CaptureFixture[str], mirror: Mirror, own_dirs: Path,
                                    no_shared: None) -> None:
    assert run(capsys, "data", "fetch", "nottingham", "irish", "--mirror", mirror.url)[0] == 0
    assert locations.find_data(NOTTINGHAM) == own_dirs / NOTTINGHAM
    assert default_abc_path() == own_dirs / IRISH
    assert len(read_abc_tunes(default_abc_path())) == (804 if mirror.root == SHARED else SYNTHETIC_TUNES)
    code, out, _ = run(capsys, "eval", "nottingham", "--data", "nottingham", "--max-sequences", "2", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["sequences"] == 2 and result["nll_per_frame"] > 0
