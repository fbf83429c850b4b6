"""Drawing a frame from a :class:`~livegen.nets.nade.RollNADE` under the live constraints.

The NADE walk visits the allowed keys low to high; each conditional logit gets the density
bias and the temperature. With a copy head a remembered frame is first copied with
probability ``g``. Either way the polyphony cap keeps the most probable keys, as for the
Bernoulli head (:func:`livegen.sampling.bernoulli.cap_polyphony`).
"""

from __future__ import annotations

import numpy as np
import torch

from livegen.music.keyboard import LOWEST_PITCH
from livegen.nets.nade import CopyOutput, RollNADE
from livegen.sampling.bernoulli import cap_polyphony
from livegen.sampling.constraints import MIN_TEMPERATURE, RollControls, allowed_keys, logit_bias


@torch.no_grad()
def sample_nade(net: RollNADE, params: torch.Tensor | CopyOutput, controls: RollControls,
            generator: torch.Generator) -> torch.Tensor:
    """Draw one ``(88,)`` bool frame from ``params`` ``(1, 88 + H)`` under ``controls``.

    Keys walk low to high. Each conditional logit gets the density bias and the
    temperature (the keys between two that sound share the NADE's hidden state, so their
    logits are computed together: ``np.vecdot`` row by row, the same dot products, bit for
    bit, as one key at a time); forbidden keys (range, key mask) are skipped (they stay off and add
    nothing to the NADE state, which is exact); with a ``max_polyphony`` cap the drawn
    keys with the highest conditional logits are kept, as for the Bernoulli head. With a copy head, the frame is first copied with probability ``g``
    (a remembered frame drawn by attention, tilted by the density and sharpened or
    flattened by the temperature; keys outside the range or key mask dropped, the
    ``max_polyphony`` most probable kept; see :func:`_sample_copy`), otherwise drawn from the NADE.
    """
    if isinstance(params, CopyOutput):
        copied = _sample_copy(net, params, controls, generator)
        if copied is not None:
            return copied
        params = params.params
    k = net.config.n_keys
    W, V = net.numpy_weights()
    p = params.reshape(-1).double().numpy()
    b, a = p[:k], p[k:].copy()
    keys = np.flatnonzero(allowed_keys(controls).numpy())
    u = torch.rand(len(keys), generator=generator, dtype=torch.float64).numpy()
    temp, bias = controls.temperature, logit_bias(controls).numpy()
    out = np.zeros(k, dtype=bool)
    score = np.full(k, -np.inf)
    whole = len(keys) == k  # every key allowed: the weights' rows as they are, no gather
    b_k, bias_k, V_k = (b, bias, V) if whole else (b[keys], bias[keys], V[keys])
    h = 1.0 / (1.0 + np.exp(-a))  # changes only when a key turns on
    n = 0  # keys[n:] are still to walk
    while n < len(keys):
        # every key up to the next one drawn on sees this h: their logits at once
        z = b_k[n:] + np.vecdot(V_k[n:], h) + bias_k[n:]
        on = z > 0 if temp <= MIN_TEMPERATURE else u[n:] < 1.0 / (1.0 + np.exp(-z / temp))
        first = int(on.argmax()) if on.any() else len(z) - 1
        score[keys[n:n + first + 1]] = z[:first + 1]
        if not on[first]:
            break
        i = keys[n + first]
        out[i] = True
        a += W[i]
        h = 1.0 / (1.0 + np.exp(-a))
        n += first + 1
    return cap_polyphony(torch.from_numpy(out), torch.from_numpy(score), controls.max_polyphony)

def _sample_copy(net: RollNADE, out: CopyOutput, controls: RollControls,
             generator: torch.Generator) -> torch.Tensor | None:
    """The copy branch of :func:`sample_nade`, or None when the NADE should draw.

    The copy is taken with probability ``g`` (at zero temperature: when ``g > 0.5``),
    its odds ``g / (1 - g)`` first multiplied by ``controls.repeat``. A
    remembered frame ``j`` with ``n_j`` notes is drawn with weight
    ``exp((log a_j + density * n_j) / temperature)``: the density bias tilts the choice
    towards fuller or sparser frames as it does for the NADE's keys, the temperature
    sharpens or flattens it (zero: the most attended frame). Keys of the copied frame
    whose pitch class has a negative bias (a key pull) stay with probability
    ``exp(bias)`` (see :func:`_keep_softly`), so a copy leans the same way as a fresh frame.
    """
    g = float(out.gate.reshape(-1)[0])
    r = controls.repeat
    g = r * g / (r * g + (1.0 - g)) if r * g + (1.0 - g) > 0 else 0.0
    attn = out.attn.reshape(-1).double()
    temp = controls.temperature
    if attn.numel() == 0:
        return None
    if temp <= MIN_TEMPERATURE:
        if g <= 0.5:
            return None
    elif float(torch.rand((), generator=generator, dtype=torch.float64)) >= g:
        return None
    frames = out.frames.reshape(-1, net.config.n_keys)
    logits = attn.clamp_min(1e-300).log()
    bias = logit_bias(controls)
    if bool(bias.any()):  # a zero bias adds exactly nothing: skip reading the whole memory
        logits = logits + frames.double() @ bias
    if temp <= MIN_TEMPERATURE:
        j = int(logits.argmax())
    else:
        j = int(torch.multinomial(torch.softmax(logits / temp, 0), 1, generator=generator))
    frame = frames[j].bool() & allowed_keys(controls)
    if controls.pc_bias is not None:
        frame = _keep_softly(frame, controls, temp, generator)
    if controls.max_polyphony and int(frame.sum()) > controls.max_polyphony:
        # rank the copied keys by the NADE's conditional logits given the copied frame
        score = net.conditional_logits(out.params.reshape(1, -1), frame.reshape(1, -1).to(out.params.dtype))
        frame = cap_polyphony(frame, score.reshape(-1), controls.max_polyphony)
    return frame


def _keep_softly(frame: torch.Tensor, controls: RollControls, temp: float,
                 generator: torch.Generator) -> torch.Tensor:
    """Keep each key of a copied ``(88,)`` frame whose pitch-class bias ``b`` is negative with
    probability ``exp(b)`` (at zero temperature: when that is above 1/2); others stay."""
    assert controls.pc_bias is not None
    pcs = (torch.arange(frame.numel()) + LOWEST_PITCH) % 12
    bias = torch.tensor(controls.pc_bias, dtype=torch.float64)[pcs]
    doubtful = frame & (bias < 0)
    if not bool(doubtful.any()):
        return frame
    keep = torch.exp(bias)
    if temp <= MIN_TEMPERATURE:
        stays = keep > 0.5
    else:
        stays = torch.rand(frame.numel(), generator=generator, dtype=torch.float64) < keep
    return frame & (~doubtful | stays)
