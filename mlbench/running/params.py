"""Hyperparameters: ``model.name=value`` strings from the command line, or a dict from Python,
checked against each model's defaults and typed."""

from __future__ import annotations

import ast
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from mlbench.contract.registry import unknown_message
from mlbench.errors import UsageError
from mlbench.results.naming import value_text

# What a bool param takes, in any case: the words people type for yes and no.
BOOL_WORDS = {"true": True, "yes": True, "on": True, "1": True,
              "false": False, "no": False, "off": False, "0": False}


def parse_value(text: str) -> Any:
    """A Python literal (10, 0.5, None, True, (100, 50), 'rbf'), else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_params(
    given: Iterable[str] | Mapping[str, Mapping[str, Any]],
    defaults: Mapping[str, Mapping[str, Any]],
) -> dict[str, dict[str, Any]]:
    """``["svm.C=10", "knn.n_neighbors=3"]`` (or, from Python, ``{"svm": {"C": 10}}``) into
    ``{"svm": {"C": 10.0}, "knn": {...}}``.

    ``defaults`` maps each selected model to its default params; a param for a model not
    selected, an unknown param name, or a value of the wrong type is a UsageError.
    """
    params: dict[str, dict[str, Any]] = {}
    from_text = not isinstance(given, Mapping)
    for _, model, name, value in _entries("--param", "VALUE, e.g. svm.C=10", given, defaults):
        params.setdefault(model, {})[name] = coerce(
            parse_value(value.strip()) if from_text else value, defaults[model][name],
            f"{model}.{name}")
    return params


def parse_sweep(
    given: Iterable[str] | Mapping[str, Mapping[str, Sequence[Any]]],
    defaults: Mapping[str, Mapping[str, Any]],
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, list[Any]]]:
    """``["svm.C=1,10,100"]`` (or ``{"svm": {"C": [1, 10, 100]}}``) into
    ``{"svm": {"C": [1.0, 10.0, 100.0]}}``: each value parsed and checked like ``--param``. A
    param swept twice, or also set by ``--param`` (``params``), is a UsageError, as is a value
    given twice."""
    sweep: dict[str, dict[str, list[Any]]] = {}
    from_text = not isinstance(given, Mapping)
    for label, model, name, value in _entries("--sweep", "V1,V2,..., e.g. svm.C=1,10,100",
                                              given, defaults):
        if name in sweep.get(model, {}) or name in (params or {}).get(model, {}):
            raise UsageError(f"{label}: {model}.{name} is already set by another "
                             "--sweep or --param; give each param once")
        words = split_values(value) if from_text else list(value)
        if from_text and any(not word.strip() for word in words):
            raise UsageError(f"{label} has an empty value; separate values with "
                             "single commas, e.g. svm.C=1,10,100")
        values = [coerce(parse_value(word.strip()) if from_text else word,
                         defaults[model][name], f"{label}: {model}.{name}") for word in words]
        texts = [value_text(value) for value in values]  # as job ids will show them
        for index, value in enumerate(values):
            if texts[index] in texts[:index]:
                other = values[texts.index(texts[index])]
                raise UsageError(f"{label}: value {value!r} is given twice"
                                 if other == value else
                                 f"{label}: values {other!r} and {value!r} "
                                 f"would both be {texts[index]} in job ids; give one of them")
        sweep.setdefault(model, {})[name] = values
    return sweep


def split_values(text: str) -> list[str]:
    """``1,10,100`` or ``(100,),(50, 50)``: split at the commas outside brackets and quotes."""
    words, depth, quote, start = [], 0, "", 0
    for index, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            words.append(text[start:index])
            start = index + 1
    words.append(text[start:])
    return words


def _entries(
    option: str,
    form: str,
    given: Iterable[str] | Mapping[str, Mapping[str, Any]],
    defaults: Mapping[str, Mapping[str, Any]],
) -> Iterator[tuple[str, str, str, Any]]:
    """(label, model, name, value) of each ``MODEL.NAME=...`` string (the value as text) or
    of each ``{model: {name: value}}`` entry, the model selected and the param one it has;
    else a UsageError that names ``option`` and what was given."""
    if isinstance(given, Mapping):  # from Python: the values are already values
        entries = [(f"{option} {model}.{name}", model, name, value)
                   for model, values in given.items() for name, value in values.items()]
    else:
        entries = []
        for assignment in given:
            target, equals, text = assignment.partition("=")
            model, dot, name = target.strip().rpartition(".")
            if not equals or not dot or not model or not name:
                raise UsageError(f"{option} {assignment!r} is not of the form MODEL.NAME={form}")
            entries.append((f"{option} {assignment!r}", model, name, text))
    for label, model, name, value in entries:
        if model not in defaults:
            raise UsageError(f"{label}: model '{model}' is not selected in this run; "
                             f"selected: {', '.join(defaults)}")
        if name not in defaults[model]:
            raise UsageError(f"{label}: "
                             + unknown_message(f"param of {model}", name, defaults[model]))
        yield label, model, name, value


def coerce(value: Any, default: Any, label: str) -> Any:
    """Check ``value`` against the default's type; ints widen to floats. None defaults and
    string defaults (which often also accept numbers, like gamma) take any literal. A value
    that is not a finite number (1e309, inf, nan) is refused whatever the type: run.json and
    JSON output could not hold it, and no model means it."""
    _check_finite(value, label)
    if default is None or isinstance(default, str) or value is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in BOOL_WORDS and not isinstance(value, float):
            return BOOL_WORDS[word]
        raise UsageError(f"{label} expects true or false (also yes/no, on/off, 1/0; default "
                         f"{default!r}), got {value!r}")
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


def _check_finite(value: Any, label: str) -> None:
    for item in value if isinstance(value, tuple | list) else (value,):
        try:
            number = float(item) if isinstance(item, float | str) else None
        except ValueError:  # a word such as rbf
            continue
        if number is not None and not math.isfinite(number):
            beyond = "; a number beyond 1.8e308 reads as inf" if (
                isinstance(item, float) and math.isinf(item)) else ""
            raise UsageError(f"{label} must be a finite number, got {item!r}{beyond}; give "
                             "a finite value, e.g. 10 or 0.5")
