"""Hearing in every key: the exact likelihood of what the samplers draw, the mixture over
transpositions, and ``livegen eval --keys`` (batched and streamed through the voice agree)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import math

import numpy as np
import pytest
import torch
from shared_data import DataSets

from livegen.cli import main
from livegen.controls.table import ControlState
from livegen.data.polyphonic import load_rolls, transpose
from livegen.music.keyboard import LOWEST_PITCH, N_KEYS
from livegen.nets.checkpoint import load_checkpoint
from livegen.nets.manifest import resolve_model
from livegen.nets.nade import NadeConfig, RollNADE
from livegen.nets.roll import RollConfig, RollLSTM
from livegen.offline.keys_eval import evaluate_keys
from livegen.sampling.constraints import RollControls
from livegen.sampling.frame import sample_roll_frame
from livegen.sampling.likelihood import frame_log_prob
from livegen.voices.follow import hears_shifts, roll_voice
from livegen.voices.roll import EVERY_SHIFT, RollGenerator

#: four keys a test lets the samplers use (C4..D#4): 16 frames to enumerate
LOW, HIGH = 60, 63


def _nade(copy: int) -> RollNADE:
    torch.manual_seed(1)
    net = RollNADE(NadeConfig(hidden=16, layers=1, nade_hidden=8, dropout=0.0, copy=copy, copy_soft=copy > 0)).eval()
    with torch.no_grad():
        net.to_params.bias[:88] += 0.5
        net.W.mul_(100.0)  # keys depend on the keys below them
        net.V.mul_(100.0)
        if copy:
            net.copy_gate.bias.fill_(0.0)  # copy half the time
    return net


def _bernoulli() -> RollLSTM:
    torch.manual_seed(2)
    return RollLSTM(RollConfig(hidden=16, layers=1, dropout=0.0)).eval()


def _frames() -> list[torch.Tensor]:
    out = []
    for bits in itertools.product([0, 1], repeat=HIGH - LOW + 1):
        f = torch.zeros(N_KEYS, dtype=torch.bool)
        for i, b in enumerate(bits):
            f[LOW - LOWEST_PITCH + i] = bool(b)
        out.append(f)
    return out


def _output(net: RollLSTM | RollNADE) -> object:
    """A one-step output after a few steps that fill a copy memory with frames in range."""
    state = None
    out: object = None
    with torch.no_grad():
        for f in _frames()[3:9]:
            out, state = net.step(f.float().reshape(1, N_KEYS), state)
    return out


CONTROLS = [
    RollControls(low=LOW, high=HIGH),
    RollControls(low=LOW, high=HIGH, temperature=0.6, density=0.7),
    RollControls(low=LOW, high=HIGH, temperature=1.7, repeat=3.0, register_centre=61.0, register_follow=2.0),
    RollControls(low=LOW, high=HIGH, pc_bias=(0.0, -1.5, 0.3, -0.4) + (0.0,) * 8, repeat=0.5),
    RollControls(low=LOW, high=HIGH, excluded=frozenset({62}), pitch_classes=(True,) * 12),
]


@pytest.mark.parametrize("net", [_bernoulli(), _nade(0), _nade(6)], ids=["bernoulli", "nade", "nade+copy"])
@pytest.mark.parametrize("controls", CONTROLS, ids=range(len(CONTROLS)))
def test_the_likelihood_of_every_frame_the_sampler_can_draw_sums_to_one(net, controls) -> None:  # type: ignore[no-untyped-def]
    out = _output(net)
    total = sum(math.exp(frame_log_prob(net, out, controls, f)) for f in _frames())  # type: ignore[arg-type]
    assert total == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("controls", [CONTROLS[1], CONTROLS[3]], ids=["tilted", "soft keep"])
def test_the_likelihood_is_what_the_sampler_draws(controls: RollControls) -> None:
    net = _nade(6)
    out = _output(net)
    frames = _frames()
    gen = torch.Generator().manual_seed(0)
    n = 6000
    counts = np.zeros(len(frames))
    index = {tuple(np.flatnonzero(f.numpy())): i for i, f in enumerate(frames)}
    for _ in range(n):
        drawn = sample_roll_frame(net, out, controls, gen)  # type: ignore[arg-type]
        counts[index[tuple(np.flatnonzero(drawn.numpy()))]] += 1
    p = np.array([math.exp(frame_log_prob(net, out, controls, f)) for f in frames])  # type: ignore[arg-type]
    # every frame within 4.5 standard errors of its count
    assert (np.abs(counts / n - p) <= 4.5 * np.sqrt(p * (1 - p) / n) + 1e-9).all(), (counts / n, p)


def test_the_polyphony_cap_is_not_scored() -> None:
    net = _nade(0)
    with pytest.raises(ValueError, match="max_polyphony"):
        frame_log_prob(net, _output(net), RollControls(max_polyphony=2), _frames()[0])  # type: ignore[arg-type]


def test_a_frame_the_sampler_may_not_draw_has_no_likelihood() -> None:
    net = _nade(6)
    f = torch.zeros(N_KEYS, dtype=torch.bool)
    f[70 - LOWEST_PITCH] = True  # outside LOW..HIGH
    assert frame_log_prob(net, _output(net), CONTROLS[0], f) == -math.inf  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def nottingham(datasets: DataSets) -> tuple[RollNADE, dict[str, object], list[np.ndarray]]:
    model, meta = load_checkpoint(resolve_model("nottingham"))
    assert isinstance(model, RollNADE)
    pieces = load_rolls(str(datasets.polyphonic / "Nottingham.mat")).split("test")[:2]
    return model, meta, [p[:80] for p in pieces]


def test_every_shipped_roll_model_hears_in_every_key() -> None:
    for name in ("nottingham", "nottingham-bernoulli", "jsb", "musedata", "piano-midi"):
        _, meta = load_checkpoint(resolve_model(name))
        assert hears_shifts(meta) == EVERY_SHIFT
    assert hears_shifts({"hears": "own key"}) == (0,)


def test_a_piece_is_as_likely_in_every_key(nottingham, datasets: DataSets) -> None:  # type: ignore[no-untyped-def]
    """The one-key net heard in 12 keys: the piece is as likely after it is moved (the
    posterior finds the key; the hypotheses of other keys differ only in register)."""
    datasets.require_real("a Nottingham test piece (in a key; the stand-ins are noise)")
    model, meta, pieces = nottingham
    piece = pieces[0]
    per_key = []
    for shift in (0, 3, -5):
        voice = roll_voice(model, meta, seed=0)
        moved = transpose(piece, shift).astype(bool)
        voice.observe(moved[0])
        lp = []
        for t in range(1, len(moved)):
            lp.append(voice.log_prob(moved[t], _listening()))
            voice.observe(moved[t])
        per_key.append(np.array(lp))
    for other in per_key[1:]:
        assert abs(other.sum() - per_key[0].sum()) < math.log(12)  # about 0.3 nats here
        assert abs(other.mean() - per_key[0].mean()) < 0.01
    # heard in its own key alone, the same net is far less sure of the moved piece
    alone = roll_voice(model, {**meta, "hears": "own key"}, seed=0)
    moved = transpose(piece, 3).astype(bool)
    alone.observe(moved[0])
    lp = []
    for t in range(1, len(moved)):
        lp.append(alone.log_prob(moved[t], _listening()))
        alone.observe(moved[t])
    assert -np.mean(lp) > -np.mean(per_key[0]) + 1.0


def _listening() -> RollControls:
    from livegen.sampling.constraints import sampling_view
    return sampling_view(ControlState())


def test_batched_scoring_equals_the_voice_stepped_frame_by_frame(nottingham) -> None:  # type: ignore[no-untyped-def]
    model, meta, pieces = nottingham
    data = _dataset(pieces)
    batched = evaluate_keys(model, meta, data, shifts=(-6, 2))
    stream = evaluate_keys(model, meta, data, shifts=(-6, 2), stream=True)
    for key in ("-6", "+2"):
        assert batched["keys"][key]["nll_per_frame"] == pytest.approx(stream["keys"][key]["nll_per_frame"], abs=1e-4)
        assert batched["keys"][key]["frames"] == stream["keys"][key]["frames"] == sum(len(p) - 1 for p in pieces)
    assert batched["worst_minus_own"] is None  # the own key was not asked for


def test_a_lean_that_changes_the_probabilities_needs_the_stream(nottingham) -> None:  # type: ignore[no-untyped-def]
    model, meta, pieces = nottingham
    data = _dataset(pieces)
    pulled = ControlState(register_follow=1.0)
    with pytest.raises(ValueError, match="--stream"):
        evaluate_keys(model, meta, data, shifts=(0,), state=pulled)
    plain = evaluate_keys(model, meta, data, shifts=(0,), stream=True)
    leaning = evaluate_keys(model, meta, data, shifts=(0,), stream=True, state=pulled)
    assert leaning["keys"]["+0"]["nll_per_frame"] > plain["keys"]["+0"]["nll_per_frame"]  # real music less likely


def _dataset(pieces: list[np.ndarray]):  # type: ignore[no-untyped-def]
    from livegen.data.roll_dataset import RollDataset
    return RollDataset("test", {"train": [], "valid": [], "test": pieces}, 2)


def test_follow_off_keeps_a_net_in_its_own_key(nottingham, datasets: DataSets) -> None:  # type: ignore[no-untyped-def]
    datasets.require_real("a Nottingham test piece (in a key; the stand-ins are noise)")
    model, meta, pieces = nottingham
    moved = transpose(pieces[0], 5).astype(bool)
    on = RollGenerator(model, seed=0, shifts=EVERY_SHIFT)
    on.prime(moved[:40])
    assert EVERY_SHIFT[int(np.argmax(on.log_w))] == 5  # the posterior found the key
    off_controls = dataclasses.replace(_listening(), follow=False)
    alone = roll_voice(model, {**meta, "hears": "own key"}, seed=0)
    alone.prime(moved[:40])
    assert on.log_prob(moved[40], off_controls) == pytest.approx(alone.log_prob(moved[40], _listening()), abs=1e-4)


def test_eval_keys_all_prints_every_key_the_worst_and_the_own(capsys: pytest.CaptureFixture[str],
                                                              named_datasets: DataSets) -> None:
    assert main(["eval", "nottingham", "--data", "nottingham", "--keys", "all", "--max-sequences", "1",
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert sorted(doc["keys"], key=int) == [f"{k:+d}" for k in range(-6, 6)]
    assert doc["worst_key_nll_per_frame"] >= doc["own_key_nll_per_frame"]
    if named_datasets.real:  # a piece in a key (the stand-ins are noise)
        assert doc["worst_minus_own"] < 0.01
    assert doc["controls"]["density_follow"] == 0.0 and "not scored" in doc["density_follow"]


@pytest.mark.parametrize("args, needle", [
    (["--keys", "7"], "semitones go from -6 to 5"),
    (["--keys", "x"], "give all or semitones"),
    (["--keys", "0", "--register-follow", "1"], "--stream"),
    (["--temperature", "0.9"], "add --keys 0"),  # once ignored: the net scored as if at 1
])
def test_eval_keys_refuses_bad_input_in_one_line(args: list[str], needle: str, capsys: pytest.CaptureFixture[str],
                                                 named_datasets: DataSets) -> None:
    assert main(["eval", "nottingham", "--data", "nottingham", "--max-sequences", "1", *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1


def test_a_home_prior_is_scored_as_it_plays(nottingham) -> None:  # type: ignore[no-untyped-def]
    """A checkpoint's ``home`` prior changes the mixing weights; batched and streamed agree."""
    model, meta, pieces = nottingham
    data = _dataset([p[:40] for p in pieces])
    homed = {**meta, "home": 4.0}
    batched = evaluate_keys(model, homed, data, shifts=(3,))
    stream = evaluate_keys(model, homed, data, shifts=(3,), stream=True)
    plain = evaluate_keys(model, meta, data, shifts=(3,))
    assert batched["home_prior"] == 4.0 and plain["home_prior"] == 0.0
    assert batched["keys"]["+3"]["nll_per_frame"] == pytest.approx(stream["keys"]["+3"]["nll_per_frame"], abs=1e-4)
    assert batched["keys"]["+3"]["nll_per_frame"] != pytest.approx(plain["keys"]["+3"]["nll_per_frame"], abs=1e-4)


def test_a_net_with_a_home_register_hears_every_key_alike(datasets: DataSets) -> None:
    """``jsb`` (trained in every key) hears in 12 keys centred on what it hears first: a piece
    moved by any interval is scored exactly as before (batched and streamed agree)."""
    model, meta = load_checkpoint(resolve_model("jsb"))
    assert meta["register"] == 73.6
    data = _dataset([p[:30] for p in load_rolls(str(datasets.polyphonic / "JSB_Chorales.mat")).split("test")[:2]])
    batched = evaluate_keys(model, meta, data, shifts=(-6, 0, 5))
    stream = evaluate_keys(model, meta, data, shifts=(-6, 5), stream=True)
    own = batched["keys"]["+0"]["nll_per_frame"]
    assert batched["worst_minus_own"] < 1e-3
    for key in ("-6", "+5"):
        assert batched["keys"][key]["nll_per_frame"] == pytest.approx(own, abs=1e-3)
        assert stream["keys"][key]["nll_per_frame"] == pytest.approx(own, abs=1e-3)


def test_the_answer_never_drags_the_key_it_hears(nottingham) -> None:  # type: ignore[no-untyped-def]
    """A frame of the voice's own notes alone leaves the key posterior as it was; the
    performer's notes (and silence) move it. Scores are unchanged: in eval every note is heard."""
    model, meta, pieces = nottingham
    voice = roll_voice(model, meta, seed=1)
    call = transpose(pieces[0], 4).astype(bool)[:32]
    voice.prime(call)
    after_call = voice.inner.log_w.copy()
    controls = _listening()
    for _ in range(8):  # the answer, nobody else playing: its frames hold only its own notes
        frame = voice.sample(controls)
        voice.observe(frame)
        if frame.any():
            assert np.array_equal(voice.inner.log_w, after_call)
    voice.observe(call[0] | voice._last_out)  # the performer plays again: heard
    assert not np.array_equal(voice.inner.log_w, after_call)
