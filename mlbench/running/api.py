"""The Python API the CLI wraps: ``run`` and ``resume`` a run, delegating each step (the
settings to ``settings``, the new folder to ``run_folder_setup``, the dataset and the jobs to
``planning``, the running to an executor) and keeping every result in the run folder.
Returns the results table (``mlbench.run``, in ``python_api``, returns the saved run).
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlbench.contract.registry import Registry, load_registry
from mlbench.errors import DatasetUnavailable, DiskFull, UsageError
from mlbench.results.folder import RunFolder
from mlbench.results.record import JobRecord
from mlbench.results.run_config import RunConfig
from mlbench.results.run_info import ModelInfo
from mlbench.running import settings
from mlbench.running.environment import command_line, describe_machine
from mlbench.running.executors import Executor, make_executor
from mlbench.running.jobs import JobSpec
from mlbench.running.planning import job_data, plan, warn_and_load
from mlbench.running.progress import Progress
from mlbench.running.run_folder_setup import new_run_folder
from mlbench.version import __version__

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def run(*args: Any, **kwargs: Any) -> pd.DataFrame:
    """Train and test each selected model on ``dataset``; returns the results table (its
    folder is in ``frame.attrs["run_dir"]``). Bad inputs raise UsageError before anything
    runs.

    Takes the settings of ``mlbench run``, by the same names (``mlbench.running.settings``
    declares them): ``--train-size 1000,5000`` is ``train_size=[1000, 5000]``, a repeatable
    option a list (``--param``: ``params=["svm.C=10"]`` or ``{"svm": {"C": 10}}``; ``--sweep``:
    ``sweep={"svm": {"C": [1, 10]}}``; ``--plugin``: ``plugins=[...]``). ``estimate=True``
    runs nothing in full and writes nothing: it returns the estimated times of the jobs
    instead. ``progress`` is told each step (quiet by default)."""
    given = settings.bind(args, kwargs)
    progress = _observer(given["progress"])
    config, registry = settings.to_config(given)
    return run_config(config, registry, progress=progress, output_dir=given["output_dir"],
                      name=given["name"], estimate=given["estimate"])


run.__signature__ = settings.signature()  # type: ignore[attr-defined]


def run_config(config: RunConfig, registry: Registry, *, progress: Progress | None = None,
               output_dir: str | os.PathLike[str] = "results", name: str | None = None,
               estimate: bool = False) -> pd.DataFrame:
    """``run`` for settings ``settings.to_config`` has already checked (with the registry it
    loaded): the command checks them first, to know which workers to start, and they are
    not checked, nor the plugins discovered, a second time."""
    progress = _observer(progress)
    if estimate:
        from mlbench.running.estimate import estimate_run

        return estimate_run(config, registry, progress)
    folder = new_run_folder(Path(output_dir), name)
    try:
        with _disk_full_stops(folder):
            # Settings first: from here on a killed run can be finished with --resume.
            folder.write_run({"mlbench": __version__, "config": config.to_json(),
                              "command": command_line(), "started_at": _now()})
            return _execute(folder, config, registry, progress, resumed=False)
    except (UsageError, DatasetUnavailable):
        if not folder.jobs_dir.exists():
            shutil.rmtree(folder.path)  # nothing ran: leave no half-made run behind
        raise


def resume(run_dir: str | os.PathLike[str], progress: Progress | None = None) -> pd.DataFrame:
    """Finish a run that was interrupted: run only the jobs that have no result yet."""
    folder = RunFolder.existing(run_dir)
    folder.create(f"--resume writes the rest of the run there: make it writable, or copy it "
                  f"and resume the copy (cp -r {folder.path} COPY; mlbench run --resume COPY)")
    folder.remove_temporaries()
    config = RunConfig.from_json(folder.read_run()["config"])
    registry = load_registry(config.plugin_paths)
    settings.check(config, registry)
    with _disk_full_stops(folder):
        return _execute(folder, config, registry, _observer(progress), resumed=True)


def _observer(progress: Any) -> Progress:
    """The ``progress`` given, quiet if none; anything else is a one-line UsageError."""
    if progress is None:
        return Progress()
    if not isinstance(progress, Progress):
        raise UsageError(f"progress={progress!r} is not a progress display; give True (the "
                         "command's display), False (quiet) or a "
                         "mlbench.running.progress.Progress")
    return progress


@contextmanager
def _disk_full_stops(folder: RunFolder) -> Iterator[None]:
    """A full disk as one line that says what is kept and how to go on, not a traceback."""
    try:
        yield
    except OSError as error:
        if error.errno not in DISK_FULL or isinstance(error, DiskFull):
            raise
        # os.strerror: pyarrow's own wording is long ("Error writing bytes to file. ...").
        where = (f"the disk is full ({os.strerror(error.errno)}): could not write to "
                 f"{folder.path}")
        if not folder.run_json.exists():  # not even the settings were saved: nothing to keep
            shutil.rmtree(folder.path, ignore_errors=True)
            raise DiskFull(f"{where}; nothing ran; free some space and run again") from error
        raise DiskFull(f"{where}; the finished jobs are kept; free some space, then finish "
                       f"the run with: mlbench run --resume {folder.path}") from error


def _execute(
    folder: RunFolder, config: RunConfig, registry: Registry, progress: Progress, resumed: bool
) -> pd.DataFrame:
    runner = make_executor(config)
    try:
        runner.start()  # workers start (and import) while this process loads the data
        return _run_jobs(folder, config, registry, progress, resumed, runner)
    finally:
        runner.close()


def _run_jobs(
    folder: RunFolder, config: RunConfig, registry: Registry, progress: Progress, resumed: bool,
    runner: Executor,
) -> pd.DataFrame:
    dataset, warning = warn_and_load(config, registry, progress)
    sizes = config.train_sizes()
    data = job_data(config, dataset)
    train_indices, test_indices = data.train_indices, data.test_indices
    test_labels = np.asarray(dataset.y_test if test_indices is None
                             else dataset.y_test[test_indices])
    test_images = dataset.x_test if test_indices is None else dataset.x_test[test_indices]
    info = folder.read_run()
    info.update(
        mlbench=__version__,
        config=config.to_json(),
        command=info.get("command", command_line()),
        started_at=info.get("started_at", _now()),
        machine=info.get("machine") or describe_machine(),
        dataset={
            "requested": config.dataset, "name": dataset.name, "source": dataset.source,
            "train_size": sizes if len(sizes) > 1 else len(
                dataset.y_train if train_indices is None else train_indices),
            "test_size": len(test_labels), "image_shape": list(dataset.image_shape),
            "validation_size": 0 if data.validation_indices is None else len(
                data.validation_indices),
            "classes": dataset.classes, "fallback_warning": warning,
        },
    )
    # What reports show of each model and may not ask its plugin: kept as first recorded.
    info.setdefault("models", {name: ModelInfo.of(registry.models[name]).to_json()
                               for name in config.models})
    if resumed:
        info.setdefault("resumed_at", []).append(_now())
    folder.write_run(info)
    folder.save_test_labels(test_labels)
    folder.save_test_images(test_images, dataset.pixel_max)

    specs, skipped = plan(config, registry, data)
    done = folder.finished_jobs()
    todo = [spec for spec in specs if spec.job_id not in done]
    skipped = [record for record in skipped if record.job_id not in done]
    total = len(todo) + len(skipped)
    progress.begin(folder.path, total, already_done=len(done))
    progress.planned(todo, config.jobs)

    def finish(spec: JobSpec | None, record: JobRecord, arrays: dict[str, Any]) -> None:
        saved = record.in_run(dataset=dataset.name, executor=config.executor,
                              train_size=info["dataset"]["train_size"],
                              test_size=info["dataset"]["test_size"]).to_json()
        folder.save_job(saved, arrays)
        progress.finished(saved)

    for record in skipped:
        finish(None, record, {})
    try:
        runner.execute(todo, on_start=progress.started, on_finish=finish,
                       on_epoch=progress.epoch, on_phase=progress.phase)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (errors.Terminated)
        folder.write_table()  # the table matches jobs/ even if the signal came mid-save
        progress.interrupted(folder.path)
        raise
    finally:
        info["finished_at"] = _now()
        info["complete"] = folder.finished_jobs() >= {spec.job_id for spec in specs} | {
            r.job_id for r in skipped}
        folder.write_run(info)
    frame = folder.write_table()
    frame.attrs["run_dir"] = str(folder.path)
    progress.end(frame)
    return frame


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

