"""--columns: any results column (docs/results.md) added to the printed table, each cell
formatted by the column's unit: a model's mean over its ok jobs in the per-model table (its
distinct values for a text column), each job's value in the ``--wide`` table."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from mlbench.errors import UsageError
from mlbench.reporting.document import significant
from mlbench.results.record import COLUMNS, Column

HEADERS = {"balanced_accuracy": "balanced accuracy", "log_loss": "log-loss"}
NUMERIC = ("float64", "Int64")
# How a unit reads: accuracies to four places, counts whole, times and the rest in three
# significant digits (never an exponent a reader has to decode).
FORMATS: dict[str, Callable[[Any], str]] = {
    "fraction": "{:.4f}".format, "nats": "{:.4f}".format, "images/s": "{:,.0f}".format,
    "MiB": "{:,.0f}".format, "bytes": "{:,.0f}".format, "images": "{:,.0f}".format,
    "calls": "{:,.0f}".format,
}


@dataclass(frozen=True)
class ExtraColumn:
    name: str  # the results column
    header: str

    @property
    def numeric(self) -> bool:
        return _schema()[self.name].dtype in NUMERIC

    def cell(self, value: Any) -> str:
        """One value as the table prints it; "-" where there is none."""
        if value is None or pd.isna(value) or value == "":
            return "-"
        if not self.numeric:
            return str(value)
        column = _schema()[self.name]
        fmt = FORMATS.get(column.unit) or (
            "{:,.0f}".format if column.dtype == "Int64" else significant)
        return fmt(value)

    def per_model(self, ok: pd.DataFrame, by: str) -> pd.Series:
        """Each ``by`` group's cell: the mean of a numeric column, the distinct values of a
        text one (in the order met)."""
        values = ok.groupby(by)[self.name]
        if self.numeric:
            return values.mean().map(self.cell)
        return values.agg(lambda column: ", ".join(
            dict.fromkeys(str(value) for value in column.dropna() if str(value)))).replace(
            "", "-")


def _schema() -> dict[str, Column]:
    return {column.name: column for column in COLUMNS}


def check_columns(text: str | None) -> list[ExtraColumn]:
    """--columns' comma-separated names, each a column of results.csv; said in one line
    where one is not."""
    names = [name.strip() for name in (text or "").split(",") if name.strip()]
    for name in names:
        if name not in _schema():
            # A did-you-mean (a close spelling, else a column the word begins), not the list
            # of some 60 names.
            close = (difflib.get_close_matches(name, _schema(), n=1)
                     or sorted(column for column in _schema() if column.startswith(name))[:1])
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise UsageError(f"unknown results column for --columns '{name}'.{hint} Valid: "
                             "any column of results.csv (docs/results.md), e.g. "
                             "setup_seconds,log_loss,framework")
    return [ExtraColumn(name, HEADERS.get(name, name)) for name in dict.fromkeys(names)]
