"""A run's plan: its settings, and the jobs (model x device x sweep value x training-set size
x repeat) they expand into."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from mlbench.datasets import DataRef
from mlbench.results.record import JobRecord


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides which jobs a run has; saved in run.json so --resume can
    rebuild the same plan."""

    models: list[str]
    dataset: str = "mnist"
    devices: list[str] = field(default_factory=lambda: ["cpu"])
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    train_size: int | list[int] | None = None  # a list: one job per size (a grid)
    test_size: int | None = None
    repeats: int = 1
    seed: int = 0
    timeout: float | None = None
    jobs: int = 1
    threads: int | None = None
    plugin_paths: list[str] = field(default_factory=list)
    data_dir: str | None = None
    sweep: dict[str, dict[str, list[Any]]] = field(default_factory=dict)  # model, param: values
    executor: str = "local"
    scheduler: str | None = None  # a Dask scheduler's address; None: a local cluster
    retries: int = 2  # times a job is re-run after its Dask worker died under it
    target_accuracy: float = 0.99  # time_to_target_seconds: training until test accuracy >= it
    # The fraction of the training set held out to choose among a grid's settings, resolved
    # (--validation, else 0.1 with a --sweep, else 0). 0 in a run.json from before it: those
    # runs held nothing out, and resume as they were made.
    validation: float = 0.0

    def train_sizes(self) -> list[int | None]:
        """Every training-set size of the run (None: the whole set)."""
        return list(self.train_size) if isinstance(self.train_size, list) else [self.train_size]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunConfig:
        known = {key: value for key, value in data.items() if key in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class JobSpec:
    """One unit of work for a worker process: everything it needs, nothing it must look up
    in the parent, so any executor can run it. Its identity fields start its JobRecord."""

    job_id: str
    model: str
    plugin: str
    device: str
    repeat: int
    seed: int
    params: dict[str, Any]
    data: DataRef
    plugin_paths: tuple[str, ...] = ()
    threads: int | None = None
    sweep: dict[str, Any] = field(default_factory=dict)  # this job's values of swept params
    train_size: int | None = None  # the size asked for in a grid; None: the run's one size
    target_accuracy: float | None = None  # for time_to_target_seconds (RunConfig's)
    # How the job differs from its model's defaults, the swept params left out (the sweep
    # column names those): naming.variant_text, "" for a job with the defaults.
    variant: str = ""
    # A short predict timed over repeated calls (drive.timed_calls); --estimate's small
    # fits time one call and add what the repeats will cost.
    time_short_calls: bool = True


# What a job leaves (its record and its predictions) and the callbacks an executor calls.
Outcome = tuple[JobRecord, dict[str, np.ndarray]]
OnStart = Callable[[JobSpec], None]
OnFinish = Callable[[JobSpec, JobRecord, dict[str, np.ndarray]], None]
OnEpoch = Callable[[JobSpec, int], None]  # a running job's model finished its nth epoch
