"""What a user reads in the terminal and the metrics beside accuracy: the live progress of a
running job (in a real terminal, tmux), `mlbench list` telling which frameworks are there
and each model's defaults, balanced accuracy and log-loss in results.csv, the printed table
and the report."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics
from click.testing import Result

from mlbench.results.folder import RunFolder
from tests.conftest import assert_one_line_error, without_packages

Cli = Callable[..., Result]


def only_run(tmp_path: Path) -> Path:
    (run,) = (tmp_path / "results").iterdir()
    return run


# -- metrics ------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:The y_prob values do not sum to one")  # float32 rows
def test_balanced_accuracy_and_log_loss_in_results_and_report(cli: Cli, tmp_path: Path) -> None:
    # 300 test images: under the 500 whose probabilities are kept, so every image's are saved
    # and log-loss can be recomputed here from the saved arrays, with scikit-learn.
    result = cli("run", "--models", "logistic,naive-bayes,svm,linear", "--dataset", "digits",
                 "--train-size", "600", "--test-size", "300",
                 "--metrics", "log_loss,balanced_accuracy", "--wide", report=True)
    assert result.exit_code == 0, result.output
    run = only_run(tmp_path)
    folder = RunFolder(run)
    frame = pd.read_csv(run / "results.csv").set_index("model")
    labels = folder.test_labels()
    assert labels is not None and len(labels) == 300
    for model, row in frame.iterrows():
        predicted = folder.predicted_labels(str(row["job_id"]))
        assert row["balanced_accuracy"] == pytest.approx(
            sklearn.metrics.balanced_accuracy_score(labels, predicted), abs=1e-12), model
        arrays = folder.saved_arrays(str(row["job_id"]))
        assert arrays is not None
        if model in ("svm", "linear"):  # no predict_proba (SVC without probability=True)
            assert pd.isna(row["log_loss"]) and "probabilities" not in arrays, model
            continue
        assert list(arrays["probability_index"]) == list(range(300))
        expected = sklearn.metrics.log_loss(labels, arrays["probabilities"].astype(np.float64),
                                            labels=list(range(10)))
        # float32 probabilities; naive Bayes gives some true classes ~0, clipped (1e-15 here,
        # float64's eps in scikit-learn): compare loosely where the clip matters.
        tolerance = 1e-5 if model == "logistic" else 0.05
        assert row["log_loss"] == pytest.approx(expected, rel=tolerance), model
    # Logistic regression is far better calibrated than naive Bayes on pixels.
    assert frame.loc["logistic", "log_loss"] < frame.loc["naive-bayes", "log_loss"]

    # The printed table, on request, and the report's results table.
    header = next(line for line in result.stdout.splitlines() if "F1 macro" in line)
    assert "balanced accuracy" in header and "log-loss" in header
    lines = (run / "report.md").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if "balanced accuracy (mean)" in line)
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    table = lines[start:end]  # the results table: its header, rule and rows
    cells = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert "log-loss (mean)" in cells
    rows = {row.split("|")[1].strip(): [cell.strip() for cell in row.strip("|").split("|")]
            for row in table[2:]}
    logistic, svm = rows["logistic"], rows["svm"]
    loss = cells.index("log-loss (mean)")
    assert float(logistic[loss]) == pytest.approx(frame.loc["logistic", "log_loss"], rel=1e-3)
    assert float(logistic[cells.index("balanced accuracy (mean)")]) == pytest.approx(
        frame.loc["logistic", "balanced_accuracy"], abs=1e-3)
    assert not re.search(r"\d", svm[loss])  # empty, not zero, without probabilities


def test_metrics_names_are_checked(cli: Cli, tmp_path: Path) -> None:
    # --metrics, the option's older name, is --columns.
    result = cli("run", "--models", "linear", "--dataset", "digits", "--metrics", "f1")
    assert_one_line_error(result, "unknown results column for --columns 'f1'. Did you mean "
                          "'f1_macro'?", tmp_path / "results")


@pytest.mark.parametrize("wide", [False, True])
def test_final_table_folds_repeats_best_mean_first(cli: Cli, tmp_path: Path,
                                                   wide: bool) -> None:
    """By default one row per model, its repeats folded, most accurate first; --wide: every
    job, each model's repeats together, then the repeats' own table."""
    result = cli("run", "--models", "naive-bayes,logistic,perceptron", "--dataset", "digits",
                 "--train-size", "300", "--test-size", "200", "--repeats", "2", "-q",
                 *(["--wide"] if wide else []))
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(only_run(tmp_path) / "results.csv")
    means = frame.groupby("model")["accuracy"].mean().sort_values(ascending=False)
    # The main table: its rows are the lines before the "Over repeats" table (--wide) or
    # the Summary.
    printed = result.stdout.split("Over repeats" if wide else "Summary:")[0]
    order = [name for line in printed.splitlines()
             for name in [next((m for m in means.index if f" {m} " in line), None)] if name]
    assert order == [model for model in means.index for _ in range(2 if wide else 1)]
    assert ("Over repeats" in result.stdout) == wide
    if not wide:
        for model, mean in means.items():
            line = next(line for line in printed.splitlines() if f" {model} " in line)
            assert " 2 " in line and f"{mean:.4f} (" in line, line


# -- mlbench list -------------------------------------------------------------------------

def test_list_says_which_frameworks_are_missing_and_how_to_install(tmp_path: Path) -> None:
    env = without_packages(tmp_path, "tensorflow", "keras")
    hidden = subprocess.run([sys.executable, "-m", "mlbench.cli", "list"], env=env,
                            capture_output=True, text=True, timeout=120, check=True)
    keras = next(line for line in hidden.stdout.splitlines() if "keras-cnn" in line)
    assert "tensorflow, keras: not installed; pip install 'mlbench[tensorflow]'" in keras
    svm = next(line for line in hidden.stdout.splitlines() if line.startswith("│ svm "))
    assert "sklearn: installed" in svm
    check = subprocess.run([sys.executable, "-c", "import tensorflow"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode != 0 and "ModuleNotFoundError" in check.stderr  # as missing
    if _installed("tensorflow"):  # where it is there, it says so
        shown = subprocess.run([sys.executable, "-m", "mlbench.cli", "list"], capture_output=True,
                               text=True, timeout=120, check=True)
        keras = next(line for line in shown.stdout.splitlines() if "keras-cnn" in line)
        assert "tensorflow, keras: installed" in keras


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_list_params_shows_every_default(cli: Cli) -> None:
    result = cli("list", "--params")
    assert result.exit_code == 0, result.output
    rows = {tuple(cell.strip() for cell in line.strip("│ ").split("│")[:3])
            for line in result.stdout.split("Parameters")[1].splitlines() if "│" in line}
    assert ("svm", "C", "5.0") in rows and ("svm", "cache_size", "2000") in rows
    assert ("knn", "n_neighbors", "3") in rows and ("mlp", "hidden_layer_sizes", "(100,)") in rows
    assert ("keras-cnn", "compile", "False") in rows and ("torch-cnn", "epochs", "5") in rows
    assert "Parameters" not in cli("list").stdout


# -- live progress, in a real terminal ----------------------------------------------------


# Three epochs of 1.4 s each: its history_ grows while it fits, as a CNN's does.
EPOCHS_PLUGIN = """
import time
import numpy as np
import mlbench

class Slow(mlbench.Model):
    name = "slow"
    defaults = {"epochs": 3, "epoch_seconds": 1.4}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.history_ = []

    def fit(self, X, y):
        for epoch in range(1, self.params["epochs"] + 1):
            time.sleep(self.params["epoch_seconds"])
            self.history_.append({"epoch": epoch, "epoch_seconds": self.params["epoch_seconds"]})
        self.majority_ = int(np.bincount(y).argmax())
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)

@mlbench.hookimpl
def mlbench_register_models(register):
    register(Slow)
"""


@pytest.mark.long
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_running_job_shows_its_clock_and_epochs_moving_then_the_time_expected(
        tmp_path: Path, write_plugin: Callable[[str, str], Path]) -> None:
    """A real `mlbench run` in a tmux pane, of a model whose fit takes three epochs of 1.4 s,
    twice (two repeats): the first repeat's clock moves between two captures 2.5 s apart, its
    fit phase and epochs are shown and its end line gives the job's time; the second repeat
    shows how long the first took."""
    plugin = write_plugin("slow", EPOCHS_PLUGIN)
    socket = f"mlbench-test-{os.getpid()}"
    command = (f"{sys.executable} -m mlbench.cli run --plugin {plugin} --models slow "
               "--dataset digits --train-size 100 --test-size 50 --repeats 2 --no-report "
               f"-o {tmp_path / 'results'}; sleep 60")
    tmux = ["tmux", "-L", socket]
    subprocess.run([*tmux, "new-session", "-d", "-x", "160", "-y", "20", command], check=True,
                   env={**os.environ, "TERM": "xterm-256color"})
    try:
        first = _wait_for_pane(tmux, r"repeat 0 .*?(\d+:\d\d) elapsed")
        time.sleep(2.5)
        later = _wait_for_pane(tmux, r"repeat 0 .*?(\d+:\d\d) elapsed")
        assert _seconds(later) >= _seconds(first) + 2, (first, later)
        # Fit, its own clock and its epochs; the job's clock after them.
        _wait_for_pane(tmux, r"repeat 0 .*?fit \d+:\d\d, epoch [123]/3 done; \d+:\d\d elapsed")
        # Its end line: the whole job's time beside fit's and predict's.
        _wait_for_pane(tmux, r"repeat 0: ok \(.*fit \d+\.\d\d s, predict \d+\.\d\d s; job \d")
        # Repeat 1: the same job, so repeat 0's time (4.2 s and more) is shown.
        _wait_for_pane(tmux, r"repeat 1 .*?\d+:\d\d, took 0:0[4-9] before")
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)


def _wait_for_pane(tmux: list[str], pattern: str, seconds: float = 60) -> str:
    deadline = time.monotonic() + seconds
    pane = ""
    while time.monotonic() < deadline:
        pane = subprocess.run([*tmux, "capture-pane", "-p"], capture_output=True, text=True,
                              check=True).stdout
        found = re.search(pattern, pane)
        if found:
            return found.group(1) if found.groups() else found.group(0)
        time.sleep(0.2)
    raise AssertionError(f"never matched {pattern!r}; the pane:\n{pane}")


def _seconds(clock: str) -> int:
    minutes, seconds = clock.split(":")
    return int(minutes) * 60 + int(seconds)


# -- a job's phases ----------------------------------------------------------------------


# Nearest centroid, whose fit and predict each first wait (30 s at most) for a file named
# after their phase: the test writes it once the run's progress was told of that phase, so
# every phase is seen however the parent's twice-a-second look falls.
HANDSHAKE_PLUGIN = """
import time
from pathlib import Path
import numpy as np
import mlbench

def wait_for(path):
    deadline = time.monotonic() + 30
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)

class Handshake(mlbench.Model):
    name = "handshake"
    defaults = {"folder": ""}

    def fit(self, X, y):
        wait_for(Path(self.params["folder"]) / "fit")
        X = X.reshape(len(X), -1)
        self.classes_ = np.unique(y)
        self.centroids_ = np.stack([X[y == label].mean(axis=0) for label in self.classes_])
        return self

    def predict(self, X):
        wait_for(Path(self.params["folder"]) / "predict")
        X = X.reshape(len(X), -1)
        distances = ((X[:, None, :] - self.centroids_[None]) ** 2).sum(axis=2)
        return self.classes_[distances.argmin(axis=1)]

@mlbench.hookimpl
def mlbench_register_models(register):
    register(Handshake)
"""


def test_a_running_job_tells_its_phases_in_order_through_the_local_executor(
        tmp_path: Path, write_plugin: Callable[[str, str], Path]) -> None:
    import mlbench
    from mlbench.running.jobs import PHASES, JobSpec, Phase
    from mlbench.running.progress import Progress

    class Phases(Progress):
        def __init__(self) -> None:
            self.told: list[str] = []

        def phase(self, spec: JobSpec, phase: Phase) -> None:
            self.told.append(phase)
            (tmp_path / phase).touch()  # lets the model go on

    plugin = write_plugin("handshake", HANDSHAKE_PLUGIN)
    progress = Phases()
    frame = mlbench.run(["handshake"], "digits", plugins=[str(plugin)], progress=progress,
                        params={"handshake": {"folder": str(tmp_path)}},
                        output_dir=tmp_path / "results").frame
    assert frame["status"].tolist() == ["ok"] and frame["accuracy"].iloc[0] > 0.8
    # Finishing (the model's size) is too short to be seen every time.
    assert progress.told in (["start-up", "fit", "predict"], list(PHASES)), progress.told


def test_the_worker_begins_fit_predict_and_finishing_in_order_with_a_real_model() -> None:
    """In the job's own process every phase is told as it begins, however short."""
    from mlbench.contract.registry import load_registry
    from mlbench.datasets import DataRef, LoadRequest, cache_dir
    from mlbench.results.run_config import RunConfig
    from mlbench.running import planning
    from mlbench.running.jobs import Phase
    from mlbench.running.worker import run_job

    registry = load_registry(())
    dataset = registry.dataset("digits").loader(LoadRequest(cache_dir()))
    assert dataset.folder is not None
    [spec], _ = planning.plan(RunConfig(models=["linear"], dataset="digits"), registry,
                              DataRef(dataset.folder, dataset.pixel_max))
    told: list[Phase] = []
    record, _ = run_job(spec, on_phase=told.append)
    assert record.status == "ok", record.error
    assert told == ["fit", "predict", "finishing"]


def test_a_running_jobs_line_shows_its_phase_with_its_own_clock(tmp_path: Path) -> None:
    """The live bar's text as ConsoleProgress is told a job's start, phases and epochs, on a
    clock the test moves."""
    from rich.progress import Progress as LiveBar

    from mlbench.cli.live_progress import ConsoleProgress, JobClock
    from mlbench.datasets import DataRef
    from mlbench.running.jobs import JobSpec

    now = [100.0]
    shown = ConsoleProgress()
    shown.bar = LiveBar(JobClock(), get_time=lambda: now[0], disable=True)
    spec = JobSpec(job_id="torch-cnn-cpu-r0", model="torch-cnn", plugin="cnn", device="cpu",
                   repeat=0, seed=0, params={"epochs": 5}, data=DataRef(tmp_path, 255.0))

    def line(at: float) -> str:
        now[0] = at
        [task] = shown.bar.tasks  # type: ignore[union-attr]
        return JobClock().render(task).plain

    shown.started(spec)
    assert line(100) == "0:00 elapsed"  # no phase told (the Dask executor): the job's clock
    shown.phase(spec, "start-up")
    assert line(124) == "start-up 0:24 elapsed"  # start-up's clock is the job's
    now[0] = 127
    shown.phase(spec, "fit")
    assert line(131) == "fit 0:04; 0:31 elapsed"
    shown.epoch(spec, 1)
    assert line(132.5) == "fit 0:05, epoch 1/5 done; 0:32 elapsed"
    now[0] = 137
    shown.phase(spec, "predict")  # the epochs were fit's
    assert line(138) == "predict 0:01; 0:38 elapsed"
    shown.bar.update(shown.tasks[spec.job_id], expected=38.4)  # as an earlier run took
    assert line(139) == "predict 0:02; 0:39, took 0:38 before"


def test_the_end_line_says_the_jobs_time_and_a_start_up_that_took_much_of_it() -> None:
    from mlbench.cli.live_progress import outcome_text

    cnn = {"status": "ok", "accuracy": 0.9861, "fit_seconds": 9.91, "predict_seconds": 0.52,
           "job_seconds": 38.2, "setup_seconds": 27.1}
    assert outcome_text(cnn) == (
        "test accuracy 0.9861, fit 9.91 s, predict 0.52 s; job 38 s (start-up 27 s)")
    # A start-up under 1 s, or under a fifth of the job, is not worth the words.
    assert outcome_text({**cnn, "job_seconds": 4.5, "setup_seconds": 0.9}).endswith(
        "predict 0.52 s; job 4.5 s")
    assert outcome_text({**cnn, "setup_seconds": 7.0}).endswith("predict 0.52 s; job 38 s")
    assert outcome_text({**cnn, "setup_seconds": None}).endswith("predict 0.52 s; job 38 s")
    # Nor is a job under a second, nor a record from before job_seconds: as they were.
    for short in ({**cnn, "job_seconds": 0.6, "setup_seconds": 0.5}, {**cnn, "job_seconds": None}):
        assert outcome_text(short).endswith("predict 0.52 s"), short
