"""Files training writes and reads back: malformed checkpoints and the ``--resume`` state.

A bad file is one line naming it and the fix (``CheckpointError`` / ``LivegenError``, exit
status 2 through the CLI), never a traceback; the resume state is written atomically, so a
full disk leaves neither a temp file nor a damaged state behind.
"""

from __future__ import annotations

import errno
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from shared_data import DataSets

from livegen.cli import main
from livegen.errors import LivegenError
from livegen.nets.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from livegen.nets.roll import RollConfig, RollLSTM, roll_loss
from livegen.training.loop import SeqTask, TrainConfig, load_train_state, save_train_state, train

TINY = ["--hidden", "16", "--layers", "1", "--threads", "1", "--batch-size", "4", "--window", "20"]


def one_line(capsys: pytest.CaptureFixture[str], progress: bool = False) -> str:
    """The one error line on stderr (after the progress bar's lines when ``progress``)."""
    err = capsys.readouterr().err
    lines = err.splitlines()
    if progress:  # the bar's own lines, and the blanks it clears its line with
        lines = [line for line in lines if line.strip() and not line.startswith("epoch ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("livegen: error:") and err.endswith(lines[0] + "\n")
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


# -- checkpoints ---------------------------------------------------------------------------


@pytest.fixture
def good_checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "good.pt"
    save_checkpoint(path, RollLSTM(RollConfig(hidden=8, layers=1)), {"data": "test"})
    return path


def damaged(source: Path, change: Any, name: str = "bad.pt") -> Path:
    blob = torch.load(source, weights_only=True)
    change(blob)
    path = source.with_name(name)
    torch.save(blob, path)
    return path


def first_weight(blob: dict[str, Any]) -> torch.Tensor:
    return next(iter(blob["state_dict"].values()))  # type: ignore[no-any-return]


BREAKAGES = {
    "config is a list": lambda b: b.update(config=[8, 1]),
    "config is a string": lambda b: b.update(config="hidden=8"),
    "config is missing": lambda b: b.pop("config"),
    "NaN weight": lambda b: first_weight(b).view(-1).__setitem__(0, math.nan),
    "inf weight": lambda b: first_weight(b).view(-1).__setitem__(0, math.inf),
    "weights missing": lambda b: b.pop("state_dict"),
    "weights empty": lambda b: b.update(state_dict={}),
    "weight not a tensor": lambda b: b["state_dict"].update({"head.weight": [1.0, 2.0]}),
    "kind not a name": lambda b: b.update(kind=3),
    "unknown kind": lambda b: b.update(kind="transformer"),
    "meta not a dict": lambda b: b.update(meta=["x"]),
    "other hidden size": lambda b: b["config"].update(hidden=32),
    "size no net has": lambda b: b["config"].update(hidden=-3),
    "huge size": lambda b: b["config"].update(hidden=10**9, layers=8),
    "unknown setting": lambda b: b["config"].update(colour="blue"),
    "missing layer": lambda b: b["state_dict"].pop(next(iter(b["state_dict"]))),
    "no header": lambda b: b.pop("format"),
    "other version": lambda b: b.update(version=99),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_a_malformed_checkpoint_is_one_line_naming_the_file(good_checkpoint: Path, breakage: str) -> None:
    path = damaged(good_checkpoint, BREAKAGES[breakage])
    with pytest.raises(CheckpointError) as caught:
        load_checkpoint(path)
    text = str(caught.value)
    assert "\n" not in text and str(path) in text
    assert "retrain" in text or "livegen that wrote it" in text


def test_the_messages_say_what_is_wrong(good_checkpoint: Path) -> None:
    def message(breakage: str) -> str:
        with pytest.raises(CheckpointError) as caught:
            load_checkpoint(damaged(good_checkpoint, BREAKAGES[breakage]))
        return str(caught.value)

    assert "config is a list" in message("config is a list")
    assert "NaN or infinite" in message("NaN weight") and "NaN or infinite" in message("inf weight")
    assert "the config makes" in message("other hidden size")
    huge = message("huge size")  # caught on the meta device, before a huge net is allocated
    assert "the config makes" in huge or "can be built" in huge


def test_truncated_and_missing_checkpoints(good_checkpoint: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.pt"
    cut.write_bytes(good_checkpoint.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(cut)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "none.pt")
    assert issubclass(CheckpointError, LivegenError)  # the CLI turns it into one line


def test_the_good_checkpoint_still_loads(good_checkpoint: Path) -> None:
    model, meta = load_checkpoint(good_checkpoint)
    assert isinstance(model, RollLSTM) and meta == {"data": "test"}


@pytest.mark.parametrize("breakage", ["config is a list", "NaN weight", "other hidden size"])
def test_render_with_a_bad_model_exits_2_with_one_line(
        good_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], breakage: str) -> None:
    bad = damaged(good_checkpoint, BREAKAGES[breakage])
    out = tmp_path / "x.mid"
    assert main(["render", "--model", str(bad), "-o", str(out)]) == 2
    assert str(bad) in one_line(capsys)
    assert not out.exists()


# -- the resume state ----------------------------------------------------------------------


def tiny_task(seed: int = 0) -> SeqTask:
    gen = torch.Generator().manual_seed(seed)
    rolls = [torch.bernoulli(torch.full((24, 88), 0.1), generator=gen) for _ in range(6)]
    return SeqTask(train=rolls[:4], valid=rolls[4:], loss_fn=roll_loss)


CFG = TrainConfig(epochs=1, batch_size=2, window=12, threads=1, patience=5)


def test_training_leaves_the_state_and_no_temp_file(tmp_path: Path) -> None:
    out = tmp_path / "m.pt"
    train(RollLSTM(RollConfig(hidden=8, layers=1)), tiny_task(), CFG, out, {})
    assert (tmp_path / "m.train-state.pt").is_file()
    assert leftovers(tmp_path) == []
    state = torch.load(tmp_path / "m.train-state.pt", weights_only=True)
    assert state["epoch"] == 1


def test_a_full_disk_leaves_no_temp_file_and_keeps_the_old_state(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.train-state.pt"
    save_train_state(path, {"epoch": 1})
    real_save = torch.save

    def disk_full(obj: object, f: Any, *args: Any, **kwargs: Any) -> None:
        f.write(b"half a state")  # what reached the disk before it filled up
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(LivegenError) as caught:
        save_train_state(path, {"epoch": 2})
    text = str(caught.value)
    assert "\n" not in text and "No space left on device" in text and str(path) in text
    assert leftovers(tmp_path) == []
    monkeypatch.setattr(torch, "save", real_save)
    assert torch.load(path, weights_only=True) == {"epoch": 1}


def test_a_failing_rename_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(src: Any, dst: Any) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("livegen.training.loop.os.replace", refuse)
    with pytest.raises(LivegenError, match="Permission denied"):
        save_train_state(tmp_path / "s.pt", {"epoch": 1})
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_write_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(obj: object, f: Any, *args: Any, **kwargs: Any) -> None:
        f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_train_state(tmp_path / "s.pt", {"epoch": 1})
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_during_training_is_one_line_through_the_cli(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        datasets: DataSets) -> None:
    real_save = torch.save

    def state_disk_full(obj: object, f: Any, *args: Any, **kwargs: Any) -> None:
        if ".train-state.pt" in str(getattr(f, "name", f)):
            f.write(b"half a state")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", state_disk_full)
    out = tmp_path / "m.pt"
    assert main(["train", "roll", "--data", str(datasets.music21), "--epochs", "1", "--out", str(out),
                 *TINY]) == 2
    line = one_line(capsys, progress=True)
    assert "No space left on device" in line and "m.train-state.pt" in line
    assert leftovers(tmp_path) == []


def _state_after_one_epoch(tmp_path: Path) -> Path:
    train(RollLSTM(RollConfig(hidden=8, layers=1)), tiny_task(), CFG, tmp_path / "m.pt", {})
    return tmp_path / "m.train-state.pt"


def test_a_truncated_state_is_one_clear_error(tmp_path: Path) -> None:
    state = _state_after_one_epoch(tmp_path)
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    model = RollLSTM(RollConfig(hidden=8, layers=1))
    with pytest.raises(LivegenError) as caught:
        train(model, tiny_task(), TrainConfig(epochs=2, batch_size=2, window=12, threads=1),
              tmp_path / "m.pt", {}, resume=True)
    text = str(caught.value)
    assert "\n" not in text and str(state) in text and "truncated" in text and "--resume" in text


def test_resuming_a_net_of_another_size_is_one_clear_error(tmp_path: Path) -> None:
    state = _state_after_one_epoch(tmp_path)
    bigger = RollLSTM(RollConfig(hidden=12, layers=1))
    opt = torch.optim.Adam(bigger.parameters())
    with pytest.raises(LivegenError) as caught:
        load_train_state(state, bigger, opt, None)
    text = str(caught.value)
    assert "\n" not in text and str(state) in text and "another size" in text and "--hidden" in text
    deeper = RollLSTM(RollConfig(hidden=8, layers=2))
    with pytest.raises(LivegenError, match="another kind of net"):
        load_train_state(state, deeper, torch.optim.Adam(deeper.parameters()), None)


@pytest.mark.parametrize("content", [{"epoch": 3}, [1, 2, 3], {"model": 1, "optimizer": 2, "epoch": 1,
                                                              "best": 0.0, "best_epoch": 1, "bad": 0},
                                     {"model": {}, "optimizer": {}, "epoch": "one", "best": 0.0,
                                      "best_epoch": 1, "bad": 0}])
def test_a_file_that_is_not_a_training_state(tmp_path: Path, content: object) -> None:
    path = tmp_path / "m.train-state.pt"
    torch.save(content, path)
    model = RollLSTM(RollConfig(hidden=8, layers=1))
    with pytest.raises(LivegenError, match="not a livegen training state"):
        load_train_state(path, model, torch.optim.Adam(model.parameters()), None)


def test_cli_resume_truncated_or_resized_is_exit_2_with_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], datasets: DataSets) -> None:
    out = tmp_path / "m.pt"
    base = ["train", "roll", "--data", str(datasets.music21), "--out", str(out), "--threads", "1",
            "--batch-size", "4", "--window", "20", "--layers", "1"]
    assert main([*base, "--epochs", "1", "--hidden", "16"]) == 0
    state = tmp_path / "m.train-state.pt"
    good = state.read_bytes()
    capsys.readouterr()
    assert main([*base, "--epochs", "2", "--hidden", "24", "--resume"]) == 2
    line = one_line(capsys)
    assert "m.train-state.pt" in line and "another size" in line
    state.write_bytes(good[:1000])
    assert main([*base, "--epochs", "2", "--hidden", "16", "--resume"]) == 2
    line = one_line(capsys)
    assert "m.train-state.pt" in line and "truncated" in line
    assert leftovers(tmp_path) == []


def test_a_full_disk_while_saving_a_checkpoint_is_one_line_and_leaves_no_tmp(tmp_path, monkeypatch) -> None:
    import errno

    import torch

    from livegen.nets.checkpoint import CheckpointError, save_checkpoint
    from livegen.nets.roll import RollConfig, RollLSTM

    def full_disk(obj: object, f: object, *a: object, **k: object) -> None:
        with open(f, "wb") as fh:  # type: ignore[call-overload]
            fh.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    out = tmp_path / "m.pt"
    with pytest.raises(CheckpointError) as info:
        save_checkpoint(out, RollLSTM(RollConfig(hidden=4, layers=1)), {})
    assert "\n" not in str(info.value) and "No space left" in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
