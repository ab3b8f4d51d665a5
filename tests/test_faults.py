"""Faults and bad input: the run folder checked before training, atomic writes, lying
plugins, a corrupt cache in a real run, nothing unpickled, no secrets recorded, and runs
killed at random moments that --resume always completes.

Bad command-line values are in test_cli.py (test_bad_input_fails_in_one_line_before_running),
SIGINT and SIGTERM in test_runner.py (test_interrupted_run_resumes_only_missing_jobs), a
damaged .npy cache in test_datasets.py; docs/troubleshooting.md lists them all.
"""

from __future__ import annotations

import ast
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import matplotlib.figure
import numpy as np
import pandas as pd
import pytest
from click.testing import Result

from mlbench.reporting.report import build_report
from mlbench.results.folder import RunFolder, write_atomic
from mlbench.results.run import Run

Cli = Callable[..., Result]
ROOT = Path(__file__).resolve().parents[1]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def one_error_line(result: Result) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlbench: error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory, session_cache: Path) -> Path:
    """A small real run, with its report, that tests copy or only read."""
    import mlbench

    output = tmp_path_factory.mktemp("finished")
    with pytest.MonkeyPatch.context() as patch:  # as conftest's `isolated`, for this module
        patch.setenv("MLBENCH_LOAD_PLUGINS", "scikit-learn")
        patch.setenv("MLBENCH_CACHE_DIR", str(session_cache))
        patch.delenv("MLBENCH_PLUGINS", raising=False)
        frame = mlbench.run(models=["linear", "naive-bayes"], dataset="digits",
                            output_dir=output, name="done", train_size=400, test_size=200).frame
        build_report(Run.open(frame.attrs["run_dir"]))
    return Path(frame.attrs["run_dir"])


# -- the run folder is checked before any training ------------------------------------------

def test_run_folder_that_holds_a_run_is_refused_and_kept(
    cli: Cli, tmp_path: Path, finished_run: Path
) -> None:
    before = snapshot(finished_run)
    line = one_error_line(cli("run", "-m", "knn", "-d", "digits", "-o",
                              str(finished_run.parent), "--name", finished_run.name))
    assert line == (f"mlbench: error: {finished_run} already holds a run; choose another "
                    f"--name or use --resume {finished_run}")
    assert snapshot(finished_run) == before


def test_run_folder_with_other_files_is_refused_and_kept(cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "results" / "mine"
    target.mkdir(parents=True)
    (target / "notes.txt").write_text("my notes")
    line = one_error_line(cli("run", "-m", "knn", "-d", "digits", "--name", "mine"))
    assert "mine is not empty and holds no mlbench run; choose another --name" in line
    assert [p.name for p in target.iterdir()] == ["notes.txt"]


def test_run_name_that_is_a_file(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "taken").write_text("x")
    line = one_error_line(cli("run", "-m", "knn", "-d", "digits", "--name", "taken"))
    assert line.endswith("results/taken is a file; choose another --name")
    assert (tmp_path / "results" / "taken").read_text() == "x"


def test_leftovers_of_a_run_killed_as_it_started_do_not_block_its_name(
    cli: Cli, tmp_path: Path
) -> None:
    target = tmp_path / "results" / "again"
    target.mkdir(parents=True)
    (target / ".run.json.k1ll3d").write_text("{")  # write_atomic's temporary, cut short
    result = cli("run", "-m", "naive-bayes", "-d", "digits", "--name", "again", "-q",
                 "--no-report")
    assert result.exit_code == 0, result.output
    assert (target / "results.csv").exists()


@pytest.mark.parametrize("where", ["read-only folder", "under /proc"])
def test_unwritable_output_folder(cli: Cli, tmp_path: Path, where: str) -> None:
    if where == "read-only folder":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders; the /proc case covers root")
        output = tmp_path / "locked"
        output.mkdir()
        output.chmod(0o555)
    else:
        output = Path("/proc/mlbench-cannot-write-here")
    line = one_error_line(cli("run", "-m", "knn", "-d", "digits", "-o", str(output)))
    assert f"cannot write to {output}/" in line and "choose another --output-dir" in line


# -- every write of results is atomic --------------------------------------------------------

def test_write_atomic_keeps_the_old_file_when_the_write_fails_midway(tmp_path: Path) -> None:
    target = tmp_path / "results.csv"
    target.write_text("the good table\n")

    def crash_midway(path: Path) -> None:
        with open(path, "w") as stream:
            stream.write("half a ta")
            stream.flush()
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, crash_midway)
    assert target.read_text() == "the good table\n"
    assert [p.name for p in tmp_path.iterdir()] == ["results.csv"]  # no temporary left


def crash_midway(original: Callable[..., Any], destination: Callable[..., Any]
                 ) -> Callable[..., Any]:
    """``original``, broken: writes a few bytes to where it was told to write, then fails,
    as a crash or a full disk would."""

    def broken(*args: Any, **kwargs: Any) -> Any:
        target = destination(*args)
        if hasattr(target, "write"):
            target.write(b"partial")
        else:
            Path(target).write_bytes(b"partial")
        raise OSError("simulated crash mid-write")

    return broken


# (the file, the library call that writes it, where that call writes, how mlbench writes it)
WRITERS: list[tuple[str, Any, str, Callable[..., Any], Callable[[RunFolder], Any]]] = [
    ("results.csv", pd.DataFrame, "to_csv", lambda self, path, *a: path,
     lambda folder: folder.write_table()),
    ("results.parquet", pd.DataFrame, "to_parquet", lambda self, path, *a: path,
     lambda folder: folder.write_table()),
    ("predictions/linear-cpu-r0.npz", np, "savez_compressed", lambda file, *a: file,
     lambda folder: folder.save_job(dict(folder.records()[0], accuracy=0.0),
                                    {"predicted": np.zeros(200, dtype=np.int16)})),
    ("test_labels.npy", np, "save", lambda file, *a: file,
     lambda folder: folder.save_test_labels(np.zeros(200, dtype=np.int64))),
    ("test_images.npz", np, "savez", lambda file, *a: file,
     lambda folder: folder.save_test_images(np.zeros((200, 8, 8), np.uint8), 16.0)),
    ("run.json", Path, "write_text", lambda self, *a: self,
     lambda folder: folder.write_run({"mlbench": "overwritten"})),
    ("jobs/linear-cpu-r0.json", Path, "write_text", lambda self, *a: self,
     lambda folder: folder.save_job(dict(folder.records()[0], accuracy=0.0), {})),
    ("report.md", Path, "write_text", lambda self, *a: self,
     lambda folder: build_report(Run(folder))),
    ("charts/accuracy.png", matplotlib.figure.Figure, "savefig",
     lambda self, path, *a: path, lambda folder: build_report(Run(folder))),
]


@pytest.mark.parametrize(("target", "owner", "name", "destination", "write"), WRITERS,
                         ids=[w[0] for w in WRITERS])
def test_a_crash_mid_write_leaves_every_previous_file_whole(
    tmp_path: Path, finished_run: Path, monkeypatch: pytest.MonkeyPatch, target: str,
    owner: Any, name: str, destination: Callable[..., Any], write: Callable[[RunFolder], Any]
) -> None:
    run = tmp_path / finished_run.name
    subprocess.run(["cp", "-a", str(finished_run), str(run)], check=True)
    before = snapshot(run)
    assert target in before
    monkeypatch.setattr(owner, name, crash_midway(getattr(owner, name), destination))
    with pytest.raises(OSError, match="simulated crash mid-write"):
        write(RunFolder(run))
    monkeypatch.undo()
    after = snapshot(run)
    assert after[target] == before[target], f"a failed write changed {target}"
    damaged = [path for path, data in after.items() if data.startswith(b"partial")]
    assert damaged == [] and set(before) <= set(after), damaged
    assert not [path for path in after if Path(path).name.startswith(".")]  # no temporaries


# -- a corrupt cache in a real run -----------------------------------------------------------

def test_run_rebuilds_a_corrupt_cache_with_one_warning(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLBENCH_CACHE_DIR", str(tmp_path / "cache"))
    first = cli("run", "-m", "naive-bayes", "-d", "digits", "--name", "a", "-q", "--no-report")
    assert first.exit_code == 0 and "warning" not in first.stderr
    target = tmp_path / "cache" / "digits" / "arrays" / "y_train.npy"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0x01  # one label changed: a valid file of the right shape, wrong data
    target.write_bytes(bytes(data))
    second = cli("run", "-m", "naive-bayes", "-d", "digits", "--name", "b", "-q", "--no-report")
    assert second.exit_code == 0, second.output
    warnings = [line for line in second.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "y_train.npy" in warnings[0] and "SHA-256" in warnings[0]
    assert warnings[0].endswith("; rebuilding them")
    accuracy = [pd.read_csv(tmp_path / "results" / n / "results.csv")["accuracy"].iloc[0]
                for n in "ab"]
    assert accuracy[0] == accuracy[1]  # trained on the rebuilt, correct data


# -- a plugin that breaks the contract -------------------------------------------------------

LYING_PLUGIN = '''
import numpy as np
import mlbench

class Liar(mlbench.Model):
    """Fits nothing; predicts what its name says."""
    defaults = {}

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return self.lie(len(X))

    def lie(self, n):
        return np.full(n, self.classes_[0])


def liar(name, predict=None, proba=None):
    members = {"name": name}
    if predict is not None:
        members["lie"] = lambda self, n: predict(n)
    if proba is not None:
        members["predict_proba"] = lambda self, X: proba(len(X))
    return type(name.replace("-", "_"), (Liar,), members)


LIARS = [
    liar("none", predict=lambda n: None),
    liar("text", predict=lambda n: np.array(["seven"] * n)),
    liar("fractions", predict=lambda n: np.full(n, 2.5)),
    liar("nans", predict=lambda n: np.full(n, np.nan)),
    liar("matrix", predict=lambda n: np.zeros((n, 10), dtype=int)),
    liar("whole-floats", predict=lambda n: np.full(n, 3.0)),
    liar("nan-proba", proba=lambda n: np.full((n, 10), np.nan)),
    liar("short-proba", proba=lambda n: np.full((n - 1, 10), 0.1)),
    liar("text-proba", proba=lambda n: "certainly"),
]


@mlbench.hookimpl
def mlbench_register_models(register):
    for model in LIARS:
        register(model)
'''

LIES = {
    "none": "predict() returned shape () for 200 test images",
    "text": "predict() returned <U5 values, not integer class labels (first: ['seven',",
    "fractions": "predict() returned float64 values, not integer class labels (first: [2.5,",
    "nans": "predict() returned float64 values, not integer class labels (first: [nan,",
    "matrix": "predict() returned shape (200, 10) for 200 test images",
    "nan-proba": "predict_proba() returned 2000 NaN or infinite probabilities",
    "short-proba": "predict_proba() returned shape (199, 10) for 200 images",
    "text-proba": "predict_proba() returned str, not an array of probabilities",
}


def test_a_plugin_that_breaks_the_contract_gets_a_failed_row_naming_it(
    cli: Cli, tmp_path: Path, write_plugin: Callable[[str, str], Path]
) -> None:
    plugin = write_plugin("liars", LYING_PLUGIN)
    models = ",".join([*LIES, "whole-floats", "naive-bayes"])
    result = cli("run", "--plugin", str(plugin), "-m", models, "-d", "digits", "--name", "t",
                 "--train-size", "400", "--test-size", "200", "-q", "--no-report")
    assert result.exit_code == 1, result.output
    frame = pd.read_csv(tmp_path / "results" / "t" / "results.csv").set_index("model")
    for model, lie in LIES.items():
        assert frame.loc[model, "status"] == "failed", model
        assert frame.loc[model, "error"].startswith(
            f"ContractError: plugin 'liars': model '{model}' "), frame.loc[model, "error"]
        assert lie in frame.loc[model, "error"], frame.loc[model, "error"]
    # Whole numbers in a float array are labels; the honest model is unharmed.
    assert frame.loc["whole-floats", "status"] == "ok"
    assert frame.loc["naive-bayes", "status"] == "ok"


# -- nothing is unpickled, nothing secret is recorded ----------------------------------------

UNPICKLERS = {"load", "loads", "Unpickler", "read_pickle"}


def test_no_code_path_unpickles() -> None:
    """Every np.load says allow_pickle=False; nothing calls pickle/joblib/pandas loaders."""
    problems = []
    for path in sorted([*(ROOT / "mlbench").rglob("*.py"), *(ROOT / "plugins").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            owner = ast.unparse(node.func.value)
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if owner in ("np", "numpy") and node.func.attr == "load":
                safe = any(k.arg == "allow_pickle" and isinstance(k.value, ast.Constant)
                           and k.value.value is False for k in node.keywords)
                if not safe:
                    problems.append(f"{where}: np.load without allow_pickle=False")
            elif owner in ("pickle", "joblib", "dill", "cloudpickle", "torch") and (
                    node.func.attr in UNPICKLERS):
                problems.append(f"{where}: {owner}.{node.func.attr}")
            elif node.func.attr == "read_pickle":
                problems.append(f"{where}: read_pickle")
    assert problems == []


def test_a_planted_pickle_in_a_run_folder_is_refused_not_run(
    tmp_path: Path, finished_run: Path
) -> None:
    run = tmp_path / "run"
    subprocess.run(["cp", "-a", str(finished_run), str(run)], check=True)
    marker = tmp_path / "unpickled"
    payload = np.array([Trap(marker)], dtype=object)
    np.save(run / "test_labels.npy", payload, allow_pickle=True)
    with open(run / "predictions" / "linear-cpu-r0.npz", "wb") as stream:
        np.savez(stream, predicted=payload)
    with pytest.raises(ValueError, match="allow_pickle=False"):
        RunFolder(run).test_labels()
    with pytest.raises(ValueError, match="allow_pickle=False"):
        Run.open(run).predicted_labels("linear-cpu-r0")
    assert not marker.exists()


class Trap:
    """Unpickling this touches a file: proof that something unpickled it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def test_no_secret_from_the_environment_is_recorded(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "s3cr3t-7f9c2e-do-not-record"
    for name in ("AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "MLBENCH_TEST_PASSWORD"):
        monkeypatch.setenv(name, secret)
    result = cli("run", "-m", "linear", "-d", "digits", "--name", "t", "-q", report=True)
    assert result.exit_code == 0, result.output
    run = tmp_path / "results" / "t"
    files = snapshot(run)
    assert "report.html" in files and "run.json" in files and "results.parquet" in files
    leaks = [path for path, data in files.items()
             if secret.encode() in data or b"AWS_SECRET_ACCESS_KEY" in data]
    assert leaks == []
    assert "environ" not in json.loads(files["run.json"])["machine"]


# -- killed at random moments, --resume always completes -------------------------------------

MODELS = ["linear", "naive-bayes", "knn"]
REPEATS = 2
KILLED_RUN = ["-m", ",".join(MODELS), "-d", "digits", "--train-size", "500", "--test-size",
              "200", "--repeats", str(REPEATS), "-q", "--no-report"]


def mlbench_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "mlbench.cli", *args]


def finish(run_dir: Path) -> subprocess.CompletedProcess[str]:
    """What a user does after a killed run: resume it, or start it again if it had not yet
    written its settings (then its folder is empty or holds only temporary files)."""
    if (run_dir / "run.json").exists():
        command = mlbench_command("run", "--resume", str(run_dir), "--no-report", "-q")
    else:
        command = mlbench_command("run", *KILLED_RUN, "-o", str(run_dir.parent),
                                  "--name", run_dir.name)
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def assert_complete_and_consistent(run_dir: Path) -> None:
    expected = sorted(f"{m}-cpu-r{r}" for m in MODELS for r in range(REPEATS))
    records = {p.stem: json.loads(p.read_text()) for p in (run_dir / "jobs").glob("*.json")}
    assert sorted(records) == expected
    table = pd.read_csv(run_dir / "results.csv")
    assert sorted(table["job_id"]) == expected  # every job exactly once
    for row in table.to_dict("records"):
        record = records[row["job_id"]]
        assert row["status"] == record["status"] == "ok"
        assert row["accuracy"] == pytest.approx(record["accuracy"])
        assert (run_dir / "predictions" / f"{row['job_id']}.npz").exists()
    assert pd.read_parquet(run_dir / "results.parquet")["job_id"].tolist() == (
        table["job_id"].tolist())
    assert json.loads((run_dir / "run.json").read_text())["complete"] is True
    assert not [p for p in run_dir.rglob(".*")], "temporary files left behind"


@pytest.fixture
def trials() -> Iterator[random.Random]:
    seed = int(os.environ.get("MLBENCH_KILL_SEED", time.time_ns() % 10**6))
    print(f"random kills with MLBENCH_KILL_SEED={seed}")
    yield random.Random(seed)


def kill_and_finish(run_dir: Path, stop: signal.Signals, delay: float) -> int:
    """Start a run, send it ``stop`` after ``delay`` seconds, then finish it; returns the
    killed run's exit code."""
    process = subprocess.Popen(mlbench_command("run", *KILLED_RUN, "-o", str(run_dir.parent),
                                               "--name", run_dir.name),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=60)
    # SIGTERM is caught once the CLI is running (143); before that it kills (-15), as
    # SIGKILL does (-9); a run that was already over exits 0.
    assert process.returncode in (0, 143, -signal.SIGTERM, -signal.SIGKILL), stderr
    finished = finish(run_dir)
    assert finished.returncode == 0, (stop.name, delay, finished.stderr)
    assert_complete_and_consistent(run_dir)
    return process.returncode


@pytest.mark.long
def test_runs_killed_at_random_moments_always_resume_to_a_complete_table(
    tmp_path: Path, trials: random.Random
) -> None:
    started = time.monotonic()
    whole = subprocess.run(mlbench_command("run", *KILLED_RUN, "-o", str(tmp_path),
                                           "--name", "whole"),
                           capture_output=True, text=True, timeout=120)
    assert whole.returncode == 0, whole.stderr
    duration = time.monotonic() - started
    plan = [(tmp_path / f"trial{trial}", trials.choice([signal.SIGKILL, signal.SIGTERM]),
             trials.uniform(0.0, duration)) for trial in range(20)]
    # Two trials at a time (one per core of a small machine): each is its own run folder.
    with ThreadPoolExecutor(max_workers=2) as pool:
        codes = list(pool.map(lambda trial: kill_and_finish(*trial), plan))
    print([(stop.name, round(delay, 2), code) for (_, stop, delay), code in zip(
        plan, codes, strict=True)], f"{time.monotonic() - started:.0f} s")


SCRIPT = """
import mlbench
{indent}results = mlbench.run(models=["naive-bayes"], dataset="digits", output_dir={out!r})
{indent}print("accuracy", results.frame["accuracy"].iloc[0])
"""


def test_a_script_must_guard_its_mlbench_run_call(tmp_path: Path) -> None:
    """Worker processes import the user's script, as multiprocessing does: an unguarded
    mlbench.run() is one clear error, not rows of crashed jobs; a guarded one runs."""
    out = tmp_path / "results"
    unguarded = tmp_path / "unguarded.py"
    unguarded.write_text(SCRIPT.format(indent="", out=str(out)))
    guarded = tmp_path / "guarded.py"
    guarded.write_text(SCRIPT.format(indent="    ", out=str(out)).replace(
        "\n    results", "\nif __name__ == '__main__':\n    results", 1))

    bad = subprocess.run([sys.executable, str(unguarded)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert bad.returncode != 0 and "accuracy" not in bad.stdout
    assert bad.stderr.strip().splitlines()[-1].startswith(
        "mlbench.errors.UsageError: worker processes could not start")
    assert 'call it under `if __name__ == "__main__":`' in bad.stderr.splitlines()[-1]

    good = subprocess.run([sys.executable, str(guarded)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert good.returncode == 0, good.stderr
    assert 0.5 < float(good.stdout.split("accuracy")[1]) <= 1


def test_sigterm_turned_into_another_error_still_exits_as_terminated() -> None:
    """A SIGTERM that lands while a C extension imports (seen: scipy's highspy, under the
    random kills above) comes out as that extension's ImportError, not as Terminated: the
    command must still exit 143, not 1. The extension's conversion is imitated here; the
    signal and its handler are real."""
    from mlbench.cli.commands import EXIT_TERMINATED, friendly
    from mlbench.errors import Terminated

    @friendly
    def command() -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises before this ends
        except Terminated as error:
            raise ImportError("initialization failed") from error

    with pytest.raises(SystemExit) as exited:
        command()
    assert exited.value.code == EXIT_TERMINATED

    @friendly
    def failing() -> None:
        raise ImportError("a real import failure")

    with pytest.raises(ImportError, match="a real import failure"):  # no SIGTERM: unchanged
        failing()
