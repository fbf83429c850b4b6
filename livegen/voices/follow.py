"""Answer in the performer's key: transpose what the model hears into its training key, and
its answer back.

The standard datasets are all transposed to C major or C minor, so the roll models know one
key well. :class:`KeyFollowingVoice` wraps a :class:`~livegen.voices.roll.RollGenerator`:
a :class:`~livegen.music.keys.KeyTracker` follows the key of everything that sounds (the
performer's notes and the answer's), every frame the model observes is moved down by the
key's tonic (to C) and every frame it plays is moved back up. The sampler's constraints
(pitch range, key/scale mask, held keys) are moved the same way, so they still hold for
the notes that sound. A new key takes over only once it has led for ``hold`` steps in a
row while the performer plays (or at once when they stop), so a passing chord does not jolt
the model.

The ``follow`` control turns it off: the model then hears and answers in C, untransposed.

The same voice follows the performer's register (:mod:`livegen.music.register`): with
``register_follow`` the sampler leans towards the pitches the performer plays around, a
soft logit bias, never a clamp.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from livegen.music.keyboard import HIGHEST_PITCH, LOWEST_PITCH, N_KEYS
from livegen.music.keys import MAJOR_PROFILE, MINOR_PROFILE, Key, KeyTracker
from livegen.music.register import RegisterTracker
from livegen.sampling.constraints import RollControls
from livegen.voices.roll import RollGenerator


def shift_frame(frame: np.ndarray, semitones: int) -> np.ndarray:
    """``(..., 88)`` frame(s) moved up by ``semitones`` (down if negative); keys pushed off
    the keyboard are dropped, never wrapped."""
    frame = np.asarray(frame, dtype=bool)
    out = np.zeros_like(frame)
    if semitones >= 0:
        out[..., semitones:] = frame[..., :N_KEYS - semitones]
    else:
        out[..., :semitones] = frame[..., -semitones:]
    return out


@functools.lru_cache(maxsize=256)
def shift_controls(controls: RollControls, semitones: int) -> RollControls:
    """The constraints as seen ``semitones`` higher: what the model's space must obey so that
    its answer, moved back down, obeys ``controls``."""
    low = min(max(controls.low + semitones, LOWEST_PITCH), HIGHEST_PITCH)
    high = min(max(controls.high + semitones, LOWEST_PITCH), HIGHEST_PITCH)
    if controls.high + semitones < LOWEST_PITCH or controls.low + semitones > HIGHEST_PITCH:
        low, high = HIGHEST_PITCH, LOWEST_PITCH  # the whole range fell off the keyboard
    pcs, bias = controls.pitch_classes, controls.pc_bias
    centre = controls.register_centre
    return dataclasses.replace(
        controls, low=low, high=high, register_centre=None if centre is None else centre + semitones,
        pitch_classes=None if pcs is None else tuple(pcs[(p - semitones) % 12] for p in range(12)),
        pc_bias=None if bias is None else tuple(bias[(p - semitones) % 12] for p in range(12)),
        excluded=frozenset(p + semitones for p in controls.excluded))


#: the most the lean within the key moves a note, in nats per standard deviation of its profile.
LEAN_NATS = 3.0


@functools.lru_cache(maxsize=64)
def key_pull_bias(key: Key, pull: float) -> tuple[float, ...]:
    """12 logit biases (nats, C first) that draw an answer into ``key``: ``-pull`` for
    pitch classes outside its scale, and within it a lean towards the key's tonal hierarchy
    (its Krumhansl-Kessler profile, centred, ``min(pull, LEAN_NATS)`` per standard
    deviation), so tonic, fifth and third are favoured the way music in that key favours
    them. The lean is capped at :data:`LEAN_NATS`: at 6 nats per deviation the answers
    were nothing but the tonic triad; at 1.5 they kept more passing notes but `nottingham`
    left the scale in B minor (91.9% in scale) and `nottingham-bernoulli`'s answers kept
    the key in only 12 of 24 keys (``benchmarks/listening.py``); 3 meets both targets."""
    profile = np.roll(MAJOR_PROFILE if key.mode == "major" else MINOR_PROFILE, key.tonic)
    lean = (profile - profile.mean()) / profile.std() * min(pull, LEAN_NATS)
    mask = key.scale_mask()
    return tuple(float(lean[pc]) if mask[pc] else -pull for pc in range(12))


@functools.lru_cache(maxsize=256)
def model_view(controls: RollControls, shift: int, mode: str | None) -> RollControls:
    """What the model, transposed ``shift`` semitones down, must obey so that its answer
    moved back obeys ``controls``; with a ``mode`` (the heard key's), plus the key pull
    towards C ``mode``. Cached: the live engine asks every step with the same few."""
    seen = shift_controls(controls, -shift)
    if mode is None or controls.key_pull <= 0:
        return seen
    pull = key_pull_bias(Key(0, mode), controls.key_pull)
    base = seen.pc_bias or (0.0,) * 12
    return dataclasses.replace(seen, pc_bias=tuple(a + b for a, b in zip(base, pull, strict=True)))


def transposition(key: Key | None) -> int:
    """Semitones from C up to ``key``'s tonic, in -6..5 (the nearest way)."""
    return 0 if key is None else (key.tonic + 6) % 12 - 6


class KeyFollowingVoice:
    """A roll voice that plays in the key it hears (see the module docstring).

    Args:
        inner: the generator whose model knows C major and C minor.
        half_life: the key tracker's memory, in steps.
        hold: steps a new key must lead before the transposition changes.
    """

    def __init__(self, inner: RollGenerator, *, half_life: float = 32.0, hold: int = 4) -> None:
        self.inner = inner
        self.tracker = KeyTracker(half_life)
        self.hold = hold
        self.shift = 0  # semitones from the model's C to the key in force
        self.key: Key | None = None
        self._candidate: Key | None = None
        self._lead = 0
        self.follow = True
        self._last_out = np.zeros(N_KEYS, dtype=bool)
        self.register = RegisterTracker(half_life)
        self._performer = np.zeros(N_KEYS, dtype=bool)  # the performer's keys last step

    def _hear(self, frame: np.ndarray) -> None:
        self.tracker.observe(frame)
        heard = self.tracker.key()
        if heard is None or heard == self.key:
            self._candidate, self._lead = None, 0
            return
        if heard == self._candidate:
            self._lead += 1
        else:
            self._candidate, self._lead = heard, 1
        quiet = not frame.any()  # the performer stopped: nothing newer to wait for
        if self.key is None or quiet or self._lead >= self.hold:
            self.key, self._candidate, self._lead = heard, None, 0
            self.shift = transposition(heard)

    def observe(self, frame: np.ndarray) -> None:
        """Feed one ``(88,)`` frame that sounded (real pitches). The key is heard from the
        keys this voice did not play itself (the performer's), so the answer never drags
        the key along with it."""
        frame = np.asarray(frame, dtype=bool)
        performer = frame & ~self._last_out
        self._hear(performer)
        struck = performer & ~self._performer
        self._performer = performer
        self.register.observe(struck)
        self.inner.observe(shift_frame(frame, -self.shift if self.follow else 0))

    def prepare(self, frame: np.ndarray, controls: RollControls | None = None) -> None:
        """Compute ahead what observing ``frame`` and sampling under ``controls`` will ask
        of the model, transposed as now (a key or register change heard with the frame
        makes the step compute again): :meth:`RollGenerator.prepare
        <livegen.voices.roll.RollGenerator.prepare>`."""
        follow = controls.follow if controls is not None else self.follow
        shift = self.shift if follow else 0
        seen = None
        if controls is not None:
            mode = self.key.mode if follow and self.key is not None else None
            seen = model_view(self._listening(controls), shift, mode)
        self.inner.prepare(shift_frame(np.asarray(frame, dtype=bool), -shift), seen)

    def prime(self, roll: np.ndarray) -> None:
        """Feed a ``(T, 88)`` roll frame by frame."""
        for frame in np.asarray(roll):
            self.observe(frame)

    def sample(self, controls: RollControls) -> np.ndarray:
        """The next ``(88,)`` frame, in real pitches, obeying ``controls``."""
        self.follow = controls.follow
        shift = self.shift if self.follow else 0
        mode = self.key.mode if self.follow and self.key is not None else None
        seen = model_view(self._listening(controls), shift, mode)
        out = shift_frame(self.inner.sample(seen), shift)
        self._last_out = out
        return out

    def _listening(self, controls: RollControls) -> RollControls:
        """``controls`` plus the pull towards the performer's register."""
        centre = self.register.centre if controls.register_follow > 0 else None
        return controls if centre is None else dataclasses.replace(controls, register_centre=centre)

    def step(self, frame: np.ndarray, controls: RollControls) -> np.ndarray:
        """Observe ``frame`` then sample the next one: the live loop's single call."""
        self.follow = controls.follow
        self.observe(frame)
        return self.sample(controls)

    def reset(self) -> None:
        """Forget everything heard: fresh model state and key."""
        self.inner.reset()
        self.tracker.reset()
        self.shift, self.key, self._candidate, self._lead = 0, None, None, 0
        self._last_out = np.zeros(N_KEYS, dtype=bool)
        self._performer = np.zeros(N_KEYS, dtype=bool)
        self.register.reset()
