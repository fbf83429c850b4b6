"""Independent Bernoulli keys: the sampler of the plain roll LSTM head.

Pure torch: every random draw takes an explicit :class:`torch.Generator`, nothing touches
the global RNG.
"""

from __future__ import annotations

import torch

from livegen.sampling.constraints import MIN_TEMPERATURE, RollControls, allowed_keys, logit_bias


def shaped_logits(logits: torch.Tensor, controls: RollControls) -> torch.Tensor:
    """Apply the density and pitch-class biases, temperature and the key mask to ``(..., 88)`` logits.

    Masked keys get ``-inf``. At temperature <= MIN_TEMPERATURE the result is
    ``+inf``/``-inf`` (the deterministic threshold).
    """
    z = logits + logit_bias(controls).to(logits.dtype)
    if controls.temperature <= MIN_TEMPERATURE:
        z = torch.where(z > 0, torch.inf, -torch.inf)
    else:
        z = z / controls.temperature
    return z.masked_fill(~allowed_keys(controls), -torch.inf)


def sample_bernoulli(
    logits: torch.Tensor, controls: RollControls, generator: torch.Generator
) -> torch.Tensor:
    """Draw a multi-hot frame from ``(..., 88)`` independent Bernoulli logits.

    Returns a bool tensor of the same shape. With a polyphony cap the drawn keys with the
    highest probability are kept.
    """
    z = shaped_logits(logits, controls)
    p = torch.sigmoid(z)
    u = torch.rand(p.shape, generator=generator)
    on = u < p
    return cap_polyphony(on, z, controls.max_polyphony)


def cap_polyphony(on: torch.Tensor, score: torch.Tensor, cap: int) -> torch.Tensor:
    """Keep at most ``cap`` keys of each ``(..., 88)`` frame, those with the highest score."""
    if cap <= 0:
        return on
    count = on.sum(-1, keepdim=True)
    if int(count.max()) <= cap:
        return on
    ranked = torch.where(on, score, torch.full_like(score, -torch.inf))
    top = ranked.topk(cap, dim=-1).indices
    keep = torch.zeros_like(on)
    keep.scatter_(-1, top, True)
    return on & keep
