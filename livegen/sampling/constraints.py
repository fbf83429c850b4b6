"""The performer-facing constraints every roll sampler applies, as one frozen view.

:class:`RollControls` is what a sampler reads of the live state for one step (see
:func:`sampling_view`); :func:`allowed_keys` turns its range and
key mask into an ``(88,)`` mask. Keyboard constants come from :mod:`livegen.music.keyboard`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from livegen.controls.table import ControlState
from livegen.music.keyboard import LOWEST_PITCH, N_KEYS
from livegen.music.register import register_bias

#: Below this temperature sampling is the deterministic threshold / argmax.
MIN_TEMPERATURE = 1e-4


@dataclass(frozen=True)
class RollControls:
    """Constraints every roll sampler applies to one frame.

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
        excluded: MIDI pitches that must stay off (the keys the performer holds in
            accompany mode); skipped like keys outside the range.
        follow: voices that can transpose answer in the key they hear (samplers ignore it).
        key_pull: nats a key-following voice takes off the logits of keys outside the key
            it hears (soft: 0 = none).
        pc_bias: 12 logit biases in nats (C first) added to every key of that pitch class,
            or None: a soft pull towards a key (a voice that follows the key sets it), never
            a mask.
        register_follow: nats a listening voice takes off a key an octave from the
            performer's register (``4x`` two octaves off; 0 = none).
        register_centre: the performer's register (MIDI pitch) the listening voice found,
            or None: with ``register_follow``, a soft pull towards it, never a clamp.
    """

    temperature: float = 1.0
    density: float = 0.0
    low: int = LOWEST_PITCH
    high: int = LOWEST_PITCH + N_KEYS - 1
    pitch_classes: tuple[bool, ...] | None = None
    max_polyphony: int = 0
    repeat: float = 1.0
    excluded: frozenset[int] = frozenset()
    follow: bool = True
    pc_bias: tuple[float, ...] | None = None
    key_pull: float = 0.0
    register_follow: float = 0.0
    register_centre: float | None = None


def sampling_view(state: ControlState, excluded: frozenset[int] = frozenset()) -> RollControls:
    """What a sampler reads of the live state for one step (plus the keys to leave alone)."""
    return RollControls(temperature=state.temperature, density=state.density, low=state.low,
                        high=state.high, pitch_classes=state.pitch_classes,
                        max_polyphony=state.polyphony, repeat=state.repeat, excluded=excluded,
                        follow=state.follow, key_pull=state.key_pull,
                        register_follow=state.register_follow)


def logit_bias(controls: RollControls) -> torch.Tensor:
    """``(88,)`` float64 nats added to each key's logit: the density, the pitch-class bias and
    the pull towards the performer's register.

    Cached per value (the live engine asks every step with the same few; the register's
    centre is taken to a quarter semitone); read only.
    """
    centre = controls.register_centre
    if centre is None or controls.register_follow <= 0:
        return _logit_bias(controls.density, controls.pc_bias, None, 0.0)
    return _logit_bias(controls.density, controls.pc_bias, round(centre * 4) / 4, controls.register_follow)


@functools.lru_cache(maxsize=512)
def _logit_bias(density: float, pc_bias: tuple[float, ...] | None, centre: float | None,
                pull: float) -> torch.Tensor:
    bias = torch.full((N_KEYS,), float(density), dtype=torch.float64)
    if pc_bias is not None:
        bias += torch.tensor(pc_bias, dtype=torch.float64)[_PITCH_CLASSES]
    if centre is not None:
        pitches = np.arange(N_KEYS, dtype=np.float64) + LOWEST_PITCH
        bias += torch.from_numpy(register_bias(pitches, centre, pull))
    return bias


def allowed_keys(controls: RollControls) -> torch.Tensor:
    """``(88,)`` bool mask of keys allowed by the pitch range and the key/scale mask.

    Cached per value (the live engine asks every step with the same few); read only.
    """
    return _allowed_keys(controls.low, controls.high, controls.pitch_classes, controls.excluded)


@functools.lru_cache(maxsize=256)
def _allowed_keys(low: int, high: int, pitch_classes: tuple[bool, ...] | None,
                  excluded: frozenset[int]) -> torch.Tensor:
    pitches = torch.arange(N_KEYS) + LOWEST_PITCH
    mask = (pitches >= low) & (pitches <= high)
    if pitch_classes is not None:
        mask &= torch.tensor(pitch_classes, dtype=torch.bool)[_PITCH_CLASSES]
    if excluded:
        mask &= ~torch.isin(pitches, torch.tensor(sorted(excluded), dtype=pitches.dtype))
    return mask


#: pitch class of each key, ``(88,)``.
_PITCH_CLASSES = (torch.arange(N_KEYS) + LOWEST_PITCH) % 12
