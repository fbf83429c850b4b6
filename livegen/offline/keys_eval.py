"""Listening scored by likelihood in 12 keys (``livegen eval MODEL --keys all``).

A split is transposed into each of the 12 keys (-6..+5 semitones; notes pushed off the 88
keys are dropped and counted) and scored through the voice ``play`` and ``render`` build
(:func:`~livegen.voices.follow.roll_voice`), with the controls of a
:class:`~livegen.controls.table.ControlState` (the defaults unless given): the NLL of each
real frame under the distribution the voice would draw that frame from, frames 2..T of each
piece (the published convention), nats per frame. A listening control that makes real music
less likely in any key shows here.

Two ways, which must agree:

- ``stream``: the voice itself, one ``observe`` and one ``log_prob`` per frame, the calls
  the engine makes (slow: the exact live path, every control applied);
- batched (default): the net over the 12 transpositions of a piece in one batch, each
  component's frame NLL at once, then the key posterior's recursion
  (:class:`~livegen.voices.roll.RollGenerator`). Exact only where no control changes the
  net's probabilities (temperature 1, no density, register or key pull, no mask): the
  evaluator refuses otherwise and says to ``--stream``.

Density following changes notes after they are drawn (it holds or strikes again), so it is
left out of this score (``density_follow`` is reported as off).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from livegen.controls.table import ControlState
from livegen.data.polyphonic import transpose
from livegen.data.roll_dataset import RollDataset
from livegen.nets.nade import RollNADE
from livegen.nets.roll import RollLSTM
from livegen.offline.evaluate import mixture_log_likelihood
from livegen.sampling.constraints import RollControls, sampling_view
from livegen.voices.follow import hears_shifts, home_prior, home_register, roll_voice

#: the 12 keys a split is scored in: semitones from the data's own key.
KEY_SHIFTS = tuple(range(-6, 6))


@dataclass(frozen=True)
class KeyScore:
    """One key's figures.

    Attributes:
        shift: semitones from the data's own key.
        nll_per_frame: total NLL / scored frames (frames 2..T), nats.
        frames: frames scored.
        dropped_notes: note-frames pushed off the 88 keys by the transposition.
    """

    shift: int
    nll_per_frame: float
    frames: int
    dropped_notes: int


def neutral(controls: RollControls) -> bool:
    """Whether ``controls`` leave the net's probabilities as they are (batched scoring is
    then exact): temperature 1, no density, key or register pull, no range, mask, cap or
    repeat odds."""
    plain = RollControls()
    return (controls.temperature == plain.temperature and controls.density == plain.density
            and controls.low == plain.low and controls.high == plain.high and controls.pitch_classes is None
            and controls.max_polyphony == 0 and controls.repeat == plain.repeat and not controls.excluded
            and controls.key_pull == 0 and controls.register_follow == 0 and controls.pc_bias is None)


def scoring_state(state: ControlState | None = None) -> ControlState:
    """The controls the score is taken under: ``state`` (the defaults) with density
    following off (it changes notes after the draw)."""
    return (state or ControlState()).apply("density_follow", 0.0)


def evaluate_keys(model: RollLSTM | RollNADE, meta: Mapping[str, Any], data: RollDataset, split: str = "test",
                  *, state: ControlState | None = None, stream: bool = False, max_sequences: int | None = None,
                  shifts: tuple[int, ...] = KEY_SHIFTS,
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Score ``split`` in each key of ``shifts`` (see the module docstring); a JSON-ready dict.

    Raises:
        ValueError: batched scoring asked for under controls that change the probabilities.
    """
    state = scoring_state(state)
    controls = sampling_view(state)
    if not stream and not neutral(controls):
        raise ValueError("these controls change the model's probabilities: score them with --stream")
    rolls = data.split(split)[:max_sequences] if max_sequences is not None else data.split(split)
    rolls = [r for r in rolls if len(r) >= 2]
    scores = []
    for shift in shifts:
        moved = [transpose(r, shift) for r in rolls]
        dropped = int(sum(int(r.sum()) - int(m.sum()) for r, m in zip(rolls, moved, strict=True)))
        if stream:
            total, frames = _stream(model, meta, moved, controls)
        else:
            total, frames = _batched(model, meta, moved, controls.follow)
        scores.append(KeyScore(shift, total / max(frames, 1), frames, dropped))
        if progress is not None:
            progress(f"{shift:+d} semitones: {total / max(frames, 1):.4f} nats/frame")
    own = next((s for s in scores if s.shift == 0), None)
    worst = max(scores, key=lambda s: s.nll_per_frame)
    return {
        "keys": {f"{s.shift:+d}": {"nll_per_frame": round(s.nll_per_frame, 5), "frames": s.frames,
                                   "dropped_notes": s.dropped_notes} for s in scores},
        "own_key_nll_per_frame": None if own is None else round(own.nll_per_frame, 5),
        "worst_key": f"{worst.shift:+d}",
        "worst_key_nll_per_frame": round(worst.nll_per_frame, 5),
        "worst_minus_own": None if own is None else round(worst.nll_per_frame - own.nll_per_frame, 5),
        "mean_nll_per_frame": round(float(np.mean([s.nll_per_frame for s in scores])), 5),
        "dropped_notes": sum(s.dropped_notes for s in scores),
        "sequences": len(rolls),
        "split": split,
        "method": "stream" if stream else "batched",
        "hears": [int(k) for k in hears_shifts(meta)],
        "home_prior": home_prior(meta),
        "home_register": home_register(meta),
        "controls": {k: v for k, v in state.as_dict().items() if k in _LISTENING},
        "density_follow": "off: it changes notes after the draw, so it is not scored",
        "convention": "frames 2..T of each piece, nats per frame; keys are semitones from the data's own key",
    }


#: the controls reported with a score (what the listening path reads).
_LISTENING = ("temperature", "density", "follow", "key_pull", "register_follow", "low", "high", "key", "scale",
              "polyphony", "repeat", "density_follow")


@torch.no_grad()
def _stream(model: RollLSTM | RollNADE, meta: Mapping[str, Any], rolls: list[np.ndarray],
            controls: RollControls) -> tuple[float, int]:
    """Total NLL and frames 2..T through the voice, frame by frame."""
    voice = roll_voice(model, meta, seed=0)
    total, frames = 0.0, 0
    for roll in rolls:
        voice.reset()
        seq = np.asarray(roll, dtype=bool)
        voice.observe(seq[0])
        for t in range(1, len(seq)):
            total -= voice.log_prob(seq[t], controls)
            frames += 1
            voice.observe(seq[t])
    return total, frames


def _batched(model: RollLSTM | RollNADE, meta: Mapping[str, Any], rolls: list[np.ndarray],
             follow: bool) -> tuple[float, int]:
    """Total NLL and frames 2..T: every component in one batch, then the key recursion."""
    shifts, home, register = hears_shifts(meta), home_prior(meta), home_register(meta)
    total, frames = 0.0, 0
    for roll in rolls:
        total -= mixture_log_likelihood(model, shifts, np.asarray(roll, dtype=bool), follow=follow, home=home,
                                        register=register)
        frames += len(roll) - 1
    return total, frames
