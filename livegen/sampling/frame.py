"""One entry point for drawing a piano-roll frame from any roll head.

The nets return distributions (Bernoulli logits ``(1, 88)``, NADE parameters, or a NADE
:class:`~livegen.nets.nade.CopyOutput`); this picks the sampler for the head. Every sampler
applies temperature, density, pitch range, key/scale mask and the polyphony cap (the most
probable keys kept) the same way.
"""

from __future__ import annotations

import torch
from torch import nn

from livegen.nets.nade import CopyOutput, RollNADE
from livegen.sampling.bernoulli import sample_bernoulli
from livegen.sampling.constraints import RollControls
from livegen.sampling.nade import sample_nade


def sample_roll_frame(net: nn.Module, out: torch.Tensor | CopyOutput, controls: RollControls,
                      generator: torch.Generator) -> torch.Tensor:
    """Draw one ``(88,)`` bool frame from ``out``, the net's prediction for the next frame."""
    if isinstance(net, RollNADE):
        return sample_nade(net, out, controls, generator).reshape(-1)
    assert isinstance(out, torch.Tensor)
    return sample_bernoulli(out, controls, generator).reshape(-1)
