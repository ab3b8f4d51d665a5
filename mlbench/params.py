"""Hyperparameters from the command line: ``model.name=value`` strings, checked and typed."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from typing import Any

from mlbench.errors import UsageError
from mlbench.plugins import unknown_message


def parse_value(text: str) -> Any:
    """A Python literal (10, 0.5, None, True, (100, 50), 'rbf'), else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_params(
    assignments: Iterable[str], defaults: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """``["svm.C=10", "knn.n_neighbors=3"]`` into ``{"svm": {"C": 10.0}, "knn": {...}}``.

    ``defaults`` maps each selected model to its default params; a param for a model not
    selected, an unknown param name, or a value of the wrong type is a UsageError.
    """
    params: dict[str, dict[str, Any]] = {}
    for assignment in assignments:
        target, equals, text = assignment.partition("=")
        model, dot, name = target.strip().rpartition(".")
        if not equals or not dot or not model or not name:
            raise UsageError(
                f"--param {assignment!r} is not of the form MODEL.NAME=VALUE, e.g. svm.C=10"
            )
        if model not in defaults:
            raise UsageError(
                f"--param {assignment!r}: model '{model}' is not selected in this run; "
                f"selected: {', '.join(defaults)}"
            )
        if name not in defaults[model]:
            raise UsageError(
                f"--param {assignment!r}: "
                + unknown_message(f"param of {model}", name, defaults[model])
            )
        params.setdefault(model, {})[name] = coerce(
            parse_value(text.strip()), defaults[model][name], f"{model}.{name}"
        )
    return params


def coerce(value: Any, default: Any, label: str) -> Any:
    """Check ``value`` against the default's type; ints widen to floats. None defaults and
    string defaults (which often also accept numbers, like gamma) take any literal."""
    if default is None or isinstance(default, str) or value is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, float) and isinstance(value, int | float) and not isinstance(
        value, bool
    ):
        return float(value)
    elif isinstance(default, int) and isinstance(value, int) and not isinstance(value, bool):
        return value
    elif isinstance(default, tuple | list) and isinstance(value, tuple | list | int):
        return tuple(value) if isinstance(value, tuple | list) else (value,)
    elif isinstance(value, type(default)):
        return value
    raise UsageError(
        f"{label} expects {type(default).__name__} (default {default!r}), got {value!r}"
    )
