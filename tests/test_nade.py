"""RollNADE: exact likelihood, step == forward, sampling matches the model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from livegen.nets.nade import CopyOutput, NadeConfig, RollNADE
from livegen.sampling.bernoulli import cap_polyphony
from livegen.sampling.constraints import MIN_TEMPERATURE, RollControls, allowed_keys, logit_bias
from livegen.sampling.nade import sample_nade


def _model(keys: int = 88) -> RollNADE:
    torch.manual_seed(0)
    m = RollNADE(NadeConfig(hidden=16, layers=1, nade_hidden=8, dropout=0.0, n_keys=keys)).eval()
    with torch.no_grad():
        m.W.normal_(0, 1.0)
        m.V.normal_(0, 1.0)
    return m


def test_parallel_conditionals_match_sequential() -> None:
    m = _model()
    params = torch.randn(3, 88 + 8)
    v = (torch.rand(3, 88) < 0.2).float()
    fast = m.conditional_logits(params, v)
    b, c = params[:, :88], params[:, 88:]
    for i in range(88):
        a = c + v[:, :i] @ m.W[:i]
        slow = b[:, i] + (torch.sigmoid(a) * m.V[i]).sum(-1)
        torch.testing.assert_close(fast[:, i], slow, rtol=1e-5, atol=1e-5)


def test_probabilities_sum_to_one() -> None:
    m = _model(keys=6)
    params = torch.randn(1, 6 + 8)
    frames = torch.tensor(list(itertools.product([0.0, 1.0], repeat=6)))
    nll = m.frame_nll(params.expand(len(frames), -1), frames)
    assert abs(float(torch.exp(-nll.detach()).sum()) - 1.0) < 1e-5


def test_sampler_draws_from_the_model_distribution() -> None:
    m = _model(keys=88)
    params = torch.randn(1, 88 + 8)
    # restrict to 3 keys so all 8 outcomes can be enumerated
    pcs = tuple(pc in (0, 4, 7) for pc in range(12))
    controls = RollControls(temperature=1.0, low=60, high=67, pitch_classes=pcs)
    g = torch.Generator().manual_seed(5)
    counts: dict[tuple[int, ...], int] = {}
    n = 6000
    for _ in range(n):
        f = sample_nade(m, params, controls, g).numpy()
        key = tuple(int(f[p - 21]) for p in (60, 64, 67))
        assert f.sum() == sum(key)  # nothing outside the allowed keys
        counts[key] = counts.get(key, 0) + 1
    # exact probabilities of the 8 outcomes with all other keys off
    exp = {}
    for bits in itertools.product([0, 1], repeat=3):
        v = torch.zeros(1, 88)
        for bit, p in zip(bits, (60, 64, 67)):
            v[0, p - 21] = bit
        logits = m.conditional_logits(params, v)[0]
        lp = 0.0
        for bit, p in zip(bits, (60, 64, 67)):
            z = float(logits[p - 21].detach())
            lp += -np.logaddexp(0, -z) if bit else -np.logaddexp(0, z)
        exp[bits] = np.exp(lp)
    total = sum(exp.values())
    chi2 = sum((counts.get(k, 0) - n * e / total) ** 2 / (n * e / total) for k, e in exp.items())
    assert chi2 < 24.3  # chi-square 7 dof, p = 0.001


def test_step_equals_forward_and_deterministic_threshold() -> None:
    m = _model()
    x = (torch.rand(1, 12, 88) < 0.1).float()
    full, _ = m(x)
    state = None
    for t in range(12):
        y, state = m.step(x[:, t], state)
        torch.testing.assert_close(y, full[:, t], rtol=0, atol=1e-6)
    g = torch.Generator().manual_seed(0)
    cold = RollControls(temperature=0.0)
    a = sample_nade(m, full[:, -1], cold, g)
    b = sample_nade(m, full[:, -1], cold, g)
    assert torch.equal(a, b)
    assert torch.equal(a, m.predict_frame(full[:, -1]).reshape(-1))


def _walk_key_by_key(net: RollNADE, params: torch.Tensor, controls: RollControls,
                     generator: torch.Generator) -> torch.Tensor:
    """The NADE draw one key at a time (the sampler before it walked keys in runs)."""
    k = net.config.n_keys
    W, V = net.numpy_weights()
    p = params.reshape(-1).double().numpy()
    b, a = p[:k], p[k:].copy()
    keys = np.flatnonzero(allowed_keys(controls).numpy())
    u = torch.rand(len(keys), generator=generator, dtype=torch.float64).numpy()
    temp, bias = controls.temperature, logit_bias(controls).numpy()
    out, score = np.zeros(k, dtype=bool), np.full(k, -np.inf)
    h = 1.0 / (1.0 + np.exp(-a))
    for n, i in enumerate(keys):
        z = b[i] + V[i] @ h + bias[i]
        score[i] = z
        if z > 0 if temp <= MIN_TEMPERATURE else u[n] < 1.0 / (1.0 + np.exp(-z / temp)):
            out[i] = True
            a += W[i]
            h = 1.0 / (1.0 + np.exp(-a))
    return cap_polyphony(torch.from_numpy(out), torch.from_numpy(score), controls.max_polyphony)


@pytest.mark.parametrize("controls", [RollControls(), RollControls(temperature=0.6, density=-0.5),
                                      RollControls(temperature=0.0, max_polyphony=3),
                                      RollControls(temperature=1.3, low=40, high=80, max_polyphony=2,
                                                   pitch_classes=(True, False) * 6)])
def test_sampler_walks_keys_in_runs_exactly_as_one_by_one(controls: RollControls) -> None:
    """The same frames, bit for bit, as the key-by-key walk with the same random stream."""
    m = _model()
    params = torch.randn(200, 88 + 8) * 2
    params[:, :88] -= 1.5  # a few keys on per frame, as in music
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    for p in params:
        assert torch.equal(sample_nade(m, p.reshape(1, -1), controls, g1),
                           _walk_key_by_key(m, p.reshape(1, -1), controls, g2))


def test_polyphony_cap() -> None:
    m = _model()
    params = torch.full((1, 96), 0.0)
    params[0, :88] = 10.0  # every key wants to sound
    g = torch.Generator().manual_seed(0)
    f = sample_nade(m, params, RollControls(max_polyphony=4), g)
    assert int(f.sum()) == 4


# --- the frame copy head ------------------------------------------------------------------

def _copy_model(keys: int = 88, copy: int = 32, copy_dim: int = 0, soft: bool = False) -> RollNADE:
    torch.manual_seed(0)
    return RollNADE(NadeConfig(hidden=16, layers=1, nade_hidden=8, dropout=0.0, n_keys=keys,
                               copy=copy, copy_dim=copy_dim, copy_soft=soft)).eval()


def test_copy_head_mixture_sums_to_one_over_all_frames() -> None:
    m = _copy_model(keys=6)
    with torch.no_grad():
        m.copy_gate.bias.fill_(0.5)
    history = torch.tensor([[[1, 0, 1, 0, 0, 1], [0, 1, 0, 0, 1, 0], [1, 0, 1, 0, 0, 1]]], dtype=torch.float32)
    out, _ = m(history)
    frames = torch.tensor(list(itertools.product([0.0, 1.0], repeat=6)))
    last = CopyOutput(out.params[:, -1:].expand(len(frames), 1, -1), out.attn[:, -1:].expand(len(frames), 1, -1),
                      out.gate[:, -1:].expand(len(frames), 1, -1), out.frames.expand(len(frames), -1, -1))
    p = torch.exp(-m.frame_nll(last, frames.unsqueeze(1))).detach()
    assert abs(float(p.sum()) - 1.0) < 1e-5
    # the remembered frames got extra mass from the copy head
    nade_only = torch.exp(-m.frame_nll(last.params, frames.unsqueeze(1))).detach()
    remembered = [i for i, f in enumerate(frames) if any(torch.equal(f, h) for h in history[0, 1:])]
    assert all(float(p[i]) > float(nade_only[i]) for i in remembered)


@pytest.mark.parametrize(("copy_dim", "soft"), [(0, False), (12, False), (0, True)])
def test_copy_head_step_chunks_forward_and_gradients(copy_dim: int, soft: bool) -> None:
    from livegen.training.loop import segment_loss

    m = _copy_model(copy_dim=copy_dim, soft=soft)
    if soft:
        torch.nn.init.normal_(m.copy_to_params.weight, std=0.5)
    g = torch.Generator().manual_seed(2)
    palette = (torch.rand(5, 88, generator=g) < 0.05).float()  # five frames, repeated in random order
    x = palette[torch.randint(0, 5, (2, 30), generator=g)]
    with torch.no_grad():
        full, _ = m(x[:, :-1])
        a, st = m(x[:, :11])
        b, _ = m(x[:, 11:-1], st)
        state, step_nll = None, []
        for t in range(29):
            out, state = m.step(x[:, t], state)
            step_nll.append(m.frame_nll(CopyOutput(out.params.unsqueeze(1), out.attn.unsqueeze(1),
                                                   out.gate.unsqueeze(1), out.frames), x[:, t + 1 : t + 2]))
    whole = m.frame_nll(full, x[:, 1:])
    torch.testing.assert_close(torch.cat([m.frame_nll(a, x[:, 1:12]), m.frame_nll(b, x[:, 12:])], 1), whole,
                               atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.cat(step_nll, 1), whole, atol=1e-4, rtol=0)
    m.train()
    grads = []
    for every in (0, 7):
        m.zero_grad()
        loss, _ = segment_loss(m, m.frame_nll, x[:, :-1], x[:, 1:], torch.ones(2, 29), None, None, every)
        loss.backward()
        grads.append({k: p.grad.clone() for k, p in m.named_parameters()})
    assert all(bool(torch.isfinite(g).all()) for g in grads[0].values())
    assert float(grads[0]["copy_log_theta"].abs()) > 0
    for k in grads[0]:
        torch.testing.assert_close(grads[0][k], grads[1][k], rtol=1e-4, atol=1e-6)


def test_copy_branch_respects_range_mask_and_cap() -> None:
    m = _copy_model()
    with torch.no_grad():
        m.copy_gate.bias.fill_(40.0)  # always copy
    chord = torch.zeros(88)
    chord[[39, 43, 46, 51, 60]] = 1.0  # C4 E4 G4 C5 A5
    x = torch.stack([chord, torch.zeros(88), chord, torch.zeros(88)]).unsqueeze(0)
    out, state = m(x)
    step_out, _ = m.step(x[:, -1], state)
    controls = RollControls(temperature=0.0, low=60, high=76, max_polyphony=2)
    frame = sample_nade(m, step_out, controls, torch.Generator().manual_seed(0))
    # a remembered frame (the chord or silence), cut to C4..E5 and to its lowest two notes
    assert frame.sum() in (0, 2)
    if frame.any():
        assert torch.flatnonzero(frame).tolist() == [39, 43]


def test_copy_branch_follows_density_and_is_greedy_at_zero_temperature() -> None:
    m = _copy_model()
    with torch.no_grad():
        m.copy_gate.bias.fill_(40.0)  # always copy
    chord = torch.zeros(88)
    chord[[39, 43, 46]] = 1.0
    x = torch.stack([chord, chord, torch.zeros(88), chord]).unsqueeze(0)  # remembers: chord, silence, chord
    _, state = m(x[:, :-1])
    out, state = m.step(x[:, -1], state)

    def notes(density: float, temperature: float, seed: int) -> int:
        controls = RollControls(temperature=temperature, density=density)
        return int(sample_nade(m, out, controls, torch.Generator().manual_seed(seed)).sum())

    assert all(notes(8.0, 1.0, s) == 3 for s in range(40))  # fuller frames when density is up
    assert all(notes(-8.0, 1.0, s) == 0 for s in range(40))  # sparser when it is down
    greedy = {notes(0.0, 0.0, s) for s in range(10)}
    assert len(greedy) == 1  # zero temperature: the same frame whatever the seed


def test_repeat_control_scales_the_odds_of_copying() -> None:
    m = _copy_model()
    with torch.no_grad():
        m.copy_gate.bias.fill_(40.0)  # as trained: always copy
    chord = torch.zeros(88)
    chord[[39, 43, 46]] = 1.0
    x = torch.stack([chord, chord, chord]).unsqueeze(0)
    _, state = m(x[:, :-1])
    out, state = m.step(x[:, -1], state)
    greedy_nade = sample_nade(m, out.params, RollControls(temperature=0.0), torch.Generator())
    never = sample_nade(m, out, RollControls(temperature=0.0, repeat=0.0), torch.Generator())
    always = sample_nade(m, out, RollControls(temperature=0.0, repeat=4.0), torch.Generator())
    assert torch.equal(never, greedy_nade)  # repeat 0: the copy head is switched off
    assert torch.equal(always, chord.bool())  # the remembered chord is copied


def test_frame_codes_tell_frames_apart_exactly() -> None:
    from livegen.nets.nade import frame_codes

    g = torch.Generator().manual_seed(0)
    frames = (torch.rand(400, 88, generator=g) < 0.05).float()
    frames[1] = frames[0]
    frames[2, 87] = 1.0 - frames[0, 87]  # differs from frame 0 in the top key only
    frames[2, :87] = frames[0, :87]
    codes = frame_codes(frames)
    assert codes.shape == (400,) and codes.dtype == torch.complex128
    same_codes = codes.unsqueeze(1) == codes.unsqueeze(0)
    same_frames = (frames.unsqueeze(1) == frames.unsqueeze(0)).all(-1)
    assert torch.equal(same_codes, same_frames)
    assert frame_codes(torch.ones(6)) == frame_codes(torch.ones(6)) and frame_codes(torch.ones(6)).shape == ()


def test_copy_nll_with_codes_equals_reading_the_frames() -> None:
    torch.manual_seed(0)
    m = RollNADE(NadeConfig(hidden=16, layers=1, nade_hidden=8, dropout=0.0, copy=12, copy_soft=True)).eval()
    x = (torch.rand(3, 40, 88) < 0.08).float()
    x[:, 20:30] = x[:, 5:15]  # repeats, so the copy head finds equal frames
    with torch.no_grad():
        out, _ = m(x)
        assert isinstance(out, CopyOutput) and out.codes is not None
        with_codes = m.frame_nll(out, x)
        without = m.frame_nll(out._replace(codes=None), x)
    assert torch.equal(with_codes, without)
    assert bool((with_codes < m.frame_nll(out.params, x)).any())  # the copy branch found repeats
