"""What runs a run's jobs: the ``Executor`` interface every executor has, and choosing one
from the settings. ``local`` (``local_executor``) runs jobs in fresh processes on this
machine; ``dask`` (``dask_executor``, imported only when asked for, so a run without Dask
never pays for importing it) runs the same jobs as Dask tasks."""

from __future__ import annotations

import importlib.util
import multiprocessing
from collections.abc import Sequence
from typing import Protocol

from mlbench.errors import UsageError
from mlbench.results.run_config import RunConfig
from mlbench.running.jobs import JobSpec, OnEpoch, OnFinish, OnPhase, OnStart
from mlbench.running.local_executor import MAIN_GUARD, LocalExecutor

EXECUTORS = ("local", "dask")
DASK_MISSING = "--executor dask needs Dask, which is not installed: pip install 'mlbench[dask]'"


class Executor(Protocol):
    """Runs JobSpecs and reports each one's outcome; every record it hands to ``on_finish``
    says where the job ran (``executor``, ``worker``)."""

    name: str

    def start(self) -> None:
        """Begin starting workers; called before the dataset loads, so the two overlap."""

    def execute(self, specs: Sequence[JobSpec], on_start: OnStart, on_finish: OnFinish,
                on_epoch: OnEpoch | None = None, on_phase: OnPhase | None = None) -> None:
        """Run every spec, calling ``on_start`` as each is handed to a worker and
        ``on_finish`` as each ends, whatever its status; ``on_epoch`` as a running job's
        model ends an epoch and ``on_phase`` as the job begins a phase (``jobs.PHASES``),
        where the executor can tell (local: yes; Dask: no)."""

    def close(self) -> None:
        """Stop every worker this executor started (also after an error or Ctrl-C)."""
def validate_executor(config: RunConfig) -> None:
    """The executor settings, checked before anything runs (Dask is looked for, not
    imported)."""
    from mlbench.contract.registry import unknown_message

    if getattr(multiprocessing.current_process(), "_inheriting", False):
        # A worker importing the user's script reached its unguarded mlbench.run().
        raise UsageError(f"mlbench.run() was called while a worker process imported the "
                         f"script; {MAIN_GUARD}")
    if config.executor not in EXECUTORS:
        raise UsageError(unknown_message("executor", config.executor, EXECUTORS))
    if config.executor == "dask" and importlib.util.find_spec("distributed") is None:
        raise UsageError(DASK_MISSING)
    if config.scheduler and config.executor != "dask":
        raise UsageError(f"--scheduler {config.scheduler} is a Dask scheduler's address; "
                         "add --executor dask")


def make_executor(config: RunConfig) -> Executor:
    """The executor ``config`` asks for (validated by ``validate_executor``)."""
    if config.executor == "dask":
        try:
            from mlbench.running.dask_executor import DaskExecutor
        except ImportError as error:  # installed, but broken
            raise UsageError(f"{DASK_MISSING} ({error})") from error
        return DaskExecutor(jobs=config.jobs, timeout=config.timeout,
                            scheduler=config.scheduler, retries=config.retries,
                            plugin_paths=config.plugin_paths)
    return LocalExecutor(jobs=config.jobs, timeout=config.timeout,
                         plugin_paths=config.plugin_paths)
