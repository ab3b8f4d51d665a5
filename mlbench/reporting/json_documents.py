"""What ``--format json`` prints: one JSON document per command (a run, a comparison, a
leaderboard, an estimate), built from the same tables and sentences as the terminal and the
report, and written as strict JSON (a value JSON cannot hold, NaN or infinity, is null).

Nothing here prints: the CLI writes ``dumps``' text to stdout.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlbench.reporting import tables, verdicts
from mlbench.results.run import Run

if TYPE_CHECKING:
    from mlbench.reporting.compare import Comparison
    from mlbench.reporting.compare_gate import Gate
    from mlbench.reporting.leaderboard import Leaderboard

FORMAT_VERSION = 1  # bumped when a key changes meaning or goes away


def plain(value: Any) -> Any:
    """``value`` as JSON's own types: numpy and pandas scalars as Python's, a missing value
    (None, NaN, pd.NA, NaT) or an infinity as None, paths and times as text."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray | pd.Series):
        return [plain(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def dumps(document: Mapping[str, Any]) -> str:
    """The document as strict JSON (``allow_nan=False``: no NaN or Infinity tokens)."""
    return json.dumps(plain(document), allow_nan=False, indent=2)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Every row of ``frame`` as a dict of every column (missing values as None)."""
    return [dict(zip(frame.columns, row, strict=True))
            for row in frame.astype(object).itertuples(index=False, name=None)]


def run_document(run: Run, report: Mapping[str, Path] | None = None) -> dict[str, Any]:
    """One saved run: every results column of every job, the Summary's sentences
    (``verdicts.summary_lines``), what the run was, and the report's files where written."""
    frame, info = run.frame, run.info
    return {
        "kind": "run", "format_version": FORMAT_VERSION,
        "run": run.name, "run_dir": str(run.path),
        "dataset": info.dataset.name, "complete": info.complete,
        "started_at": info.started_at, "finished_at": info.finished_at,
        "mlbench": info.mlbench, "git_commit": info.machine.git_commit,
        "machine": run.raw_info.get("machine") or {},
        "columns": list(frame.columns),
        "results": records(frame),
        "summary": (verdicts.summary_lines(run)
                    if not tables.ok_rows(frame).empty else []),
        "damaged_records": [str(path) for path in run.damaged],
        **({"report": dict(report)} if report else {}),
    }


def comparison_document(comparison: Comparison, found: Gate | None = None,
                        report: Mapping[str, Path] | None = None) -> dict[str, Any]:
    """A comparison: its headline and flagged differences, each run's figures per model
    (``summary``), each later run against the first (``deltas``), what differs between the
    runs, what ``--fail-on`` found, and every compared run's results."""
    from mlbench.reporting import compare_report

    return {
        "kind": "comparison", "format_version": FORMAT_VERSION,
        "base": comparison.labels[0],
        "summary": compare_report.summary_lines(comparison),
        "flagged": compare_report.flag_sentences(comparison),
        "unlike": comparison.unlike, "differences": comparison.differences,
        "missing": comparison.missing, "between_runs_noise": comparison.between,
        "rules": compare_report.RULES,
        "per_run": records(comparison.summary),
        "deltas": records(comparison.deltas),
        **({"fail_on": {"broken": found.broken, "undecided": found.undecided}}
           if found is not None else {}),
        "runs": [{"run": run.label, "run_dir": str(run.folder.path),
                  "columns": list(run.frame.columns), "results": records(run.frame)}
                 for run in comparison.runs],
        **({"report": dict(report)} if report else {}),
    }


def leaderboard_document(board: Leaderboard) -> dict[str, Any]:
    """A leaderboard: one entry per (dataset, test images, machine) group, its rows ranked
    by accuracy, never mixed with another group's; and the runs left out, with why."""
    return {
        "kind": "leaderboard", "format_version": FORMAT_VERSION,
        "folder": str(board.folder), "runs_read": board.runs_read,
        "columns": list(board.results.columns),
        "groups": [{**group.key._asdict(), "title": group.title, "rows": records(group.rows)}
                   for group in board.groups()],
        "skipped": [skipped._asdict() for skipped in board.skipped],
    }


def estimate_document(estimate: pd.DataFrame) -> dict[str, Any]:
    """``--estimate``'s table: each job's estimated times, and the totals."""
    return {"kind": "estimate", "format_version": FORMAT_VERSION,
            **{str(key): value for key, value in estimate.attrs.items()},
            "columns": list(estimate.columns), "jobs": records(estimate)}
