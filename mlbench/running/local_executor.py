"""The local executor: one fresh worker process per job, so timing is clean, thread settings
never leak between models, and a crash, hang or out-of-memory kill costs one job, with every
process the job started.

pebble's ProcessPool does the heavy lifting: unlike concurrent.futures it survives a dead
worker and kills a task that overruns its timeout.

The Dask executor runs each of its tasks' jobs through ``execute`` here, on the Dask worker.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np
from pebble import ProcessExpired, ProcessPool

from mlbench.errors import UsageError
from mlbench.results.record import JobRecord
from mlbench.running.job_plugins import told_to_server
from mlbench.running.jobs import (
    PHASES,
    JobSpec,
    OnEpoch,
    OnFinish,
    OnPhase,
    OnStart,
    Outcome,
    Phase,
)

# Set only while the forkserver starts (see start_workers), then taken out of each job's
# environment, so that what a job runs itself sees the user's environment.
SAFE_PATH, SAFE_PATH_ADDED = "PYTHONSAFEPATH", "MLBENCH_ADDED_PYTHONSAFEPATH"
MAIN_GUARD = ("a script that calls mlbench.run() must call it under "
              "`if __name__ == \"__main__\":`, since every worker process imports the script")


class LocalExecutor:
    """Fresh worker processes on this machine, at most ``jobs`` at once."""

    name = "local"

    def __init__(self, jobs: int = 1, timeout: float | None = None,
                 plugin_paths: Sequence[str] = ()) -> None:
        self.jobs, self.timeout, self.plugin_paths = jobs, timeout, plugin_paths

    def start(self) -> None:
        start_workers(plugin_paths=self.plugin_paths)

    def execute(self, specs: Sequence[JobSpec], on_start: OnStart, on_finish: OnFinish,
                on_epoch: OnEpoch | None = None, on_phase: OnPhase | None = None) -> None:
        host = socket.gethostname()

        def finish(spec: JobSpec, record: JobRecord, arrays: dict[str, np.ndarray]) -> None:
            on_finish(spec, record.ran_on(self.name, host), arrays)

        execute(specs, jobs=self.jobs, timeout=self.timeout, on_start=on_start,
                on_finish=finish, on_epoch=on_epoch, on_phase=on_phase)

    def close(self) -> None:
        """Nothing outlives ``execute``: its pool is stopped when it returns."""



def execute(
    specs: Iterable[JobSpec],
    *,
    jobs: int = 1,
    timeout: float | None = None,
    on_start: Callable[[JobSpec], None] = lambda spec: None,
    on_finish: OnFinish,
    on_epoch: OnEpoch | None = None,
    on_phase: OnPhase | None = None,
) -> None:
    """Run every spec, at most ``jobs`` at a time, calling ``on_finish`` as each ends (and
    ``on_epoch`` as a running job's model ends an epoch, ``on_phase`` as it begins a phase:
    start-up as it is handed over, the others looked at twice a second, so a phase shorter
    than that may go untold).

    Jobs are handed to the pool only when a slot is free, so a job's timeout and the
    progress display both start when the job really starts.
    """
    pending = list(specs)
    if not pending:
        return
    context = start_workers()
    groups = JobGroups(context)
    epochs, phases = JobSlots(context, len(pending)), JobSlots(context, len(pending))
    slots = {spec.job_id: slot for slot, spec in enumerate(pending)}
    pool = ProcessPool(max_workers=jobs, max_tasks=1, context=context,
                       initializer=_prepare_job_process,
                       initargs=(groups.announcements, epochs.values, phases.values))
    running: dict[Future[Outcome], JobSpec] = {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                spec = pending.pop(0)
                on_start(spec)
                if on_phase is not None:
                    on_phase(spec, PHASES[0])
                try:
                    running[pool.schedule(run_job, args=(spec, slots[spec.job_id]),
                                          timeout=timeout)] = spec
                except RuntimeError as error:  # pebble's pool broke (see outcome)
                    raise pool_failure(error) from error
            watched = on_epoch is not None or on_phase is not None
            done, _ = wait(running, timeout=0.5 if watched else None,
                           return_when=FIRST_COMPLETED)
            for spec in running.values():
                slot = slots[spec.job_id]
                if on_epoch is not None and (count := epochs.changed(slot)) is not None:
                    on_epoch(spec, count)
                if on_phase is not None and (phase := phases.changed(slot)) is not None:
                    on_phase(spec, PHASES[phase])
            for future in done:
                spec = running.pop(future)
                # A job that timed out or crashed ends with every process it started.
                groups.end(spec.job_id, kill=future.exception() is not None)
                record, arrays = outcome(future, spec, timeout)
                on_finish(spec, record, arrays)
        pool.close()
    finally:
        pool.stop()  # on Ctrl-C or an error: kill what still runs; finished jobs are saved
        for spec in running.values():
            groups.end(spec.job_id, kill=True)
        pool.join()


class JobSlots:
    """One number per job that its process sets and the parent reads (its epochs so far, its
    phase): plain shared integers, no lock, so a job killed mid-write cannot leave a lock
    held that would stop the next job. Each starts at 0, which the parent knows already."""

    def __init__(self, context: Any, size: int) -> None:
        self.values = context.RawArray("i", size)
        self.told = [0] * size

    def changed(self, slot: int) -> int | None:
        """The slot's number if it changed since the last call, else None."""
        value = int(self.values[slot])
        if value == self.told[slot]:
            return None
        self.told[slot] = value
        return value


class JobGroups:
    """Every job process leads a process group of its own, which the processes it starts
    (a plugin's data loader or subprocess, and theirs) join unless they leave on purpose.
    The job announces its process id as it starts; when the job times out, crashes or is
    stopped, its whole group is killed, so nothing it started runs on after it.

    Chosen over walking the job's descendants (psutil): pebble kills a timed-out job itself,
    and by the time the parent hears of it the job's children are orphans, out of its tree;
    a process group outlives its leader. And over a guardian process per job: each would be
    left for init to reap, a zombie per job where the container's init does not."""

    def __init__(self, context: Any) -> None:
        self.announcements = context.SimpleQueue()
        self.pids: dict[str, int] = {}

    def end(self, job_id: str, kill: bool) -> None:
        while not self.announcements.empty():
            announced, pid = self.announcements.get()
            self.pids[announced] = pid
        pid = self.pids.pop(job_id, None)
        if kill and pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):  # all gone already
                os.killpg(pid, signal.SIGKILL)


_announcements: Any = None  # in a job process: where it announces its process id
_epochs: Any = None  # in a job process: the shared epoch counts, one slot per job
_phases: Any = None  # in a job process: the shared phases (index in PHASES), one slot per job


def start_workers(preload: Sequence[str] = (), plugin_paths: Sequence[str] = ()) -> Any:
    """Start the server workers fork from, preloading numpy, scikit-learn and the worker
    module (and the modules ``preload`` names) and discovering the plugins of
    ``plugin_paths`` (``job_plugins``): each job then starts in milliseconds, from a process
    with no threads. Called early, the preloading overlaps with the parent loading the
    dataset. Once it runs, later calls return at once."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["mlbench.running.worker", *preload,
                                    "mlbench.running.frozen"])
    from multiprocessing import forkserver

    with _safe_path(), told_to_server(plugin_paths):
        forkserver.ensure_running()
    return context


@contextlib.contextmanager
def _safe_path() -> Iterator[None]:
    """Start the forkserver without the current folder on its import path. It is started
    as `python -c`, which puts the current folder first, and preloads mlbench: from a folder
    holding an `mlbench/` folder (the parent of a clone) or a `numpy.py`, every job would
    import those instead. PYTHONSAFEPATH (Python 3.11+) leaves it out; PYTHONPATH and the
    parent's own import path (which jobs receive) still apply, and so do --plugin paths."""
    if SAFE_PATH in os.environ:  # the user's own choice, kept as it is
        yield
        return
    # os.environ is the process's: set for the moment the forkserver is started only.
    os.environ.update({SAFE_PATH: "1", SAFE_PATH_ADDED: "1"})
    try:
        yield
    finally:
        os.environ.pop(SAFE_PATH, None)
        os.environ.pop(SAFE_PATH_ADDED, None)


def run_job(spec: JobSpec, slot: int | None = None) -> Outcome:
    if _announcements is not None:
        _announcements.put((spec.job_id, os.getpid()))  # see JobGroups
    # Imported here, in the worker (where the forkserver has preloaded it), so the parent
    # never pays for importing scikit-learn.
    from mlbench.running.worker import run_job as run_in_worker

    on_epoch = on_phase = None
    if _epochs is not None and slot is not None:  # set with _phases
        epochs, phases = _epochs, _phases

        def on_epoch(count: int) -> None:
            epochs[slot] = count

        def on_phase(phase: Phase) -> None:
            phases[slot] = PHASES.index(phase)

    return run_in_worker(spec, on_epoch, on_phase)


def outcome(future: Future[Outcome], spec: JobSpec, timeout: float | None) -> Outcome:
    """The worker's own record, or one that says how the worker died."""
    try:
        return future.result()
    except FutureTimeout:
        return JobRecord.timeout(spec, timeout or 0), {}
    except ProcessExpired as error:
        return JobRecord.crashed(spec, describe_exit(error.exitcode)), {}
    except BrokenProcessPool as error:  # not this job's fault: no job can run any more
        raise pool_failure(error) from error
    except Exception as error:  # the result could not be sent back, for example
        return JobRecord.crashed(spec, f"{type(error).__name__}: {error}"), {}


def pool_failure(error: Exception) -> UsageError:
    """The pool itself broke, its workers dying as they started: most often a script's
    unguarded mlbench.run() call, which each worker re-runs as it imports the script."""
    return UsageError(f"worker processes could not start ({type(error).__name__}: {error}); "
                      f"{MAIN_GUARD}")


def describe_exit(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = " (out of memory, or killed by a user)" if name == "SIGKILL" else ""
        return f"worker process died from {name}{hint}"
    return f"worker process exited with code {exitcode}"


def _prepare_job_process(announcements: Any, epochs: Any, phases: Any) -> None:
    """Run in each job process before its job."""
    global _announcements, _epochs, _phases
    # Ctrl-C reaches the whole process group; the parent alone decides what to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.environ.pop(SAFE_PATH_ADDED, None):
        os.environ.pop(SAFE_PATH, None)
    os.setpgid(0, 0)  # see JobGroups
    _announcements, _epochs, _phases = announcements, epochs, phases
    _die_with_parent()


def _die_with_parent() -> None:
    """Ask Linux to kill this job's process when its parent (the forkserver, which exits with
    the process that started it) dies: a killed run or a lost Dask worker leaves no job
    running on, unseen."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL)
