"""Download a catalogued data set into a data root: resumable, checked, atomic.

For each file of a :class:`~livegen.data.catalog.Dataset`:

1. a file already at its place in the root with the catalogued SHA-256 is kept (a second
   fetch downloads nothing);
2. otherwise it is downloaded from the canonical URL, or from ``<mirror>/<layout path>`` when
   a mirror base URL is given, into ``<target>.part``. A ``.part`` left by an interrupted
   download is resumed with an HTTP ``Range`` request (a server that answers with the whole
   file instead starts it over);
3. the download's SHA-256 must match the catalog, else the ``.part`` is deleted and nothing
   is installed;
4. the ``.part`` is flushed to disk and renamed onto its place in the readers' layout
   (``polyphonic/Nottingham.mat``, ``abc/irish.abc``) in one atomic step.

Problems (unknown name, unreachable source, a cut connection, a checksum mismatch, a
folder that cannot be written) raise :class:`~livegen.errors.LivegenError` with one line
naming the fix. Progress goes to a :class:`DownloadProgress` (the CLI draws a tqdm bar).
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

from livegen import __version__
from livegen.data.catalog import DataFile, Dataset
from livegen.data.locations import MIRROR_ENV
from livegen.errors import LivegenError

log = logging.getLogger(__name__)

#: bytes read from the network (and hashed) at a time.
CHUNK = 64 * 1024
#: seconds to wait for a connection or for the next bytes before giving up.
TIMEOUT_S = 30.0
#: URL schemes a source or mirror may use.
SCHEMES = ("http", "https", "file")

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class DownloadProgress(Protocol):
    """Receives the progress of each file's download (sizes in bytes)."""

    def begin(self, label: str, total: int, done: int) -> None:
        """A download of ``total`` bytes starts with ``done`` already on disk (a resume)."""

    def advance(self, nbytes: int) -> None:
        """``nbytes`` more bytes arrived."""

    def end(self) -> None:
        """The download stopped (finished or failed)."""


class NoProgress:
    """A :class:`DownloadProgress` that shows nothing."""

    def begin(self, label: str, total: int, done: int) -> None:
        pass

    def advance(self, nbytes: int) -> None:
        pass

    def end(self) -> None:
        pass


@dataclass(frozen=True)
class Fetched:
    """What happened to one file.

    Attributes:
        file: the catalog entry.
        path: where it is now.
        action: ``present`` (already there and verified), ``downloaded``, or ``resumed``
            (a ``.part`` was continued with a Range request).
        url: where it came from (empty when present).
        nbytes: bytes transferred by this fetch.
    """

    file: DataFile
    path: Path
    action: str
    url: str
    nbytes: int


def mirror_base(mirror: str | None) -> str | None:
    """The mirror to use: ``mirror`` when given, else ``$LIVEGEN_DATA_MIRROR``, else None."""
    base = mirror if mirror else os.environ.get(MIRROR_ENV, "")
    return base.strip() or None


def source_url(file: DataFile, mirror: str | None) -> str:
    """The URL to download ``file`` from: ``<mirror>/<layout path>`` or its canonical URL.

    Raises:
        LivegenError: the mirror is not an http(s):// or file:// URL.
    """
    if mirror is None:
        return file.url
    scheme = urllib.parse.urlsplit(mirror).scheme
    if scheme not in SCHEMES:
        raise LivegenError(f"mirror {mirror!r} is not an http://, https:// or file:// URL; "
                           f"pass --mirror http://HOST[:PORT]/PATH/ (or fix ${MIRROR_ENV})")
    return mirror.rstrip("/") + "/" + urllib.parse.quote(file.path)


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def part_path(target: Path) -> Path:
    """The partial download beside ``target`` (``Nottingham.mat.part``)."""
    return target.with_name(target.name + ".part")


def fetch_dataset(dataset: Dataset, root: Path, mirror: str | None = None,
                  progress: DownloadProgress | None = None, timeout_s: float = TIMEOUT_S) -> list[Fetched]:
    """Make every file of ``dataset`` present and verified under ``root``.

    Args:
        dataset: the catalog entry.
        root: the data root to install into (see :func:`livegen.data.locations.install_root`).
        mirror: a mirror base URL, or None for the canonical sources (``$LIVEGEN_DATA_MIRROR``
            is read by :func:`mirror_base`, not here).
        progress: receives byte counts; None shows nothing.
        timeout_s: seconds to wait for a connection or for data.

    Raises:
        LivegenError: an unreachable source, a cut download (the ``.part`` is kept for the
            next fetch to resume), a checksum mismatch (nothing kept), or an unwritable root.
    """
    return [_fetch_file(dataset, f, root, mirror, progress or NoProgress(), timeout_s) for f in dataset.files]


def _fetch_file(dataset: Dataset, file: DataFile, root: Path, mirror: str | None,
                progress: DownloadProgress, timeout_s: float) -> Fetched:
    target = root / file.path
    if target.is_file():
        if sha256_of(target) == file.sha256:
            log.info("%s is already at %s", file.path, target)
            return Fetched(file, target, "present", "", 0)
        log.warning("%s differs from the catalogued file (SHA-256); downloading it again", target)
    url = source_url(file, mirror)
    part = part_path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LivegenError(f"cannot create {target.parent}: {exc.strerror}; set LIVEGEN_DATA to a "
                           "folder you can write") from None
    start = part.stat().st_size if part.is_file() else 0
    if start > file.size:  # not a prefix of this file: start over
        part.unlink()
        start = 0
    nbytes = 0
    if start < file.size:
        nbytes = _download(dataset, file, url, part, start, progress, timeout_s)
    digest = sha256_of(part)
    if digest != file.sha256:
        part.unlink()
        raise LivegenError(
            f"{dataset.name}: {file.path} from {url} has SHA-256 {digest[:16]}..., not the catalogued "
            f"{file.sha256[:16]}...; nothing was installed: the source or mirror serves another file, "
            "try again or use another --mirror")
    _install(part, target)
    action = "resumed" if start else "downloaded"
    log.info("%s: %s %s (%d bytes) from %s", dataset.name, action, target, nbytes, url)
    return Fetched(file, target, action, url, nbytes)


def _download(dataset: Dataset, file: DataFile, url: str, part: Path, start: int,
              progress: DownloadProgress, timeout_s: float) -> int:
    """Append ``url``'s bytes from ``start`` to ``part``; returns the bytes transferred."""
    headers = {"User-Agent": f"livegen/{__version__} (data fetch)"}
    if start:
        headers["Range"] = f"bytes={start}-"
    retry = f"rerun `livegen data fetch {dataset.name}`"
    request = urllib.request.Request(url, headers=headers)
    received = 0
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            offset = _resume_offset(response.status, response.headers.get("Content-Range", ""), start, url)
            if start and offset == 0:
                log.info("%s ignored the Range request; downloading %s from the start", url, file.path)
            mode = "ab" if offset else "wb"
            progress.begin(file.path, file.size, offset)
            try:
                with open(part, mode) as out:
                    received = _copy(response, out, progress)
                    out.flush()
                    os.fsync(out.fileno())
            finally:
                progress.end()
            have = offset + received
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:  # the .part already holds the whole file (or is not a prefix)
            return 0
        raise LivegenError(f"{dataset.name}: {url} answered HTTP {exc.code} {exc.reason}; "
                           f"check the URL, or pass --mirror URL (or set {MIRROR_ENV})") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        kept = part.stat().st_size if part.is_file() else 0
        hint = f"; {kept} bytes kept in {part}, {retry} to resume" if kept else ""
        raise LivegenError(f"{dataset.name}: cannot download {url}: {reason}{hint}; check the "
                           f"network, or pass --mirror URL (or set {MIRROR_ENV})") from None
    except OSError as exc:
        raise LivegenError(f"cannot write {part}: {exc.strerror}; free some space or set LIVEGEN_DATA "
                           "to a folder you can write") from None
    if have < file.size:
        raise LivegenError(f"{dataset.name}: the connection to {url} closed after {have} of {file.size} "
                           f"bytes; {retry} to resume from {part}")
    return received


def _resume_offset(status: int | None, content_range: str, start: int, url: str) -> int:
    """Where a response's body starts in the file (bytes): ``start`` for a 206 answer whose
    Content-Range starts there, 0 for a whole file (200, or no HTTP status for file://).

    Raises:
        LivegenError: a 206 answer for another range.
    """
    if status != 206 or not start:
        return 0
    match = _CONTENT_RANGE.match(content_range)
    if match is None or int(match.group(1)) != start:
        raise LivegenError(f"{url} answered the Range request for bytes {start}- with "
                           f"{content_range!r}; delete the .part file and fetch again")
    return start


def _copy(response: IO[bytes], out: IO[bytes], progress: DownloadProgress) -> int:
    """Copy the body to ``out`` in :data:`CHUNK` blocks; returns bytes copied."""
    total = 0
    while True:
        block = response.read(CHUNK)
        if not block:
            return total
        out.write(block)
        total += len(block)
        progress.advance(len(block))


def _install(part: Path, target: Path) -> None:
    """Rename the verified ``part`` onto ``target`` atomically (same folder)."""
    try:
        os.replace(part, target)
    except OSError as exc:
        raise LivegenError(f"cannot install {target}: {exc.strerror}; check the folder's "
                           "permissions or set LIVEGEN_DATA") from None
