"""``livegen patches``: regenerate the TouchOSC / Pure Data / Open Stage Control patches."""

from __future__ import annotations

import argparse
from pathlib import Path

from livegen.errors import LivegenError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("patches", help="write controller patches (TouchOSC, Pure Data, Open Stage Control)")
    p.add_argument("--out", type=Path, default=Path("patches"), help="folder to write into (default: ./patches)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from livegen.controls.patches import generate

    try:
        paths = generate(args.out)
    except OSError as exc:
        raise LivegenError(f"cannot write patches to {args.out}: {exc.strerror}; choose another --out") from exc
    for path in paths:
        print(f"wrote {path}")
    print("Load instructions: patches/README.md; addresses: `livegen controls`.")
    return 0
