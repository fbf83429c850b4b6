"""Sampling from model outputs with performer-facing constraints.

Pure torch: every random draw takes an explicit :class:`torch.Generator`, nothing touches
the global RNG. Piano-roll heads give one Bernoulli logit per key; character heads give one
categorical distribution over the vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

N_KEYS = 88
LOWEST_PITCH = 21

#: Below this temperature sampling is the deterministic threshold / argmax.
MIN_TEMPERATURE = 1e-4


@dataclass(frozen=True)
class RollControls:
    """Constraints applied to a frame of Bernoulli logits.

    Attributes:
        temperature: logits are divided by it; ``<= 1e-4`` means the deterministic
            threshold (a key sounds iff its probability > 0.5); large values approach coin
            flips (p -> 0.5 for every allowed key).
        density: logit bias added before temperature, in nats (>0 more notes, <0 fewer).
        low, high: inclusive MIDI pitch range allowed (21..108 is the whole keyboard).
        pitch_classes: 12 bools (C, C#, ..., B) allowed by the key/scale mask, or None.
        max_polyphony: most keys on at once (the most probable win); 0 = no cap.
        repeat: models with a copy head: multiplies the odds of copying a remembered frame
            (0 = never copy, 1 = as trained, 4 = four times the odds); others ignore it.
    """

    temperature: float = 1.0
    density: float = 0.0
    low: int = LOWEST_PITCH
    high: int = LOWEST_PITCH + N_KEYS - 1
    pitch_classes: tuple[bool, ...] | None = None
    max_polyphony: int = 0
    repeat: float = 1.0


def allowed_keys(controls: RollControls) -> torch.Tensor:
    """``(88,)`` bool mask of keys allowed by the pitch range and the key/scale mask."""
    pitches = torch.arange(N_KEYS) + LOWEST_PITCH
    mask = (pitches >= controls.low) & (pitches <= controls.high)
    if controls.pitch_classes is not None:
        pcs = torch.tensor(controls.pitch_classes, dtype=torch.bool)
        mask &= pcs[pitches % 12]
    return mask


def shaped_logits(logits: torch.Tensor, controls: RollControls) -> torch.Tensor:
    """Apply density bias, temperature and the key mask to ``(..., 88)`` logits.

    Masked keys get ``-inf``. At temperature <= MIN_TEMPERATURE the result is
    ``+inf``/``-inf`` (the deterministic threshold).
    """
    z = logits + controls.density
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
