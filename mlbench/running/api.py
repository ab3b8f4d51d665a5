"""The Python API the CLI wraps: plan a run, load the dataset once, run the jobs, keep the
results. ``mlbench.run(models=["svm", "knn"], dataset="digits")`` returns the results table.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlbench import __version__
from mlbench.contract.registry import Registry, load_registry, unknown_message
from mlbench.errors import DatasetUnavailable, UsageError
from mlbench.results.folder import RunFolder
from mlbench.results.record import JobRecord
from mlbench.running.environment import command_line, describe_machine
from mlbench.running.executors import Executor, make_executor, validate_executor
from mlbench.running.jobs import JobSpec, RunConfig
from mlbench.running.params import parse_params, parse_sweep
from mlbench.running.planning import job_data, plan, warn_and_load
from mlbench.running.progress import Progress

DEVICE_CHOICES = ("cpu", "gpu", "auto")


def run(
    models: str | Sequence[str] = ("sklearn",),
    dataset: str = "mnist",
    *,
    devices: str | Sequence[str] = ("cpu",),
    params: Mapping[str, Mapping[str, Any]] | Iterable[str] | None = None,
    sweep: Mapping[str, Mapping[str, Sequence[Any]]] | Iterable[str] | None = None,
    train_size: int | str | Sequence[int] | None = None,
    test_size: int | None = None,
    repeats: int = 1,
    seed: int = 0,
    timeout: float | None = None,
    jobs: int = 1,
    threads: int | None = None,
    plugins: Sequence[str | os.PathLike[str]] = (),
    data_dir: str | os.PathLike[str] | None = None,
    output_dir: str | os.PathLike[str] = "results",
    name: str | None = None,
    progress: Progress | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    retries: int = 2,
    estimate: bool = False,
) -> pd.DataFrame:
    """Train and test each selected model on ``dataset``; returns the results table (its
    folder is in ``frame.attrs["run_dir"]``). Bad inputs raise UsageError before anything
    runs.

    ``sweep`` (``{"svm": {"C": [1, 10]}}`` or ``["svm.C=1,10"]``) and a list of
    ``train_size``s make a grid: one job per model, device, swept value, size and repeat.
    ``executor="dask"`` runs the jobs on a local Dask cluster, or on ``scheduler``'s.
    ``estimate=True`` runs nothing in full and writes nothing: it returns the estimated
    times of the jobs instead (see ``mlbench.estimate``)."""
    registry = load_registry(plugins)
    selected = registry.select_models(_words(models))
    chosen_params = _params(params, registry, selected)
    config = RunConfig(
        models=selected,
        dataset=dataset,
        devices=_devices(devices),
        params=chosen_params,
        sweep=_sweep(sweep, registry, selected, chosen_params),
        train_size=_train_size(train_size),
        test_size=test_size,
        repeats=repeats,
        seed=seed,
        timeout=timeout,
        jobs=jobs,
        threads=threads,
        plugin_paths=list(registry.plugin_paths),
        data_dir=_data_dir(data_dir),
        executor=executor,
        scheduler=scheduler,
        retries=retries,
    )
    validate(config, registry)
    if estimate:
        from mlbench.running.estimate import estimate_run

        return estimate_run(config, registry, progress or Progress())
    folder = new_run_folder(Path(output_dir), name)
    # Settings first: from here on a killed run can be finished with --resume.
    folder.write_run({"mlbench": __version__, "config": config.to_json(),
                      "command": command_line(), "started_at": _now()})
    try:
        return _execute(folder, config, registry, progress or Progress(), resumed=False)
    except (UsageError, DatasetUnavailable):
        if not (folder.path / "jobs").exists():
            shutil.rmtree(folder.path)  # nothing ran: leave no half-made run behind
        raise


def resume(run_dir: str | os.PathLike[str], progress: Progress | None = None) -> pd.DataFrame:
    """Finish a run that was interrupted: run only the jobs that have no result yet."""
    folder = RunFolder.existing(run_dir)
    folder.remove_temporaries()
    config = RunConfig.from_json(folder.read_run()["config"])
    registry = load_registry(config.plugin_paths)
    validate(config, registry)
    return _execute(folder, config, registry, progress or Progress(), resumed=True)


def validate(config: RunConfig, registry: Registry) -> None:
    """Every check that needs no data, so a bad input fails before anything is loaded."""
    for model in config.models:
        if model not in registry.models:
            raise UsageError(unknown_message("model", model, registry.models))
    registry.dataset(config.dataset)
    for label, value, minimum in (("--repeats", config.repeats, 1), ("--jobs", config.jobs, 1),
                                  ("--seed", config.seed, 0),
                                  ("--threads", config.threads, 1),
                                  *(("--train-size", size, 1) for size in config.train_sizes()),
                                  ("--test-size", config.test_size, 1)):
        if value is not None and value < minimum:
            raise UsageError(f"{label} must be at least {minimum}, got {value}")
    validate_executor(config)
    if config.timeout is not None and not 0 < config.timeout < float("inf"):  # NaN too
        raise UsageError(f"--timeout must be a positive number of seconds, got {config.timeout}")
    if config.data_dir and not Path(config.data_dir).is_dir():
        raise UsageError(f"data folder {config.data_dir} does not exist; "
                         "point --data-dir / MLBENCH_DATA_DIR at the folder of MNIST .gz files")


def new_run_folder(output_dir: Path, name: str | None) -> RunFolder:
    """A fresh, writable run folder; an existing non-empty one is never reused silently."""
    if output_dir.exists() and not output_dir.is_dir():
        raise UsageError(f"output folder {output_dir} is a file; give a folder")
    if name is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        name, count = stamp, 1
        while (output_dir / name).exists():
            count += 1
            name = f"{stamp}-{count}"
    elif not name or "/" in name or name in (".", ".."):
        raise UsageError(f"run name {name!r} must be a plain folder name")
    path = output_dir / name
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path} is a file; choose another --name")
    if (path / "run.json").exists():
        raise UsageError(f"{path} already holds a run; choose another --name or use "
                         f"--resume {path}")
    # Hidden names are mlbench's own temporary files, left by a run killed as it started.
    if path.exists() and any(not p.name.startswith(".") for p in path.iterdir()):
        raise UsageError(f"{path} is not empty and holds no mlbench run; choose another "
                         "--name or --output-dir")
    try:
        path.mkdir(parents=True, exist_ok=True)
        (path / ".write-test").touch()
        (path / ".write-test").unlink()
    except OSError as error:
        raise UsageError(f"cannot write to {path}: {error.strerror}; "
                         "choose another --output-dir") from error
    folder = RunFolder(path)
    folder.remove_temporaries()
    return folder


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
            "classes": dataset.classes, "fallback_warning": warning,
        },
    )
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

    def finish(spec: JobSpec | None, record: JobRecord, arrays: dict[str, Any]) -> None:
        saved = record.in_run(dataset=dataset.name, executor=config.executor,
                              train_size=info["dataset"]["train_size"],
                              test_size=info["dataset"]["test_size"]).to_json()
        folder.save_job(saved, arrays)
        progress.finished(saved)

    for record in skipped:
        finish(None, record, {})
    try:
        runner.execute(todo, on_start=progress.started, on_finish=finish)
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


def _data_dir(given: str | os.PathLike[str] | None) -> str | None:
    """--data-dir, else $MLBENCH_DATA_DIR, resolved once so run.json records the folder."""
    chosen = given or os.environ.get("MLBENCH_DATA_DIR")
    return str(Path(chosen).resolve()) if chosen else None


def _words(value: str | Sequence[str]) -> list[str]:
    return [w for part in ([value] if isinstance(value, str) else value) for w in part.split(",")]


def _devices(value: str | Sequence[str]) -> list[str]:
    devices = [word.strip() for word in _words(value) if word.strip()]
    if not devices:
        raise UsageError("no devices given; use --devices cpu, gpu or auto")
    for device in devices:
        if device not in DEVICE_CHOICES:
            raise UsageError(unknown_message("device", device, DEVICE_CHOICES))
    return list(dict.fromkeys(devices))


def _params(
    params: Mapping[str, Mapping[str, Any]] | Iterable[str] | None,
    registry: Registry,
    selected: list[str],
) -> dict[str, dict[str, Any]]:
    defaults = {model: registry.models[model].defaults for model in selected}
    if params is None:
        return {}
    if isinstance(params, Mapping):
        params = [f"{model}.{key}={value!r}" for model, values in params.items()
                  for key, value in values.items()]
    return parse_params(params, defaults)


def _sweep(
    sweep: Mapping[str, Mapping[str, Sequence[Any]]] | Iterable[str] | None,
    registry: Registry,
    selected: list[str],
    params: Mapping[str, Mapping[str, Any]],
) -> dict[str, dict[str, list[Any]]]:
    if not sweep:
        return {}
    if isinstance(sweep, Mapping):
        sweep = [f"{model}.{key}={','.join(repr(value) for value in values)}"
                 for model, swept in sweep.items() for key, values in swept.items()]
    defaults = {model: registry.models[model].defaults for model in selected}
    return parse_sweep(sweep, defaults, params)


def _train_size(value: int | str | Sequence[int] | None) -> int | list[int] | None:
    """One size (an int), or a grid's sizes in the order given: ``1000,5000`` or a list."""
    if value is None or isinstance(value, int):
        return value
    words = value.split(",") if isinstance(value, str) else [str(size) for size in value]
    if not all(re.fullmatch(r"\s*-?\d+\s*", word) for word in words):
        raise UsageError(f"--train-size takes a number of images or a comma-separated list of "
                         f"them, e.g. 1000,5000; got {value!r}")
    sizes = list(dict.fromkeys(int(word) for word in words))
    return sizes[0] if len(sizes) == 1 else sizes


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")

