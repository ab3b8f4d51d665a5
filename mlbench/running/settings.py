"""A run's settings, declared once: the options of ``mlbench run`` and the keyword arguments
of ``mlbench.run`` both derive from ``SETTINGS``, and ``to_config`` turns what was given
(the command line's strings, or Python values) into a checked ``RunConfig``."""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlbench.contract.registry import ModelEntry, Registry, load_registry, unknown_message
from mlbench.errors import UsageError
from mlbench.results.run_config import RunConfig
from mlbench.running.executors import validate_executor
from mlbench.running.params import parse_params, parse_sweep

DEVICE_CHOICES = ("cpu", "gpu", "auto")
NO_MODELS = ("no models given; name some with --models, e.g. --models svm,knn "
             "(mlbench list shows them all)")


@dataclass(frozen=True)
class Setting:
    """One setting of a run, on both surfaces unless ``cli`` or ``api`` says otherwise."""

    name: str  # the keyword argument of mlbench.run, and the click parameter's name
    default: Any
    help: str
    annotation: str = "Any"  # the keyword argument's type, as the signature shows it
    flag: str = ""  # the long option; "" derives it from the name (train_size: --train-size)
    short: str = ""
    aliases: tuple[str, ...] = ()  # older long options that still work (not in --help)
    cli_type: type = str  # what the command line's text is parsed into
    metavar: str | None = None
    choices: tuple[str, ...] = ()  # the only values the command line takes
    multiple: bool = False  # a repeatable option; a list (or, for params and sweep, a dict)
    is_flag: bool = False
    flag_value: str | None = None  # an option whose value may be left out takes this then
    minimum: int | None = None  # checked on both surfaces, and again on --resume
    positional: bool = False  # mlbench.run(models, dataset) may pass it by position
    cli: bool = True
    api: bool = True
    instead: str = ""  # for a setting on one surface only: what the other one does

    @property
    def option(self) -> str:
        return self.flag or f"--{self.name.replace('_', '-')}"

    @property
    def show_default(self) -> bool:
        return not (self.default is None or self.default is False or self.default == ())


SETTINGS: tuple[Setting, ...] = (
    Setting("models", None, "Comma-separated model names or tags, e.g. svm,knn or sklearn or "
            "all.", "str | Sequence[str] | None", short="-m", metavar="NAMES", positional=True),
    Setting("dataset", "mnist", "mnist, mnist-5k, digits, or one a plugin adds.", "str",
            short="-d", positional=True),
    Setting("devices", "cpu", "Comma-separated: cpu, gpu, auto.", "str | Sequence[str]",
            metavar="LIST"),
    Setting("params", (), "Set a hyperparameter, e.g. svm.C=10 (repeatable).",
            "Mapping[str, Mapping[str, Any]] | Iterable[str]", flag="--param", short="-p",
            metavar="MODEL.NAME=VALUE", multiple=True),
    Setting("sweep", (), "One job per value, e.g. svm.C=1,10,100 (repeatable: a grid).",
            "Mapping[str, Mapping[str, Sequence[Any]]] | Iterable[str]",
            metavar="MODEL.NAME=V1,V2,...", multiple=True),
    Setting("train_size", None, "Stratified subset of the training set; a list gives one job "
            "per size.", "int | str | Sequence[int] | None", metavar="N[,N...]", minimum=1),
    Setting("test_size", None, "Stratified subset of the test set.", "int | None",
            cli_type=int, metavar="N", minimum=1),
    Setting("validation", None, "Fraction of the training set held out (stratified, seeded "
            "by --seed) to choose among --sweep's settings; default 0.1 with --sweep, else 0 "
            "(nothing held out).", "float | None", cli_type=float, metavar="FRACTION"),
    Setting("repeats", 1, "Seeds per job.", "int", cli_type=int, minimum=1),
    Setting("seed", 0, "Seed of the first repeat.", "int", cli_type=int, minimum=0),
    Setting("timeout", None, "Stop a job that runs longer.", "float | None", cli_type=float,
            metavar="SECONDS"),
    Setting("target_accuracy", 0.99, "Test accuracy whose training time is recorded "
            "(time_to_target_seconds), for models with per-epoch test accuracy (the CNNs).",
            "float", cli_type=float, metavar="FRACTION"),
    Setting("jobs", 1, "Jobs at once (1 keeps timings fair).", "int", short="-j",
            cli_type=int, minimum=1),
    Setting("threads", None, "BLAS threads per job.", "int | None", cli_type=int, metavar="N",
            minimum=1),
    Setting("executor", "local", "local (worker processes) or dask (a local Dask cluster, or "
            "--scheduler's).", "str", metavar="NAME"),
    Setting("scheduler", None, "An existing Dask cluster's scheduler, e.g. tcp://host:8786.",
            "str | None", metavar="ADDRESS"),
    Setting("retries", 2, "Times a job is run again after its Dask worker died under it.",
            "int", cli_type=int, minimum=0),
    Setting("plugins", (), "A local plugin .py file or a folder of them (repeatable; also "
            "MLBENCH_PLUGINS).", "Sequence[str | os.PathLike[str]]", flag="--plugin",
            metavar="PATH", multiple=True),
    Setting("data_dir", None, "Folder with the four MNIST .gz files (default: "
            "$MLBENCH_DATA_DIR).", "str | os.PathLike[str] | None", metavar="DIR"),
    Setting("output_dir", "results", "Where run folders go.", "str | os.PathLike[str]",
            short="-o", metavar="DIR"),
    Setting("name", None, "Run folder name (default: a timestamp).", "str | None",
            metavar="NAME"),
    Setting("resume", None, "Finish an interrupted run: only missing jobs.", metavar="RUN_DIR",
            api=False, instead="mlbench.resume(run_dir)"),
    Setting("quiet", False, "No progress; only the table and errors.", short="-q",
            is_flag=True, api=False,
            instead="mlbench.run shows no progress unless given progress= (warnings only)"),
    Setting("no_report", False, "Skip report.html, report.md and the charts.", is_flag=True,
            api=False, instead="mlbench.run writes no report: mlbench report RUN_DIR does"),
    Setting("mlflow", None, "Export the run to MLflow when it ends (after the report): to "
            "the tracking URI given, else to MLflow's default (MLFLOW_TRACKING_URI, else its "
            "local store in the current folder). See mlbench export mlflow.", "str | None",
            metavar="[URI]", flag_value="", api=False,
            instead="mlbench export mlflow RUN_DIR exports a saved run (mlbench.run's "
                    "DataFrame names its folder in attrs['run_dir'])"),
    # A choice of display, not a setting of the run: run.json does not keep it.
    Setting("columns", None, "More columns for the printed table, comma-separated: any "
            "column of results.csv, e.g. balanced_accuracy,log_loss,setup_seconds (each model's "
            "mean; each job's with --wide).", metavar="NAMES", aliases=("--metrics",), api=False,
            instead="mlbench.run returns every column of results.csv in its DataFrame"),
    Setting("wide", False, "Print one row per job with every measurement (and the repeats' "
            "table) instead of one row per model.", is_flag=True, api=False,
            instead="mlbench.run's .frame holds every job and column"),
    Setting("output_format", "table", "What stdout gets: table (rich), or json: one JSON "
            "document with every results column and the Summary (progress and warnings on "
            "stderr).",
            flag="--format", choices=("table", "json"), api=False,
            instead="mlbench.run returns the results table as a DataFrame"),
    Setting("estimate", False, "Only estimate each job's time from a few small fits; run "
            "nothing, write no run folder (the estimate is kept for the run's progress).",
            "bool", is_flag=True),
    Setting("progress", None, "", "bool | Progress | None", cli=False,
            instead="True for the command's display, or a mlbench.running.progress.Progress "
                    "that is told each step"),
)
CLI_SETTINGS = tuple(setting for setting in SETTINGS if setting.cli)
API_SETTINGS = tuple(setting for setting in SETTINGS if setting.api)
# What a --resume run takes from run.json instead: every setting of the run itself.
RUN_SETTINGS = tuple(setting for setting in SETTINGS if setting.cli and setting.api)


def signature() -> inspect.Signature:
    """The signature of mlbench.run, as help() and editors show it."""
    return inspect.Signature([
        inspect.Parameter(setting.name, inspect.Parameter.POSITIONAL_OR_KEYWORD
                          if setting.positional else inspect.Parameter.KEYWORD_ONLY,
                          default=setting.default, annotation=setting.annotation)
        for setting in API_SETTINGS])


def bind(args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Every API setting's value, given or default; a wrong name is Python's own TypeError,
    with what to do instead for an option of the command alone (``quiet=True``)."""
    for setting in SETTINGS:
        if not setting.api and setting.name in kwargs:
            raise TypeError(f"run() got an unexpected keyword argument {setting.name!r}: "
                            f"{setting.option} is the command's alone; {setting.instead}")
    bound = signature().bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


def to_config(values: Mapping[str, Any]) -> tuple[RunConfig, Registry]:
    """The settings (``bind``'s, or the command line's), normalised and checked, as the
    plan that run.json keeps; bad input is a one-line UsageError before anything runs."""
    if not values["models"]:
        raise UsageError(NO_MODELS)
    registry = load_registry(values["plugins"])
    selected = registry.select_models(_words(values["models"]))
    defaults = {model: registry.models[model].defaults for model in selected}
    params = parse_params(values["params"] or (), defaults)
    sweep = parse_sweep(values["sweep"] or (), defaults, params)
    config = RunConfig(
        models=selected,
        dataset=values["dataset"],
        devices=_devices(values["devices"]),
        params=params,
        sweep=sweep,
        train_size=_train_size(values["train_size"]),
        test_size=values["test_size"],
        repeats=values["repeats"],
        seed=values["seed"],
        timeout=values["timeout"],
        jobs=values["jobs"],
        threads=values["threads"],
        plugin_paths=list(registry.plugin_paths),
        data_dir=_data_dir(values["data_dir"]),
        executor=values["executor"],
        scheduler=values["scheduler"],
        retries=values["retries"],
        target_accuracy=values["target_accuracy"],
        validation=_validation(values["validation"], sweep),
    )
    check(config, registry)
    return config, registry


def check(config: RunConfig, registry: Registry) -> None:
    """Every check that needs no data, so a bad input fails before anything is loaded; run
    again on --resume, whose settings come from run.json."""
    for model in config.models:
        if model not in registry.models:
            raise UsageError(unknown_message("model", model, registry.models))
        _check_builds(config, registry.models[model])
    registry.dataset(config.dataset)
    for setting in SETTINGS:
        if setting.minimum is None:
            continue
        values = (config.train_sizes() if setting.name == "train_size"
                  else [getattr(config, setting.name)])
        for value in values:
            if value is not None and value < setting.minimum:
                raise UsageError(f"{setting.option} must be at least {setting.minimum}, "
                                 f"got {value}")
    if not 0 <= config.validation < 1:  # NaN too
        raise UsageError(f"--validation takes the fraction of the training set to hold out, "
                         f"from 0 up to (not including) 1, e.g. 0.1; got {config.validation}")
    validate_executor(config)
    if config.timeout is not None and not 0 < config.timeout < float("inf"):  # NaN too
        raise UsageError(f"--timeout must be a positive number of seconds, got {config.timeout}")
    target = config.target_accuracy
    if isinstance(target, bool) or not isinstance(target, int | float) or not 0 < target <= 1:
        raise UsageError(f"--target-accuracy must be a fraction above 0 and at most 1, e.g. "
                         f"0.99; got {config.target_accuracy}")
    if config.data_dir and not Path(config.data_dir).is_dir():
        raise UsageError(f"data folder {config.data_dir} does not exist; "
                         "point --data-dir / MLBENCH_DATA_DIR at the folder of MNIST .gz files")


def _check_builds(config: RunConfig, entry: ModelEntry) -> None:
    """Build the model once with each setting it will run with, so a value its own checks
    refuse (``torch-cnn.network=big``) is one line now, not a failed job in a run folder.
    A model that fails to build for any other reason (its framework missing, say) is left to
    its jobs, which say so in their rows."""
    for _, params in config.model_settings(entry.name, entry.defaults):
        try:
            entry.cls(seed=config.seed, device=entry.devices[0], **params)
        except ValueError as error:
            message = (str(error).strip().splitlines() or [type(error).__name__])[0]
            prefix = "" if message.startswith(entry.name) else f"{entry.name}: "
            raise UsageError(f"{prefix}{message}") from None
        except Exception:
            return


# Held out by default where a choice among settings is made (a --sweep). A list of training
# sizes alone chooses nothing (each size is reported on its own), so it holds nothing out.
DEFAULT_VALIDATION = 0.1


def _validation(given: float | str | None, sweep: dict[str, dict[str, list[Any]]]) -> float:
    """--validation as given, else the default: DEFAULT_VALIDATION where a sweep offers a
    choice (two values or more), else 0."""
    if given is None:
        choice = any(len(values) > 1 for swept in sweep.values() for values in swept.values())
        return DEFAULT_VALIDATION if choice else 0.0
    try:
        return float(given)
    except (TypeError, ValueError):
        raise UsageError(f"--validation takes a fraction of the training set, e.g. 0.1; "
                         f"got {given!r}") from None


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
