"""Registers the built-in net kinds with the checkpoint loader."""

from __future__ import annotations

from typing import Any

from livegen.nets.checkpoint import register_kind
from livegen.nets.nade import NadeConfig, RollNADE
from livegen.nets.roll import RollConfig, RollLSTM


def _build_roll(config: dict[str, Any]) -> RollLSTM:
    return RollLSTM(RollConfig(**config))


register_kind("roll", _build_roll)


def _build_nade(config: dict[str, Any]) -> RollNADE:
    return RollNADE(NadeConfig(**config))


register_kind("roll-nade", _build_nade)
register_kind("char", lambda config: __import__("livegen.nets.char", fromlist=["build_char"]).build_char(config))
