"""The results table: its schema (one row per job), building it from job records, and
reading it back. The tables computed from it for reports live in ``mlbench.reporting.tables``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from mlbench.results.record import COLUMNS as RECORD_COLUMNS
from mlbench.results.record import EPOCH_FIELDS, JobRecord

# name, dtype, unit, meaning: read from the job record's fields, documented in docs/results.md.
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


def read_table(path: Path) -> pd.DataFrame:
    """A saved results.csv or results.parquet, with the schema's dtypes; a column an older
    mlbench did not write is there, empty."""
    path = Path(path)
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    missing = [name for name in COLUMN_NAMES if name not in frame]
    frame = frame.reindex(columns=[*frame.columns, *missing])
    return frame.astype({name: dtype for name, dtype, *_ in COLUMNS})
