"""A temperature baked into a NADE (livegen/nets/calibrate.py): the baked net at temperature 1
is the original at that temperature, for scores and for what it draws."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from shared_data import DATASETS, build

from livegen.cli import main
from livegen.nets.calibrate import bake_temperature
from livegen.nets.checkpoint import load_checkpoint, save_checkpoint
from livegen.nets.manifest import read_manifest, user_models_dir
from livegen.nets.nade import NadeConfig, RollNADE
from livegen.nets.roll import RollConfig, RollLSTM
from livegen.sampling.constraints import RollControls
from livegen.sampling.likelihood import frame_log_prob
from livegen.sampling.nade import sample_nade


def _net(copy_size: int, soft: bool, copy_dim: int = 0) -> RollNADE:
    torch.manual_seed(3)
    m = RollNADE(NadeConfig(hidden=16, layers=1, nade_hidden=8, dropout=0.0, copy=copy_size, copy_soft=soft,
                            copy_dim=copy_dim)).eval()
    with torch.no_grad():  # weights large enough that the temperature matters
        m.W.normal_(0, 1.0)
        m.V.normal_(0, 1.0)
        m.to_params.bias[:88].normal_(-2.0, 1.0)
        if copy_size:
            m.copy_gate.bias.fill_(0.0)
    return m


@pytest.mark.parametrize(("copy_size", "soft", "copy_dim"), [(0, False, 0), (8, False, 0), (8, True, 0), (8, True, 4)])
@pytest.mark.parametrize("temperature", [0.8, 0.95, 1.3])
def test_the_baked_net_at_temperature_one_is_the_original_at_t(copy_size: int, soft: bool, copy_dim: int,
                                                               temperature: float) -> None:
    original = _net(copy_size, soft, copy_dim)
    baked = copy.deepcopy(original)
    bake_temperature(baked, temperature)
    at_t, at_one = RollControls(temperature=temperature), RollControls()
    g_orig, g_baked = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    s_orig = s_baked = None
    x = torch.zeros(1, 88)
    scored = 0
    for _ in range(40):
        out_o, s_orig = original.step(x, s_orig)
        out_b, s_baked = baked.step(x, s_baked)
        drawn = sample_nade(original, out_o, at_t, g_orig)
        # the same draws from the same random numbers (the probabilities agree to rounding)
        assert torch.equal(sample_nade(baked, out_b, at_one, g_baked), drawn)
        for frame in (drawn, x.reshape(-1).bool(), torch.rand(88) < 0.05):
            lp_t = frame_log_prob(original, out_o, at_t, frame)
            lp_one = frame_log_prob(baked, out_b, at_one, frame)
            assert lp_one == pytest.approx(lp_t, rel=1e-5, abs=1e-5)
            scored += 1
        x = drawn.reshape(1, -1).float()
    assert scored == 120


def test_a_baked_temperature_must_be_positive() -> None:
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="positive"):
            bake_temperature(_net(0, False), bad)


def test_models_ship_bakes_the_temperature_and_records_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    # scored on the small synthetic stand-in of Nottingham (a file path: not the real set)
    data = build(tmp_path / "data").polyphonic / f"{DATASETS['nottingham']}.mat"
    net = _net(8, True)
    ckpt = tmp_path / "mine.pt"
    save_checkpoint(ckpt, net, {"data": str(data), "steps_per_beat": 2})
    assert main(["models", "ship", str(ckpt), "--name", "mine", "--temperature", "0.9"]) == 0
    shipped, meta = load_checkpoint(user_models_dir() / "mine.pt")
    assert meta["calibration"] == {"temperature": 0.9}
    assert read_manifest(user_models_dir())["mine"]["calibration"] == {"temperature": 0.9}
    expected = copy.deepcopy(net)
    bake_temperature(expected, 0.9)
    for name, tensor in expected.state_dict().items():
        torch.testing.assert_close(shipped.state_dict()[name], tensor, rtol=0, atol=0)
    # shipped again at 0.9, the record multiplies (the weights hold 0.81 in all)
    assert main(["models", "ship", str(user_models_dir() / "mine.pt"), "--name", "mine", "--temperature", "0.9"]) == 0
    assert load_checkpoint(user_models_dir() / "mine.pt")[1]["calibration"] == {"temperature": 0.81}
    capsys.readouterr()


def test_models_ship_refuses_a_temperature_for_a_net_without_a_nade(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    ckpt = tmp_path / "plain.pt"
    save_checkpoint(ckpt, RollLSTM(RollConfig(8, 1, 0.0)), {"data": "nottingham", "steps_per_beat": 2})
    assert main(["models", "ship", str(ckpt), "--name", "plain", "--temperature", "0.9"]) == 2
    assert "only NADE roll models take a baked temperature" in capsys.readouterr().err
    assert not (user_models_dir() / "plain.pt").exists()
