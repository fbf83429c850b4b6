"""Statistical checks of categorical sampling: softmax draws and the Gumbel-max trick agree.

Fixed seeds make every test deterministic; the significance level (p > 1e-3) only decides
whether the fixed draws look like the target law. A power check makes sure the same test
rejects a wrong law, so it can fail.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from livegen.nets.char import CharConfig, CharLSTM, Vocab
from livegen.sampling.categorical import sample_categorical, sample_gumbel_max
from livegen.voices.text import TextGenerator

N = 20_000
LOGITS = torch.tensor([2.0, 1.0, 0.5, 0.0, -0.5, -1.0, -1.5, 0.8])




def _counts(draws: torch.Tensor, k: int) -> np.ndarray:
    return np.bincount(draws.numpy(), minlength=k)


def _draws(sampler, logits: torch.Tensor, temperature: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return sampler(logits.expand(N, -1), temperature, g)


def _probs(logits: torch.Tensor, temperature: float) -> np.ndarray:
    return torch.softmax(logits.double() / temperature, -1).numpy()


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
@pytest.mark.parametrize("sampler", [sample_categorical, sample_gumbel_max])
def test_sampler_matches_softmax_law(sampler, temperature: float) -> None:
    counts = _counts(_draws(sampler, LOGITS, temperature, seed=11), len(LOGITS))
    expected = _probs(LOGITS, temperature) * N
    assert stats.chisquare(counts, expected).pvalue > 1e-3


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_softmax_and_gumbel_max_draw_from_the_same_law(temperature: float) -> None:
    a = _counts(_draws(sample_categorical, LOGITS, temperature, seed=1), len(LOGITS))
    b = _counts(_draws(sample_gumbel_max, LOGITS, temperature, seed=2), len(LOGITS))
    assert stats.chi2_contingency(np.stack([a, b])).pvalue > 1e-3


def test_chi_square_has_power_against_a_wrong_temperature() -> None:
    """The same test rejects draws at T=1.3 when the law is T=1 (so the checks can fail)."""
    counts = _counts(_draws(sample_gumbel_max, LOGITS, 1.3, seed=11), len(LOGITS))
    assert stats.chisquare(counts, _probs(LOGITS, 1.0) * N).pvalue < 1e-6
    a = _counts(_draws(sample_categorical, LOGITS, 1.0, seed=1), len(LOGITS))
    b = _counts(_draws(sample_gumbel_max, LOGITS, 1.3, seed=2), len(LOGITS))
    assert stats.chi2_contingency(np.stack([a, b])).pvalue < 1e-6


@pytest.mark.parametrize("sampler", [sample_categorical, sample_gumbel_max])
def test_temperature_limits(sampler) -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(500, 30, generator=g)
    best = logits.argmax(-1)
    logits[torch.arange(500), best] += 0.05  # a clear winner: a flip at T=1e-3 needs ~e^-50
    # at and below the threshold: exactly argmax; just above it: argmax in practice
    for t in (0.0, 1e-4, 1e-3):
        assert torch.equal(sampler(logits, t, g), best)
    # very hot: close to uniform
    counts = _counts(_draws(sampler, LOGITS, 1e4, seed=3), len(LOGITS))
    assert stats.chisquare(counts).pvalue > 1e-3


def test_generator_draws_follow_the_model_with_unknown_banned() -> None:
    """TextGenerator's own draws (both samplers) follow softmax(logits / T) over allowed chars."""
    torch.manual_seed(0)
    vocab = Vocab.build(["abcdefg"], specials="\x1e")
    net = CharLSTM(CharConfig(len(vocab), embed=4, hidden=8, layers=1))
    counts = {}
    for sampler in ("softmax", "gumbel"):
        gen = TextGenerator(net, vocab, [], seed=4, sampler=sampler)
        gen.prime("abc")
        logits = gen._logits.clone()
        draws = torch.tensor([gen._draw(0.8) for _ in range(4000)])
        counts[sampler] = _counts(draws, len(vocab))
        assert counts[sampler][vocab.unk] == 0
        allowed = logits.clone()
        allowed[vocab.unk] = -torch.inf
        p = _probs(allowed, 0.8)
        keep = p > 0
        assert stats.chisquare(counts[sampler][keep], p[keep] * 4000).pvalue > 1e-3
    keep = (counts["softmax"] + counts["gumbel"]) > 0
    table = np.stack([counts["softmax"][keep], counts["gumbel"][keep]])
    assert stats.chi2_contingency(table).pvalue > 1e-3
