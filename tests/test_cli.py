"""End to end through the command line: the table, the run folder, bad inputs, exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import Result

import mlbench
from mlbench.reporting.run_setup import libraries_text
from mlbench.results.run_info import RunInfo
from mlbench.results.table import COLUMN_NAMES, read_table
from mlbench.running.environment import torch_build
from tests.conftest import assert_one_line_error

Cli = Callable[..., Result]


def only_run(tmp_path: Path) -> Path:
    runs = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def test_run_prints_table_and_writes_every_file(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", "--models", "linear,knn", "--dataset", "digits")
    assert result.exit_code == 0, result.output

    # The table names both models, best first, with their accuracies.
    table = result.stdout
    assert "mlbench results: digits, 1437 train / 360 test" in table
    assert table.index("knn") < table.index("linear")  # knn is the more accurate on digits

    run = only_run(tmp_path)
    frame = pd.read_csv(run / "results.csv")
    assert list(frame.columns) == COLUMN_NAMES
    assert sorted(frame["model"]) == ["knn", "linear"]
    assert set(frame["status"]) == {"ok"}
    assert frame["accuracy"].between(0.9, 1.0).all()
    assert (frame["train_size"] == 1437).all() and (frame["test_size"] == 360).all()
    for _, row in frame.iterrows():
        assert f"{row['accuracy']:.4f}" in table
        assert row["fit_seconds"] > 0 and row["predict_throughput"] > 0
        assert row["peak_memory_mb"] > 10 and row["model_size_bytes"] > 100
    pd.testing.assert_frame_equal(read_table(run / "results.parquet"),
                                  read_table(run / "results.csv"))

    info = json.loads((run / "run.json").read_text())
    assert info["config"]["models"] == ["linear", "knn"]
    assert info["dataset"]["name"] == "digits" and info["dataset"]["test_size"] == 360
    machine = info["machine"]
    assert machine["cpu_count"] >= 1 and machine["python"] and machine["cpu"]
    assert "scikit-learn" in machine["libraries"] and "numpy" in machine["libraries"]
    assert isinstance(machine["threads"], list)
    # The commit of the checkout the run came from (these tests run from one), so a result
    # can be traced to its code; "+dirty" marks uncommitted changes.
    checkout = Path(mlbench.__file__).resolve().parents[1]
    head = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert machine["git_commit"] in (head, f"{head}+dirty")

    labels = np.load(run / "test_labels.npy")
    assert labels.shape == (360,)
    for row in frame.itertuples():
        with np.load(run / "predictions" / f"{row.job_id}.npz") as saved:
            assert saved["predicted"].shape == (360,)
            assert np.mean(saved["predicted"] == labels) == pytest.approx(row.accuracy)
        record = json.loads((run / "jobs" / f"{row.job_id}.json").read_text())
        assert record["status"] == "ok"
    with np.load(run / "predictions" / "knn-cpu-r0.npz") as saved:
        probabilities, index = saved["probabilities"], saved["probability_index"]
        assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
        assert probabilities.shape == (len(index), 10)
        # Kept: an even sample of the test set and every image knn got wrong.
        wrong = np.flatnonzero(saved["predicted"] != labels)
        assert set(wrong) <= set(index) and len(index) >= min(360, 500)
        assert np.array_equal(probabilities.argmax(axis=1), saved["predicted"][index])


def test_params_repeats_and_seeds_are_recorded(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", "-m", "knn,perceptron", "-d", "digits", "--param", "knn.n_neighbors=1",
                 "--param", "perceptron.penalty=l2", "--repeats", "2", "--seed", "5", "-q")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(only_run(tmp_path) / "results.csv")
    assert len(frame) == 4
    knn = frame[frame["model"] == "knn"]
    assert sorted(knn["seed"]) == [5, 6] and sorted(knn["repeat"]) == [0, 1]
    assert all(json.loads(p)["n_neighbors"] == 1 for p in knn["params"])
    perceptron = frame[frame["model"] == "perceptron"]
    assert all(json.loads(p)["penalty"] == "l2" for p in perceptron["params"])
    # Different seeds really reach the model: the perceptron shuffles differently.
    assert perceptron["accuracy"].nunique() == 2 or perceptron["f1_macro"].nunique() == 2


def test_tags_select_groups(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", "--models", "linear-models", "--dataset", "digits",
                 "--train-size", "300", "--test-size", "100", "-q")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(only_run(tmp_path) / "results.csv")
    assert sorted(frame["model"]) == ["linear", "logistic", "perceptron"]
    assert (frame["train_size"] == 300).all() and (frame["test_size"] == 100).all()


def test_progress_is_readable_when_not_a_terminal(cli: Cli) -> None:
    result = cli("run", "--models", "naive-bayes", "--dataset", "digits")
    assert "[1/1] naive-bayes on cpu, repeat 0: started" in result.stderr
    both = cli("run", "--models", "naive-bayes,linear", "--dataset", "digits", "--jobs", "2")
    lines = both.stderr.splitlines()
    # naive-bayes ran in the run before: its start line says how long it took there.
    # With --jobs 2 a job's end line carries the number its start line gave it, and how many
    # of the run's jobs are done, in the order they ended.
    started = {line.split("] ", 1)[1].split(":")[0]: line.split("]")[0]
               for line in lines if ": started" in line}
    ended = {line.split("] ", 1)[1].split(":")[0]: line.split("]")[0]
             for line in lines if ": ok (" in line}
    assert sorted(started.values()) == ["[1/2", "[2/2"] and ended == started
    assert [line.rsplit("; ", 1)[1].split(",")[0] for line in lines if ": ok (" in line] == [
        "1 of 2 done", "2 of 2 done"]
    assert "[1/1] naive-bayes on cpu, repeat 0: ok (test accuracy" in result.stderr
    assert "naive-bayes on cpu, repeat 0: started (took " in both.stderr
    assert " expected (the same jobs in earlier runs" not in both.stderr  # linear is new
    again = cli("run", "--models", "naive-bayes,linear", "--dataset", "digits", "--jobs", "2")
    assert "mlbench: about " in again.stderr and (
        " expected (the same jobs in earlier runs, 2 at once)" in again.stderr)
    assert "1 of 2 done, about " in again.stderr and " left" in again.stderr
    quiet = cli("run", "--models", "naive-bayes", "--dataset", "digits", "--quiet")
    assert "started" not in quiet.stderr and "naive-bayes" in quiet.stdout


def test_list_shows_models_datasets_and_plugins(cli: Cli) -> None:
    result = cli("list")
    assert result.exit_code == 0
    for name in ("linear", "logistic", "naive-bayes", "knn", "svm", "random-forest",
                 "perceptron", "mlp", "mnist", "mnist-5k", "digits"):
        assert name in result.stdout
    assert "entry point mlbench_plugins.scikit_learn" in result.stdout
    assert "mlbench core" in result.stdout


def test_list_and_run_json_say_which_build_each_framework_is(cli: Cli, tmp_path: Path) -> None:
    """A CPU build never sees a GPU, whatever the machine has: `mlbench list`, run.json and
    the report's setup line say which build torch is, read from package metadata, and that
    agrees with what torch itself says (this project's pin installs the CPU build)."""
    torch = pytest.importorskip("torch")
    expected = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU"
    listing = cli("list").stdout
    row = re.search(r"│ torch\s+│ (\S+)\s+│ ([^│]+?)\s+│", listing)
    assert row is not None, listing
    assert (row.group(1), row.group(2)) == (torch.__version__, expected)
    assert cli("run", "--models", "naive-bayes", "--dataset", "digits").exit_code == 0
    info = RunInfo.from_json(json.loads((only_run(tmp_path) / "run.json").read_text()))
    assert info.machine.framework_builds["torch"] == expected
    assert f"torch {torch.__version__} ({expected} build)" in libraries_text(info)


def test_torch_build_read_from_the_wheels_own_metadata() -> None:
    """The ways a torch wheel names its build: PyTorch's index tags the version; PyPI's Linux
    wheel instead pins the CUDA toolkit (requirements as PyPI's torch 2.13.0 wheel lists them;
    older wheels pinned NVIDIA's runtime wheel)."""
    linux = 'platform_system == "Linux"'
    pypi_2_13 = ["filelock", f"cuda-toolkit[cublas,cudart,cupti]==13.0.3; {linux}",
                 f"nvidia-cudnn-cu13==9.20.0.48; {linux}"]
    older = [f"nvidia-cuda-runtime-cu12==12.8.90; {linux} and platform_machine == \"x86_64\""]
    assert torch_build("2.13.0+cpu", []) == "CPU"
    assert torch_build("2.13.0+cu126", []) == "CUDA 12.6"
    on_linux = sys.platform == "linux"
    assert torch_build("2.13.0", pypi_2_13) == ("CUDA 13.0" if on_linux else "CPU")
    assert torch_build("2.7.1", older) == ("CUDA 12.8" if on_linux else "CPU")
    assert torch_build("2.13.0", ["filelock", "sympy>=1.13.3"]) == "CPU"  # macOS, Windows


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--models", "svn"], "unknown model or tag 'svn'. Did you mean 'svm'?"),
        ([], "no models given"),
        (["--models", "knn", "--dataset", "mnist-6k"], "unknown dataset 'mnist-6k'"),
        (["--models", "knn", "--param", "knn"], "is not of the form MODEL.NAME=VALUE"),
        (["--models", "knn", "--param", "knn.k=3"], "unknown param of knn 'k'"),
        (["--models", "knn", "--param", "knn.n_neighbors=three"],
         "knn.n_neighbors expects int"),
        (["--models", "knn", "--param", "svm.C=1"], "model 'svm' is not selected"),
        (["--models", "knn", "--train-size", "5000"], "larger than digits's 1437"),
        (["--models", "knn", "--train-size", "0"], "--train-size must be at least 1"),
        (["--models", "knn", "--test-size", "5"], "smaller than the 10 classes"),
        (["--models", "knn", "--timeout", "-1"], "--timeout must be a positive number"),
        (["--models", "knn", "--repeats", "0"], "--repeats must be at least 1"),
        (["--models", "knn", "--jobs", "0"], "--jobs must be at least 1"),
        (["--models", "knn", "--devices", "tpu"], "unknown device 'tpu'"),
        (["--models", "knn", "--plugin", "/no/such/plugin.py"], "does not exist"),
        (["--models", "knn", "--data-dir", "/no/such/folder"], "does not exist"),
        (["--models", "knn", "--param", "knn.n_neighbors=3.5"], "knn.n_neighbors expects int"),
        (["--models", "knn", "--param", "knn.weights"], "is not of the form MODEL.NAME=VALUE"),
        (["--models", ","], "no models given"),
        (["--models", "knn", "--dataset", "MNIST"], "unknown dataset 'MNIST'"),
        (["--models", "knn", "--devices", ","], "no devices given"),
        (["--models", "knn", "--test-size", "1000"], "larger than digits's 360"),
        (["--models", "knn", "--train-size", "5"], "smaller than the 10 classes"),
        (["--models", "knn", "--timeout", "0"], "--timeout must be a positive number"),
        (["--models", "knn", "--timeout", "nan"], "--timeout must be a positive number"),
        (["--models", "knn", "--timeout", "soon"], "'soon' is not a valid float"),
        (["--models", "knn", "--target-accuracy", "1.5"], "--target-accuracy must be a fraction"),
        (["--models", "knn", "--target-accuracy", "0"], "--target-accuracy must be a fraction"),
        (["--models", "knn", "--repeats", "-2"], "--repeats must be at least 1"),
        (["--models", "knn", "--threads", "0"], "--threads must be at least 1"),
        (["--models", "knn", "--seed", "-1"], "--seed must be at least 0"),
        (["--models", "knn", "--jobs", "two"], "'two' is not a valid integer"),
        (["--models", "knn", "--modles", "svm"], "No such option '--modles'"),
        (["--models", "knn", "--name", "a/b"], "must be a plain folder name"),
        (["--models", "svn", "--estimate"], "unknown model or tag 'svn'"),
        (["--models", "knn", "--estimate", "--test-size", "1000"], "larger than digits's 360"),
        # Values of the right type that the model's own checks refuse, found by building it.
        (["--models", "torch-cnn", "--param", "torch-cnn.network=big"],
         "torch-cnn: network must be one of notebook, small, not 'big'"),
        (["--models", "torch-cnn-fused", "--param", "torch-cnn-fused.network=small"],
         "torch-cnn-fused: network must be notebook"),
        (["--models", "keras-cnn", "--sweep", "keras-cnn.recipe=sprint,sprnt"],
         "keras-cnn: recipe must be one of"),
    ],
)
def test_bad_input_fails_in_one_line_before_running(
    cli: Cli, tmp_path: Path, args: list[str], message: str
) -> None:
    result = cli("run", "--dataset", "digits", *args)
    assert_one_line_error(result, message, tmp_path / "results")


def test_existing_run_is_never_overwritten(cli: Cli, tmp_path: Path) -> None:
    first = cli("run", "-m", "linear", "-d", "digits", "--name", "mine", "-q")
    assert first.exit_code == 0
    before = (tmp_path / "results" / "mine" / "results.csv").read_bytes()
    again = cli("run", "-m", "knn", "-d", "digits", "--name", "mine", "-q")
    assert again.exit_code == 2
    assert "already holds a run" in again.stderr and "--resume" in again.stderr
    assert (tmp_path / "results" / "mine" / "results.csv").read_bytes() == before


def test_output_dir_that_is_a_file(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("x")
    result = cli("run", "-m", "linear", "-d", "digits", "--output-dir", str(target))
    assert result.exit_code == 2 and "is a file" in result.stderr


def test_resume_rejects_other_run_options(cli: Cli, tmp_path: Path) -> None:
    cli("run", "-m", "linear", "-d", "digits", "--name", "r", "-q")
    result = cli("run", "--resume", str(tmp_path / "results" / "r"), "--models", "knn")
    assert result.exit_code == 2 and "drop --models" in result.stderr
    missing = cli("run", "--resume", str(tmp_path / "nothing-here"))
    assert missing.exit_code == 2 and "is not a folder" in missing.stderr


def test_python_api_returns_the_saved_run_and_its_table(tmp_path: Path) -> None:
    import mlbench

    frame = mlbench.run(models=["linear"], dataset="digits", output_dir=tmp_path,
                        params={"linear": {"fit_intercept": False}}).frame
    assert list(frame["model"]) == ["linear"] and frame["status"].iloc[0] == "ok"
    assert json.loads(frame["params"].iloc[0]) == {"fit_intercept": False}
    assert Path(frame.attrs["run_dir"], "results.parquet").exists()
