"""``livegen patches``: regenerate the TouchOSC / Pure Data / Open Stage Control patches."""

from __future__ import annotations

import argparse
from pathlib import Path

from livegen.controls.patches import generate
from livegen.errors import LivegenError


def register(p: argparse.ArgumentParser) -> None:
    """Add this command's options to its parser ``p`` and set ``func``."""
    p.add_argument("--out", type=Path, default=Path("patches"), help="folder to write into (default: ./patches)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    try:
        paths = generate(args.out)
    except OSError as exc:
        raise LivegenError(f"cannot write patches to {args.out}: {exc.strerror}; choose another --out") from exc
    for path in paths:
        print(f"wrote {path}")
    print("Load instructions: patches/README.md; addresses: `livegen controls`.")
    return 0
