"""The Dask executor against real clusters on 127.0.0.1: the same rows as the local executor,
a Dask worker killed mid-job survived, an existing cluster (--scheduler), the dataset shipped
to a worker that cannot read the parent's cache."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import Result

from mlbench.results.table import read_table
from tests.conftest import assert_one_line_error, wait_for_file

distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

Cli = Callable[..., Result]
GRID = ["-m", "linear,knn", "-d", "digits", "--repeats", "2", "--train-size", "500,1000",
        "--sweep", "knn.n_neighbors=1,3", "--jobs", "2", "--no-report", "-q"]
SAME = ["model", "plugin", "device", "repeat", "seed", "status", "params", "sweep",
        "train_size", "test_size", "accuracy", "f1_macro", "threads", "epochs"]


@pytest.fixture
def cluster() -> Iterator[distributed.LocalCluster]:
    """An existing cluster, as a user's would be: two single-threaded worker processes."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as running:
        yield running


def test_dask_gives_the_same_rows_and_predictions_as_local(cli: Cli, tmp_path: Path) -> None:
    local = cli("run", *GRID, "--name", "local")
    assert local.exit_code == 0, local.output
    dask = cli("run", *GRID, "--name", "dask", "--executor", "dask")
    assert dask.exit_code == 0, dask.output
    frames = {name: read_table(tmp_path / "results" / name / "results.csv").set_index("job_id")
              for name in ("local", "dask")}
    assert len(frames["dask"]) == 2 * 2 + 2 * 2 * 2 == 12
    assert sorted(frames["dask"].index) == sorted(frames["local"].index)
    # Linear least squares and k-NN are deterministic: identical accuracies, to the bit.
    pd.testing.assert_frame_equal(frames["dask"].loc[frames["local"].index, SAME],
                                  frames["local"][SAME])
    for job in frames["local"].index:
        with np.load(tmp_path / "results" / "local" / "predictions" / f"{job}.npz") as one, \
                np.load(tmp_path / "results" / "dask" / "predictions" / f"{job}.npz") as two:
            np.testing.assert_array_equal(one["predicted"], two["predicted"])
    assert (frames["local"]["executor"] == "local").all()
    assert (frames["local"]["worker"] == socket.gethostname()).all()
    assert (frames["dask"]["executor"] == "dask").all()
    workers = frames["dask"]["worker"]
    assert workers.str.match(r"tcp://127\.0\.0\.1:\d+$").all() and workers.nunique() == 2
    # Each job ran in its own process, as locally, never in the Dask worker itself.
    assert frames["dask"]["worker_pid"].nunique() == 12
    # What other processes took from each job is measured there as locally (Linux): known
    # for every job, whatever the machine's load (which this test cannot choose).
    if Path("/proc/stat").exists():
        for frame in frames.values():
            assert frame["disturbed"].notna().all() and frame["others_cores"].notna().all()
            assert (frame["usable_cores"] >= 1).all() and (frame["own_cores"] > 0).all()


@pytest.mark.long  # a fault trial: workers killed under running jobs (12 s)
@pytest.mark.parametrize("retries", [1, 0])
def test_dask_worker_killed_mid_job(cli: Cli, tmp_path: Path, steerable: Path,
                                    retries: int) -> None:
    """The Dask worker under a job is SIGKILLed: with a retry the job runs again (elsewhere)
    and ends ok; without, it is `crashed`. Every other job is kept either way."""
    pid_file, release = tmp_path / "pid", tmp_path / "release"
    killed: dict[str, int] = {}

    def kill_dask_worker() -> None:
        job = psutil.Process(int(wait_for_file(pid_file, seconds=30)))
        # The job's process was forked by a forkserver, which the Dask worker started.
        worker = job.parent().parent()
        assert "python" in worker.name()
        os.kill(worker.pid, signal.SIGKILL)
        killed.update(job=job.pid, worker=worker.pid)
        pid_file.unlink()
        release.write_text("go")  # the retried job need not wait

    killer = threading.Thread(target=kill_dask_worker)
    killer.start()
    result = cli("run", "--plugin", str(steerable), "-m", "steerable,linear,knn", "-d",
                 "digits", "--name", "t", "--executor", "dask", "--jobs", "2",
                 "--retries", str(retries), "-p", f"steerable.pid_file={str(pid_file)!r}",
                 "-p", f"steerable.wait_for={str(release)!r}", "-p",
                 "steerable.wait_seconds=60", "--no-report")
    killer.join()
    assert set(killed) == {"job", "worker"}, "the killer never found the job"
    frame = read_table(tmp_path / "results" / "t" / "results.csv").set_index("model")
    assert frame.loc["linear", "status"] == frame.loc["knn", "status"] == "ok"
    if retries:
        assert result.exit_code == 0, result.output
        assert frame.loc["steerable", "status"] == "ok"
        assert frame.loc["steerable", "worker_pid"] != killed["job"]  # it ran again
    else:
        assert result.exit_code == 1, result.output
        assert frame.loc["steerable", "status"] == "crashed"
        error = frame.loc["steerable", "error"]
        assert "its Dask worker died under it" in error and "not retried" in error
        assert frame.loc["steerable", "worker"].startswith("tcp://127.0.0.1:")
    # The job's own process did not outlive its worker.
    deadline = time.monotonic() + 10
    while psutil.pid_exists(killed["job"]) and time.monotonic() < deadline:
        if psutil.Process(killed["job"]).status() == psutil.STATUS_ZOMBIE:
            break
        time.sleep(0.1)
    assert not psutil.pid_exists(killed["job"]) or (
        psutil.Process(killed["job"]).status() == psutil.STATUS_ZOMBIE)


def test_existing_cluster_through_scheduler_address(
    cli: Cli, tmp_path: Path, cluster: distributed.LocalCluster
) -> None:
    result = cli("run", "-m", "linear,naive-bayes", "-d", "digits", "--repeats", "2",
                 "--name", "t", "--executor", "dask", "--scheduler",
                 cluster.scheduler_address, "--no-report")
    assert result.exit_code == 0, result.output
    frame = read_table(tmp_path / "results" / "t" / "results.csv")
    assert len(frame) == 4 and (frame["status"] == "ok").all()
    assert (frame["executor"] == "dask").all()
    # The cluster is the user's: the run used its workers, and left it running.
    with distributed.Client(cluster) as client:
        workers = set(client.nthreads())
        assert len(workers) == 2 and set(frame["worker"]) <= workers


@pytest.mark.long  # waits out the scheduler's 10 s connect timeout
def test_unreachable_scheduler_and_missing_executor_fail_in_one_line(
    cli: Cli, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for args, message in [
        (["--executor", "dask", "--scheduler", f"tcp://127.0.0.1:{port}"],
         f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"),
        (["--executor", "spark"], "unknown executor 'spark'"),
        (["--scheduler", "tcp://127.0.0.1:8786"], "add --executor dask"),
        (["--executor", "dask", "--retries", "-1"], "--retries must be at least 0"),
    ]:
        result = cli("run", "-m", "linear", "-d", "digits", *args)
        assert_one_line_error(result, message, tmp_path / "results")


def test_missing_dask_is_one_line_naming_the_extra(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "distributed" else find_spec(name))
    result = cli("run", "-m", "linear", "-d", "digits", "--executor", "dask")
    assert_one_line_error(result, "pip install 'mlbench[dask]'", tmp_path / "results")


def test_dataset_is_shipped_to_a_worker_that_cannot_read_it(
    tmp_path: Path, cluster: distributed.LocalCluster
) -> None:
    """A worker on another machine cannot read the parent's cache: the cache's files are
    scattered once and written into the worker's own cache, byte for byte."""
    from mlbench.contract.registry import load_registry
    from mlbench.datasets import DataRef, LoadRequest, cache_dir
    from mlbench.results.run_config import RunConfig
    from mlbench.running import planning
    from mlbench.running.dask_executor import ShippedData, find_data, fingerprint, run_on_worker

    registry = load_registry(())
    dataset = registry.dataset("digits").loader(LoadRequest(cache_dir()))
    assert dataset.folder is not None
    key = fingerprint(dataset.folder)
    assert key is not None and fingerprint(tmp_path / "nothing") is None
    with distributed.Client(cluster) as client:
        # Same machine: every worker finds the parent's own folder, so nothing is shipped.
        assert set(client.run(find_data, str(dataset.folder), key).values()) == {
            str(dataset.folder)}
        elsewhere = tmp_path / "on-another-machine"  # a path no worker can read
        assert set(client.run(find_data, str(elsewhere), key).values()) == {None}
        files = {p.name: p.read_bytes() for p in dataset.folder.iterdir() if p.is_file()}
        [shipped] = client.scatter([ShippedData(key, files)], broadcast=True, hash=False)
        config = RunConfig(models=["linear"], dataset="digits")
        [spec], _ = planning.plan(config, registry, DataRef(elsewhere, dataset.pixel_max))
        record, arrays = client.submit(run_on_worker, spec, None, key, shipped,
                                       pure=False).result()
        assert record.status == "ok", record.error
        assert len(arrays["predicted"]) == record.test_size == 360
        assert record.executor == "dask" and record.worker in client.nthreads()
        copy = Path(client.run(find_data, str(elsewhere), key)[record.worker])
        assert copy != dataset.folder and fingerprint(copy) == key
        for name, content in files.items():
            assert (copy / name).read_bytes() == content
