"""Registers the built-in net kinds with the checkpoint loader."""

from __future__ import annotations

from typing import Any

from livegen.nets.checkpoint import register_kind
from livegen.nets.roll import RollConfig, RollLSTM


def _build_roll(config: dict[str, Any]) -> RollLSTM:
    return RollLSTM(RollConfig(**config))


register_kind("roll", _build_roll)
