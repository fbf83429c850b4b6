"""The exact probability the roll samplers give a frame: the listening score.

:func:`frame_log_prob` is the log-probability, in nats, that
:func:`~livegen.sampling.frame.sample_roll_frame` draws a given frame from a net's output
under a :class:`~livegen.sampling.constraints.RollControls`: the same biases (density,
pitch-class, register), temperature, key mask, range, excluded keys and, with a copy head,
the same repeat odds, tilt and soft keep as the samplers apply. It is what makes a listening
control judgeable by likelihood (DESIGN.md): a bias that makes real music less likely shows
as a higher NLL of real pieces through the live path.

Only the polyphony cap cannot be scored: it drops keys after the draw (the distribution it
leaves has no closed form), so scoring with ``max_polyphony > 0`` raises ``ValueError``.
"""

from __future__ import annotations

import math

import torch

from livegen.music.keyboard import LOWEST_PITCH
from livegen.nets.nade import CopyOutput, RollNADE
from livegen.nets.roll import RollLSTM
from livegen.sampling.constraints import MIN_TEMPERATURE, RollControls, allowed_keys, logit_bias


@torch.no_grad()
def frame_log_prob(net: RollLSTM | RollNADE, out: torch.Tensor | CopyOutput, controls: RollControls,
                   frame: torch.Tensor, logits: torch.Tensor | None = None) -> float:
    """``log p(frame)`` in nats under the sampler of ``net``'s one-step output ``out``.

    Args:
        net: the roll net that produced ``out``.
        out: its prediction for the next frame: Bernoulli logits ``(1, 88)``, NADE params
            ``(1, 88 + H)`` or a one-step :class:`~livegen.nets.nade.CopyOutput`.
        controls: the sampling view in force.
        frame: ``(88,)`` 0/1 (or bool) the frame to score.
        logits: a NADE's conditional logits for ``frame`` (``(88,)``, from
            :meth:`~livegen.nets.nade.RollNADE.conditional_logits`), when the caller computed
            them already (for several outputs in one batch).

    Returns:
        A float ``<= 0``; ``-inf`` when the sampler cannot draw ``frame`` (a key it must
        leave off is on; at zero temperature, any frame but the deterministic one).

    Raises:
        ValueError: ``controls.max_polyphony > 0`` (see the module docstring).
    """
    if controls.max_polyphony > 0:
        raise ValueError("max_polyphony caps a frame after it is drawn; its likelihood has no closed form")
    v = torch.as_tensor(frame).reshape(-1).to(torch.float64)
    allowed = allowed_keys(controls)
    if bool((v.bool() & ~allowed).any()):
        return -math.inf
    if isinstance(net, RollLSTM):
        assert isinstance(out, torch.Tensor)
        return _keys_log_prob(out.reshape(-1).double(), v, controls, allowed)
    if logits is None:
        params = out.params if isinstance(out, CopyOutput) else out
        logits = net.conditional_logits(params.reshape(1, -1), v.reshape(1, -1).to(params.dtype)).reshape(-1)
    nade = _keys_log_prob(logits.double(), v, controls, allowed)
    if not isinstance(out, CopyOutput) or out.attn.numel() == 0:
        return nade
    g = float(out.gate.reshape(-1)[0])
    r = controls.repeat
    g = r * g / (r * g + (1.0 - g)) if r * g + (1.0 - g) > 0 else 0.0
    if controls.temperature <= MIN_TEMPERATURE:
        if g > 0.5:
            return _copy_log_prob(net, out, controls, v, allowed)
        return nade
    if g <= 0.0:
        return nade
    copy = _copy_log_prob(net, out, controls, v, allowed)
    return _logaddexp(math.log1p(-g) + nade if g < 1.0 else -math.inf, math.log(g) + copy)


def _keys_log_prob(logits: torch.Tensor, v: torch.Tensor, controls: RollControls,
                   allowed: torch.Tensor) -> float:
    """Sum over allowed keys of ``log p(v_i)`` for conditional ``(88,)`` logits (before the
    biases and temperature, which are applied here as the samplers apply them)."""
    z = logits + logit_bias(controls)
    z, vv = z[allowed], v[allowed]
    if controls.temperature <= MIN_TEMPERATURE:
        return 0.0 if bool(((z > 0).double() == vv).all()) else -math.inf
    z = z / controls.temperature
    # log sigmoid(z) for keys on, log sigmoid(-z) for keys off
    return float(torch.nn.functional.logsigmoid(torch.where(vv > 0.5, z, -z)).sum())


def _copy_log_prob(net: RollNADE, out: CopyOutput, controls: RollControls, v: torch.Tensor,
                   allowed: torch.Tensor) -> float:
    """``log p(v)`` under the copy branch of :func:`livegen.sampling.nade.sample_nade`: a
    remembered frame ``j`` drawn with weight ``exp((log a_j + bias . frame_j) / T)``, cut to
    the allowed keys, then each key whose pitch class has a negative bias ``b`` kept with
    probability ``exp(b)``."""
    attn = out.attn.reshape(-1).double()
    frames = out.frames.reshape(-1, net.config.n_keys).double()
    logits = attn.clamp_min(1e-300).log()
    bias = logit_bias(controls)
    if bool(bias.any()):  # a zero bias adds exactly nothing (as the sampler skips it)
        logits = logits + frames @ bias
    temp = controls.temperature
    if temp <= MIN_TEMPERATURE:
        weights = torch.zeros_like(logits)
        weights[int(logits.argmax())] = 1.0
    else:
        weights = torch.softmax(logits / temp, 0)
    cut = frames * allowed.double()  # (J, 88) what each copy plays before the soft keep
    if controls.pc_bias is None:
        same = (cut == v).all(-1)
        p = float(weights[same].sum())
    else:
        pcs = (torch.arange(net.config.n_keys) + LOWEST_PITCH) % 12
        bias = torch.tensor(controls.pc_bias, dtype=torch.float64)[pcs]
        doubtful = (cut > 0.5) & (bias < 0)  # (J, 88) keys each copy may lose
        sure = (cut > 0.5) & ~doubtful
        fits = ((v > 0.5) | ~sure).all(-1) & ((v < 0.5) | (cut > 0.5)).all(-1)  # sure ⊆ v ⊆ cut
        keep = torch.exp(bias)
        if temp <= MIN_TEMPERATURE:
            keep = (keep > 0.5).double()
        on = v > 0.5
        per_key = torch.where(doubtful, torch.where(on, keep, 1.0 - keep), torch.ones_like(cut))
        p = float((weights * fits.double() * per_key.prod(-1)).sum())
    return math.log(p) if p > 0.0 else -math.inf


def _logaddexp(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = max(a, b)
    return m + math.log(math.exp(a - m) + math.exp(b - m))
