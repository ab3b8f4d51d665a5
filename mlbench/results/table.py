"""The results table: its schema (one row per job), building it from job records, and
reading it back. The tables computed from it for reports live in ``mlbench.reporting.tables``."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from mlbench.results.naming import value_text

STATUSES = ("ok", "failed", "timeout", "crashed", "skipped")

# name, dtype, unit, meaning: the one definition of the table, documented in the README.
COLUMNS: list[tuple[str, str, str, str]] = [
    ("run", "string", "", "run folder name"),
    ("job_id", "string", "",
     "model-device-rREPEAT (in a grid model-device-NAME=VALUE-nSIZE-rREPEAT), unique in the run"),
    ("model", "string", "", "model name"),
    ("plugin", "string", "", "plugin that registered the model"),
    ("device", "string", "", "cpu or gpu"),
    ("repeat", "Int64", "", "repeat index, 0-based"),
    ("seed", "Int64", "", "seed given to the model"),
    ("status", "string", "", "ok, failed, timeout, crashed or skipped"),
    ("error", "string", "", "why the job did not end ok (first line)"),
    ("dataset", "string", "", "dataset actually used"),
    ("train_size", "Int64", "images", "training images"),
    ("test_size", "Int64", "images", "test images"),
    ("accuracy", "float64", "fraction", "test accuracy"),
    ("f1_macro", "float64", "fraction", "macro-averaged F1 on the test set"),
    ("setup_seconds", "float64", "s",
     "framework start-up before fit (imports, device, graph tracing), if the model has any"),
    ("fit_seconds", "float64", "s", "wall time of fit() (with per-epoch test evaluation)"),
    ("fit_cpu_seconds", "float64", "s", "CPU time of fit(), all threads of the worker"),
    ("train_throughput", "float64", "images/s",
     "training images per second: train_size x epochs / training time (epochs 1 if no history)"),
    ("epochs", "Int64", "", "epochs in the training history, if the model keeps one"),
    ("final_test_accuracy", "float64", "fraction", "test accuracy after the last epoch"),
    ("predict_seconds", "float64", "s", "wall time of predict() on the test set"),
    ("predict_throughput", "float64", "images/s", "test images / predict_seconds"),
    ("proba_seconds", "float64", "s",
     "wall time of predict_proba() on the images whose probabilities are kept"),
    ("job_seconds", "float64", "s", "wall time of the whole job inside the worker"),
    ("peak_memory_mb", "float64", "MiB", "worker's peak resident memory"),
    ("model_size_bytes", "Int64", "bytes", "size of the pickled fitted model"),
    ("threads", "Int64", "", "BLAS threads in effect in the worker"),
    ("device_name", "string", "", "CPU or GPU model the job ran on"),
    ("framework", "string", "", "framework, version and build (CPU or CUDA), if reported"),
    ("framework_threads", "Int64", "", "the framework's own intra-op threads, if reported"),
    ("precision", "string", "", "arithmetic precision of training, if reported"),
    ("params", "string", "JSON", "every hyperparameter the model ran with"),
    ("sweep", "string", "", "the job's values of the params --sweep varies, NAME=VALUE, "
                            "', '-separated"),
    ("warnings", "string", "", "warnings the job raised, '; '-separated"),
    ("worker_pid", "Int64", "", "worker process id"),
    ("executor", "string", "", "what ran the job: local or dask"),
    ("worker", "string", "", "where: the host name (local) or the Dask worker's address"),
    ("started_at", "string", "ISO 8601 UTC", "when the job started"),
]
COLUMN_NAMES = [name for name, *_ in COLUMNS]
HISTORY_COLUMNS = ["job_id", "model", "device", "repeat", "epoch", "loss", "train_accuracy",
                   "test_accuracy", "epoch_seconds", "train_seconds", "eval_seconds"]


def to_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Job records as the results table, with every column and its dtype."""
    rows = []
    for record in records:
        row = {name: record.get(name) for name in COLUMN_NAMES}
        history = record.get("history") or []
        if history:
            row["epochs"] = len(history)
            row["final_test_accuracy"] = history[-1].get("test_accuracy")
        row["params"] = json.dumps(record.get("params", {}), sort_keys=True, default=str)
        row["sweep"] = sweep_text(record.get("sweep") or {}) or None
        row["warnings"] = "; ".join(record.get("warnings") or []) or None
        if row["error"]:
            row["error"] = str(row["error"]).strip().splitlines()[0]
        rows.append(row)
    frame = pd.DataFrame(rows, columns=COLUMN_NAMES)
    return frame.astype({name: dtype for name, dtype, *_ in COLUMNS})


def params_of(cell: Any) -> dict[str, Any]:
    """A row's params column back as a dict ({} where the row has none or it is unreadable)."""
    try:
        params = json.loads(cell) if isinstance(cell, str) else {}
    except ValueError:
        return {}
    return params if isinstance(params, dict) else {}


def sweep_text(sweep: dict[str, Any]) -> str:
    return ", ".join(f"{name}={value_text(value)}" for name, value in sweep.items())


def read_table(path: Path) -> pd.DataFrame:
    """A saved results.csv or results.parquet, with the schema's dtypes."""
    path = Path(path)
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    return frame.astype({name: dtype for name, dtype, *_ in COLUMNS if name in frame})
