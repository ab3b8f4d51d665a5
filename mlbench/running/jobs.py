"""A run's plan: the jobs (model x device x sweep value x training-set size x repeat) its
settings expand into. The settings, ``RunConfig``, are declared in ``results.run_config``
beside run.json's reading, where the reports read them back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np

from mlbench.datasets import DataRef
from mlbench.results.record import JobRecord


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
# Where a running job's time goes, in order: start-up (the process, data, model and framework
# start-up), fit, predict (the test set, its probabilities, the validation set), finishing
# (the model's size, the results sent back).
Phase = Literal["start-up", "fit", "predict", "finishing"]
PHASES: tuple[Phase, ...] = get_args(Phase)
OnPhase = Callable[[JobSpec, Phase], None]  # a running job began a phase
