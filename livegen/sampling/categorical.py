"""Categorical draws over a vocabulary: the samplers of the character heads.

Every random draw takes an explicit :class:`torch.Generator`.
"""

from __future__ import annotations

import torch

from livegen.sampling.constraints import MIN_TEMPERATURE


def sample_categorical(
    logits: torch.Tensor, temperature: float, generator: torch.Generator
) -> torch.Tensor:
    """Draw indices from ``(..., V)`` logits by softmax at ``temperature``.

    ``temperature <= 1e-4`` is argmax. Returns ``(...)`` long indices.
    """
    if temperature <= MIN_TEMPERATURE:
        return logits.argmax(-1)
    probs = torch.softmax(logits / temperature, dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])


def sample_gumbel_max(
    logits: torch.Tensor, temperature: float, generator: torch.Generator
) -> torch.Tensor:
    """The Gumbel-max trick: ``argmax(logits / T + Gumbel noise)``; same law as softmax."""
    if temperature <= MIN_TEMPERATURE:
        return logits.argmax(-1)
    u = torch.rand(logits.shape, generator=generator).clamp_(1e-12, 1.0 - 1e-12)
    gumbel = -torch.log(-torch.log(u))
    return (logits / temperature + gumbel).argmax(-1)
