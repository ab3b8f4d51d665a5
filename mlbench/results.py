"""The results table and the run folder: schema, atomic writes, reading a saved run.

A run folder holds run.json (settings, machine, dataset), jobs/<job>.json (one record per
finished job, written the moment it finishes), predictions/<job>.npz, test_labels.npy,
test_images.npz (for the reports' galleries), and results.csv / results.parquet rebuilt from
the job records after every job.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlbench.errors import UsageError
from mlbench.jobs import value_text

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


GRID_COLUMNS = {"sweep": "sweep", "train_size": "train size"}  # a grid's columns: headings


def grid_columns(frame: pd.DataFrame) -> list[str]:
    """The grid columns whose values differ between the table's jobs (none in a plain run)."""
    return [name for name in GRID_COLUMNS
            if name in frame and frame[name].nunique(dropna=False) > 1]


def grid_sort_key(column: pd.Series) -> pd.Series:
    """For ``sort_values(key=...)``: swept values in numeric order (C=5 before C=10)."""
    return column.map(_sweep_order) if column.name == "sweep" else column


def _sweep_order(text: Any) -> tuple[tuple[str, float, str], ...]:
    if not isinstance(text, str):
        return ()
    order = []
    for part in text.split(", "):
        name, _, value = part.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = float("inf")  # words after numbers, among themselves alphabetically
        order.append((name, number, value))
    return tuple(order)


def read_table(path: Path) -> pd.DataFrame:
    """A saved results.csv or results.parquet, with the schema's dtypes."""
    path = Path(path)
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    return frame.astype({name: dtype for name, dtype, *_ in COLUMNS if name in frame})


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _umask()


def write_atomic(path: Path, write: Callable[[Path], Any]) -> None:
    """Write through a temporary file in the same folder, then rename: readers (and a crash
    mid-write) only ever see the old file or the complete new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    os.chmod(temporary, 0o666 & ~UMASK)  # mkstemp's 0600 would hide shared reports
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, lambda p: p.write_text(json.dumps(data, indent=2, default=str) + "\n"))


class RunFolder:
    """Reads and writes one run's folder."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @classmethod
    def existing(cls, path: str | os.PathLike[str]) -> RunFolder:
        """A folder that mlbench run made, or a one-line UsageError saying why it is not."""
        folder = cls(Path(path))
        if not folder.path.is_dir():
            raise UsageError(f"{path} is not a folder; give a run folder that mlbench run "
                             "made, e.g. results/<run>")
        if not folder.run_json.is_file():
            raise UsageError(f"{path} is not a run folder (no run.json); give a folder that "
                             "mlbench run made, e.g. results/<run>")
        return folder

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def run_json(self) -> Path:
        return self.path / "run.json"

    def read_run(self) -> dict[str, Any]:
        return dict(json.loads(self.run_json.read_text()))

    def write_run(self, info: dict[str, Any]) -> None:
        write_json(self.run_json, info)

    def records(self) -> list[dict[str, Any]]:
        folder = self.path / "jobs"
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]

    def remove_temporaries(self) -> None:
        """Delete what write_atomic leaves behind when a run is killed mid-write: hidden
        files beside the real ones (the real ones are whole, old or new)."""
        for path in self.path.rglob(".*"):
            if path.is_file():
                path.unlink(missing_ok=True)

    def finished_jobs(self) -> set[str]:
        return {p.stem for p in (self.path / "jobs").glob("*.json")}

    def save_job(self, record: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Keep one finished job: predictions first, so a record never points at nothing."""
        if arrays:
            path = self.path / "predictions" / f"{record['job_id']}.npz"
            write_atomic(path, lambda p: _save_arrays(p, np.savez_compressed, **arrays))
        write_json(self.path / "jobs" / f"{record['job_id']}.json", record)
        self.write_table()

    def save_test_labels(self, labels: np.ndarray) -> None:
        write_atomic(self.path / "test_labels.npy", lambda p: _save_arrays(p, np.save, labels))

    def save_test_images(self, images: np.ndarray, pixel_max: float) -> None:
        """The test images as stored (uint8 for the built-in datasets), in the order of
        test_labels.npy, so a report can show digits without the dataset."""
        write_atomic(self.path / "test_images.npz", lambda p: _save_arrays(
            p, np.savez_compressed, images=np.asarray(images), pixel_max=np.float64(pixel_max)))

    def test_labels(self) -> np.ndarray | None:
        path = self.path / "test_labels.npy"
        return np.load(path, allow_pickle=False) if path.exists() else None

    def test_images(self) -> tuple[np.ndarray, float] | None:
        """The saved test images and the pixel value that is full white; None for a run that
        saved none (made before mlbench kept them)."""
        path = self.path / "test_images.npz"
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as saved:
            return saved["images"], float(saved["pixel_max"])

    def table(self) -> pd.DataFrame:
        return to_frame({**r, "run": self.name} for r in self.records())

    def history(self) -> pd.DataFrame:
        """Per-epoch training history of every job that kept one, in long form."""
        rows = [{"job_id": r["job_id"], "model": r["model"], "device": r["device"],
                 "repeat": r["repeat"], **epoch}
                for r in self.records() for epoch in r.get("history") or []]
        return pd.DataFrame(rows, columns=HISTORY_COLUMNS)

    def write_table(self) -> pd.DataFrame:
        frame = self.table()
        write_atomic(self.path / "results.csv", lambda p: frame.to_csv(p, index=False))
        write_atomic(self.path / "results.parquet", lambda p: frame.to_parquet(p, index=False))
        history = self.history()
        if not history.empty:
            write_atomic(self.path / "history.csv", lambda p: history.to_csv(p, index=False))
        return frame


def _save_arrays(path: Path, save: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    # Through a file object: given a path, numpy would append its own suffix to the name.
    with open(path, "wb") as stream:
        save(stream, *args, **kwargs)


def device_speedups(frame: pd.DataFrame) -> pd.DataFrame:
    """For each model that ran ok on both CPU and GPU: median times on each and the ratios
    (how many times faster the GPU is). Empty when no model ran on both."""
    ok = frame[frame["status"] == "ok"]
    columns = ["fit_seconds", "train_throughput", "predict_throughput"]
    medians = ok.groupby(["model", "device"])[columns].median().unstack("device")
    if medians.empty or "cpu" not in medians.columns.get_level_values(1) or (
            "gpu" not in medians.columns.get_level_values(1)):
        return pd.DataFrame(columns=["model", "cpu_fit_seconds", "gpu_fit_seconds",
                                     "fit_speedup", "train_speedup", "predict_speedup"])
    table = pd.DataFrame({
        "cpu_fit_seconds": medians[("fit_seconds", "cpu")],
        "gpu_fit_seconds": medians[("fit_seconds", "gpu")],
        "fit_speedup": medians[("fit_seconds", "cpu")] / medians[("fit_seconds", "gpu")],
        "train_speedup": medians[("train_throughput", "gpu")]
        / medians[("train_throughput", "cpu")],
        "predict_speedup": medians[("predict_throughput", "gpu")]
        / medians[("predict_throughput", "cpu")],
    }).dropna(subset=["fit_speedup"])
    return table.reset_index()
