"""``livegen controls``: print the table of OSC addresses, ranges, defaults and MIDI CCs."""

from __future__ import annotations

import argparse

from livegen.controls.parts import MUTE_CC, PART_CONTROLS, part_address
from livegen.controls.table import CONTROLS, FEEDBACK, NORM_SUFFIX
from livegen.music.parts import LAYOUTS


def register(p: argparse.ArgumentParser) -> None:
    """Add this command's options to its parser ``p`` and set ``func``."""
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.set_defaults(func=run)


def _default(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "1" if value else "0"
    if value == "":
        return "''"
    return f"{value:g}" if isinstance(value, float) else str(value)


def run(args: argparse.Namespace) -> int:
    header = ("name", "OSC address", "type", "range", "default", "unit", "CC", "description")
    rows: list[tuple[str, ...]] = [(c.name, c.address, c.kind, c.range_text, _default(c.default), c.unit or "-",
             "-" if c.cc is None else str(c.cc), c.description) for c in CONTROLS.values()]
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    else:
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
        for row in [header, *rows]:
            print("  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1])
    print(f"""
Raw values go to the address itself, in the control's unit: /livegen/tempo 96.
Faders send 0..1 to the address + '{NORM_SUFFIX}' (float, int, enum, toggle controls):
  /livegen/tempo{NORM_SUFFIX} 0.5 -> 165 bpm; enums pick choice round(x * (n - 1)); toggles on at >= 0.5.
A value in 0..1 on the raw address is always raw (/livegen/temperature 0.5 is 0.5).
Enums take a name (/livegen/key Eb) or an index; triggers fire on no argument or a number > 0.
MIDI CC 0..127 maps like {NORM_SUFFIX}; toggles and triggers are on at >= 64.
Out-of-range or mistyped values are rejected (logged), never clamped.

livegen sends back (to the feedback target HOST:PORT): every control's value on its raw and {NORM_SUFFIX} address, and""")
    for fb in FEEDBACK.values():
        print(f"  {fb.address}  ({fb.kind})  {fb.description}")
    print("\nWith --parts (livegen play), each part takes these controls (raw, and 0..1 on the address + "
          f"'{NORM_SUFFIX}'), echoed to the feedback target; in a live set, [parts.NAME] and [presets.P.parts.NAME]:")
    for c in PART_CONTROLS.values():
        default = {"channel": "--channel, then the next ones in order (skipping 10)",
                   "program": "the layout's"}.get(c.name, _default(c.default))
        unit = f" {c.unit}" if c.unit else ""
        print(f"  {part_address('NAME', c.name):<28} {c.kind:<6} {c.range_text}{unit}, default {default}: "
              f"{c.description}")
    print(f"  MIDI CC {', '.join(map(str, MUTE_CC))}: mute the first, second, third, fourth part (on at >= 64)")
    for name, parts in LAYOUTS.items():
        if name != "one":
            print(f"  NAME for --parts {name}: {', '.join(f'{p.name} (program {p.program})' for p in parts)}")
    return 0
