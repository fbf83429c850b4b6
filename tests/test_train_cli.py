"""Training, resume, evaluation and data-parallel training through the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess

import pytest
import torch
from shared_data import DataSets

from livegen.cli import main
from livegen.commands import train as train_command
from livegen.errors import LivegenError
from livegen.nets.checkpoint import load_checkpoint
from livegen.offline import curves

TINY = ["--hidden", "16", "--layers", "1", "--threads", "1", "--batch-size", "4", "--window", "20"]


def test_train_resume_eval_on_a_midi_folder(tmp_path, capsys, datasets: DataSets) -> None:
    midi_dir = datasets.music21
    out = tmp_path / "m.pt"
    assert main(["train", "roll", "--data", str(midi_dir), "--epochs", "2", "--out", str(out), *TINY]) == 0
    model, meta = load_checkpoint(out)
    assert meta["steps_per_beat"] == 4 and len(meta["history"]) >= 1
    assert (tmp_path / "m.train-state.pt").exists()
    # resume continues from epoch 2 to 3 instead of starting over
    assert main(["train", "roll", "--data", str(midi_dir), "--epochs", "3", "--out", str(out),
                 "--resume", *TINY]) == 0
    state = torch.load(tmp_path / "m.train-state.pt", weights_only=True)
    assert state["epoch"] == 3 and len(state["history"]) == 3
    capsys.readouterr()
    assert main(["eval", str(out), "--data", str(midi_dir), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"nll_per_frame", "nll_per_sequence", "frame_accuracy", "frames", "sequences",
            "memory_steps"} <= set(result)
    assert 0 < result["nll_per_frame"] < 100 and result["frames"] > 0


def test_nade_head_with_gradient_checkpointing(tmp_path, named_datasets: DataSets) -> None:
    out = tmp_path / "n.pt"
    assert main(["train", "roll", "--data", "jsb", "--head", "nade", "--nade-hidden", "8", "--epochs", "1",
                 "--checkpoint-every", "7", "--out", str(out), *TINY]) == 0
    model, meta = load_checkpoint(out)
    assert model.kind == "roll-nade" and meta["data"] == "jsb"


def test_weight_averaging_keeps_the_averaged_weights(tmp_path, datasets: DataSets) -> None:
    from livegen.data.polyphonic import load_rolls
    from livegen.training.scoring import score_sequences
    from livegen.training.tasks import roll_task

    midi_dir = datasets.music21
    out = tmp_path / "e.pt"
    assert main(["train", "roll", "--data", str(midi_dir), "--epochs", "2", "--ema", "0.9",
                 "--out", str(out), *TINY]) == 0
    model, meta = load_checkpoint(out)
    state = torch.load(tmp_path / "e.train-state.pt", weights_only=True)
    # the checkpoint holds the average, not the raw weights the optimiser ended on
    saved = dict(model.named_parameters())
    raw = state["model"]
    assert any(not torch.equal(saved[k].detach(), raw[k]) for k in saved)
    if meta["train"]["best_epoch"] == 2:
        assert all(torch.equal(p.detach(), a) for p, a in zip(model.parameters(), state["ema"], strict=True))
    # the recorded validation NLL is that of the saved (averaged) weights
    task = roll_task(load_rolls(str(midi_dir)))
    score = score_sequences(model, task.valid, task.loss_fn)
    assert abs(score.nll_per_step - meta["metrics"]["valid_nll"]) < 1e-3


def test_bad_training_flags_are_one_clear_line(tmp_path, capsys) -> None:
    assert main(["train", "roll", "--data", "jsb", "--epochs", "0", "--out", str(tmp_path / "x.pt")]) == 2
    assert "argument --epochs" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def test_copy_flags_are_checked_in_one_line(tmp_path, capsys, named_datasets: DataSets) -> None:
    out = str(tmp_path / "x.pt")
    assert main(["train", "roll", "--data", "jsb", "--copy", "-3", "--head", "nade", "--out", out]) == 2
    assert "argument --copy" in capsys.readouterr().err
    assert main(["train", "roll", "--data", "jsb", "--copy-soft", "--head", "nade", "--out", out]) == 2
    assert "add --copy N" in capsys.readouterr().err
    assert main(["train", "roll", "--data", "jsb", "--copy", "64", "--out", out]) == 2
    assert "--head nade" in capsys.readouterr().err
    assert main(["train", "roll", "--data", "jsb", "--init", str(tmp_path / "none.pt"), "--head", "nade",
                 "--epochs", "1", "--out", out]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "none.pt" in err


def test_missing_dataset_is_one_clear_line(tmp_path, capsys) -> None:
    assert main(["train", "roll", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "nope" in err


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun not installed with torch")
def test_torchrun_two_cpu_processes_gloo(tmp_path, named_datasets: DataSets) -> None:
    out = tmp_path / "ddp.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [shutil.which("torchrun"), "--standalone", "--nproc_per_node", "2", "-m", "livegen", "train", "roll",
           "--data", "jsb", "--epochs", "1", "--out", str(out), *TINY]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    model, meta = load_checkpoint(out)
    assert meta["train"]["world_size"] == 2
    assert done.stdout.count("best valid NLL") == 1  # only rank 0 reports


def test_train_plot_draws_the_loss_and_validation_curves(tmp_path, capsys, datasets: DataSets,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[tuple[int, float, float]] = []
    real = curves.plot_curves

    def spy(path, history, **kwargs):
        drawn.extend((r.epoch, r.train_nll, r.valid_nll) for r in history)
        real(path, history, **kwargs)

    monkeypatch.setattr(train_command, "plot_curves", spy)
    plot = tmp_path / "curves.png"
    assert main(["train", "roll", "--data", str(datasets.music21), "--epochs", "3", "--out", str(tmp_path / "m.pt"),
                 "--plot", str(plot), *TINY]) == 0
    _, meta = load_checkpoint(tmp_path / "m.pt")
    # the plot gets every epoch the checkpoint's history has, with the same validation figures
    assert [e for e, _, _ in drawn] == [h["epoch"] for h in meta["history"]]
    assert [round(v, 4) for _, _, v in drawn] == [h["valid_nll"] for h in meta["history"]]  # stored to 4 places
    data = plot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (1200, 700)
    assert f"wrote {plot}" in capsys.readouterr().out


def test_nothing_to_plot_is_one_clear_error(tmp_path) -> None:
    with pytest.raises(LivegenError, match="no epoch finished"):
        curves.plot_curves(tmp_path / "x.png", [])
