"""How long a job is expected to take, for the progress display: the same job (dataset,
model, device, params, training and test images) in the runs beside this one in its output
folder, or earlier in this run (another repeat, or before a --resume); else what the latest
``--estimate`` of that job said (kept in the cache: ``remember_estimates``). Without either,
nothing is promised: the small fits of an estimate cost seconds of their own per job, so a
run never makes them unasked."""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mlbench.datasets import DataRef, cache_dir
from mlbench.errors import UsageError
from mlbench.results.run import Run
from mlbench.running.jobs import JobSpec

EARLIER_RUNS = 20  # the newest run folders read: enough history, a bounded start-up cost
ESTIMATES = "estimates.json"  # in the cache: the latest estimate of each job
KEPT_ESTIMATES = 1000  # the newest kept: a bounded file
Key = tuple[str, str, str, str, int, int]
BEFORE, ESTIMATED = "before", "estimated"  # what an expectation rests on


class ExpectedTimes:
    """Wall times of finished ok jobs (``job_seconds``), looked up by what makes a job the
    same job."""

    def __init__(self, dataset: str) -> None:
        self.dataset = dataset
        self.seconds: dict[Key, list[float]] = {}
        self.estimated: dict[Key, float] = {}

    @classmethod
    def for_run(cls, run_dir: Path) -> ExpectedTimes:
        """The times of the newest runs beside ``run_dir`` and of its own finished jobs, read
        from their job records (``results.Run``)."""
        run_dir = Path(run_dir)
        expected = cls(_dataset(run_dir))
        folders = sorted((path.parent for path in run_dir.parent.glob("*/run.json")),
                         key=_last_written, reverse=True)
        for folder in folders[:EARLIER_RUNS]:
            try:
                records = Run.open(folder).records
            except (UsageError, OSError):
                continue  # a damaged or foreign folder promises nothing
            for record in records:
                expected.add(record)
        expected.estimated = {tuple(key): seconds
                              for key, seconds in _read_estimates()}
        return expected

    def add(self, record: Mapping[str, Any]) -> None:
        """One finished job, as a results.csv row or a saved record."""
        try:
            if record.get("status") != "ok" or not record.get("job_seconds"):
                return
            params = record.get("params")
            params = json.loads(params) if isinstance(params, str) else params or {}
            key = (str(record["dataset"]), str(record["model"]), str(record["device"]),
                   _canonical(params), int(record["train_size"]), int(record["test_size"]))
            self.seconds.setdefault(key, []).append(float(record["job_seconds"]))
        except (KeyError, TypeError, ValueError):
            return

    def expect(self, spec: JobSpec) -> float | None:
        """The median time of the same job's earlier runs, else its latest estimate; None
        where there is neither."""
        return self.expectation(spec)[0]

    def expectation(self, spec: JobSpec) -> tuple[float | None, str | None]:
        """``expect``'s seconds and what they rest on: BEFORE, ESTIMATED or None."""
        key = job_key(self.dataset, spec)
        times = self.seconds.get(key)
        if times:
            return statistics.median(times), BEFORE
        estimated = self.estimated.get(key)
        return (estimated, ESTIMATED) if estimated is not None else (None, None)


def job_key(dataset: str, spec: JobSpec) -> Key:
    """What makes two jobs the same job, whatever their repeat."""
    train, test = job_sizes(spec.data)
    return (dataset, spec.model, spec.device, _canonical(spec.params), train, test)


def remember_estimates(dataset: str, estimates: list[tuple[JobSpec, float]]) -> None:
    """Keeps each job's estimated seconds in the cache for the progress of a later run of
    it (the newest estimate of a job wins; a cache that cannot be written keeps nothing)."""
    kept = {json.dumps(key): seconds for key, seconds in _read_estimates()}
    for spec, seconds in estimates:
        key = json.dumps(job_key(dataset, spec))
        kept.pop(key, None)  # re-inserted last: the newest
        kept[key] = seconds
    newest = list(kept.items())[-KEPT_ESTIMATES:]
    try:
        path = cache_dir() / ESTIMATES
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([[json.loads(key), seconds] for key, seconds in newest]))
    except OSError:
        pass  # a read-only cache: later runs promise less, nothing more is lost


def _read_estimates() -> list[tuple[list[Any], float]]:
    try:
        entries = json.loads((cache_dir() / ESTIMATES).read_text())
        return [(list(key), float(seconds)) for key, seconds in entries]
    except (OSError, ValueError, TypeError):
        return []  # none yet, or a damaged file: no promise


def job_sizes(data: DataRef) -> tuple[int, int]:
    """The training images a job fits on (its validation images left out, as the worker
    does) and its test images."""
    train = data.train_indices
    if train is None or data.validation_indices is not None:
        whole = np.load(data.folder / "y_train.npy", mmap_mode="r", allow_pickle=False)
        everything = np.arange(len(whole)) if train is None else train
        train = (everything if data.validation_indices is None
                 else np.setdiff1d(everything, data.validation_indices))
    test = data.test_indices
    if test is None:
        test = np.load(data.folder / "y_test.npy", mmap_mode="r", allow_pickle=False)
    return len(train), len(test)


def _canonical(params: Any) -> str:
    """Params as results.csv writes them (tuples read back as lists)."""
    return json.dumps(params, sort_keys=True, default=str)


def _dataset(run_dir: Path) -> str:
    try:
        return Run.open(run_dir).info.dataset.name or ""
    except (UsageError, OSError, AttributeError):
        return ""


def _last_written(folder: Path) -> float:
    """When a run folder last saved a job (its jobs/ folder changes with each)."""
    try:
        return (folder / "jobs").stat().st_mtime
    except OSError:
        return 0.0
