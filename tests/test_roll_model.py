"""RollLSTM: step == forward, chunked == full, checkpointed gradients, checkpoints."""

from __future__ import annotations

import pytest
import torch

from livegen.errors import LivegenError
from livegen.nets.checkpoint import load_checkpoint, save_checkpoint
from livegen.nets.roll import RollConfig, RollLSTM, roll_loss
from livegen.training.loop import segment_loss


def _model(seed: int = 0, dropout: float = 0.0) -> RollLSTM:
    torch.manual_seed(seed)
    return RollLSTM(RollConfig(hidden=32, layers=2, dropout=dropout))


def _frames(b: int, t: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(b, t, 88, generator=g) < 0.08).float()


def test_step_equals_forward() -> None:
    m = _model().eval()
    x = _frames(2, 30)
    full, full_state = m(x)
    state = None
    outs = []
    for t in range(x.shape[1]):
        y, state = m.step(x[:, t], state)
        outs.append(y)
    torch.testing.assert_close(torch.stack(outs, 1), full, rtol=0, atol=1e-6)
    torch.testing.assert_close(state[0], full_state[0], rtol=0, atol=1e-6)


def test_chunked_forward_equals_full_forward() -> None:
    m = _model().eval()
    x = _frames(3, 57)
    full, _ = m(x)
    state, outs = None, []
    for s in range(0, 57, 10):
        y, state = m(x[:, s : s + 10], state)
        outs.append(y)
    torch.testing.assert_close(torch.cat(outs, 1), full, rtol=0, atol=1e-6)


def _grads(dropout: float, every: int, recompute: bool) -> dict[str, torch.Tensor]:
    x = _frames(2, 40)
    y = _frames(2, 40, seed=2)
    mask = torch.ones(2, 40)
    mask[1, 31:] = 0
    m = _model(dropout=dropout).train()
    torch.manual_seed(123)  # same dropout stream in every run
    loss, _ = segment_loss(m, roll_loss, x, y, mask, None, None, every, recompute)
    loss.backward()
    return {k: p.grad.clone() for k, p in m.named_parameters()}


def test_checkpointed_gradients_equal_plain_bptt() -> None:
    plain = _grads(0.0, 0, False)
    ckpt = _grads(0.0, 7, True)
    for k in plain:
        torch.testing.assert_close(plain[k], ckpt[k], rtol=1e-5, atol=1e-6)


def test_checkpointing_replays_dropout_masks() -> None:
    # same segmentation with and without recomputation: identical dropout masks and grads
    stored = _grads(0.3, 7, False)
    recomputed = _grads(0.3, 7, True)
    assert any(float(g.abs().sum()) > 0 for g in stored.values())
    for k in stored:
        torch.testing.assert_close(stored[k], recomputed[k], rtol=1e-5, atol=1e-6)


def test_checkpoint_round_trip(tmp_path) -> None:
    m = _model()
    path = tmp_path / "m.pt"
    save_checkpoint(path, m, {"data": "nottingham", "steps_per_beat": 2, "metrics": {"test_nll": 3.0}})
    m2, meta = load_checkpoint(path)
    assert meta["steps_per_beat"] == 2 and meta["data"] == "nottingham"
    assert m2.config == m.config
    for (k, a), (_, b) in zip(m.state_dict().items(), m2.state_dict().items()):
        assert torch.equal(a, b), k


def test_corrupt_checkpoint_names_the_file(tmp_path) -> None:
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(LivegenError, match="broken.pt"):
        load_checkpoint(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(LivegenError, match="not a livegen checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(LivegenError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_checkpoint_refuses_code_execution(tmp_path) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "livegen", "payload": Evil()}, path)
    with pytest.raises(LivegenError, match="evil.pt"):
        load_checkpoint(path)
