"""What runs inside a worker process: build one model, train it, test it, measure it.

Everything the job needs arrives in its JobSpec; everything it measured goes back as a plain
record plus the predicted labels and probabilities. Errors become a `failed` or `skipped`
record here; crashes and timeouts are seen by the executor instead.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import os
import pickle
import resource
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np

# The forkserver preloads this module, so these imports are paid once per run, not per job.
import sklearn.metrics
import threadpoolctl

from mlbench.contract.model import SkipJob
from mlbench.running.environment import cpu_model
from mlbench.running.jobs import JobSpec

PROBABILITY_SAMPLE = 500  # evenly spaced test images whose probabilities are kept
PROBABILITY_WRONG = 2000  # at most this many misclassified images' probabilities


class ContractError(Exception):
    """A model returned something the harness cannot score."""


def run_job(spec: JobSpec) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Run one job; returns (record, arrays) where arrays holds the predictions."""
    record: dict[str, Any] = {
        **spec.identity(), "worker_pid": os.getpid(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    arrays: dict[str, np.ndarray] = {}
    started = time.perf_counter()
    with captured_output() as log, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if spec.threads is not None:
                limit_framework_threads(spec.threads)
            limits = {} if spec.threads is None else {"limits": spec.threads}
            with threadpoolctl.threadpool_limits(**limits):
                record["threads"] = _blas_threads()
                arrays = _measure(spec, record)
            record["status"] = "ok"
        except SkipJob as reason:
            record.update(status="skipped", error=str(reason))
        except Exception as error:
            record.update(status="failed", error=f"{type(error).__name__}: {error}",
                          traceback=traceback.format_exc(limit=-8))
    record["warnings"] = sorted({f"{w.category.__name__}: {w.message}" for w in caught})
    record["log"] = log.text
    record["job_seconds"] = time.perf_counter() - started
    record["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return record, arrays


def _measure(spec: JobSpec, record: dict[str, Any]) -> dict[str, np.ndarray]:
    from mlbench.contract.registry import load_registry

    registry = load_registry(spec.plugin_paths)
    entry = registry.models.get(spec.model)
    if entry is None or entry.plugin != spec.plugin:
        raise RuntimeError(f"model '{spec.model}' of plugin '{spec.plugin}' did not load in "
                           f"the worker: {'; '.join(registry.problems) or 'not registered'}")
    x_train, y_train, x_test, y_test = spec.data.load(entry.input)
    record.update(train_size=len(y_train), test_size=len(y_test))
    model = entry.cls(seed=spec.seed, device=spec.device, **spec.params)
    if callable(getattr(model, "get_params", None)):
        record["params"] = model.get_params()  # as resolved by the model (recipes, say)
    _seed_everything(spec.seed)

    if callable(getattr(model, "prepare", None)):
        # Framework start-up (imports, device, graph tracing) is measured apart from training.
        wall = time.perf_counter()
        model.prepare(x_train, y_train)
        record["setup_seconds"] = time.perf_counter() - wall
    fit_options = {}
    if "eval_set" in inspect.signature(model.fit).parameters:
        fit_options["eval_set"] = (x_test, y_test)  # for learning curves, never for fitting

    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(x_train, y_train, **fit_options)
    record["fit_seconds"] = time.perf_counter() - wall
    record["fit_cpu_seconds"] = time.process_time() - cpu
    history = list(getattr(model, "history_", None) or [])
    if history:
        record["history"] = history
    train_seconds = history[-1]["train_seconds"] if history else record["fit_seconds"]
    record["train_throughput"] = len(x_train) * max(len(history), 1) / max(train_seconds, 1e-9)

    wall = time.perf_counter()
    predicted = np.asarray(model.predict(x_test))
    record["predict_seconds"] = time.perf_counter() - wall
    record["predict_throughput"] = len(x_test) / max(record["predict_seconds"], 1e-9)

    predicted = _check_predictions(spec, predicted, len(y_test), np.unique(y_train))
    arrays = {"predicted": predicted.astype(np.int16)}
    if hasattr(model, "predict_proba"):
        # Probabilities feed the reports' galleries: a fixed sample of the test set and the
        # images this model got wrong. Not the whole set: for some models (k-NN) that would
        # cost a second full prediction.
        sample = np.linspace(0, len(y_test) - 1, min(len(y_test), PROBABILITY_SAMPLE))
        wrong = np.flatnonzero(predicted != y_test)[:PROBABILITY_WRONG]
        index = np.union1d(sample.astype(np.int64), wrong)
        wall = time.perf_counter()
        probabilities = model.predict_proba(x_test[index])
        record["proba_seconds"] = time.perf_counter() - wall
        arrays["probabilities"] = _check_probabilities(spec, probabilities, len(index))
        arrays["probability_index"] = index.astype(np.int32)
    record["accuracy"] = float(np.mean(predicted == y_test))
    record["f1_macro"] = float(
        sklearn.metrics.f1_score(y_test, predicted, average="macro", zero_division=0)
    )
    record["model_size_bytes"] = _model_size(model)
    record["device_name"] = cpu_model() if spec.device == "cpu" else None
    if callable(getattr(model, "runtime_info", None)):
        info = model.runtime_info()
        if info.get("device_name") in (None, "cpu"):
            info.pop("device_name", None)
        record.update(info)
    return arrays


def _check_predictions(
    spec: JobSpec, predicted: np.ndarray, n: int, classes: np.ndarray
) -> np.ndarray:
    """The predictions as integer labels, or a ContractError naming the plugin."""
    where = f"plugin '{spec.plugin}': model '{spec.model}' predict()"
    if predicted.shape != (n,):
        raise ContractError(f"{where} returned shape {predicted.shape} for {n} test images; "
                            f"it must return one label per image, shape ({n},)")
    if predicted.dtype.kind == "f" and np.all(np.isfinite(predicted)) and np.all(
            predicted == np.round(predicted)):
        predicted = predicted.astype(np.int64)  # whole-number floats are labels too
    if predicted.dtype.kind not in "iu":
        raise ContractError(f"{where} returned {predicted.dtype} values, not integer class "
                            f"labels (first: {predicted[:3].tolist()})")
    unknown = np.setdiff1d(predicted, classes)
    if len(unknown):
        raise ContractError(f"{where} returned labels never seen in training: "
                            f"{unknown[:5].tolist()}")
    return predicted


def _check_probabilities(spec: JobSpec, probabilities: Any, n: int) -> np.ndarray:
    """predict_proba's rows as float32, or a ContractError naming the plugin."""
    where = f"plugin '{spec.plugin}': model '{spec.model}' predict_proba()"
    try:
        values = np.asarray(probabilities, dtype=np.float32)
    except (TypeError, ValueError) as error:
        raise ContractError(f"{where} returned {type(probabilities).__name__}, not an array "
                            f"of probabilities ({error})") from error
    if values.ndim != 2 or len(values) != n:
        raise ContractError(f"{where} returned shape {values.shape} for {n} images; it must "
                            f"return one row of class probabilities per image")
    if not np.all(np.isfinite(values)):
        raise ContractError(f"{where} returned {int(np.sum(~np.isfinite(values)))} NaN or "
                            "infinite probabilities")
    return values


def _model_size(model: Any) -> int | None:
    """Bytes of the pickled fitted model (a proxy for what deploying it would cost)."""
    size = getattr(model, "size_bytes", None)
    if callable(size):
        return int(size())
    counter = ByteCounter()
    try:
        pickle.dump(model, counter, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        return None
    return counter.size


class ByteCounter:
    """A file that only counts what is written: sizes a pickle without holding it."""

    size = 0

    def write(self, data: bytes | memoryview) -> int:
        size = memoryview(data).nbytes  # protocol 5 hands over array buffers as memoryviews
        self.size += size
        return size


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


def _seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)


def _blas_threads() -> int | None:
    counts = [info["num_threads"] for info in threadpoolctl.threadpool_info()
              if info.get("user_api") == "blas"]
    return max(counts) if counts else None
