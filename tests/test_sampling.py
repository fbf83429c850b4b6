"""Sampling constraints and temperature limits (explicit generators, no global RNG)."""

from __future__ import annotations

import torch

from livegen.music.scales import pitch_class_mask
from livegen.sampling.bernoulli import sample_bernoulli
from livegen.sampling.categorical import sample_categorical
from livegen.sampling.constraints import RollControls, allowed_keys


def _logits() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randn(88, generator=g) * 3


def test_zero_temperature_is_the_deterministic_threshold() -> None:
    z = _logits()
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        f = sample_bernoulli(z, RollControls(temperature=0.0), g)
        assert torch.equal(f, z > 0)


def test_high_temperature_approaches_coin_flips() -> None:
    z = _logits()
    g = torch.Generator().manual_seed(2)
    draws = torch.stack([sample_bernoulli(z, RollControls(temperature=1e4), g) for _ in range(4000)])
    rate = draws.float().mean(0)
    assert float((rate - 0.5).abs().max()) < 0.04
    cold = torch.stack([sample_bernoulli(z, RollControls(temperature=0.2), g) for _ in range(400)])
    # low temperature sharpens: each key almost always takes its thresholded value
    warm = torch.stack([sample_bernoulli(z, RollControls(temperature=1.0), g) for _ in range(400)])
    agree_cold = float((cold == (z > 0)).float().mean())
    agree_warm = float((warm == (z > 0)).float().mean())
    p = torch.sigmoid(z / 0.2)
    expected = float(torch.where(p > 0.5, p, 1 - p).mean())  # 0.970 for these logits
    assert abs(agree_cold - expected) < 0.01
    assert agree_cold > agree_warm + 0.05


def test_temperature_one_matches_sigmoid() -> None:
    z = torch.linspace(-3, 3, 88)
    g = torch.Generator().manual_seed(3)
    draws = torch.stack([sample_bernoulli(z, RollControls(), g) for _ in range(5000)])
    assert float((draws.float().mean(0) - torch.sigmoid(z)).abs().max()) < 0.03


def test_key_mask_range_polyphony_and_density() -> None:
    z = torch.full((88,), 2.0)
    g = torch.Generator().manual_seed(4)
    c = RollControls(pitch_classes=pitch_class_mask("D", "major"), low=50, high=80, max_polyphony=3)
    for _ in range(50):
        f = sample_bernoulli(z, c, g)
        pitches = [int(j) + 21 for j in torch.nonzero(f).flatten()]
        assert len(pitches) <= 3
        assert all(50 <= p <= 80 and p % 12 in (2, 4, 6, 7, 9, 11, 1) for p in pitches)
    zero = torch.zeros(88)
    more = torch.stack([sample_bernoulli(zero, RollControls(density=2.0), g) for _ in range(200)])
    fewer = torch.stack([sample_bernoulli(zero, RollControls(density=-2.0), g) for _ in range(200)])
    assert more.float().mean() > 0.8 and fewer.float().mean() < 0.2
    assert int(allowed_keys(RollControls(low=60, high=71)).sum()) == 12


def test_same_generator_seed_same_draws() -> None:
    z = _logits()
    a = [sample_bernoulli(z, RollControls(), torch.Generator().manual_seed(9)) for _ in range(1)]
    b = [sample_bernoulli(z, RollControls(), torch.Generator().manual_seed(9)) for _ in range(1)]
    assert torch.equal(a[0], b[0])
    logits = torch.randn(5, 30)
    assert torch.equal(sample_categorical(logits, 0.0, torch.Generator()), logits.argmax(-1))
