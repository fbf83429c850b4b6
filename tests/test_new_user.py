"""The rough edges a new user hit (issue 27): benchmarks that crashed or ran on ``--help``,
data paths that only worked beside the developers' checkout, lyrics data nobody said where to
get, ``livegen models ship`` writing into the installed package, a build machine's path in
the shipped manifest."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from shared_data import DataSets

from livegen.cli import main
from livegen.commands.models import data_name
from livegen.data.abc import read_abc_tunes
from livegen.data.catalog import CATALOG
from livegen.errors import LivegenError
from livegen.nets.checkpoint import save_checkpoint
from livegen.nets.manifest import MANIFEST, models_dir, read_manifest, resolve_model, user_models_dir
from livegen.nets.roll import RollConfig, RollLSTM

ROOT = Path(__file__).resolve().parent.parent

#: every benchmark a page of the docs names (``python -m benchmarks.NAME``)
#: every benchmark with a command line (a ``main``); helpers (common, readme, the rigs) have none
BENCHMARKS = tuple(sorted(path.stem for path in (ROOT / "benchmarks").glob("*.py")
                          if "\ndef main(" in path.read_text()))


def one_error_line(err: str) -> str:
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("livegen: error: "), repr(err)
    return err.strip()


def test_every_benchmark_prints_its_help_and_runs_nothing() -> None:
    results = ROOT / "benchmarks" / "results.json"
    before = results.read_bytes() if results.exists() else b""
    procs = {name: subprocess.Popen([sys.executable, "-m", f"benchmarks.{name}", "--help"], cwd=ROOT,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in BENCHMARKS}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0 and out.startswith("usage:"), (name, out[:300], err[-600:])
    assert (results.read_bytes() if results.exists() else b"") == before


def test_the_training_benchmark_measures_throughput(datasets: DataSets) -> None:
    # crashed: _train_batch() missing 1 required positional argument: 'cfg'
    from benchmarks.training import throughput
    from livegen.data.polyphonic import load_rolls

    with datasets.named():
        data = load_rolls("nottingham")
    assert throughput(RollLSTM(RollConfig(16, 1, 0.0)), data, batches=3) > 0


def test_a_missing_abc_path_says_data_irish_in_one_line(named_datasets: DataSets) -> None:
    with pytest.raises(LivegenError) as caught:
        read_abc_tunes("../nowhere/data/abc/irish.abc")
    text = str(caught.value)
    assert "--data irish" in text and "\n" not in text


@pytest.mark.parametrize("command", [("train", "abc"), ("eval", "irish")])
def test_train_abc_and_eval_irish_take_data_irish_from_any_folder(
        command: tuple[str, ...], named_datasets: DataSets, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # a fresh clone: nothing at ../shared beside it
    code = main([*command, "--data", "../shared/data/abc/irish.abc", *(
        ["--out", "x.pt", "--epochs", "1"] if command[0] == "train" else [])])
    assert code == 2
    assert "--data irish" in one_error_line(capsys.readouterr().err)


def test_livegen_data_says_there_is_no_lyrics_set_to_fetch_and_what_to_bring(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "fetch", "lyrics"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "no set to fetch" in line and "artist,song,link,text" in line and ".txt" in line
    assert main(["data", "list"]) == 0
    assert "lyrics: no set to fetch" in capsys.readouterr().out


def test_the_shipped_manifest_names_data_sets_not_a_machines_paths() -> None:
    known = set(CATALOG) | {"public_domain"}
    for name, entry in read_manifest().items():
        assert entry["data"] in known, (name, entry["data"])


def test_a_path_to_a_known_sets_file_is_recorded_by_the_sets_name(named_datasets: DataSets) -> None:
    assert data_name(str(named_datasets.irish)) == "irish"
    assert data_name(str(named_datasets.polyphonic / "Nottingham.mat")) == "nottingham"
    assert data_name("nottingham") == "nottingham"


def test_models_ship_writes_to_the_users_folder_not_the_package(
        named_datasets: DataSets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    shipped = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in models_dir().iterdir() if p.is_file()}
    ckpt = tmp_path / "mine.pt"
    save_checkpoint(ckpt, RollLSTM(RollConfig(8, 1, 0.0)), {"data": "nottingham", "steps_per_beat": 2})

    assert main(["models", "ship", str(ckpt), "--name", "nottingham"]) == 0
    capsys.readouterr()
    mine = user_models_dir()
    assert mine == tmp_path / "xdg" / "livegen" / "models"
    assert (mine / "nottingham.pt").is_file() and "nottingham" in read_manifest(mine)
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in models_dir().iterdir() if p.is_file()}
    assert after == shipped
    # the user's model of that name is the one found; the shipped one is untouched
    assert resolve_model("nottingham") == mine / "nottingham.pt"
    assert main(["models"]) == 0
    assert "yours" in capsys.readouterr().out
    # an entry whose file went missing is one line naming the fix
    (mine / "nottingham.pt").unlink()
    with pytest.raises(LivegenError, match="ship it again"):
        resolve_model("nottingham")
    assert (mine / MANIFEST).is_file()


def test_the_flake_finder_names_each_failed_test_and_how_often(tmp_path) -> None:
    """scripts/repeat-tests.sh N runs the tests N times and counts each test's failures."""
    counter = tmp_path / "runs"
    flaky = tmp_path / "test_flaky.py"
    flaky.write_text(
        "from pathlib import Path\n"
        f"COUNTER = Path({str(counter)!r})\n"
        "def test_steady():\n    pass\n"
        "def test_every_other_run():\n"
        "    n = int(COUNTER.read_text()) + 1 if COUNTER.exists() else 1\n"
        "    COUNTER.write_text(str(n))\n"
        "    assert n % 2 == 0\n")
    done = subprocess.run(["scripts/repeat-tests.sh", "3", str(flaky), "-p", "no:randomly"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "REPEAT_TESTS_DIR": str(tmp_path / "reports")})
    assert done.returncode == 1, done.stdout + done.stderr
    # the test's name as pytest's report gives it (its folder, dotted, before the file's name)
    assert re.search(r"^  2/3  \S*test_flaky::test_every_other_run$", done.stdout, re.M), done.stdout
    assert "test_steady" not in done.stdout
    assert done.stdout.count("run ") >= 3
