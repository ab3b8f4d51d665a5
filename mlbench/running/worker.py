"""What runs inside a worker process: build one model, train it, test it, measure it.

Everything the job needs arrives in its JobSpec; everything it measured goes back as its
JobRecord plus the predicted labels and probabilities. The model is driven as
``running.drive`` drives every model; this module times and records it. Errors become a
`failed` or `skipped` record here; crashes and timeouts are seen by the executor instead.
"""

from __future__ import annotations

import contextlib
import os
import resource
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np

# The forkserver preloads this module, so these imports are paid once per run, not per job.
import sklearn.metrics
import threadpoolctl

from mlbench.contract.model import SkipJob
from mlbench.results.record import JobRecord, completed_epochs, read_history
from mlbench.running import contention
from mlbench.running.drive import Driver
from mlbench.running.environment import cpu_model
from mlbench.running.job_plugins import registry_for
from mlbench.running.jobs import JobSpec, Outcome, Phase

PROBABILITY_SAMPLE = 500  # evenly spaced test images whose probabilities are kept
PROBABILITY_WRONG = 2000  # at most this many misclassified images' probabilities
LOG_LOSS_FLOOR = 1e-15  # a probability of 0 for the true class costs -log(1e-15) = 34.5


def run_job(spec: JobSpec, on_epoch: Callable[[int], None] | None = None,
            on_phase: Callable[[Phase], None] | None = None) -> Outcome:
    """Run one job; returns its record and the arrays of its predictions. ``on_epoch`` is
    told the epochs the model's ``history_`` has ended, as it grows during fit; ``on_phase``
    each phase after start-up (``jobs.PHASES``) as it begins."""
    record = JobRecord.of(spec)
    record.worker_pid = os.getpid()
    record.started_at = datetime.now(UTC).isoformat(timespec="seconds")
    arrays: dict[str, np.ndarray] = {}
    memory = ModelMemory()
    started = time.perf_counter()
    with captured_output() as log, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if spec.threads is not None:
                limit_framework_threads(spec.threads)
            limits = {} if spec.threads is None else {"limits": spec.threads}
            with threadpoolctl.threadpool_limits(**limits):
                record.threads = _blas_threads()
                arrays = _measure(spec, record, memory, on_epoch, on_phase)
            record = JobRecord.ok(record)
        except SkipJob as reason:
            record = JobRecord.skipped(record, str(reason))
        except Exception as error:
            record = JobRecord.failed(record, error, traceback.format_exc(limit=-8))
    record.warnings = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    record.log = log.text
    record.job_seconds = time.perf_counter() - started
    record.peak_memory_mb, record.model_memory_mb = memory.peak_mb(), memory.model_mb()
    return record, arrays


class ModelMemory:
    """The worker's peak resident memory, and the part of it the job itself added: the peak
    from ``data_loaded`` on, less the resident memory at that moment (mlbench, its imports
    and the job's data). Linux's peak counter (VmHWM) is reset there, so a transient peak
    while the data were converted does not count as the model's. Each job has a fresh
    process (executors), so no earlier job's peak is in it either."""

    def __init__(self) -> None:
        self.baseline_mb: float | None = None
        self.peak_before_mb = 0.0  # the process peak before the reset
        self.reset = False

    def data_loaded(self) -> None:
        self.peak_before_mb = _peak_resident_mb()
        try:
            with open("/proc/self/clear_refs", "w") as clear_refs:
                clear_refs.write("5")  # resets VmHWM (and ru_maxrss) to the current level
            self.reset = True
        except OSError:
            pass  # not Linux: the peak since the process began, an upper bound
        self.baseline_mb = _status_mb("VmRSS")

    def peak_mb(self) -> float:
        return max(self.peak_before_mb, _peak_resident_mb())

    def model_mb(self) -> float | None:
        # VmHWM, not ru_maxrss: that also keeps the peak seen when any thread exited.
        peak = _status_mb("VmHWM") if self.reset else self.peak_mb()
        if self.baseline_mb is None or peak is None:
            return None  # the job ended before its data were loaded, or no /proc
        return max(0.0, peak - self.baseline_mb)


def _peak_resident_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _status_mb(key: str) -> float | None:
    """A memory line of /proc/self/status (VmRSS, VmHWM) in MiB; None where there is none."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{key}:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def _measure(spec: JobSpec, record: JobRecord, memory: ModelMemory,
             on_epoch: Callable[[int], None] | None = None,
             on_phase: Callable[[Phase], None] | None = None) -> dict[str, np.ndarray]:
    """Drive the model through its steps, filling in ``record`` as each step ends (a job
    that fails keeps what was measured before); returns the predictions."""
    begin: Callable[[Phase], None] = on_phase or (lambda phase: None)
    registry = registry_for(spec.plugin_paths)  # discovered once, in the workers' server
    entry = registry.models.get(spec.model)
    if entry is None or entry.plugin != spec.plugin:
        raise RuntimeError(f"model '{spec.model}' of plugin '{spec.plugin}' did not load in "
                           f"the worker: {'; '.join(registry.problems) or 'not registered'}")
    x_train, y_train, x_test, y_test = spec.data.load(entry.input)
    record.train_size, record.test_size = len(y_train), len(y_test)
    # Loaded with the rest of the data, so the memory it takes is the data's, not the model's.
    validation = spec.data.load_validation(entry.input)
    memory.data_loaded()
    driver = Driver.build(entry.cls, seed=spec.seed, device=spec.device, params=spec.params,
                          where=f"plugin '{spec.plugin}': model '{spec.model}' ")
    resolved = driver.params()
    if resolved is not None:
        record.params = resolved  # as resolved by the model (a recipe's, say)
    # Framework start-up (imports, device, graph tracing) is measured apart from training.
    record.setup_seconds = driver.prepare(x_train, y_train, spec.seed)
    # What the machine gave the job while fit ran, and from there through its last reported
    # time (predict_proba): each time is judged by its own window.
    window = contention.sample()
    begin("fit")
    with watch_epochs(driver.model, on_epoch):
        fitted = driver.fit(x_train, y_train, eval_set=(x_test, y_test))
    record.fit_seconds, record.fit_cpu_seconds = fitted.seconds, fitted.cpu_seconds
    fitted_at = contention.sample()
    history = driver.history()
    record.keep_history(history, spec.target_accuracy)
    last_total = history[-1].cumulative_train_seconds if history else None
    train_seconds = fitted.seconds if last_total is None else last_total
    record.train_throughput = len(x_train) * (record.epochs or 1) / max(train_seconds, 1e-9)

    begin("predict")
    # Timed over repeated calls where one is short (drive.timed_calls); the first call's
    # labels (and probabilities) are the ones scored.
    classes = np.unique(y_train)
    probabilities: np.ndarray | None = None
    if driver.offers.predict_and_proba:
        # Labels and probabilities from one pass (k-NN: one neighbour search, not two): its
        # time is predict_seconds, and proba_seconds 0 says nothing more was spent on them.
        predicted, probabilities, timing = driver.predict_and_proba(
            x_test, classes, repeat=spec.time_short_calls)
        record.proba_seconds = 0.0
    else:
        predicted, timing = driver.predict(x_test, classes, repeat=spec.time_short_calls)
    record.predict_seconds, record.predict_calls = timing.seconds, timing.calls
    record.predict_spread = timing.spread
    record.predict_throughput = len(x_test) / max(timing.seconds, 1e-9)
    arrays = {"predicted": predicted.astype(np.int16)}
    if probabilities is None and driver.offers.predict_proba:
        # Every test image's probabilities, for log_loss: harness work beyond predict,
        # timed apart as proba_seconds.
        probabilities, proba = driver.predict_proba(x_test, repeat=spec.time_short_calls)
        record.proba_seconds, record.proba_calls = proba.seconds, proba.calls
        record.proba_spread = proba.spread
    if probabilities is not None:
        record.log_loss = log_loss(y_test, probabilities, classes)
        # Only a fixed sample and the images this model got wrong are kept, for the reports'
        # galleries.
        sample = np.linspace(0, len(y_test) - 1, min(len(y_test), PROBABILITY_SAMPLE))
        wrong = np.flatnonzero(predicted != y_test)[:PROBABILITY_WRONG]
        index = np.union1d(sample.astype(np.int64), wrong)
        arrays["probabilities"] = probabilities[index]
        arrays["probability_index"] = index.astype(np.int32)
    ended = contention.sample()
    keep_contention(record, contention.between(window, ended), spec.threads,
                    contention.between(window, fitted_at), contention.between(fitted_at, ended))
    record.accuracy = float(np.mean(predicted == y_test))
    record.f1_macro = float(
        sklearn.metrics.f1_score(y_test, predicted, average="macro", zero_division=0)
    )
    with warnings.catch_warnings():  # a class predicted but absent from a small test set
        warnings.simplefilter("ignore")
        record.balanced_accuracy = float(
            sklearn.metrics.balanced_accuracy_score(y_test, predicted))
    if validation is not None:
        # What a grid's settings are chosen on: training images the model never saw. Predicted
        # after the test set and timed apart, so predict_seconds stays the test set's alone;
        # one call: its time is not reported.
        x_validation, y_validation = validation
        guessed, _ = driver.predict(x_validation, classes)
        record.validation_size = len(y_validation)
        record.validation_accuracy = float(np.mean(guessed == y_validation))
    begin("finishing")
    record.model_size_bytes = driver.size_bytes()
    record.device_name = cpu_model() if spec.device == "cpu" else None
    info = driver.runtime_info()
    if info.get("device_name") in (None, "cpu"):
        info.pop("device_name", None)  # a framework's "cpu" says less than cpu_model()
    record.keep_runtime_info(info)
    return arrays


def keep_contention(record: JobRecord, reading: contention.Reading | None,
                    threads: int | None, fit: contention.Reading | None = None,
                    predict: contention.Reading | None = None) -> None:
    """What other work took from the job while it was timed (``reading``: fit through
    predict), and whether that disturbed its fit, its prediction, either
    (``contention.is_disturbed``); nothing where the platform cannot say."""
    if reading is None:
        return
    record.others_cores, record.steal_seconds = reading.others_cores, reading.steal_seconds
    record.own_cores, record.usable_cores = reading.own_cores, reading.usable_cores
    record.fit_disturbed = None if fit is None else fit.disturbed(threads)
    record.predict_disturbed = None if predict is None else predict.disturbed(threads)
    record.disturbed = bool(record.fit_disturbed or record.predict_disturbed)


def log_loss(labels: np.ndarray, probabilities: np.ndarray, classes: np.ndarray) -> float:
    """The mean negative natural log of the probability each image's true class was given
    (column i is ``classes[i]``; a class never trained on was given 0), clipped to at least
    1e-15, sklearn.metrics.log_loss's long-time eps. Not sklearn's own function: it raises
    on a float32 probability a hair above 1, and its clipping changed across versions."""
    given = np.zeros(len(labels))
    for column, label in enumerate(classes[:probabilities.shape[1]]):
        given[labels == label] = probabilities[labels == label, column]
    return float(-np.mean(np.log(np.clip(given, LOG_LOSS_FLOOR, 1.0))))


def epochs_ended(history: list[Any]) -> int:
    """Epochs a ``history_`` has ended so far (its rows within an epoch, 2.25, not counted)."""
    try:
        return completed_epochs(read_history(list(history)))  # a copy: fit appends to it
    except ValueError:  # a malformed row: the record will say so; count rows meanwhile
        return len(history)


@contextlib.contextmanager
def watch_epochs(model: Any, on_epoch: Callable[[int], None] | None,
                 every: float = 0.5) -> Iterator[None]:
    """While fit runs, tell ``on_epoch`` each new count of epochs in the model's ``history_`` (a
    model keeps one only if it has it before fit, as the CNNs do), from a thread that wakes
    twice a second: the plugin need not know about it."""
    history = getattr(model, "history_", None)
    if on_epoch is None or not isinstance(history, list):
        yield
        return
    stop = threading.Event()

    def watch() -> None:
        told = 0
        while not stop.wait(every):
            count = epochs_ended(getattr(model, "history_", None) or [])
            if count != told:
                told = count
                on_epoch(count)

    watcher = threading.Thread(target=watch, name="mlbench-epochs", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()


class CapturedOutput:
    text = ""


@contextlib.contextmanager
def captured_output(limit: int = 20_000) -> Iterator[CapturedOutput]:
    """Send the job's stdout and stderr, including what C libraries print (TensorFlow's
    banners, say), to a file instead of the user's terminal; keep its tail in the record."""
    result = CapturedOutput()
    with tempfile.TemporaryFile() as sink:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield result
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for descriptor in saved:
                os.close(descriptor)
            sink.seek(max(0, sink.seek(0, os.SEEK_END) - limit))
            result.text = sink.read().decode(errors="replace")


def limit_framework_threads(threads: int) -> None:
    """Set the thread count every framework reads when it is first imported (the worker
    imports them only after this); threadpoolctl covers the BLAS already loaded."""
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                     "TF_NUM_INTRAOP_THREADS"):
        os.environ[variable] = str(threads)
    os.environ["TF_NUM_INTEROP_THREADS"] = "1"


def _blas_threads() -> int | None:
    counts = [info["num_threads"] for info in threadpoolctl.threadpool_info()
              if info.get("user_api") == "blas"]
    return max(counts) if counts else None
