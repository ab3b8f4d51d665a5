"""How a run was made, in words: the one description of a run's setup (dataset, settings,
machine, versions) that a report's Setup table and a comparison's Runs table and list of
differences are all read from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlbench.results.run_info import MachineInfo, RunInfo

KEY_LIBRARIES = ("numpy", "pandas", "scikit-learn", "torch", "tensorflow", "tensorflow-cpu",
                 "keras", "jax")


def _known(value: Any, unknown: str = "?") -> str:
    return unknown if value is None else str(value)


def dataset_text(info: RunInfo) -> str:
    """The dataset used and its sizes: ``mnist (60,000 train / 10,000 test images)``."""
    dataset = info.dataset
    train, test = dataset.train_size, dataset.test_size
    sizes = (f" ({train:,} train / {test:,} test images)"
             if isinstance(train, int) and isinstance(test, int) else "")
    return f"{_known(dataset.name)}{sizes}"


def dataset_row(info: RunInfo) -> str:
    """The Setup table's dataset line: ``mnist: 60000 train / 10000 test images``; a grid
    lists its training-set sizes."""
    dataset = info.dataset
    sizes = dataset.train_size
    train = ", ".join(str(size) for size in sizes) if isinstance(sizes, list) else _known(sizes)
    return f"{_known(dataset.name)}: {train} train / {_known(dataset.test_size)} test images"


def seeds_text(info: RunInfo) -> str:
    """``3 (seeds 0, 1, 2)``: the repeats and the seed each got."""
    repeats, seed = info.settings.repeats, info.settings.seed
    seeds = ", ".join(str(seed + n) for n in range(repeats)) if repeats <= 5 else (
        f"{seed} to {seed + repeats - 1}")
    return f"{repeats} (seed{'s' if repeats > 1 else ''} {seeds})"


def sweep_text(info: RunInfo) -> str:
    return "; ".join(f"{model}.{name}={', '.join(str(value) for value in values)}"
                     for model, swept in info.settings.sweep.items()
                     for name, values in swept.items())


def validation_text(info: RunInfo) -> str:
    """What was held out of the training set to choose a grid's settings on."""
    fraction, held = info.settings.validation, info.dataset.validation_size
    if not fraction:
        return "none: nothing held out of the training set"
    images = f"{held:,} training images" if held else "training images"
    return (f"{images} (--validation {fraction:g}, stratified, seed {info.settings.seed}) held "
            "out and never trained on; a grid's settings are chosen on them, not on the test set")


def executor_text(info: RunInfo) -> str:
    settings = info.settings
    return settings.executor + (f" (scheduler {settings.scheduler})" if settings.scheduler
                                else "")


def _usable(machine: MachineInfo) -> str:
    """`` (4 usable)`` where the run could use fewer cores than the machine has."""
    if machine.usable_cpus in (None, machine.cpu_count):
        return ""
    return f" ({machine.usable_cpus} usable)"


def cores_text(machine: MachineInfo) -> str:
    """``8``, or ``8 (4 usable)``."""
    return _known(machine.cpu_count) + _usable(machine)


def machine_text(info: RunInfo) -> str:
    """``Intel Xeon ..., 8 cores (4 usable)``."""
    machine = info.machine
    return f"{_known(machine.cpu)}, {_known(machine.cpu_count)} cores{_usable(machine)}"


def gpus_text(info: RunInfo) -> str:
    return ", ".join(info.machine.gpus) or "none"


def libraries_text(info: RunInfo) -> str:
    """The versions of the libraries that decide the numbers, where installed, with the
    build of each deep-learning framework: ``torch 2.13.0+cpu (CPU build)``."""
    libraries, builds = info.machine.libraries, info.machine.framework_builds
    texts = []
    for name in KEY_LIBRARIES:
        if name in libraries:
            build = builds.get(name.removesuffix("-cpu"))  # tensorflow-cpu is tensorflow
            texts.append(f"{name} {libraries[name]}" + (f" ({build} build)" if build else ""))
    return ", ".join(texts)


def thread_pools_text(info: RunInfo) -> str:
    return ", ".join(dict.fromkeys(
        f"{pool.get('internal_api') or pool.get('user_api')} {pool.get('num_threads')}"
        for pool in info.machine.thread_pools))


def version_text(info: RunInfo) -> str:
    """``0.4.0, commit abc123``: the mlbench that ran, and its commit where known."""
    return ", commit ".join(str(part) for part in (info.mlbench, info.machine.git_commit)
                            if part)


def command_text(info: RunInfo) -> str:
    return " ".join(info.command)


def setup_rows(info: RunInfo, models: list[str]) -> list[tuple[str, str]]:
    """A report's Setup table: (setting, value), the empty ones left out. ``models``: the
    models the results hold, for a run.json that does not list them."""
    settings, dataset, machine = info.settings, info.dataset, info.machine
    rows: list[tuple[str, Any]] = [
        ("dataset", dataset_row(info)),
        ("source", dataset.source),
        ("models", ", ".join(settings.models or models)),
        ("devices", ", ".join(settings.devices)),
        ("repeats", seeds_text(info)),
        ("sweep", sweep_text(info)),
        ("validation", validation_text(info)),
        ("jobs at once", _known(settings.jobs, "")),
        ("executor", executor_text(info)),
        ("timeout", f"{settings.timeout} s" if settings.timeout else "none"),
        ("BLAS threads per job", settings.threads or "library default"),
        ("started", info.started_at or ""),
        ("finished", info.finished_at or ""),
        ("machine", machine_text(info)),
        ("platform", machine.platform or ""),
        ("GPUs", gpus_text(info)),
        ("Python", _known(machine.python)),
        ("libraries", libraries_text(info)),
        ("thread pools", thread_pools_text(info)),
        ("mlbench", version_text(info)),
        ("command", command_text(info)),
    ]
    if dataset.requested not in (None, dataset.name):
        rows.insert(1, ("requested", dataset.requested))
    return [(name, str(value)) for name, value in rows if value != ""]


def runs_row(info: RunInfo) -> dict[str, str]:
    """A comparison's Runs table: one run's dataset, start, machine and versions."""
    return {"dataset": dataset_text(info), "started": info.started_at or "",
            "machine": machine_text(info), "GPUs": gpus_text(info),
            "mlbench": info.mlbench or "", "command": command_text(info)}


# What may differ between two runs, and how each is read: a comparison lists those that do.
FACETS: list[tuple[str, Callable[[RunInfo], Any]]] = [
    ("dataset", dataset_text),
    ("repeats", lambda info: info.settings.repeats),
    ("first seed", lambda info: info.settings.seed),
    ("validation", validation_text),
    ("BLAS threads per job", lambda info: info.settings.threads or "default"),
    ("jobs at once", lambda info: info.settings.jobs),
    ("devices asked for", lambda info: ", ".join(info.settings.devices)),
    ("CPU", lambda info: info.machine.cpu),
    ("cores", lambda info: cores_text(info.machine)),
    ("GPUs", gpus_text),
    ("Python", lambda info: info.machine.python),
    ("platform", lambda info: info.machine.platform),
    ("mlbench version", lambda info: info.mlbench),
    ("git commit", lambda info: info.machine.git_commit or "unknown"),
]
