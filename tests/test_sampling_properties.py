"""Every shipped roll model x a grid of control values x chord primes: every frame obeys
every constraint (pitch range, key/scale mask, excluded keys, polyphony cap), for both heads
and the NADE's copy branch, at every temperature including 0."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from livegen.controls.table import ControlState
from livegen.music.keyboard import LOWEST_PITCH, N_KEYS
from livegen.nets.checkpoint import load_checkpoint
from livegen.nets.manifest import read_manifest, resolve_model
from livegen.sampling.constraints import RollControls, allowed_keys, sampling_view
from livegen.voices.roll import RollGenerator

ROLL_MODELS = sorted(name for name, e in read_manifest().items() if e["kind"].startswith("roll"))

GRID = {
    "temperature": [0.0, 0.3, 1.0, 2.0],
    "density": [-3.0, 0.0, 3.0],
    "polyphony": [0, 1, 2, 3, 4],
    "range": [(21, 108), (48, 72), (60, 60), (100, 108)],
    "key": [("C", "chromatic"), ("C", "minor"), ("F#", "major"), ("D", "pentatonic")],
    "repeat": [0.0, 1.0, 4.0],
    "held": [(), (60, 64, 67)],
}
CHORDS = [(48, 60, 64, 67), (45, 57, 60, 64, 69), (50, 62, 66, 69, 74)]
COMBOS_PER_MODEL = 48


def controls_grid(seed: int) -> list[RollControls]:
    """A fixed random sample of the grid, built through the live state's validator."""
    everything = list(itertools.product(*GRID.values()))
    rng = random.Random(seed)
    picked = rng.sample(everything, COMBOS_PER_MODEL)
    out = []
    for temperature, density, polyphony, (low, high), (key, scale), repeat, held in picked:
        state = ControlState.default().apply_many({
            "temperature": temperature, "density": density, "polyphony": polyphony, "low": low,
            "high": high, "key": key, "scale": scale, "repeat": repeat})
        out.append(sampling_view(state, frozenset(held)))
    return out


def chord_roll(steps_per_chord: int = 4) -> np.ndarray:
    roll = np.zeros((steps_per_chord * len(CHORDS), N_KEYS), dtype=bool)
    for i, chord in enumerate(CHORDS):
        for p in chord:
            roll[i * steps_per_chord:(i + 1) * steps_per_chord, p - LOWEST_PITCH] = True
    return roll


@pytest.mark.parametrize("model_name", ROLL_MODELS)
def test_every_frame_obeys_every_constraint(model_name: str) -> None:
    model, _ = load_checkpoint(resolve_model(model_name))
    prime = chord_roll()
    broken = []
    for i, controls in enumerate(controls_grid(seed=len(model_name))):
        gen = RollGenerator(model, seed=i)
        gen.prime(prime)
        allowed = allowed_keys(controls).numpy()
        frame = gen.sample(controls)
        for step in range(6):
            if (frame & ~allowed).any():
                broken.append((controls, step, "outside the allowed keys"))
            if controls.max_polyphony and frame.sum() > controls.max_polyphony:
                broken.append((controls, step, f"{int(frame.sum())} notes"))
            frame = gen.step(frame | prime[step % len(prime)], controls)
    assert broken == []


@pytest.mark.parametrize("model_name", ROLL_MODELS)
def test_the_cap_keeps_the_most_probable_keys_at_zero_temperature(model_name: str) -> None:
    """At temperature 0 with a cap of P, the frame is the P most probable keys of the
    uncapped frame: capping never swaps in a key the model would not play."""
    model, _ = load_checkpoint(resolve_model(model_name))
    prime = chord_roll()
    base = ControlState.default().apply_many({"temperature": 0.0, "density": 3.0, "repeat": 0.0})
    free = RollGenerator(model, seed=0)
    capped = RollGenerator(model, seed=0)
    free.prime(prime)
    capped.prime(prime)
    full = free.sample(sampling_view(base))
    assert full.sum() >= 3, "the model plays too few notes here for the check to mean anything"
    for cap in (1, 2, 3):
        frame = capped.sample(sampling_view(base.apply("polyphony", cap)))
        assert frame.sum() == cap
        assert not (frame & ~full).any()
