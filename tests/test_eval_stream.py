"""``livegen eval --stream`` steps the live runtime frame by frame and must score what the
batched evaluation scores, for any chunk size, under both first-frame conventions."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from shared_data import DataSets

from livegen.cli import main
from livegen.data.roll_dataset import RollDataset
from livegen.nets.manifest import read_manifest
from livegen.nets.nade import NadeConfig, RollNADE
from livegen.nets.roll import RollConfig, RollLSTM
from livegen.offline.evaluate import evaluate_roll

MANIFEST = read_manifest()
ROLL_MODELS = sorted(n for n, e in MANIFEST.items() if e["kind"].startswith("roll"))
FIGURES = ("nll_per_frame", "nll_per_sequence", "nll_per_frame_every_frame", "nll_per_sequence_every_frame")


def _eval(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    assert main(["eval", *args, "--json"]) == 0
    return dict(json.loads(capsys.readouterr().out))


@pytest.mark.parametrize("name", ROLL_MODELS)
def test_stream_equals_batched_for_each_shipped_roll_model(name: str, named_datasets: DataSets,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    data = MANIFEST[name]["data"]
    common = [name, "--data", data, "--max-sequences", "2"]
    batched = _eval(capsys, *common, "--chunk", "50")
    stream = _eval(capsys, *common, "--stream")
    assert batched["method"] == "batched" and stream["method"] == "stream"
    assert stream["memory_steps"] == batched["memory_steps"] == MANIFEST[name]["config"].get("copy", 0)
    assert stream["sequences"] == batched["sequences"] == 2
    assert stream["frames"] == batched["frames"]
    assert stream["frames_every_frame"] == batched["frames_every_frame"] == batched["frames"] + 2
    for key in FIGURES:
        assert stream[key] == pytest.approx(batched[key], abs=2e-3), key
    assert stream["frame_accuracy"] == pytest.approx(batched["frame_accuracy"], abs=1e-3)


def _pieces(seed: int, lengths: list[int]) -> RollDataset:
    """Pieces that repeat a few bars (so the copy head matters), longer than the memory."""
    rng = np.random.default_rng(seed)
    rolls = []
    for n in lengths:
        bars = (rng.random((3, 4, 88)) < 0.05).astype(np.uint8)
        rolls.append(np.concatenate([bars[i] for i in rng.integers(0, 3, n // 4 + 1)])[:n])
    return RollDataset("synthetic", {"train": [], "valid": [], "test": rolls}, 2)


@pytest.mark.parametrize("kind", ["roll", "roll-nade"])
def test_stream_equals_batched_beyond_the_memory_for_any_chunk(kind: str) -> None:
    torch.manual_seed(4)
    net: RollLSTM | RollNADE
    if kind == "roll":
        net = RollLSTM(RollConfig(hidden=12, layers=2, dropout=0.0))
    else:
        net = RollNADE(NadeConfig(hidden=12, layers=2, nade_hidden=8, dropout=0.0, copy=9, copy_soft=True))
        with torch.no_grad():
            net.copy_gate.bias.fill_(0.0)
            torch.nn.init.normal_(net.copy_to_params.weight, std=0.3)
    net.eval()
    data = _pieces(5, [40, 3, 27, 61])
    stream = evaluate_roll(net, data, stream=True)
    assert stream.memory_steps == (9 if kind == "roll-nade" else 0)
    assert stream.frames == 39 + 2 + 26 + 60 and stream.frames_every_frame == 40 + 3 + 27 + 61
    for chunk in (1, 4, 13, 512):
        batched = evaluate_roll(net, data, chunk=chunk)
        for key in ("nll_per_frame", "nll_per_sequence", "nll_per_frame_every_frame",
                    "nll_per_sequence_every_frame", "frame_accuracy"):
            assert getattr(stream, key) == pytest.approx(getattr(batched, key), abs=1e-4), (chunk, key)
    assert evaluate_roll(net, data, max_sequences=2).sequences == 2


def test_every_frame_scores_the_first_frame_after_silence() -> None:
    """The every-frame figure is the NLL of frames 1..T for a run that heard one silent frame."""
    torch.manual_seed(6)
    net = RollLSTM(RollConfig(hidden=8, layers=1, dropout=0.0)).eval()
    data = _pieces(7, [12])
    seq = torch.from_numpy(data.split("test")[0]).float()
    with_silence = torch.cat([torch.zeros(1, 88), seq]).unsqueeze(0)
    with torch.no_grad():
        logits, _ = net(with_silence[:, :-1])
        expected = float(net.frame_nll(logits, with_silence[:, 1:]).sum()) / 12
    assert evaluate_roll(net, data).nll_per_frame_every_frame == pytest.approx(expected, abs=1e-5)


def test_char_stream_equals_batched(named_datasets: DataSets, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["irish", "--data", "irish", "--max-sequences", "2"]
    batched = _eval(capsys, *common, "--chunk", "20")
    stream = _eval(capsys, *common, "--stream")
    assert stream["memory_steps"] == batched["memory_steps"] == MANIFEST["irish"]["config"]["copy"]
    assert stream["songs"] == batched["songs"] == 2 and stream["chars"] == batched["chars"]
    assert stream["nll_per_char"] == pytest.approx(batched["nll_per_char"], abs=2e-3)
