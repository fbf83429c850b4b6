"""Answer in the performer's key, near the performer's register.

The net does the following itself: its :class:`~livegen.voices.roll.RollGenerator` runs
it in all 12 transpositions at once, as a mixture over keys weighted by how likely each
makes what was heard (the module docstring there). A net that knows one key (the standard
datasets are all in C major or C minor) so answers in the key it hears with its own
likelihood in every key; for a net trained in every key (``--transpose 6``) the mixture is
an ensemble over transpositions. No key tracker decides for the net, and the listening
score (``livegen eval --keys all``) is the voice's likelihood of real music in every key.
``follow`` off keeps the net in its own key.

:class:`KeyFollowingVoice` adds what listens around the net:

- a :class:`~livegen.music.keys.KeyTracker` names the key heard from the performer's notes
  (the live view shows it); with ``key_pull`` (0 by default) a soft pull towards it: a logit
  bias against pitch classes outside its scale and a lean towards its tonal hierarchy. It
  makes real music less likely and the answers flatter (the tonic triad), so it is off
  unless asked;
- the performer's register (:mod:`livegen.music.register`): with ``register_follow`` the
  sampler leans towards the pitches the performer plays around, a soft logit bias, never a
  clamp.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from livegen.music.keyboard import N_KEYS
from livegen.music.keys import MAJOR_PROFILE, MINOR_PROFILE, Key, KeyTracker
from livegen.music.register import RegisterTracker
from livegen.nets.nade import RollNADE
from livegen.nets.roll import RollLSTM
from livegen.sampling.constraints import RollControls
from livegen.voices.roll import EVERY_SHIFT, RollGenerator


def hears_shifts(meta: Mapping[str, Any] | None) -> tuple[int, ...]:
    """The transpositions a net's generator runs: every key, unless its checkpoint says
    ``"hears": "own key"``. A net that knows one key needs all 12 to follow the performer;
    for a net trained in every key they are an ensemble over transpositions (``jsb``: 4.80
    nats/frame on its test set against 4.97 heard in its own key alone)."""
    return (0,) if (meta or {}).get("hears") == "own key" else EVERY_SHIFT


def home_prior(meta: Mapping[str, Any] | None) -> float:
    """The home prior of a net's generator (:func:`~livegen.voices.roll.mixing_weights`): its
    checkpoint's ``home``, else 0. Measured on validation (4 keys): at 4 it made Nottingham
    0.004 nats/frame more likely (1.2079 against 1.2117) and MuseData, Piano-midi.de,
    ``nottingham-bernoulli`` and JSB 0.001-0.024 less, so no shipped model sets it."""
    return float((meta or {}).get("home") or 0.0)


def home_register(meta: Mapping[str, Any] | None) -> float | None:
    """The net's home register (MIDI pitch; its checkpoint's ``register``: the mean pitch of
    the first sounding frame of its training pieces), or None (the shifts stay as they are)."""
    value = (meta or {}).get("register")
    return None if value is None else float(value)


def roll_voice(model: RollLSTM | RollNADE, meta: Mapping[str, Any] | None, seed: int) -> KeyFollowingVoice:
    """The voice ``play``, ``render`` and ``eval --keys`` build for a roll net."""
    return KeyFollowingVoice(RollGenerator(model, seed=seed, shifts=hears_shifts(meta), home=home_prior(meta),
                                           register=home_register(meta)))


#: the most the lean within the key moves a note, in nats per standard deviation of its profile.
LEAN_NATS = 3.0


@functools.lru_cache(maxsize=64)
def key_pull_bias(key: Key, pull: float) -> tuple[float, ...]:
    """12 logit biases (nats, C first) that draw an answer into ``key``: ``-pull`` for
    pitch classes outside its scale, and within it a lean towards the key's tonal hierarchy
    (its Krumhansl-Kessler profile, centred, ``min(pull, LEAN_NATS)`` per standard
    deviation), so tonic, fifth and third are favoured. At 3 nats per deviation the answers
    were mostly the tonic triad (4-14% of notes outside it where the music has 45-55%):
    a control for a performer who wants it, never a default."""
    profile = np.roll(MAJOR_PROFILE if key.mode == "major" else MINOR_PROFILE, key.tonic)
    lean = (profile - profile.mean()) / profile.std() * min(pull, LEAN_NATS)
    mask = key.scale_mask()
    return tuple(float(lean[pc]) if mask[pc] else -pull for pc in range(12))


@functools.lru_cache(maxsize=256)
def with_pull(controls: RollControls, key: Key | None) -> RollControls:
    """``controls`` plus the key pull towards ``key`` (none without a key or a pull).
    Cached: the live engine asks every step with the same few."""
    if key is None or controls.key_pull <= 0:
        return controls
    pull = key_pull_bias(key, controls.key_pull)
    base = controls.pc_bias or (0.0,) * 12
    return dataclasses.replace(controls, pc_bias=tuple(a + b for a, b in zip(base, pull, strict=True)))


class KeyFollowingVoice:
    """A roll voice that listens: the net (in every key) plus the key pull and register
    pull (see the module docstring).

    Args:
        inner: the generator.
        half_life: the key and register trackers' memory, in steps.
    """

    def __init__(self, inner: RollGenerator, *, half_life: float = 32.0) -> None:
        self.inner = inner
        self.tracker = KeyTracker(half_life)
        self._last_out = np.zeros(N_KEYS, dtype=bool)
        self.register = RegisterTracker(half_life)
        self._performer = np.zeros(N_KEYS, dtype=bool)  # the performer's keys last step

    @property
    def key(self) -> Key | None:
        """The key heard in the performer's notes (None before any)."""
        return self.tracker.key()

    def observe(self, frame: np.ndarray) -> None:
        """Feed one ``(88,)`` frame that sounded. The key and register are heard from the
        keys this voice did not play itself (the performer's), so the answer never drags
        them along with it; a frame of its own notes alone leaves the net's key posterior
        as it was."""
        frame = np.asarray(frame, dtype=bool)
        performer = frame & ~self._last_out
        self.tracker.observe(performer)
        struck = performer & ~self._performer
        self._performer = performer
        self.register.observe(struck)
        self.inner.observe(frame, heard=self._heard(frame))

    def prepare(self, frame: np.ndarray, controls: RollControls | None = None) -> None:
        """Compute ahead what observing ``frame`` and sampling under ``controls`` will ask
        of the net (a key or register change heard with the frame makes the step compute
        again): :meth:`RollGenerator.prepare <livegen.voices.roll.RollGenerator.prepare>`."""
        frame = np.asarray(frame, dtype=bool)
        self.inner.prepare(frame, None if controls is None else self._view(controls), heard=self._heard(frame))

    def _heard(self, frame: np.ndarray) -> bool:
        """Whether ``frame`` tells the net's key posterior anything: not when it holds
        nothing but this voice's own notes (its answer must not drag the key it hears)."""
        return not frame.any() or bool((frame & ~self._last_out).any())

    def prime(self, roll: np.ndarray) -> None:
        """Feed a ``(T, 88)`` roll frame by frame."""
        for frame in np.asarray(roll):
            self.observe(frame)

    def sample(self, controls: RollControls) -> np.ndarray:
        """The next ``(88,)`` frame obeying ``controls``."""
        out = self.inner.sample(self._view(controls))
        self._last_out = out
        return out

    def log_prob(self, frame: np.ndarray, controls: RollControls) -> float:
        """``log p`` in nats that :meth:`sample` under ``controls`` plays ``frame`` ``(88,)``
        next: the listening score. Nothing changes."""
        return self.inner.log_prob(np.asarray(frame, dtype=bool), self._view(controls))

    def _view(self, controls: RollControls) -> RollControls:
        """``controls`` plus the pulls towards the performer's key and register."""
        centre = self.register.centre if controls.register_follow > 0 else None
        seen = controls if centre is None else dataclasses.replace(controls, register_centre=centre)
        return with_pull(seen, self.key)

    def step(self, frame: np.ndarray, controls: RollControls) -> np.ndarray:
        """Observe ``frame`` then sample the next one: the live loop's single call."""
        self.observe(frame)
        return self.sample(controls)

    def reset(self) -> None:
        """Forget everything heard: fresh net state, key and register."""
        self.inner.reset()
        self.tracker.reset()
        self._last_out = np.zeros(N_KEYS, dtype=bool)
        self._performer = np.zeros(N_KEYS, dtype=bool)
        self.register.reset()
