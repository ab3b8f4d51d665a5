"""How a job is named in a run: its id (a file name in the run folder) and the short text of
a param value, shared by job ids, the table's sweep column and the CLI's parsing."""

from __future__ import annotations

import re
from typing import Any


def job_id(model: str, device: str, repeat: int, sweep: dict[str, Any] | None = None,
           train_size: int | None = None) -> str:
    """``svm-cpu-r0``; in a grid also each swept value and the size: ``svm-cpu-C=10-n1000-r0``.
    Safe as a file name."""
    parts = [model, device, *(f"{name}={value_text(value)}"
                              for name, value in (sweep or {}).items())]
    if train_size is not None:
        parts.append(f"n{train_size}")
    return "-".join([*parts, f"r{repeat}"])


def value_text(value: Any) -> str:
    """A param value as a short, file-name-safe word: 10.0 as 10, (100, 50) as 100x50."""
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    elif isinstance(value, tuple | list):
        text = "x".join(value_text(item) for item in value)
    else:
        text = str(value)
    return re.sub(r"[^A-Za-z0-9.+_-]", "_", text)


def sweep_text(sweep: dict[str, Any]) -> str:
    """A job's swept values as the table's sweep column shows them: ``C=10, gamma=0.1``."""
    return ", ".join(f"{name}={value_text(value)}" for name, value in sweep.items())
