"""How one value reads in the terminal, the same in every table and progress line: a number,
a duration, a clock, a job's name, a status's colour."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from mlbench.results.naming import job_id

STATUS_STYLE = {"ok": "green", "failed": "red", "timeout": "yellow", "crashed": "red",
                "skipped": "dim"}


def job_label(model: str, device: str, repeat: int, job: str | None = None,
              variant: Any = None) -> str:
    """``knn on cpu, repeat 0``; a grid's job by its id, which names its swept params and
    size; either with how the job differs from the model's defaults: ``knn n_neighbors=5 on
    cpu, repeat 0``."""
    differs = variant if isinstance(variant, str) and variant else ""
    if job is not None and job != job_id(model, device, repeat):
        return f"{job} ({differs})" if differs else job
    name = f"{model} {differs}" if differs else model
    return f"{name} on {device}, repeat {repeat}"


def clock(seconds: float | None) -> str:
    """0:07, 4:05, 1:02:03: a clock that ticks every second."""
    whole = int(seconds or 0)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def duration_range(low: float, high: float) -> str:
    """Two durations as one range: "0.061-0.14 s", "2.1-9.5 s", "50 s-2.5 min"."""
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return "-"

    def parts(seconds: float) -> list[str]:  # two digits under 10 s: no "0.1-0.1 s"
        return [f"{seconds:.2g}", "s"] if seconds < 10 else duration(seconds).split(" ")

    (low_value, low_unit), (high_value, high_unit) = parts(low), parts(high)
    if low_unit == high_unit:
        return f"{low_value}-{high_value} {high_unit}"
    return f"{low_value} {low_unit}-{high_value} {high_unit}"


def duration(seconds: float) -> str:
    """Seconds as people read a duration: 0.4 s, 42 s, 3.5 min, 2.1 h."""
    if seconds is None or math.isnan(seconds):
        return "-"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def number(value: Any, fmt: str) -> str:
    if value is None or pd.isna(value) or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)

