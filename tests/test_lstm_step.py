"""LSTMStepper: one live step equals the nn.LSTM module's, and follows weight changes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from livegen.nets.lstm_step import LSTMStepper, can_step_fast
from livegen.nets.nade import NadeConfig, RollNADE
from livegen.nets.roll import RollConfig, RollLSTM


def _frames(b: int, t: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(b, t, 88, generator=g) < 0.08).float()


@pytest.mark.parametrize("batch", [1, 3, 12])
@torch.no_grad()
def test_steps_equal_the_module(batch: int) -> None:
    torch.manual_seed(0)
    lstm = nn.LSTM(88, 48, num_layers=2, batch_first=True).eval()
    x = _frames(batch, 20)
    full, (h_full, c_full) = lstm(x)
    stepper, state = LSTMStepper(), None
    for t in range(x.shape[1]):
        y, state = stepper(lstm, x[:, t], state)
        torch.testing.assert_close(y, full[:, t], rtol=0, atol=1e-6)
    assert state is not None
    torch.testing.assert_close(state[0], h_full, rtol=0, atol=1e-6)
    torch.testing.assert_close(state[1], c_full, rtol=0, atol=1e-6)


@torch.no_grad()
def test_follows_weight_changes() -> None:
    torch.manual_seed(0)
    lstm = nn.LSTM(88, 16, num_layers=1, batch_first=True).eval()
    x = _frames(4, 1)
    stepper = LSTMStepper()
    before, _ = stepper(lstm, x[:, 0], None)
    lstm.weight_hh_l0.mul_(0.5)  # in place: the version moves
    lstm.weight_ih_l0.add_(0.1)
    after, _ = stepper(lstm, x[:, 0], None)
    expected, _ = lstm(x)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, expected[:, 0], rtol=0, atol=1e-6)
    other = nn.LSTM(88, 16, num_layers=1, batch_first=True).eval()  # another module, same shapes
    torch.testing.assert_close(stepper(other, x[:, 0], None)[0], other(x)[0][:, 0], rtol=0, atol=1e-6)


def test_fast_only_in_inference() -> None:
    m = RollLSTM(RollConfig(hidden=16, layers=1))
    assert not can_step_fast(m)  # training mode
    m.eval()
    assert not can_step_fast(m)  # gradients recorded
    with torch.no_grad():
        assert can_step_fast(m)


@pytest.mark.parametrize("copy", [0, 8])
@torch.no_grad()
def test_nets_step_as_they_run(copy: int) -> None:
    """RollNADE and RollLSTM stepped in inference agree with their forward pass."""
    torch.manual_seed(0)
    nets: list[RollNADE | RollLSTM] = [RollNADE(NadeConfig(hidden=32, layers=2, nade_hidden=16, copy=copy,
                                                            copy_soft=bool(copy))).eval(),
                                       RollLSTM(RollConfig(hidden=32, layers=2)).eval()]
    x = _frames(12, 15)
    for net in nets:
        full, _ = net(x)
        state = None
        for t in range(x.shape[1]):
            out, state = net.step(x[:, t], state)
            got = out.params if not isinstance(out, torch.Tensor) else out
            want = full.params[:, t] if not isinstance(full, torch.Tensor) else full[:, t]
            torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
