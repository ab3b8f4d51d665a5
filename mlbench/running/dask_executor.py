"""Runs jobs on Dask's distributed scheduler: a LocalCluster on 127.0.0.1 (one single-threaded
worker process per --jobs), or an existing cluster (--scheduler ADDRESS).

Each Dask task runs its job exactly as the local executor does, in a fresh process forked
from a forkserver on the Dask worker (preloaded by a worker plugin when the worker starts),
through ``executor.execute`` and ``worker.run_job``: so the thread limits are set before any
framework is imported, the job's output goes to its own log, peak memory is the job's own, a
job that overruns --timeout gives a ``timeout`` row and a job process that dies gives a
``crashed`` row, with the same records and predictions as a local run. What Dask adds is
where the job runs, and surviving the loss of a whole Dask worker: such a job is submitted
again, at most ``retries`` times, then recorded as ``crashed``.

Imported only for ``--executor dask``, so other runs never pay for importing Dask.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import dask
from distributed import Client, Future, KilledWorker, LocalCluster, as_completed, get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from mlbench.datasets import ARRAYS, MANIFEST, cache_dir, sha256_file
from mlbench.errors import UsageError
from mlbench.results.record import JobRecord
from mlbench.running.jobs import JobSpec, OnEpoch, OnFinish, OnPhase, OnStart, Outcome
from mlbench.running.local_executor import execute, start_workers

CONNECT_SECONDS = 10  # to reach an existing scheduler, and for it to have a worker
# The local cluster's settings, kept while it lives (a worker that dies is restarted with
# them). Worker loss is retried by the executor, job by job, so the scheduler gives up on a
# task at the first lost worker, and a job's record says what became of it, so Dask's own
# log lines would only repeat it. Workers get this process's environment as it is: Dask's
# default sets OMP_NUM_THREADS=1 in them, which would make a job slower than it is locally.
# And Dask's self-monitoring (event-loop checks every 20 ms, stack sampling every 10 ms,
# system metrics, work stealing: about 7% of a CPU on a 2-core machine, measured) is turned
# down or off: mlbench shows no dashboard, and that CPU would be taken from the jobs timed.
LOCAL_CLUSTER_SETTINGS = {
    "distributed.scheduler.allowed-failures": 0,
    "distributed.nanny.pre-spawn-environ": {},
    "distributed.worker.profile.enabled": False,
    "distributed.scheduler.work-stealing": False,
    "distributed.admin.tick.interval": "100ms",
    "distributed.admin.system-monitor.interval": "2s",
}


@dataclass(frozen=True)
class ShippedData:
    """A dataset's cache folder, file by file, for workers that cannot read the parent's:
    scattered to every worker once per run, written into the worker's own cache under
    ``key`` (so a later run finds it there and ships nothing)."""

    key: str
    files: dict[str, bytes]


class DaskExecutor:
    """Jobs as Dask tasks, at most as many at once as the cluster has worker threads."""

    name = "dask"

    def __init__(self, jobs: int = 1, timeout: float | None = None,
                 scheduler: str | None = None, retries: int = 2,
                 plugin_paths: Sequence[str] = ()) -> None:
        self.jobs, self.timeout, self.scheduler, self.retries = jobs, timeout, scheduler, retries
        self.plugin_paths = list(plugin_paths)
        self.client: Client | None = None
        self.cluster: LocalCluster | None = None
        self._settings: Any = None

    def start(self) -> None:
        if self.scheduler:
            self.client = _connect(self.scheduler)
        else:
            self._settings = dask.config.set(LOCAL_CLUSTER_SETTINGS)
            self.cluster = LocalCluster(n_workers=self.jobs, threads_per_worker=1,
                                        processes=True, host="127.0.0.1",
                                        dashboard_address=None, memory_limit=0,
                                        silence_logs=logging.CRITICAL)
            self.client = Client(self.cluster)
        # Starts the job forkserver on every worker, now and whenever a worker (re)starts.
        self.client.register_plugin(PrepareWorker(own_cluster=self.cluster is not None,
                                                  plugin_paths=self.plugin_paths))

    def execute(self, specs: Sequence[JobSpec], on_start: OnStart, on_finish: OnFinish,
                on_epoch: OnEpoch | None = None,
                on_phase: OnPhase | None = None) -> None:  # a Dask task reports neither
        if not specs:
            return
        if self.client is None:
            self.start()
        assert self.client is not None
        client = self.client
        data_key, shipped = self._data(specs[0].data.folder)
        pending = list(specs)
        running: dict[Future, tuple[JobSpec, int]] = {}
        finished = as_completed(loop=client.loop)

        def submit(spec: JobSpec, attempt: int) -> None:
            future = client.submit(run_on_worker, spec, self.timeout, data_key, shipped,
                                   key=f"{spec.job_id}-{attempt}-{uuid.uuid4().hex[:8]}",
                                   pure=False)
            running[future] = (spec, attempt)
            finished.add(future)

        def fill_free_slots() -> None:
            # A job is handed over only when a worker thread is free, so "started" is true
            # and the jobs start in plan order.
            slots = self._slots()
            while pending and len(running) < slots:
                spec = pending.pop(0)
                on_start(spec)
                submit(spec, 0)

        try:
            fill_free_slots()
            for future in finished:
                spec, attempt = running.pop(future)
                try:
                    record, arrays = future.result()
                except KilledWorker as error:
                    if attempt < self.retries:
                        submit(spec, attempt + 1)  # its worker died under it: run it again
                        continue
                    record, arrays = lost_record(spec, error, attempt), {}
                except Exception as error:  # the scheduler is gone, or a result was lost
                    record, arrays = JobRecord.crashed(
                        spec, f"{type(error).__name__}: {error}", executor=self.name), {}
                on_finish(spec, record, arrays)
                fill_free_slots()
        finally:
            if running:  # Ctrl-C, or an error: what still runs is not wanted any more
                with contextlib.suppress(Exception):
                    client.cancel(list(running))

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        if self._settings is not None:
            self._settings.__exit__(None, None, None)
        self.client = self.cluster = self._settings = None

    def _slots(self) -> int:
        """Jobs at once: --jobs on the local cluster; on an existing one, its worker threads."""
        if self.cluster is not None:
            return self.jobs
        assert self.client is not None
        return max(1, sum(self.client.nthreads().values()))

    def _data(self, folder: Path) -> tuple[str | None, Future | None]:
        """How workers get the dataset. The local cluster's workers memory-map the .npy cache
        this process already wrote, as local jobs do: nothing is sent. Workers of an existing
        cluster are asked whether they can read the same files (a shared or identical cache,
        recognised by its manifest); if any cannot, the cache's files are scattered to every
        worker once (broadcast), not once per job, and each worker keeps them in its own
        cache."""
        if self.cluster is not None:
            return None, None
        assert self.client is not None
        key = fingerprint(folder)
        if key is None:
            raise UsageError(f"the dataset's cache folder {folder} cannot be read")
        found = self.client.run(find_data, str(folder), key)
        if all(found.values()):
            return key, None
        files = {path.name: path.read_bytes() for path in sorted(folder.iterdir())
                 if path.is_file() and not path.name.startswith(".")}
        [shipped] = self.client.scatter([ShippedData(key, files)], broadcast=True, hash=False)
        return key, shipped


class PrepareWorker(WorkerPlugin):
    """Runs on every Dask worker as it starts: lets it start job processes, and starts the
    forkserver they fork from (its imports, and its discovery of the run's plugins, overlap
    with the parent loading the dataset)."""

    name = "mlbench-prepare-worker"

    def __init__(self, own_cluster: bool, plugin_paths: Sequence[str] = ()) -> None:
        self.own_cluster, self.plugin_paths = own_cluster, list(plugin_paths)

    def setup(self, worker: Any) -> None:
        if self.own_cluster:
            # Ctrl-C reaches the whole process group, the local cluster's workers too; the
            # parent alone decides what to stop (it closes the cluster). Never done to the
            # workers of a user's cluster.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        allow_job_processes()
        start_workers(plugin_paths=self.plugin_paths)


def allow_job_processes() -> None:
    """Dask starts its worker processes as daemons, and a daemonic process may not start
    children. The job processes never outlive their worker (the executor stops them, and the
    kernel kills them with their forkserver, which exits with the worker), so that rule,
    which exists to prevent orphans, is safely lifted here."""
    multiprocessing.current_process().daemon = False


def run_on_worker(spec: JobSpec, timeout: float | None, data_key: str | None,
                  shipped: ShippedData | None) -> Outcome:
    """The Dask task: one job, in a fresh process on this worker, as the local executor runs
    it; the record says which Dask worker ran it."""
    if data_key is not None:
        folder = find_data(str(spec.data.folder), data_key)
        if folder is None and shipped is not None:
            folder = str(unpack(shipped))
        if folder is None:
            raise FileNotFoundError(f"this worker cannot read the dataset at {spec.data.folder}")
        spec = replace(spec, data=replace(spec.data, folder=Path(folder)))
    allow_job_processes()
    outcomes: list[Outcome] = []
    execute([spec], jobs=1, timeout=timeout,
            on_finish=lambda _, record, arrays: outcomes.append((record, arrays)))
    record, arrays = outcomes[0]
    return record.ran_on("dask", get_worker().address), arrays


def lost_record(spec: JobSpec, error: KilledWorker, attempt: int) -> JobRecord:
    worker = getattr(error.last_worker, "address", None)
    times = "" if attempt == 0 else f" {attempt + 1} times"
    tried = "not retried (--retries 0)" if attempt == 0 else f"gave up after {attempt} retries"
    return JobRecord.crashed(spec, f"its Dask worker died under it{times} (last {worker}: out "
                                   f"of memory, or killed); {tried}",
                             executor="dask", worker=worker)


def fingerprint(folder: Path) -> str | None:
    """What a dataset cache folder holds, as one hash: of its manifest (the SHA-256 of each
    array) where it has one, else of the arrays' bytes. None if the folder is missing."""
    manifest = folder / MANIFEST
    digest = hashlib.sha256()
    try:
        if manifest.is_file():
            digest.update(manifest.read_bytes())
        else:
            for name in ARRAYS:
                digest.update(sha256_file(folder / f"{name}.npy").encode())
    except OSError:
        return None
    return digest.hexdigest()


_found: dict[tuple[str, str], str] = {}  # per worker process: data already located


def find_data(folder: str, key: str | None) -> str | None:
    """On a worker: a folder that holds the dataset ``key`` names: the parent's own path (a
    shared or identical cache), or a copy shipped to this machine before; else None."""
    if key is None:
        return folder
    if (folder, key) not in _found:
        for candidate in (Path(folder), shipped_folder(key)):
            if fingerprint(candidate) == key:
                _found[(folder, key)] = str(candidate)
                break
        else:
            return None
    return _found[(folder, key)]


def shipped_folder(key: str) -> Path:
    return cache_dir() / "dask" / key[:16]


def unpack(shipped: ShippedData) -> Path:
    """Write shipped files into this machine's cache, atomically (a worker beside this one
    may be doing the same: the first complete folder wins)."""
    target = shipped_folder(shipped.key)
    if fingerprint(target) == shipped.key:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for name, content in shipped.files.items():
            (staging / name).write_bytes(content)
        if target.exists() and fingerprint(target) != shipped.key:
            shutil.rmtree(target, ignore_errors=True)  # a damaged copy
        try:
            os.replace(staging, target)
        except OSError:
            if fingerprint(target) != shipped.key:  # not another worker's complete copy
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _connect(address: str) -> Client:
    """A client of the cluster at ``address`` that has at least one worker; else a one-line
    UsageError (nothing has run yet)."""
    try:
        client = Client(address, timeout=CONNECT_SECONDS)
    except (OSError, TimeoutError) as error:
        raise UsageError(f"cannot reach the Dask scheduler at {address} ({error}); check the "
                         "address, or drop --scheduler to start a local cluster") from error
    try:
        client.wait_for_workers(1, timeout=CONNECT_SECONDS)
    except (OSError, TimeoutError) as error:
        client.close()
        raise UsageError(f"the Dask scheduler at {address} has no workers; start some with "
                         f"`dask worker {address}`") from error
    return client
