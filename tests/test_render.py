"""livegen render: deterministic, primed, through the live engine."""

from __future__ import annotations

import numpy as np
import torch

from livegen.cli import main
from livegen.controls.table import ControlState
from livegen.nets.checkpoint import save_checkpoint
from livegen.nets.roll import RollConfig, RollLSTM
from livegen.offline.render import render_roll
from livegen.sampling.constraints import sampling_view
from livegen.voices.follow import roll_voice


def _model() -> RollLSTM:
    torch.manual_seed(0)
    m = RollLSTM(RollConfig(hidden=32, layers=1, dropout=0.0))
    with torch.no_grad():
        m.head.bias.fill_(-3.0)  # sparse output, like a trained model
    return m.eval()


def test_render_equals_stepping_the_generator_by_hand() -> None:
    m = _model()
    prime = (np.random.default_rng(0).random((6, 88)) < 0.05)
    # density_follow 0: the engine's articulation (holding a busy answer) is not stepped by hand here
    result = render_roll(m, 2, ControlState(temperature=0.9, density_follow=0.0), seed=7, prime=prime,
                         steps_per_beat=2)
    gen = roll_voice(m, None, 7)  # the voice render and play use
    gen.prime(prime)
    expected = []
    for _ in range(16):
        f = gen.sample(sampling_view(ControlState(temperature=0.9)))
        gen.observe(f)
        expected.append(f)
    assert np.array_equal(result.generated, np.array(expected))


def test_same_seed_byte_identical_midi(tmp_path, capsys) -> None:
    path = tmp_path / "m.pt"
    save_checkpoint(path, _model(), {"data": "test", "steps_per_beat": 2})
    outs = []
    for i, seed in enumerate((5, 5, 6)):
        out = tmp_path / f"o{i}.mid"
        assert main(["render", "--model", str(path), "--bars", "2", "--seed", str(seed), "-o", str(out)]) == 0
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert outs[0] != outs[2]


def test_render_errors_are_one_line(tmp_path, capsys) -> None:
    assert main(["render", "--model", "no-such-model", "-o", str(tmp_path / "x.mid")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no-such-model" in err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model")
    assert main(["render", "--model", str(bad), "-o", str(tmp_path / "x.mid")]) == 2
    assert "bad.pt" in capsys.readouterr().err


def test_corrupt_prime_midi_is_one_line(tmp_path, capsys) -> None:
    path = tmp_path / "m.pt"
    save_checkpoint(path, _model(), {"data": "test", "steps_per_beat": 2})
    bad = tmp_path / "riff.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06garbage")
    assert main(["render", "--model", str(path), "--prime", str(bad), "-o", str(tmp_path / "x.mid")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "riff.mid" in err


def test_render_writes_png_and_wav(tmp_path) -> None:
    import shutil

    import pytest

    path = tmp_path / "m.pt"
    save_checkpoint(path, _model(), {"data": "test", "steps_per_beat": 2})
    args = ["render", "--model", str(path), "--bars", "2", "-o", str(tmp_path / "x.mid"),
            "--png", str(tmp_path / "x.png")]
    if shutil.which("fluidsynth"):
        args += ["--wav", str(tmp_path / "x.wav")]
    assert main(args) == 0
    assert (tmp_path / "x.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if not shutil.which("fluidsynth"):
        pytest.skip("fluidsynth not installed (scripts/setup.sh installs it)")
    assert (tmp_path / "x.wav").stat().st_size > 1000


def test_repeat_changes_what_the_shipped_copy_model_renders(tmp_path, capsys) -> None:
    outs = {}
    for repeat in ("0", "1", "4"):
        out = tmp_path / f"r{repeat}.mid"
        assert main(["render", "--model", "nottingham", "--bars", "8", "--seed", "1", "--repeat", repeat,
                     "-o", str(out)]) == 0
        outs[repeat] = out.read_bytes()
    assert len(set(outs.values())) == 3
    capsys.readouterr()
    assert main(["render", "--model", "nottingham", "--repeat", "-1", "-o", str(tmp_path / "x.mid")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "repeat" in err
