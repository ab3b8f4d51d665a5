"""What runs inside a worker process: build one model, train it, test it, measure it.

Everything the job needs arrives in its JobSpec; everything it measured goes back as a plain
record plus the predicted labels and probabilities. Errors become a `failed` or `skipped`
record here; crashes and timeouts are seen by the executor instead.
"""

from __future__ import annotations

import gc
import os
import pickle
import resource
import time
import traceback
import warnings
from datetime import UTC, datetime
from typing import Any

import numpy as np

# The forkserver preloads this module, so these imports are paid once per run, not per job.
import sklearn.metrics
import threadpoolctl

from mlbench.jobs import JobSpec
from mlbench.model import SkipJob


class ContractError(Exception):
    """A model returned something the harness cannot score."""


def run_job(spec: JobSpec) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Run one job; returns (record, arrays) where arrays holds the predictions."""
    record: dict[str, Any] = {
        "job_id": spec.job_id, "model": spec.model, "plugin": spec.plugin,
        "device": spec.device, "repeat": spec.repeat, "seed": spec.seed,
        "params": spec.params, "worker_pid": os.getpid(),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    arrays: dict[str, np.ndarray] = {}
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
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
    record["job_seconds"] = time.perf_counter() - started
    record["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return record, arrays


def _measure(spec: JobSpec, record: dict[str, Any]) -> dict[str, np.ndarray]:
    from mlbench.plugins import load_registry

    registry = load_registry(spec.plugin_paths)
    entry = registry.models.get(spec.model)
    if entry is None or entry.plugin != spec.plugin:
        raise RuntimeError(f"model '{spec.model}' of plugin '{spec.plugin}' did not load in "
                           f"the worker: {'; '.join(registry.problems) or 'not registered'}")
    x_train, y_train, x_test, y_test = spec.data.load(entry.input)
    record.update(train_size=len(y_train), test_size=len(y_test))
    model = entry.cls(seed=spec.seed, device=spec.device, **spec.params)
    _seed_everything(spec.seed)

    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(x_train, y_train)
    record["fit_seconds"] = time.perf_counter() - wall
    record["fit_cpu_seconds"] = time.process_time() - cpu

    wall = time.perf_counter()
    predicted = np.asarray(model.predict(x_test))
    record["predict_seconds"] = time.perf_counter() - wall
    record["predict_throughput"] = len(x_test) / max(record["predict_seconds"], 1e-9)

    _check_predictions(spec, predicted, len(y_test), np.unique(y_train))
    arrays = {"predicted": predicted.astype(np.int16)}
    if hasattr(model, "predict_proba"):
        arrays["probabilities"] = np.asarray(model.predict_proba(x_test), dtype=np.float32)
    record["accuracy"] = float(np.mean(predicted == y_test))
    record["f1_macro"] = float(
        sklearn.metrics.f1_score(y_test, predicted, average="macro", zero_division=0)
    )
    record["model_size_bytes"] = _model_size(model)
    return arrays


def _check_predictions(spec: JobSpec, predicted: np.ndarray, n: int, classes: np.ndarray) -> None:
    where = f"plugin '{spec.plugin}': model '{spec.model}' predict()"
    if predicted.shape != (n,):
        raise ContractError(f"{where} returned shape {predicted.shape} for {n} test images; "
                            f"it must return one label per image, shape ({n},)")
    unknown = np.setdiff1d(predicted, classes)
    if len(unknown):
        raise ContractError(f"{where} returned labels never seen in training: "
                            f"{unknown[:5].tolist()}")


def _model_size(model: Any) -> int | None:
    """Bytes of the pickled fitted model (a proxy for what deploying it would cost)."""
    size = getattr(model, "size_bytes", None)
    if callable(size):
        return int(size())
    try:
        return len(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:
        return None


def _seed_everything(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)


def _blas_threads() -> int | None:
    counts = [info["num_threads"] for info in threadpoolctl.threadpool_info()
              if info.get("user_api") == "blas"]
    return max(counts) if counts else None
