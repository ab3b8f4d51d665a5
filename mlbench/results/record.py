"""A job's record: what became of one job, typed, built only through the constructors here.

Every record starts as its job's identity (``JobRecord.of``); one constructor per outcome
(``ok``, ``failed``, ``skipped``, ``crashed``, ``timeout``) sets how it ended. The worker
fills in what it measures, the executor where it ran, the run what data it used. Each field
that is a column of the results table says so in its metadata, so the table's schema is
read from here. On disk a record is the JSON object ``to_json`` writes (``jobs/<job>.json``);
``from_json`` reads those of every mlbench version, hand-written ones included.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from typing import Any, Protocol

from mlbench.results.naming import sweep_text

STATUSES = ("ok", "failed", "timeout", "crashed", "skipped")
SURROGATE = re.compile("[\ud800-\udfff]")  # what os.fsdecode makes of undecodable bytes


def valid_text(value: Any) -> Any:
    """``value`` with every string in it made valid UTF-8 (lone surrogates replaced by
    U+FFFD), so that no plugin's text can break the JSON, CSV or parquet files."""
    if isinstance(value, str):
        return SURROGATE.sub("\ufffd", value)
    if isinstance(value, Mapping):
        return {valid_text(key): valid_text(item) for key, item in value.items()}
    if type(value) in (list, tuple):
        return type(value)(valid_text(item) for item in value)
    return value


@dataclass(frozen=True)
class Column:
    """How a record field appears in the results table (docs/results.md documents each)."""

    name: str
    dtype: str
    unit: str
    meaning: str
    cell: Callable[[Any], Any] | None = None  # the field's value as a table cell, if not itself


def column(dtype: str, meaning: str, unit: str = "", *, cell: Callable[[Any], Any] | None = None,
           runtime: bool = False, required: bool = False) -> Any:
    """A record field that is a column of the results table. ``runtime``: a model's
    ``runtime_info()`` may report it."""
    metadata = {"column": (dtype, unit, meaning, cell), "runtime": runtime}
    return field(metadata=metadata) if required else field(default=None, metadata=metadata)


def _json_cell(value: Any) -> str:
    return json.dumps(value if value is not None else {}, sort_keys=True, default=str)


def _first_line(error: Any) -> Any:
    lines = str(error).strip().splitlines() if error else []
    return lines[0] if lines else error


@dataclass(frozen=True)
class EpochRecord:
    """One row of a model's training history, as history.csv holds it: the end of an epoch,
    or a point within one where test accuracy was also measured (epoch 2.25: a quarter into
    the third). Plugins write ``history_`` as a list of dicts with these keys;
    ``read_history`` reads the list."""

    epoch: float  # epochs of training so far: whole at an epoch's end
    loss: float | None = None
    train_accuracy: float | None = None
    test_accuracy: float | None = None  # None when the model was given no eval_set
    epoch_seconds: float | None = None  # training since the previous row, without evaluation
    cumulative_train_seconds: float | None = None  # training so far: the sum of epoch_seconds
    eval_seconds: float | None = None  # this row's test evaluation, outside both times

    @classmethod
    def from_plugin(cls, entry: Any, position: int) -> EpochRecord:
        """The ``position``-th (1-based) entry of a ``history_``; a ValueError says what is
        wrong with it. Keys it does not know are left out (``unknown_keys`` names them)."""
        if not isinstance(entry, Mapping):
            raise ValueError(f"history_ entry {position} is {type(entry).__name__}, not a dict")
        values: dict[str, Any] = {}
        for key, value in entry.items():
            name = OLD_EPOCH_NAMES.get(key, key)
            if name not in EPOCH_FIELDS or value is None:
                continue
            if key != name and entry.get(name) is not None:
                continue  # given under both names: the new one wins
            if isinstance(value, bool) or not _is_number(value):
                raise ValueError(f"history_ entry {position} has {key}={value!r}, not a number")
            values[name] = whole_or_float(value) if name == "epoch" else float(value)
        values.setdefault("epoch", position)
        return cls(**values)

    @staticmethod
    def unknown_keys(entry: Mapping[str, Any]) -> list[str]:
        return sorted(str(key) for key in entry
                      if key not in EPOCH_FIELDS and key not in OLD_EPOCH_NAMES)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def whole_or_float(value: Any) -> float:
    """3 for 3 and 3.0 (an epoch's end), 2.25 for 2.25 (within the third epoch)."""
    number = float(value)
    return int(number) if number.is_integer() else number


def completed_epochs(history: Sequence[EpochRecord]) -> int:
    """Whole epochs trained: the rows at an epoch's end (the others are within one)."""
    return sum(1 for epoch in history if float(epoch.epoch).is_integer())


def read_history(entries: Sequence[Any]) -> list[EpochRecord]:
    """A ``history_`` (or a saved record's history) as EpochRecords, every consumer's one
    way in: where an epoch gives its own time but no running total, the total is added up
    here (once), so no reader sums the times again. A ValueError names a bad entry."""
    history: list[EpochRecord] = []
    total: float | None = 0.0
    for position, entry in enumerate(entries, start=1):
        epoch = EpochRecord.from_plugin(entry, position)
        if (epoch.cumulative_train_seconds is None and epoch.epoch_seconds is not None
                and total is not None):
            epoch = replace(epoch, cumulative_train_seconds=total + epoch.epoch_seconds)
        total = epoch.cumulative_train_seconds  # unknown once an epoch has no time
        history.append(epoch)
    return history


def time_to_target(history: Sequence[EpochRecord], target: float) -> float | None:
    """Training seconds until test accuracy first reached ``target``: the running total at
    that epoch. None (never 0) when it never did, or the history has no times for it."""
    for epoch in history:
        if epoch.test_accuracy is not None and epoch.test_accuracy >= target:
            return epoch.cumulative_train_seconds
    return None


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, str | bytes)


EPOCH_FIELDS = [f.name for f in fields(EpochRecord)]
# Names an older mlbench (and its plugins) wrote: train_seconds was always the running total.
OLD_EPOCH_NAMES = {"train_seconds": "cumulative_train_seconds"}


class JobIdentity(Protocol):
    """What names a job: a planned JobSpec, or a record of one."""

    @property
    def job_id(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def plugin(self) -> str: ...
    @property
    def device(self) -> str: ...
    @property
    def repeat(self) -> int: ...
    @property
    def seed(self) -> int: ...
    @property
    def params(self) -> dict[str, Any]: ...
    @property
    def sweep(self) -> dict[str, Any]: ...
    @property
    def train_size(self) -> int | None: ...
    @property
    def variant(self) -> str | None: ...


@dataclass(kw_only=True)
class JobRecord:
    """One job's record. Fields in the order of the results table's columns, then the
    fields kept only in the job's JSON. Every string assigned is made valid UTF-8."""

    run: str | None = column("string", "run folder name")
    job_id: str = column("string", "model-device-rREPEAT (in a grid "
                         "model-device-NAME=VALUE-nSIZE-rREPEAT), unique in the run",
                         required=True)
    model: str = column("string", "model name", required=True)
    plugin: str = column("string", "plugin that registered the model", required=True)
    device: str = column("string", "cpu or gpu", required=True)
    repeat: int = column("Int64", "repeat index, 0-based", required=True)
    seed: int = column("Int64", "seed given to the model", required=True)
    status: str | None = column("string", "ok, failed, timeout, crashed or skipped")
    error: str | None = column("string", "why the job did not end ok (first line)",
                               cell=_first_line)
    dataset: str | None = column("string", "dataset actually used")
    train_size: int | None = column(
        "Int64", "training images the model was fit on (validation images held out)", "images")
    test_size: int | None = column("Int64", "test images", "images")
    accuracy: float | None = column(
        "float64", "test accuracy: the fraction of the test_size test images predicted right, "
        "in this one run (the report adds its 95% interval over the test images)", "fraction")
    f1_macro: float | None = column("float64", "macro-averaged F1 on the test set", "fraction")
    balanced_accuracy: float | None = column(
        "float64", "balanced accuracy: the mean over classes of each class's recall (the "
        "fraction of its test images predicted right), on the test_size test images",
        "fraction")
    log_loss: float | None = column(
        "float64", "log-loss (cross-entropy, natural log) of predict_proba() over all test_size "
        "test images, each probability clipped to at least 1e-15; empty where the model gives "
        "no probabilities", "nats")
    validation_size: int | None = column(
        "Int64", "validation images: held out of the training set (stratified, seeded by the "
        "run's --seed), never trained on; empty when the run holds none out", "images")
    validation_accuracy: float | None = column(
        "float64", "accuracy on the validation split carved from the training set (what a "
        "grid's settings are chosen on)", "fraction")
    setup_seconds: float | None = column(
        "float64", "framework start-up before fit (imports, device, graph tracing), if the "
        "model has any", "s")
    fit_seconds: float | None = column(
        "float64", "wall time of fit() on the training images, in this one run (with "
        "per-epoch test evaluation)", "s")
    fit_cpu_seconds: float | None = column(
        "float64", "CPU time of fit(), all threads of the worker", "s")
    train_throughput: float | None = column(
        "float64", "training images per second: train_size x epochs / training time "
        "(epochs 1 if no history)", "images/s")
    epochs: int | None = column("Int64", "whole epochs in the training history, if the model "
                                "keeps one")
    final_test_accuracy: float | None = column("float64", "test accuracy after the last epoch",
                                               "fraction")
    target_accuracy: float | None = column(
        "float64", "the test accuracy time_to_target_seconds waits for (--target-accuracy); "
        "only for models whose history has test accuracy", "fraction")
    time_to_target_seconds: float | None = column(
        "float64", "training time (cumulative_train_seconds) until test accuracy, measured "
        "after each epoch (and within epochs, where the model's evals_per_epoch says), first "
        "reached target_accuracy; empty when it never did or there is no history", "s")
    test_evaluations: int | None = column(
        "Int64", "how often test accuracy was measured during training (its history's rows "
        "with test accuracy): time_to_target_seconds is known to within one of these steps",
        "evaluations")
    predict_seconds: float | None = column(
        "float64", "wall time of one predict() call on the test_size test images, in this one "
        "run: a call under 0.2 s is timed over batches of calls (predict_calls) and this is "
        "the median per-call time of the batches; where proba_seconds is 0, of the one "
        "predict_and_proba() call that gave the labels and the probabilities", "s")
    predict_calls: int | None = column(
        "Int64", "calls behind predict_seconds: 1 where one call took 0.2 s or more (timed "
        "once), else the calls of its 3 timed batches, together at least 0.2 s (the first "
        "call, whose labels are scored, not among them)", "calls")
    predict_spread: float | None = column(
        "float64", "(max - min) / median of the per-call times of predict_seconds's batches; "
        "empty where predict was timed once", "fraction")
    predict_throughput: float | None = column("float64", "test images / predict_seconds",
                                              "images/s")
    proba_seconds: float | None = column(
        "float64", "wall time of one predict_proba() call on the test_size test images (for "
        "log_loss), timed as predict_seconds is; 0 where the model gave its probabilities "
        "with its labels in one predict_and_proba() call (k-NN: one neighbour search), whose "
        "time predict_seconds is; empty where the model gives no probabilities", "s")
    proba_calls: int | None = column(
        "Int64", "calls behind proba_seconds, as predict_calls", "calls")
    proba_spread: float | None = column(
        "float64", "(max - min) / median of the per-call times of proba_seconds's batches; "
        "empty where predict_proba was timed once or shared predict's call", "fraction")
    job_seconds: float | None = column("float64", "wall time of the whole job inside the "
                                       "worker", "s")
    disturbed: bool | None = column(
        "boolean", "the job did not get its cores: other processes used more of them, on "
        "average over fit's window or predict's, than the job left free, beyond a tolerance "
        "(the rule: docs/running.md, Disturbed timings); its times are not like-for-like with a "
        "quiet machine's. Empty where not known (no /proc/stat, as on macOS; a run saved before "
        "mlbench measured it; a job that stopped before its predict ended)")
    fit_disturbed: bool | None = column(
        "boolean", "the same rule over fit's own window: whether fit_seconds was disturbed")
    predict_disturbed: bool | None = column(
        "boolean", "the same rule over the window from fit's end through predict (and "
        "predict_proba): whether predict_seconds was disturbed")
    others_cores: float | None = column(
        "float64", "cores other processes used on average while the job was timed (fit "
        "through predict): their CPU seconds on the cores the job could run on, steal "
        "included, over the wall seconds", "cores")
    steal_seconds: float | None = column(
        "float64", "CPU time the hypervisor gave to other virtual machines on those cores "
        "while the job was timed (0 on bare metal)", "s")
    own_cores: float | None = column(
        "float64", "cores the job itself used on average while it was timed: its CPU "
        "seconds (every thread and child process) over the wall seconds", "cores")
    usable_cores: int | None = column(
        "Int64", "cores the job could run on (its CPU affinity), the machine those figures "
        "are of")
    peak_memory_mb: float | None = column(
        "float64", "worker's peak resident memory: mlbench, its imports and the data included",
        "MiB")
    model_memory_mb: float | None = column(
        "float64", "what the job added to it: the worker's peak after its data were loaded, "
        "less its resident memory then (the model, its framework's imports, what fit and "
        "predict allocate)", "MiB")
    model_size_bytes: int | None = column(
        "Int64", "size of the fitted model: its size_bytes(), else its pickled size", "bytes")
    threads: int | None = column("Int64", "BLAS threads in effect in the worker")
    device_name: str | None = column("string", "CPU or GPU model the job ran on", runtime=True)
    framework: str | None = column(
        "string", "framework, version and build (CPU or CUDA), if reported", runtime=True)
    framework_threads: int | None = column(
        "Int64", "the framework's own intra-op threads, if reported", runtime=True)
    precision: str | None = column("string", "arithmetic precision of training, if reported",
                                   runtime=True)
    implementation_of: str | None = column(
        "string", "the model whose algorithm and hyperparameters this one runs on another "
        "engine (svm for svm-onedal), if the model reports one", runtime=True)
    params: dict[str, Any] = column(  # noqa: RUF009 (a dataclasses.field)
        "string", "every hyperparameter the model ran with", "JSON", cell=_json_cell,
        required=True)
    sweep: dict[str, Any] = column(  # noqa: RUF009 (a dataclasses.field)
        "string", "the job's values of the params --sweep varies, NAME=VALUE, ', '-separated",
        cell=lambda sweep: sweep_text(sweep or {}) or None, required=True)
    variant: str | None = column(
        "string", "how the job differs from its model's defaults: each param --param set to "
        "another value than its default, NAME=VALUE as typed after --param MODEL. (in the "
        "model's order), then threads=N where --threads was set, ', '-separated; swept params "
        "are in sweep instead; empty for a job with the defaults, and in runs saved before "
        "this column", cell=lambda variant: variant or None)
    warnings: list[str] | None = column(  # noqa: RUF009 (a dataclasses.field)
        "string", "warnings the job raised, '; '-separated",
        cell=lambda warnings: "; ".join(warnings or []) or None)
    worker_pid: int | None = column("Int64", "worker process id")
    executor: str | None = column("string", "what ran the job: local or dask")
    worker: str | None = column(
        "string", "where: the host name (local) or the Dask worker's address")
    started_at: str | None = column("string", "when the job started", "ISO 8601 UTC")
    extra: dict[str, Any] | None = column(  # noqa: RUF009 (a dataclasses.field)
        "string", "what the model's runtime_info() reported that no other column holds",
        "JSON", cell=lambda extra: _json_cell(extra) if extra else None)
    # Kept in the job's JSON only.
    traceback: str | None = None
    log: str | None = None  # the tail of what the job printed
    history: list[EpochRecord] | None = None

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, valid_text(value))

    # -- one constructor per outcome ------------------------------------------------------

    @classmethod
    def of(cls, job: JobIdentity) -> JobRecord:
        """``job``'s record with no outcome yet: a copy, if ``job`` is a record already."""
        if isinstance(job, JobRecord):
            return replace(job)
        return cls(job_id=job.job_id, model=job.model, plugin=job.plugin, device=job.device,
                   repeat=job.repeat, seed=job.seed, params=job.params, sweep=job.sweep,
                   train_size=job.train_size, variant=job.variant or None)

    @classmethod
    def ok(cls, job: JobIdentity) -> JobRecord:
        return replace(cls.of(job), status="ok", error=None)

    @classmethod
    def failed(cls, job: JobIdentity, error: BaseException, traceback: str) -> JobRecord:
        return replace(cls.of(job), status="failed", error=f"{type(error).__name__}: {error}",
                       traceback=traceback)

    @classmethod
    def skipped(cls, job: JobIdentity, reason: str) -> JobRecord:
        return replace(cls.of(job), status="skipped", error=reason)

    @classmethod
    def crashed(cls, job: JobIdentity, error: str, *, executor: str | None = None,
                worker: str | None = None) -> JobRecord:
        return replace(cls.of(job), status="crashed", error=error, executor=executor,
                       worker=worker)

    @classmethod
    def timeout(cls, job: JobIdentity, seconds: float) -> JobRecord:
        return replace(cls.of(job), status="timeout",
                       error=f"exceeded the {seconds:g} s timeout and was stopped")

    # -- what is added after the outcome --------------------------------------------------

    def keep_history(self, history: Sequence[EpochRecord], target: float | None = None) -> None:
        """The model's training history, and the columns read from it: ``target`` is the
        test accuracy whose time to reach is recorded (if the history has test accuracy)."""
        self.history = list(history) or None
        self.epochs = completed_epochs(history) if history else None
        self.final_test_accuracy = history[-1].test_accuracy if history else None
        scored = any(epoch.test_accuracy is not None for epoch in history)
        self.target_accuracy = target if scored else None
        self.test_evaluations = (sum(1 for epoch in history if epoch.test_accuracy is not None)
                                 if scored else None)
        self.time_to_target_seconds = (time_to_target(history, target)
                                       if scored and target is not None else None)

    def keep_runtime_info(self, info: Mapping[str, Any]) -> None:
        """What a model's ``runtime_info()`` reported: its own columns where it has one, the
        rest in ``extra`` (never dropped)."""
        extra = dict(self.extra or {})
        for key, value in info.items():
            if key in RUNTIME_FIELDS:
                setattr(self, key, value)
            else:
                extra[str(key)] = value
        self.extra = extra or None

    def ran_on(self, executor: str, worker: str | None) -> JobRecord:
        return replace(self, executor=executor, worker=worker)

    def in_run(self, *, dataset: str, executor: str, train_size: int,
               test_size: int) -> JobRecord:
        """The record as its run keeps it: the dataset used, and for a job that never
        reached a worker, the run's executor and sizes."""
        return replace(self, dataset=dataset, executor=self.executor or executor,
                       train_size=self.train_size if self.train_size is not None
                       else train_size,
                       test_size=self.test_size if self.test_size is not None else test_size)

    # -- on disk and in the table ---------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The record as jobs/<job>.json holds it: every field that has a value."""
        data: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None:
                continue
            if item.name == "history":
                value = [epoch.to_json() for epoch in value]
            data[item.name] = value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobRecord:
        """A record as any mlbench wrote it. Fields it lacks read as missing; keys that are no
        field (an older mlbench kept runtime_info() there) go to ``extra``."""
        values: dict[str, Any] = {name: None for name in REQUIRED_FIELDS}
        extra = dict(data.get("extra") or {})
        for key, value in data.items():
            if key in FIELD_NAMES:
                values[key] = value
            elif key != "extra":
                extra[key] = value
        values["extra"] = extra or None
        history = values.pop("history", None) or []
        record = cls(**values)
        if history:
            record.keep_history(read_history(history), record.target_accuracy)
        return record

    def row(self) -> dict[str, Any]:
        """The record as one row of the results table."""
        return {column.name: column.cell(getattr(self, column.name)) if column.cell
                else getattr(self, column.name) for column in COLUMNS}


FIELD_NAMES = {item.name for item in fields(JobRecord)} - {"extra"}
REQUIRED_FIELDS = [item.name for item in fields(JobRecord) if item.default is MISSING]
RUNTIME_FIELDS = {item.name for item in fields(JobRecord) if item.metadata.get("runtime")}
COLUMNS = [Column(item.name, *item.metadata["column"]) for item in fields(JobRecord)
           if "column" in item.metadata]
