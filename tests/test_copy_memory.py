"""A copy head's memory is the same however the steps are chunked: what the live engine sees
stepping one frame at a time is what a chunked evaluation scores (no step attends to more
than ``copy`` remembered steps)."""

from __future__ import annotations

import pytest
import torch

from livegen.nets.char import CharConfig, CharLSTM
from livegen.nets.nade import CopyOutput, NadeConfig, RollNADE


def nade_nll_chunked(net: RollNADE, x: torch.Tensor, chunk: int) -> torch.Tensor:
    """Per-frame NLL ``(T-1,)`` of frames 2..T, run in pieces of ``chunk`` steps."""
    state = net.init_state(1)
    out = []
    for s in range(0, x.shape[1] - 1, chunk):
        piece = x[:, s:min(s + chunk, x.shape[1] - 1)]
        target = x[:, s + 1:s + 1 + piece.shape[1]]
        params, state = net(piece, state)
        out.append(net.frame_nll(params, target).reshape(-1))
    return torch.cat(out)


@pytest.mark.parametrize("copy_dim", [0, 6])
def test_nade_copy_memory_is_the_same_for_any_chunk(copy_dim: int) -> None:
    torch.manual_seed(0)
    net = RollNADE(NadeConfig(hidden=12, layers=1, nade_hidden=8, dropout=0.0, copy=5, copy_dim=copy_dim)).eval()
    with torch.no_grad():
        net.copy_gate.bias.fill_(0.0)  # the copy branch carries weight
        motif = (torch.rand(1, 4, 88) < 0.06).float()
        x = torch.cat([motif] * 10, dim=1)  # repeats: copying matters
        stepped = nade_nll_chunked(net, x, 1)
        for chunk in (2, 3, 7, 16, 39):
            assert torch.allclose(nade_nll_chunked(net, x, chunk), stepped, atol=1e-5), chunk
        # the window bites: with a longer memory the scores differ
        wide = RollNADE(NadeConfig(hidden=12, layers=1, nade_hidden=8, dropout=0.0, copy=30, copy_dim=copy_dim))
        wide.load_state_dict(net.state_dict())
        assert not torch.allclose(nade_nll_chunked(wide.eval(), x, 39), stepped, atol=1e-3)


def test_a_step_attends_to_at_most_copy_steps() -> None:
    torch.manual_seed(1)
    net = RollNADE(NadeConfig(hidden=8, layers=1, nade_hidden=4, dropout=0.0, copy=5)).eval()
    x = (torch.rand(1, 20, 88) < 0.1).float()
    with torch.no_grad():
        out, _ = net(x, net.init_state(1))
    assert isinstance(out, CopyOutput)
    assert int((out.attn[0] > 0).sum(-1).max()) == 5


def test_char_copy_memory_is_the_same_for_any_chunk() -> None:
    torch.manual_seed(2)
    net = CharLSTM(CharConfig(vocab_size=11, embed=6, hidden=10, copy=4)).eval()
    assert net.copy_head is not None
    with torch.no_grad():
        net.copy_head.gate.bias.fill_(0.0)
        x = torch.randint(0, 11, (1, 30))

        def run(chunk: int) -> torch.Tensor:
            state = net.init_state(1)
            outs = []
            for s in range(0, 30, chunk):
                logp, state = net(x[:, s:s + chunk], state)
                outs.append(logp)
            return torch.cat(outs, dim=1)

        stepped = run(1)
        for chunk in (2, 5, 30):
            assert torch.allclose(run(chunk), stepped, atol=1e-5), chunk


def test_memory_grows_in_place_without_changing_what_earlier_states_hold() -> None:
    """Eval steps append to one buffer (no copy of the memory per step); a state stepped twice
    (two continuations of one moment) gets its own buffer, and every earlier state still holds
    what it held."""
    torch.manual_seed(3)
    net = RollNADE(NadeConfig(hidden=8, layers=1, nade_hidden=4, dropout=0.0, copy=6)).eval()
    x = (torch.rand(1, 30, 88) < 0.1).float()
    with torch.no_grad():
        states, snapshots, state = [], [], net.init_state(1)
        for t in range(20):
            _, state = net.step(x[:, t], state)
            states.append(state)
            snapshots.append(tuple(s.clone() for s in state))
            if t == 9:
                branch_point = state
            if t > 9:
                assert state[2]._base is not None  # a view of the growing buffer
        other = branch_point
        for t in range(10, 20):  # another continuation from step 9, with other frames
            _, other = net.step(x[:, 29 - t], other)
        again = branch_point
        for t in range(10, 20):
            _, again = net.step(x[:, t], again)
        for a, b in zip(again, state, strict=True):
            assert torch.equal(a, b)
        for st, snap in zip(states, snapshots, strict=True):
            assert all(torch.equal(a, b) for a, b in zip(st, snap, strict=True))
        assert state[2].shape[1] == 6 and state[3].shape[1] == 6


def test_training_mode_concatenates() -> None:
    net = RollNADE(NadeConfig(hidden=8, layers=1, nade_hidden=4, dropout=0.0, copy=6)).train()
    x = (torch.rand(1, 5, 88) < 0.1).float()
    with torch.no_grad():
        _, state = net(x)
    assert state[2]._base is None or not hasattr(state[2]._base, "livegen_memory_filled")
