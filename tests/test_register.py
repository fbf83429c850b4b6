"""Register following: the tracker, and what a render answers (no clamp)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.listening import onsets, prime
from livegen.controls.table import ControlState
from livegen.music.keyboard import LOWEST_PITCH, N_KEYS
from livegen.music.keys import Key
from livegen.music.register import RegisterTracker, register_bias
from livegen.nets.checkpoint import load_checkpoint
from livegen.nets.manifest import resolve_model
from livegen.offline.render import render_roll


def frame(*pitches: int) -> np.ndarray:
    f = np.zeros(N_KEYS, dtype=bool)
    f[[p - LOWEST_PITCH for p in pitches]] = True
    return f


def test_the_register_is_a_decaying_mean_of_onsets():
    tracker = RegisterTracker(half_life=1.0)
    assert tracker.centre is None
    tracker.observe(frame(48, 52))
    assert tracker.centre == pytest.approx(50.0)
    tracker.observe(frame(74))  # the older onsets weigh half
    assert tracker.centre == pytest.approx((0.5 * 100 + 74) / 2)
    tracker.observe(frame())
    assert tracker.centre == pytest.approx((0.5 * 100 + 74) / 2)  # silence moves nothing


def test_the_register_bias_is_soft_and_symmetric():
    bias = register_bias(np.array([60.0, 66.0, 54.0, 72.0, 84.0]), 60.0, 2.0)
    assert bias[0] > 0 and bias[1] == pytest.approx(0.0) == bias[2]
    assert bias[3] == pytest.approx(-1.5) and bias[4] == pytest.approx(-7.5)
    assert np.isfinite(bias).all()  # never a mask


@pytest.fixture(scope="module")
def nottingham():
    model, meta = load_checkpoint(resolve_model("nottingham"))
    return model, int(meta["steps_per_beat"])


def _mean_pitch(model, spb, state, octave):
    pitches = []
    for seed in range(3):
        r = render_roll(model, 4, state, seed=seed, prime=prime("melody", Key(0, "major"), spb, octave),
                        steps_per_beat=spb)
        pitches += list(onsets(r.generated)[1] + LOWEST_PITCH)
    return float(np.mean(pitches))


def test_the_answer_moves_with_the_performers_register(nottingham):
    """Primes two octaves apart: the answers move most of the way by themselves (the net
    heard in every key follows where the music is), with ``register_follow`` at 0."""
    model, spb = nottingham
    moved = _mean_pitch(model, spb, ControlState(), 1) - _mean_pitch(model, spb, ControlState(), -1)
    assert moved >= 18.0, moved
