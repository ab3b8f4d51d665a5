"""Export to MLflow (`mlbench export mlflow`, `mlbench run --mlflow`): against a real MLflow
tracking server started on 127.0.0.1 and against MLflow's own default local store, read back
with MLflow's own client. The server starts once for the module, in the long lane (it takes
10 s or more on 2 cores), as the CNN does; the default store's tests are in the default one."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
from click.testing import Result

from tests.conftest import assert_one_line_error, free_port, stderr_lines, without_packages

mlflow = pytest.importorskip("mlflow")
from mlflow import MlflowClient  # noqa: E402 (after the skip where MLflow is missing)

Cli = Callable[..., Result]
PARENT = "mlflow.parentRunId"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` on a free port of 127.0.0.1, its runs in its own SQLite file
    and its artifacts in its own folder (uploaded through it), stopped after the module."""
    folder = tmp_path_factory.mktemp("mlflow-server")
    uri = f"http://127.0.0.1:{free_port()}"
    log = folder / "server.log"
    env = {name: value for name, value in os.environ.items() if not name.startswith("MLFLOW_")}
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
             "--port", uri.rsplit(":", 1)[1], "--workers", "1",
             "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
             "--artifacts-destination", str(folder / "artifacts")],
            cwd=folder, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True)  # its own process group: the server and its workers
    try:
        deadline = time.monotonic() + 180
        while not _answers(uri):
            assert process.poll() is None, f"mlflow server exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no answer:\n{log.read_text()[-3000:]}"
            time.sleep(0.5)
        yield uri
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _answers(uri: str) -> bool:
    try:
        return requests.get(f"{uri}/health", timeout=5).ok
    except requests.RequestException:
        return False


@pytest.fixture
def local_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current folder is tmp_path, with no MLFLOW_TRACKING_URI: MLflow's default store
    (and any artifacts) land there, whatever this MLflow version's default is."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def exported(client: Any, experiment: str = "mlbench") -> tuple[Any, list[Any]]:
    """The one parent in ``experiment`` and its children, ordered by name (the job id)."""
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no experiment {experiment!r}"
    runs = client.search_runs([found.experiment_id])
    parents = [run for run in runs if PARENT not in run.data.tags]
    assert len(parents) == 1, [run.info.run_name for run in parents]
    children = [run for run in runs if run.data.tags.get(PARENT) == parents[0].info.run_id]
    assert len(children) == len(runs) - 1  # nothing else in the experiment
    return parents[0], sorted(children, key=lambda run: run.info.run_name)


def results(run: Path) -> pd.DataFrame:
    return pd.read_csv(run / "results.csv").set_index("job_id")


def assert_jobs_match(children: list[Any], run: Path) -> None:
    """One child per job, named by it, holding its accuracy (inside its 95% interval), fit
    time, memory, params and tags as the run folder has them."""
    table = results(run)
    assert [child.info.run_name for child in children] == sorted(table.index)
    for child in children:
        row, metrics = table.loc[child.info.run_name], child.data.metrics
        assert child.info.status == "FINISHED"
        assert child.data.tags["mlbench.job_id"] == child.info.run_name
        assert child.data.tags["model"] == row["model"]
        assert child.data.tags["device"] == "cpu" and child.data.tags["status"] == "ok"
        assert child.data.tags["dataset"] == row["dataset"]
        assert metrics["accuracy"] == pytest.approx(row["accuracy"])
        assert metrics["fit_seconds"] == pytest.approx(row["fit_seconds"])
        assert metrics["peak_memory_mb"] == pytest.approx(row["peak_memory_mb"])
        assert metrics["accuracy_ci_low"] <= metrics["accuracy"] <= metrics["accuracy_ci_high"]
        assert metrics["accuracy_ci_low"] < metrics["accuracy_ci_high"]
        assert child.data.params["mlbench.seed"] == "0"
        assert child.data.params["mlbench.test_size"] == str(row["test_size"])
    knn = next(child for child in children if child.data.tags["model"] == "knn")
    assert knn.data.params["n_neighbors"] == "3" and knn.data.params["weights"] == "uniform"


@pytest.mark.long  # the server takes 10 s or more to start on 2 cores
def test_export_to_a_real_server_nests_one_run_per_job_and_never_duplicates(
        cli: Cli, tmp_path: Path, server: str) -> None:
    assert cli("run", "-m", "knn,logistic", "-d", "digits", "--name", "t", "-q",
               report=True).exit_code == 0
    run = tmp_path / "results" / "t"

    export = ("export", "mlflow", str(run), "--tracking-uri", server, "--experiment", "trials")
    result = cli(*export)
    assert result.exit_code == 0, result.output
    client = MlflowClient(tracking_uri=server)
    parent, children = exported(client, "trials")
    line = (f"mlbench: exported t to MLflow run {parent.info.run_id} (experiment 'trials', "
            f"{server}/#/experiments/{parent.info.experiment_id}/runs/{parent.info.run_id}"
            "): 2 jobs\n")
    assert result.stdout == line and stderr_lines(result) == []

    assert parent.info.run_name == "t" and parent.info.status == "FINISHED"
    assert parent.data.params["dataset"] == "digits"
    assert parent.data.params["models"] == '["knn", "logistic"]'
    assert parent.data.tags["mlbench.run_dir"] == str(run.resolve())
    assert parent.data.tags["commit"] == parent.data.tags["mlflow.source.git.commit"] != ""
    assert parent.data.tags["cpu"] and parent.data.tags["machine"]
    assert_jobs_match(children, run)
    # The report, uploaded through the server: every file of it, byte for byte.
    names = {item.path for item in client.list_artifacts(parent.info.run_id)}
    assert names == {"report.html", "report.md", "charts"}
    charts = {item.path for item in client.list_artifacts(parent.info.run_id, "charts")}
    assert charts == {f"charts/{path.name}" for path in (run / "charts").iterdir()}
    copy = Path(client.download_artifacts(parent.info.run_id, "report.md",
                                          str(tmp_path / "download")))
    assert copy.read_bytes() == (run / "report.md").read_bytes()

    # Again: found by the run's identity, nothing added, said in one line.
    again = cli(*export)
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith(f"mlbench: t is already in MLflow run {parent.info.run_id} ")
    assert again.stdout.endswith("with its 2 jobs; nothing exported\n")
    assert [child.info.run_id for child in exported(client, "trials")[1]] == [
        child.info.run_id for child in children]

    # A job MLflow lacks (here deleted; after --resume, a new one) is added, alone.
    client.delete_run(children[0].info.run_id)
    added = cli(*export)
    assert added.exit_code == 0, added.output
    assert added.stdout.endswith("): 1 job, beside 1 exported before\n")
    after = exported(client, "trials")[1]
    assert len(after) == 2 and after[1].info.run_id == children[1].info.run_id
    assert_jobs_match(after, run)

    # An export cut short leaves MLflow runs unfinished: the next export redoes that job
    # (the half-done run deleted) and finishes the parent.
    client.update_run(after[0].info.run_id, status="RUNNING")
    client.update_run(parent.info.run_id, status="RUNNING")
    redone = cli(*export)
    assert redone.exit_code == 0, redone.output
    assert redone.stdout.endswith("): 1 job, beside 1 exported before\n")
    last_parent, last = exported(client, "trials")
    assert last_parent.info.status == "FINISHED"
    assert client.get_run(after[0].info.run_id).info.lifecycle_stage == "deleted"
    assert after[0].info.run_id not in {child.info.run_id for child in last}
    assert_jobs_match(last, run)


@pytest.mark.long
def test_a_cnn_s_history_becomes_step_metrics(cli: Cli, tmp_path: Path, server: str) -> None:
    assert cli("run", "-m", "torch-cnn", "-d", "mnist-5k", "--train-size", "500",
               "--test-size", "200", "-p", "torch-cnn.epochs=2", "--name", "cnn", "-q",
               "--mlflow", server).exit_code == 0
    run = tmp_path / "results" / "cnn"
    client = MlflowClient(tracking_uri=server)
    experiment = client.get_experiment_by_name("mlbench").experiment_id
    (child,) = client.search_runs([experiment], "attributes.run_name = 'torch-cnn-cpu-r0'")
    history = pd.read_csv(run / "history.csv")
    for name in ("test_accuracy", "loss", "epoch_seconds", "cumulative_train_seconds"):
        logged = sorted(client.get_metric_history(child.info.run_id, name),
                        key=lambda metric: metric.step)
        assert [metric.step for metric in logged] == [1, 2]
        assert [metric.value for metric in logged] == pytest.approx(list(history[name]))
    assert child.data.metrics["epochs"] == 2
    assert child.data.params["epochs"] == "2"  # the model's own param
    assert child.data.metrics["final_test_accuracy"] == pytest.approx(
        results(run).loc["torch-cnn-cpu-r0", "accuracy"])


def test_export_goes_to_mlflow_s_default_store(cli: Cli, tmp_path: Path,
                                               local_store: Path) -> None:
    assert cli("run", "-m", "knn,logistic", "-d", "digits", "--name", "t").exit_code == 0
    run = tmp_path / "results" / "t"
    result = cli("export", "mlflow", str(run), "--experiment", "digits-trials")
    assert result.exit_code == 0, result.output
    uri = mlflow.get_tracking_uri()  # MLflow's default, as MLflow itself resolves it here
    assert str(local_store) in uri
    assert result.stdout.startswith("mlbench: exported t to MLflow run ")
    assert result.stdout.endswith(f"(experiment 'digits-trials', {uri}): 2 jobs\n")
    # No report to attach: one warning, saying how to get one.
    assert stderr_lines(result) == [
        f"mlbench: warning: {run} has no report to attach; mlbench report {run} writes one, "
        "and exporting again attaches it"]
    parent, children = exported(MlflowClient(), "digits-trials")
    assert_jobs_match(children, run)

    # The report written later is attached by the next export; no job is sent twice.
    assert cli("report", str(run)).exit_code == 0
    again = cli("export", "mlflow", str(run), "--experiment", "digits-trials")
    assert again.exit_code == 0 and stderr_lines(again) == []
    assert again.stdout == (f"mlbench: attached the report of t to MLflow run "
                            f"{parent.info.run_id} (experiment 'digits-trials', {uri}); its 2 "
                            "jobs were there already\n")
    names = {item.path for item in MlflowClient().list_artifacts(parent.info.run_id)}
    assert {"report.html", "report.md"} <= names


def test_run_with_mlflow_exports_when_it_ends(cli: Cli, tmp_path: Path,
                                              local_store: Path) -> None:
    result = cli("run", "-m", "knn,logistic", "-d", "digits", "--name", "t", "--mlflow")
    assert result.exit_code == 0, result.output
    (line,) = [line for line in stderr_lines(result) if "MLflow" in line]
    assert line.startswith("mlbench: exported t to MLflow run ")
    assert_jobs_match(exported(MlflowClient())[1], tmp_path / "results" / "t")


@pytest.fixture
def not_mlflow() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 that answers, but is no MLflow: 404 to everything."""

    class NotFound(http.server.BaseHTTPRequestHandler):
        def answer(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_PATCH = answer

        def log_message(self, *args: Any) -> None:  # not on the tests' stderr
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_failed_export_at_the_end_of_a_run_is_one_warning_and_loses_nothing(
        cli: Cli, tmp_path: Path, not_mlflow: str) -> None:
    # A server answers, so the run goes ahead; it refuses the export after the run.
    result = cli("run", "-m", "knn", "-d", "digits", "--name", "t", "-q", "--mlflow", not_mlflow)
    assert result.exit_code == 0, result.output
    run = tmp_path / "results" / "t"
    (line,) = stderr_lines(result)
    assert line.startswith(f"mlbench: warning: not exported to MLflow: MLflow at {not_mlflow} "
                           "did not take t: ")
    assert line.endswith(f"; the results are saved; retry with: mlbench export mlflow {run} "
                         f"--tracking-uri {not_mlflow}")
    assert results(run).loc["knn-cpu-r0", "status"] == "ok"
    # The same export by hand: one line, exit 7.
    again = cli("export", "mlflow", str(run), "--tracking-uri", not_mlflow)
    assert again.exit_code == 7 and again.stdout == ""
    (line,) = stderr_lines(again)
    assert line.startswith(f"mlbench: error: MLflow at {not_mlflow} did not take t: ")


def test_bad_inputs_are_one_line_each(cli: Cli, tmp_path: Path, local_store: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    # --mlflow to a server that does not answer: bad input, nothing runs.
    result = cli("run", "-m", "knn", "-d", "digits", "--mlflow", dead)
    assert_one_line_error(result, f"--mlflow: no MLflow tracking server answers at {dead} "
                          "(connection refused); start one (mlflow server)",
                          tmp_path / "results")

    assert cli("run", "-m", "knn", "-d", "digits", "--name", "t").exit_code == 0
    run = tmp_path / "results" / "t"
    unreachable = cli("export", "mlflow", str(run), "--tracking-uri", dead)
    assert unreachable.exit_code == 7
    assert stderr_lines(unreachable) == [
        f"mlbench: error: no MLflow tracking server answers at {dead} (connection refused); "
        "start one (mlflow server) or give another tracking URI"]

    not_a_run = cli("export", "mlflow", str(tmp_path))
    assert not_a_run.exit_code == 2
    assert stderr_lines(not_a_run) == [
        f"mlbench: error: {tmp_path} is not a run folder (no run.json); give a folder that "
        "mlbench run made, e.g. results/<run>"]

    unknown = cli("export", "wandb", str(run))
    assert unknown.exit_code == 2 and len(stderr_lines(unknown)) == 1
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()


def test_without_mlflow_installed_the_export_says_how_to_get_it(cli: Cli,
                                                                 tmp_path: Path) -> None:
    assert cli("run", "-m", "knn", "-d", "digits", "--name", "t").exit_code == 0
    env = without_packages(tmp_path, "mlflow")
    for command in (["export", "mlflow", str(tmp_path / "results" / "t")],
                    ["run", "-m", "knn", "-d", "digits", "--mlflow", "-o", str(tmp_path / "b")]):
        done = subprocess.run([sys.executable, "-m", "mlbench.cli", *command], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 2, done.stderr
        assert done.stderr == ("mlbench: error: exporting to MLflow needs MLflow: "
                               "pip install 'mlbench[mlflow]'\n")
    assert not (tmp_path / "b").exists()
