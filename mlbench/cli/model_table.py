"""The results table a person reads at the end of a run: one row per model (its repeats
folded into one figure each), in at most 100 columns, every number whole.

A cell is never cut: numbers are short by construction (an accuracy and its 95% interval in
one cell, three significant digits for times), and where the terminal is narrow the model's
name gives way, shortened from the middle so its start and its variant stay readable. The
per-job table with every measurement is ``--wide``; ``--columns`` adds results columns.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import pandas as pd
from rich import box
from rich.table import Table
from rich.text import Text

from mlbench.cli.extra_columns import ExtraColumn
from mlbench.reporting.document import significant
from mlbench.reporting.tables import (
    DISTURBED_MARK,
    accuracy_per_model,
    disturbed_jobs,
    model_labels,
    not_ok_rows,
    ok_rows,
    speed_table,
    sweep_selection,
    target_reach,
)

MAX_WIDTH = 100  # the table's width at most, whatever the terminal's
MIN_NAME = 12  # the model column never narrower (a name shortened further reads as nothing)
ELLIPSIS = "…"


def seconds_cell(value: float) -> str:
    """A time in three significant digits, never in exponent notation: 0.00047, 1.23, 150."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.0f}" if value >= 1000 else significant(value)


def accuracy_cell(mean: float, low: float, high: float) -> str:
    """"0.9861 (0.968-0.994)": the mean over repeats and its 95% interval over the test
    images, in one cell."""
    if any(value is None or math.isnan(value) for value in (mean, low, high)):
        return "-" if mean is None or math.isnan(mean) else f"{mean:.4f}"
    return f"{mean:.4f} ({low:.3f}-{high:.3f})"


def shorten(name: str, width: int) -> str:
    """``name`` in ``width`` characters at most, cut from the middle: the model's name and the
    end of its variant stay."""
    if len(name) <= width:
        return name
    keep = width - len(ELLIPSIS)
    head = (keep + 1) // 2
    return name[:head] + ELLIPSIS + name[len(name) - (keep - head):]


Column = tuple[str, Callable[[pd.Series], str]]  # header, cell of one model's row


def unchosen_labels(frame: pd.DataFrame) -> set[str]:
    """The rows (``model_labels``) of swept settings not chosen on validation: their test
    accuracy is left out, as the report does, so no one picks a setting on the test set."""
    selection = sweep_selection(frame)
    if selection is None or not selection["chosen"].any():
        return set()
    ok = ok_rows(frame)
    ok = ok[ok["sweep"].notna()]
    keys = ok.assign(series=model_labels(ok, leave_out=["sweep", "train_size"]),
                     row=model_labels(ok))
    chosen = selection[selection["chosen"]]
    picked = keys.merge(chosen[["label", "sweep", "train_size"]].rename(
        columns={"label": "series"}), on=["series", "sweep", "train_size"])
    return set(keys["row"]) - set(picked["row"])


def model_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per model (with its variant, device and grid point: ``tables.model_labels``),
    most accurate first: mean test accuracy and its interval, fit and predict time (the
    figure every table quotes), peak memory (median), how many jobs, and how many of them were
    disturbed; then one row per model and status for the jobs that did not end ok."""
    accuracy, speed = accuracy_per_model(frame), speed_table(frame)
    rows = pd.DataFrame(columns=["label", "status", "jobs"])
    if accuracy is not None and speed is not None:
        ok = ok_rows(frame)
        ok["label"] = model_labels(ok)
        per = ok.assign(disturbed=disturbed_jobs(ok)).groupby("label")
        rows = (accuracy[["label", "mean", "test_low", "test_high", "repeats"]]
                .merge(speed[["label", "fit_center", "predict_center"]], on="label")
                .merge(per["peak_memory_mb"].median().rename("peak_mib"), on="label")
                .merge(per["disturbed"].sum().rename("disturbed"), on="label")
                .merge(per["validation_accuracy"].mean().rename("validation"), on="label")
                .rename(columns={"repeats": "jobs"}).assign(status="ok"))
    if len(rows):
        rows["unchosen"] = rows["label"].isin(unchosen_labels(frame))
    failed = not_ok_rows(frame)
    if not failed.empty:
        failed = failed.assign(label=model_labels(failed))
        rest = (failed.groupby(["label", "status"], sort=False).size().rename("jobs")
                .reset_index())
        rows = pd.concat([rows, rest], ignore_index=True)
    return rows


def compact_table(frame: pd.DataFrame, title: str, width: int = MAX_WIDTH,
                  extra: Sequence[ExtraColumn] = ()) -> Table:
    """The per-model table in ``width`` columns at most (the terminal's, capped at
    MAX_WIDTH). ``extra``: the columns ``--columns`` adds, each cell a model's figure over
    its ok jobs."""
    rows = model_rows(frame)
    ok = ok_rows(frame).assign(label=lambda jobs: model_labels(jobs))
    figures = {column.header: column.per_model(ok, "label") for column in extra
               if column.name in ok}
    several = bool((rows["jobs"] > 1).any()) if len(rows) else False
    validation = "validation" in rows and bool(rows["validation"].notna().any())
    trouble = bool((rows["status"] != "ok").any()) if len(rows) else False

    def timed(column: str) -> Callable[[pd.Series], str]:
        def cell(row: pd.Series) -> str:
            if row["status"] != "ok":
                return "-"
            mark = f" {DISTURBED_MARK}" if row.get("disturbed", 0) else ""
            return seconds_cell(row[column]) + mark
        return cell

    columns: list[Column] = []
    if several:
        columns.append(("runs", lambda row: str(int(row["jobs"]))))
    if trouble:
        columns.append(("status", lambda row: str(row["status"])))
    if validation:
        columns.append(("val. accuracy", lambda row: "-" if pd.isna(row.get("validation"))
                        else f"{row['validation']:.4f}"))
    columns += [
        ("test accuracy (95% CI)", lambda row: "-" if row["status"] != "ok" else
         "not chosen" if row.get("unchosen") is True else
         accuracy_cell(row["mean"], row["test_low"], row["test_high"])),
        ("fit s", timed("fit_center")),
        ("predict s", timed("predict_center")),
        *([(target_header(frame), to_target_cell(ok))] if ok["target_accuracy"].notna().any()
          else []),
        ("peak MiB", lambda row: "-" if pd.isna(row.get("peak_mib")) else
         f"{row['peak_mib']:,.0f}"),
    ]
    for column in extra:
        columns.append((column.header, _model_cell(figures.get(column.header))))
    cells = [[cell(row) for _, cell in columns] for _, row in rows.iterrows()]
    limit = min(width, MAX_WIDTH)
    longest = max([len("model")] + [len(str(label)) for label in rows["label"]])
    # The widest table that fits: the model's names give way first (down to MIN_NAME), then
    # the columns at the end (memory, --columns' extras); a number is never cut.
    shown = len(columns)
    while True:
        for name_width in range(longest, min(MIN_NAME, longest) - 1, -1):
            table = _table(title, rows, columns[:shown], [line[:shown] for line in cells],
                           name_width)
            if _width(table) <= limit:
                return _left_out(table, columns[shown:], limit)
        if shown <= 3:  # accuracy, fit, predict (and the model): the least a row says
            return _left_out(table, columns[shown:], limit)
        shown -= 1


def target_header(frame: pd.DataFrame) -> str:
    """"to 0.99 s": the column of the time to target (every target of the run)."""
    targets = sorted(frame["target_accuracy"].dropna().unique())
    return f"to {' / '.join(f'{target:g}' for target in targets)} s"


def to_target_cell(ok: pd.DataFrame) -> Callable[[pd.Series], str]:
    """"3.91 (5/5, 4/5)": a model's time to target (geometric mean over the runs that
    reached it), how many of its runs reached it and how many ended at or above it; "-"
    for a model without a history."""
    reach = target_reach(ok, "label")

    def cell(row: pd.Series) -> str:
        if row["status"] != "ok" or row["label"] not in reach.index:
            return "-"
        counts = reach.loc[row["label"]]
        runs, time = int(counts["runs"]), counts["seconds"]
        shown = "never" if pd.isna(time) else seconds_cell(time)
        return f"{shown} ({int(counts['reached'])}/{runs}, {int(counts['ended'])}/{runs})"
    return cell


TARGET_NOTE = ("{header}: training seconds until test accuracy first reached the target "
               "(geometric mean over the runs that did), then how many runs reached it and how "
               "many ended at or above it.")


def _left_out(table: Table, columns: list[Column], width: int) -> Table:
    """``table`` with a caption naming the columns that did not fit, if any."""
    if columns:
        table.caption = (f"left out to fit {width} columns: "
                         f"{', '.join(header for header, _ in columns)} (--wide shows each job's)")
        table.caption_justify = "left"
    return table


def _model_cell(cells: pd.Series | None) -> Callable[[pd.Series], str]:
    """An extra column's cell for one model's row; "-" where it has none (a failed job)."""
    def cell(row: pd.Series) -> str:
        return "-" if cells is None or row["label"] not in cells else str(cells[row["label"]])
    return cell


def _width(table: Table) -> int:
    """How many columns ``table`` takes when nothing limits it."""
    from rich.console import Console
    from rich.measure import Measurement

    console = Console(width=10_000)
    return Measurement.get(console, console.options, table).maximum


def _table(title: str, rows: pd.DataFrame, columns: list[Column], cells: list[list[str]],
           name_width: int) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("model", no_wrap=True)
    for header, _ in columns:
        table.add_column(header, justify="left" if header == "status" else "right",
                         no_wrap=True)
    for (_, row), line in zip(rows.iterrows(), cells, strict=True):
        style = "" if row["status"] == "ok" else "red" if row["status"] != "skipped" else "dim"
        table.add_row(Text(shorten(str(row["label"]), name_width)),
                      *(Text(value, style=style if header == "status" else "")
                        for (header, _), value in zip(columns, line, strict=True)))
    return table
