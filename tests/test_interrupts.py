"""Ctrl-C while livegen loads is noted and raised at a safe point (livegen.interrupts): a
``KeyboardInterrupt`` inside Python code that torch's C++ called aborted the process
("terminate called after throwing an instance of 'pybind11::error_already_set'", exit -6)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from livegen import interrupts


@pytest.fixture
def sigint_handler_kept():
    before = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, before)


def test_a_deferred_sigint_is_noted_and_raised_at_the_checkpoint(sigint_handler_kept) -> None:
    interrupts.defer()
    interrupts.checkpoint()  # nothing came: nothing raised
    os.kill(os.getpid(), signal.SIGINT)
    assert interrupts.pending()
    with pytest.raises(KeyboardInterrupt):
        interrupts.checkpoint()
    assert not interrupts.pending()
    interrupts.checkpoint()  # raised once only


def test_allow_gives_sigint_back_and_raises_one_that_came(sigint_handler_kept) -> None:
    interrupts.defer()
    os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        interrupts.allow()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _livegen_interrupted_while_loading(argv: list[str]) -> subprocess.CompletedProcess[str]:
    """``livegen ARGV`` through its real entry point, SIGINT arriving just before the command's
    modules (torch) load, the moment the abort was seen; it prints ``loaded`` on stdout when
    the loading went to its end, uninterrupted."""
    code = textwrap.dedent(f"""
        import os, signal, sys
        import livegen.cli as cli
        load = cli.build_parser
        def interrupted_load(command=None):
            os.kill(os.getpid(), signal.SIGINT)
            parser = load(command)
            print("loaded", flush=True)
            return parser
        cli.build_parser = interrupted_load
        sys.argv = ["livegen", *{argv!r}]
        cli.run()
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("argv", [["play", "--virtual", "--no-view", "--osc-port", "0"],
                                  ["eval", "nottingham", "--data", "no-such-data"]])
def test_ctrl_c_while_a_command_loads_ends_livegen_with_one_line(argv) -> None:
    done = _livegen_interrupted_while_loading(argv)
    assert done.stdout == "loaded\n", "the interrupt was raised inside the loading (torch's import)"
    assert done.returncode == 130, done.stderr[-2000:]
    assert done.stderr.strip() == "livegen: interrupted", done.stderr[-2000:]
