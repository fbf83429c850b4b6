"""``livegen data list`` shows the known data sets and where each is found; ``livegen data
fetch NAME...`` downloads them (canonical source or a mirror) into the user data directory
or ``$LIVEGEN_DATA``, with a tqdm bar per file."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from tqdm import tqdm

from livegen.data.catalog import CATALOG, LYRICS_NOTE, Dataset, lookup
from livegen.data.fetch import fetch_dataset, mirror_base, source_url
from livegen.data.locations import MIRROR_ENV, install_root, labelled_roots, locate


def register(p: argparse.ArgumentParser) -> None:
    """Add this command's options to its parser ``p`` and set ``func``."""
    p.set_defaults(func=run_list, json=False)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    ls = actions.add_parser("list", help="the known data sets: licence, size, source, where found")
    ls.add_argument("--json", action="store_true", help="print one JSON object")
    ls.set_defaults(func=run_list)
    f = actions.add_parser("fetch", help="download data sets into the user data dir (or $LIVEGEN_DATA)",
                           description="Download, check (SHA-256) and install data sets; an interrupted "
                                       "download resumes on the next fetch.")
    f.add_argument("names", nargs="+", metavar="NAME", help=f"a data set ({', '.join(CATALOG)}) or all")
    f.add_argument("--mirror", default=None, metavar="URL",
                   help=f"base URL serving the data layout (URL/polyphonic/Nottingham.mat ...) instead "
                        f"of the canonical sources; default ${MIRROR_ENV}")
    f.set_defaults(func=run_fetch)


def _size(nbytes: int) -> str:
    """Bytes as KiB or MiB for people."""
    return f"{nbytes / 2**20:.1f} MiB" if nbytes >= 2**20 else f"{nbytes / 2**10:.0f} KiB"


def _where(dataset: Dataset) -> dict[str, Any]:
    """Where each file of ``dataset`` is found: ``{"status", "root", "paths"}``; status is
    ``found``, ``partial`` or ``not fetched``."""
    found = [locate(f.path) for f in dataset.files]
    hits = [x for x in found if x is not None]
    status = "found" if len(hits) == len(found) else "partial" if hits else "not fetched"
    return {"status": status, "root": hits[0][0] if hits else None, "paths": [str(p) for _, p in hits]}


def run_list(args: argparse.Namespace) -> int:
    rows = []
    for ds in CATALOG.values():
        rows.append({"name": ds.name, "title": ds.title, "description": ds.description, "licence": ds.licence,
                     "bytes": ds.size, "home": ds.home, "sources": [f.url for f in ds.files],
                     "files": [f.path for f in ds.files], **_where(ds)})
    roots = [{"label": label, "path": str(root)} for label, root in labelled_roots()]
    if args.json:
        print(json.dumps({"datasets": rows, "lyrics": LYRICS_NOTE, "search_order": roots, "install_root": str(install_root()),
                          "mirror": mirror_base(None)}, indent=2))
        return 0
    for row in rows:
        where = "not fetched" if row["status"] == "not fetched" else f"{row['paths'][0]} ({row['root']})"
        if row["status"] == "partial":
            where += f"; partial, `livegen data fetch {row['name']}` completes it"
        print(f"{row['name']:<11} {row['title']:<22} {_size(row['bytes']):>9}  {where}")
        print(f"{'':<11} {row['description']}")
        print(f"{'':<11} licence: {row['licence']}")
        for url in row["sources"]:
            print(f"{'':<11} source:  {url}")
    print(LYRICS_NOTE)
    print("searched in order: " + ", ".join(f"{r['path']} ({r['label']})" for r in roots))
    mirror = mirror_base(None)
    print(f"`livegen data fetch NAME` installs into {install_root()}"
          + (f" from the mirror {mirror}" if mirror else ""))
    return 0


class TqdmProgress:
    """A tqdm bar on stderr per downloaded file (bytes, speed, ETA)."""

    def __init__(self) -> None:
        self._bar: Any = None

    def begin(self, label: str, total: int, done: int) -> None:
        self._bar = tqdm(total=total, initial=done, desc=label, unit="B", unit_scale=True,
                         unit_divisor=1024, file=sys.stderr, leave=False, mininterval=0.2)

    def advance(self, nbytes: int) -> None:
        if self._bar is not None:
            self._bar.update(nbytes)

    def end(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def run_fetch(args: argparse.Namespace) -> int:
    names = list(CATALOG) if [n.lower() for n in args.names] == ["all"] else args.names
    datasets = [lookup(name) for name in names]  # every name checked before anything downloads
    mirror = mirror_base(args.mirror)
    for ds in datasets:  # a bad mirror URL fails here, before anything downloads
        for f in ds.files:
            source_url(f, mirror)
    root = install_root()
    for ds in datasets:
        for got in fetch_dataset(ds, root, mirror, TqdmProgress()):
            if got.action == "present":
                print(f"{ds.name}: {got.path} is already there (SHA-256 checked)")
            else:
                print(f"{ds.name}: {got.action} {got.path} ({_size(got.file.size)}, SHA-256 checked) "
                      f"from {got.url}")
    return 0
