"""How a job is named in a run: its id (a file name in the run folder), the short text of
a param value, shared by job ids, the table's sweep column and the CLI's parsing, and how a
job differs from its model's defaults (the variant column)."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
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


def typed_text(value: Any) -> str:
    """A param value as a user types it after ``--param MODEL.NAME=``: 0.01, jax, True,
    (100,50); 10.0 as 10 (the float param takes 10). Quoted only where the bare word would
    be read as another type ('10', a string)."""
    if isinstance(value, str):
        try:
            read = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
        return value if isinstance(read, str) else repr(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple | list):  # no spaces: ", " separates a variant's settings
        inner = ",".join(typed_text(item) for item in value)
        return f"({inner},)" if isinstance(value, tuple) and len(value) == 1 else (
            f"({inner})" if isinstance(value, tuple) else f"[{inner}]")
    return repr(value)


def variant_text(params: Mapping[str, Any], defaults: Mapping[str, Any],
                 threads: int | None = None) -> str:
    """How a job differs from its model's defaults, as the user asked for it: each param of
    ``params`` set to another value than its default, in the model's order of its defaults,
    then ``threads=N`` where ``--threads`` was set: ``backend=jax, learning_rate=0.01``; ""
    for a job with the model's defaults."""
    changed = [f"{name}={typed_text(params[name])}" for name in defaults
               if name in params and _comparable(params[name]) != _comparable(defaults[name])]
    return ", ".join([*changed, *([f"threads={threads}"] if threads is not None else [])])


def _comparable(value: Any) -> Any:
    """A list as a tuple: --param gives a list default's value as a tuple (params.coerce)."""
    return tuple(value) if isinstance(value, list) else value
