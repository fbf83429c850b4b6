"""Every numeric option of play, render and train refuses values outside its bounds.

The options are found by walking the real parser from :func:`livegen.cli.build_parser`, so
an option added later is covered without touching this file. Each is fed 0, -1, nan, inf
and 1e12; a value outside the option's declared bounds must end the command with a
non-zero status and exactly one stderr line ``livegen: error: ...`` naming the option.
Values inside the bounds are not run.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import livegen.cli
from livegen.cli import build_parser, main

COMMANDS = ("play", "render", "train")
VALUES = ("0", "-1", "nan", "inf", "1e12")


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise AssertionError(f"{parser.prog} has no sub-commands")


def _leaves(path: tuple[str, ...], parser: argparse.ArgumentParser
            ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """``(command path, parser)`` of every runnable (sub-)command under ``parser``."""
    nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not nested:
        yield path, parser
        return
    for name, sub in nested[0].choices.items():
        yield from _leaves((*path, name), sub)


def commands() -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    top = _subparsers(build_parser())
    found = []
    for name in COMMANDS:
        assert name in top.choices, f"livegen has no {name} command"
        found += list(_leaves((name,), top.choices[name]))
    return found


def is_plain(action: argparse.Action) -> bool:
    return action.type in (int, float)


def is_bounded(action: argparse.Action) -> bool:
    return getattr(action.type, "low", None) is not None and getattr(action.type, "high", None) is not None


def bounds(action: argparse.Action) -> tuple[float, float]:
    return float(action.type.low), float(action.type.high)  # type: ignore[union-attr]


def inside(text: str, low: float, high: float) -> bool:
    value = float(text)
    return math.isfinite(value) and low <= value <= high


def flag(action: argparse.Action) -> str:
    return max(action.option_strings, key=len)


def required_args(path: tuple[str, ...], parser: argparse.ArgumentParser, tmp: Path) -> list[str]:
    """Valid values for the options a command cannot run without."""
    given = {"--data": str(tmp / "no-such-data"), "--out": str(tmp / "out.bin")}
    args = []
    for action in parser._actions:
        if action.required and action.option_strings:
            name = flag(action)
            assert name in given, f"{' '.join(path)}: no valid value known for required {name}"
            args += [name, given[name]]
    return args


NUMERIC = [
    pytest.param(path, flag(action), id=f"{'-'.join(path)}{flag(action)}")
    for path, parser in commands()
    for action in parser._actions
    if action.option_strings and (is_plain(action) or is_bounded(action))
]


def _action(path: tuple[str, ...], name: str) -> tuple[argparse.ArgumentParser, argparse.Action]:
    for found, parser in commands():
        if found == path:
            for action in parser._actions:
                if name in action.option_strings:
                    return parser, action
    raise AssertionError(f"{' '.join(path)} {name} not found")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int | str | None, list[str]]:
    """``livegen argv`` in-process: (exit status, stderr lines); argparse may exit or return."""
    capsys.readouterr()
    status: int | str | None
    try:
        status = main(argv)
    except SystemExit as exc:
        status = exc.code
    return status, capsys.readouterr().err.splitlines()


@pytest.fixture
def nothing_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands that get past the parser do nothing (and return 0), so no port or data is opened."""
    real: Callable[[str | None], argparse.ArgumentParser] = build_parser

    def parser_without_actions(command: str | None = None) -> argparse.ArgumentParser:
        parser = real(command)
        for _, leaf in _leaves((), parser):
            leaf.set_defaults(func=lambda args: 0)
        return parser

    monkeypatch.setattr(livegen.cli, "build_parser", parser_without_actions)


def test_every_command_has_numeric_options() -> None:
    walked = {path[0] for path, parser in commands() for action in parser._actions
              if action.option_strings and (is_plain(action) or is_bounded(action))}
    assert walked == set(COMMANDS)


@pytest.mark.usefixtures("nothing_runs")
@pytest.mark.parametrize(("path", "name"), NUMERIC)
def test_out_of_bounds_values_are_one_line_and_a_nonzero_exit(
        path: tuple[str, ...], name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser, action = _action(path, name)
    if not is_bounded(action):
        pytest.skip(f"{name} has a plain {action.type.__name__} type: no bounds to test")  # type: ignore[union-attr]
    low, high = bounds(action)
    ran = 0
    for text in VALUES:
        if inside(text, low, high):
            continue
        ran += 1
        argv = [*path, *required_args(path, parser, tmp_path), f"{name}={text}"]
        status, lines = run(argv, capsys)
        assert status not in (0, None), f"livegen {' '.join(argv)} was accepted"
        assert len(lines) == 1, f"livegen {' '.join(argv)} wrote {len(lines)} lines: {lines}"
        assert lines[0].startswith("livegen: error:") and name in lines[0], lines[0]
    assert ran, f"{name} {low:g}..{high:g} accepts every probe value {VALUES}"


@pytest.mark.parametrize("command", COMMANDS)
def test_no_numeric_option_has_a_plain_int_or_float_type(command: str) -> None:
    plain = [f"{' '.join(path)} {flag(action)}" for path, parser in commands() if path[0] == command
             for action in parser._actions if action.option_strings and is_plain(action)]
    assert plain == [], "unbounded numeric options (use livegen.commands.options.number or control)"


def test_train_refuses_a_bad_size_before_looking_at_the_data(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-data"
    for argv in (["--hidden", "0"], ["--layers", "0"], ["--dropout", "2"], ["--lr", "nan"],
                 ["--epochs", "inf"], ["--window", "-1"], ["--batch-size", "1e12"]):
        status, lines = run(["train", "roll", "--data", str(missing), "--out", str(tmp_path / "x.pt"), *argv],
                            capsys)
        assert status == 2 and len(lines) == 1 and f"argument {argv[0]}" in lines[0]
        assert "no-such-data" not in lines[0]
    assert not (tmp_path / "x.pt").exists()


def test_transpose_keys_is_checked_by_the_parser(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for spec in ("-9:2", "3:1", "x", "1:2:3"):
        status, lines = run(["train", "abc", "--data", str(tmp_path / "none"), f"--transpose-keys={spec}"],
                            capsys)
        assert status == 2 and len(lines) == 1
        assert lines[0].startswith("livegen: error: argument --transpose-keys")
