"""A sampling temperature baked into a piano-roll NADE's weights (calibration).

A net heard as an ensemble (a net trained in every key, run in its 12 transpositions at
once) can be less sure of itself than the music: ``jsb``'s test set is more likely at
temperature 0.95 than at 1. :func:`bake_temperature` changes the weights so that the net at
temperature 1 gives exactly what it gave at temperature ``T``, with every other control at
its default: each NADE conditional logit is divided by ``T`` (the LSTM's key biases, the
soft copy's share of them and ``V``; the NADE's hidden units are untouched), and the copy
head's attention over remembered frames is sharpened alike (its inverse temperature
``theta`` divided by ``T``); the copy gate is not tempered, as the sampler leaves it. Every
path then hears and plays the calibrated net (eval, render, play), with no control to
remember. ``livegen models ship --temperature T`` applies it; choose ``T`` on the valid
split (``livegen eval ... --split valid --keys all --stream --temperature T``).
"""

from __future__ import annotations

import math

import torch

from livegen.nets.nade import RollNADE


def bake_temperature(model: RollNADE, temperature: float) -> None:
    """Divide ``model``'s NADE logits and copy attention by ``temperature`` (> 0), in place."""
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"a baked temperature is a positive number, not {temperature}")
    k = model.config.n_keys
    scale = 1.0 / temperature
    with torch.no_grad():
        model.to_params.weight[:k].mul_(scale)  # the key biases b(y) of each frame
        model.to_params.bias[:k].mul_(scale)
        if model.config.copy > 0 and model.config.copy_soft:
            model.copy_to_params.weight[:k].mul_(scale)  # their soft-copy share
            model.copy_to_params.bias[:k].mul_(scale)
        model.V.mul_(scale)  # hidden -> key logits
        if model.config.copy > 0:
            model.copy_log_theta.sub_(math.log(temperature))  # theta / T
