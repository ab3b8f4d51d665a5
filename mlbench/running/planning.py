"""Planning a run: load the dataset once (with the mnist -> mnist-5k fallback), check the
sizes asked for against it, and expand the settings into JobSpecs. Shared by a real run
(``api``) and an estimate (``estimate``)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from mlbench.contract.registry import Registry
from mlbench.datasets import DataRef, Dataset, LoadRequest, cache_dir, stratified_indices
from mlbench.errors import DatasetUnavailable, UsageError
from mlbench.results.naming import job_id, variant_text
from mlbench.results.record import JobRecord
from mlbench.results.run_config import RunConfig
from mlbench.running.environment import gpu_names
from mlbench.running.jobs import JobSpec
from mlbench.running.progress import Progress

FALLBACK_DATASETS = {"mnist": "mnist-5k"}


def warn_and_load(
    config: RunConfig, registry: Registry, progress: Progress
) -> tuple[Dataset, str | None]:
    """What a run (or an estimate) does first: a warning per plugin that did not load, then
    the dataset, with a warning if it fell back."""
    for problem in registry.problems:
        progress.warn(problem)
    dataset, warning = load_dataset(config, registry, progress)
    if warning:
        progress.warn(warning)
    return dataset, warning


def load_dataset(
    config: RunConfig, registry: Registry, progress: Progress
) -> tuple[Dataset, str | None]:
    """The dataset, loaded once; falls back (mnist to mnist-5k) when it cannot be had."""
    request = LoadRequest(cache_dir=cache_dir(),
                          data_dir=Path(config.data_dir) if config.data_dir else None,
                          progress=progress.show_downloads, on_warning=progress.warn)
    try:
        return registry.dataset(config.dataset).loader(request), None
    except DatasetUnavailable as error:
        fallback = FALLBACK_DATASETS.get(config.dataset)
        if fallback is None or fallback not in registry.datasets:
            raise
        # The error already says how to get the full set.
        warning = f"{config.dataset} is unavailable, using {fallback} instead: {error}"
        return registry.dataset(fallback).loader(request), warning


def job_data(config: RunConfig, dataset: Dataset) -> DataRef:
    """What the jobs load: the dataset's .npy folder, the validation split (carved from the
    training set first, when the run holds one out) and the stratified subsets the sizes ask
    for, drawn from the rest (the first size's, in a grid; ``plan`` draws the others). Every
    size is checked against the dataset first."""
    labels = np.asarray(dataset.y_train)
    validation = validation_split(config, dataset)
    sizes = config.train_sizes()
    for size in sizes[1:]:  # a grid: each size is checked here, its subset drawn by plan
        _check_train_size(size, validation, config, dataset)
    _check_train_size(sizes[0], validation, config, dataset)
    train_indices = train_subset(labels, sizes[0], validation)
    test_indices = _subset(dataset.y_test, config.test_size, "--test-size", dataset)
    if dataset.folder is None:
        raise UsageError(f"dataset '{dataset.name}' was not cached as .npy files; its loader "
                         "must return mlbench.datasets.save_arrays(...)")
    return DataRef(dataset.folder, dataset.pixel_max, train_indices, test_indices, validation)


def validation_split(config: RunConfig, dataset: Dataset) -> np.ndarray | None:
    """The training images held out to choose a grid's settings on (None: none): a stratified
    ``config.validation`` of the training set, seeded by the run's seed and not the repeat's,
    so every job of the run is judged on the same images."""
    if not config.validation:
        return None
    labels = np.asarray(dataset.y_train)
    total, classes = len(labels), len(dataset.classes)
    held = round(config.validation * total)
    given = f"--validation {config.validation:g} holds out {held} of {dataset.name}'s {total} " \
            "training images"
    if held < classes:
        raise UsageError(f"{given}, fewer than the {classes} classes; a stratified split needs "
                         "an image of each: use a larger fraction, or 0 to hold out nothing")
    if total - held < classes:
        raise UsageError(f"{given} and leaves {total - held} to train on, fewer than the "
                         f"{classes} classes; use a smaller fraction, e.g. 0.1")
    return stratified_indices(labels, held, seed=config.seed)


def train_subset(labels: np.ndarray, size: int | None,
                 validation: np.ndarray | None) -> np.ndarray | None:
    """The stratified training subset of ``size`` images (None: all), drawn from the images
    not held out for validation; with nothing held out, the subset a run of that size always
    drew."""
    if validation is None:
        return stratified_indices(labels, size)
    rest = np.setdiff1d(np.arange(len(labels)), validation)
    chosen = stratified_indices(labels[rest], size)
    return rest if chosen is None else rest[chosen]


def plan(
    config: RunConfig, registry: Registry, data: DataRef
) -> tuple[list[JobSpec], list[JobRecord]]:
    """Jobs to run (models x devices x swept values x training-set sizes x repeats, in rounds
    of one repeat each), and `skipped` records for devices a model does not support. With one
    training-set size, ``data`` holds its subset; in a grid each size's stratified subset is
    drawn here."""
    specs, skipped = [], []
    has_gpu = bool(gpu_names())
    sizes = config.train_sizes()
    grid = len(sizes) > 1
    subsets = {size: _train_subset(data, size) if grid else data for size in sizes}
    for model in config.models:
        entry = registry.models[model]
        variant = variant_text(config.params.get(model, {}), entry.defaults, config.threads)
        for requested in config.devices:
            device = requested
            if requested == "auto":
                device = "gpu" if "gpu" in entry.devices and has_gpu else "cpu"
            for sweep, params in config.model_settings(model, entry.defaults):
                for size, repeat in itertools.product(sizes, range(config.repeats)):
                    grid_size = size if grid else None
                    spec = JobSpec(job_id(model, device, repeat, sweep, grid_size), model,
                                   entry.plugin, device, repeat, config.seed + repeat, params,
                                   subsets[size], tuple(config.plugin_paths), config.threads,
                                   sweep, grid_size, config.target_accuracy, variant)
                    if device in entry.devices:
                        specs.append(spec)
                    else:
                        skipped.append(JobRecord.skipped(
                            spec, f"{model} has no {device} path; it runs on "
                                  f"{', '.join(entry.devices)} only"))
    specs = list({spec.job_id: spec for spec in specs}.values())  # auto may repeat a device
    # Repeats interleaved (repeat 0 of every job, then repeat 1, ...), as asv's
    # --interleave-rounds: a burst of other load spreads over models instead of landing on
    # all of one model's repeats. The sort is stable, so each round keeps the models' order.
    specs.sort(key=lambda spec: spec.repeat)
    return specs, skipped


def _train_subset(data: DataRef, size: int | None) -> DataRef:
    """``data`` with the stratified training subset of ``size`` images (the same one a run
    of that one size draws), outside its validation images."""
    labels = np.load(data.folder / "y_train.npy", mmap_mode="r", allow_pickle=False)
    return replace(data, train_indices=train_subset(np.asarray(labels), size,
                                                    data.validation_indices))


def _check_train_size(size: int | None, validation: np.ndarray | None, config: RunConfig,
                      dataset: Dataset) -> None:
    """A training-set size must fit in what the validation split leaves."""
    if size is not None and validation is not None:
        left = len(dataset.y_train) - len(validation)
        if size > left:
            raise UsageError(f"--train-size {size} is larger than the {left} training images "
                             f"left after --validation {config.validation:g} holds out "
                             f"{len(validation)}; use at most {left}, or a smaller "
                             "--validation")
    _subset(dataset.y_train, size, "--train-size", dataset)


def _subset(labels: np.ndarray, size: int | None, option: str, dataset: Dataset) -> Any:
    if size is not None:
        available = len(labels)
        if size > available:
            raise UsageError(f"{option} {size} is larger than {dataset.name}'s {available} "
                             f"images; use at most {available}")
        if size < len(dataset.classes):
            raise UsageError(f"{option} {size} is smaller than the {len(dataset.classes)} "
                             "classes; a stratified subset needs at least one image per class")
    return stratified_indices(np.asarray(labels), size)
