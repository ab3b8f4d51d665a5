"""The results table: its schema (one row per job), building it from job records, reading
it back, and the helpers that order and name a grid's jobs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from mlbench.results.naming import sweep_text as sweep_text  # where callers look for it
from mlbench.results.record import COLUMNS as RECORD_COLUMNS
from mlbench.results.record import EPOCH_FIELDS, JobRecord

# name, dtype, unit, meaning: read from the job record's fields, documented in the README.
COLUMNS: list[tuple[str, str, str, str]] = [
    (column.name, column.dtype, column.unit, column.meaning) for column in RECORD_COLUMNS]
COLUMN_NAMES = [name for name, *_ in COLUMNS]
HISTORY_COLUMNS = ["job_id", "model", "device", "repeat", *EPOCH_FIELDS]


def to_frame(records: Iterable[JobRecord | Mapping[str, Any]]) -> pd.DataFrame:
    """Job records (or their JSON) as the results table, with every column and its dtype."""
    rows = [(record if isinstance(record, JobRecord) else JobRecord.from_json(record)).row()
            for record in records]
    frame = pd.DataFrame(rows, columns=COLUMN_NAMES)
    return frame.astype({name: dtype for name, dtype, *_ in COLUMNS})


def params_of(cell: Any) -> dict[str, Any]:
    """A row's params column back as a dict ({} where the row has none or it is unreadable)."""
    try:
        params = json.loads(cell) if isinstance(cell, str) else {}
    except ValueError:
        return {}
    return params if isinstance(params, dict) else {}


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
