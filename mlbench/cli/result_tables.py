"""A run's results as terminal tables (rich), on stdout: every job, the repeats summed up,
GPU against CPU."""

from __future__ import annotations

import math
import sys
import textwrap
from collections.abc import Sequence

import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mlbench.cli.cells import STATUS_STYLE, job_label, number
from mlbench.cli.extra_columns import ExtraColumn
from mlbench.cli.model_table import MAX_WIDTH, TARGET_NOTE, compact_table, target_header
from mlbench.reporting.document import accuracy_text
from mlbench.reporting.stats import accuracy_interval
from mlbench.reporting.tables import (
    DISTURBED_MARK,
    GRID_COLUMNS,
    device_speedups,
    disturbed_jobs,
    disturbed_note,
    grid_columns,
    grid_sort_key,
    model_names,
    ok_rows,
    selection_lines,
    size_mib,
    sweep_selection,
)
from mlbench.reporting.verdicts import summary_lines
from mlbench.results.run import Run


def print_results(results: pd.DataFrame, run: Run | None,
                  extra: Sequence[ExtraColumn] = (), wide: bool = False) -> None:
    """The end of a run on stdout: the results table (one row per model, in the terminal's
    width up to 100 columns; ``wide``: one row per job, every measurement, and the repeats'
    table), what was disturbed, each swept model's chosen setting, the errors whole, the
    Summary (of the saved ``run``) and the GPU speed-ups."""
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 1000)
    if wide:
        out.print(results_table(results, extra))
    else:
        width = min(out.width, MAX_WIDTH) if sys.stdout.isatty() else MAX_WIDTH
        out.print(compact_table(results, f"mlbench results: {dataset_line(results)}", width,
                                extra))
        if ok_rows(results)["target_accuracy"].notna().any():
            out.print(Text(TARGET_NOTE.format(header=target_header(results))), soft_wrap=True)
    flagged = disturbed_note(results)
    if flagged is not None:
        out.print(Text(f"{DISTURBED_MARK} {flagged}", style="yellow"), soft_wrap=True)
    selection = sweep_selection(results)
    if selection is not None:  # the setting each swept model is chosen with, and why
        for line in selection_lines(selection):
            out.print(Text(line), soft_wrap=True)
    # Errors below the table, whole: a column would fold them past reading.
    for row in results[results["error"].notna()].itertuples():
        label = job_label(str(row.model), str(row.device), row.repeat,  # type: ignore[arg-type]
                          str(row.job_id), row.variant)
        out.print(Text(f"{row.status}: {label}: {row.error}",
                       style=STATUS_STYLE.get(str(row.status), "")), soft_wrap=True)
    repeated = repeats_table(results) if wide else None
    if repeated is not None:
        out.print(repeated)
    if run is not None and not ok_rows(results).empty:
        out.print(Text("Summary:", style="bold"))
        for line in summary_lines(run):
            # On a terminal each point wrapped at words, its lines indented under it; in a
            # file or pipe one line per point, for grep.
            text = (textwrap.fill(line, width=out.width, initial_indent="  - ",
                                  subsequent_indent="    ") if sys.stdout.isatty()
                    else f"  - {line}")
            out.print(Text(text), soft_wrap=True)
    speedups = device_speedups(results)
    if not speedups.empty:
        out.print(speedup_table(speedups))


def results_table(frame: pd.DataFrame, extra: Sequence[ExtraColumn] = ()) -> Table:
    """Best first: models by the mean accuracy of their ok jobs, each model's repeats
    together; then the rest by status. A grid's rows are grouped instead, by model, swept
    values and training-set size, so each model reads as a curve. ``extra``: the columns
    --columns adds, after F1."""
    grid = grid_columns(frame)
    ok = frame["status"] == "ok"
    model_mean = frame["accuracy"].where(ok).groupby(
        [frame["model"], frame["device"]]).transform("mean")
    by, ascending = (["_ok", "model", *grid, "repeat"], True) if grid else (
        ["_ok", "_model_mean", "model", "device", "repeat"], [True, False, True, True, True])
    order = frame.assign(_ok=~ok, _model_mean=model_mean, size_mib=size_mib(frame),
                         model_name=model_names(frame)).sort_values(
        by, ascending=ascending, na_position="last", key=grid_sort_key)
    table = Table(title=f"mlbench results: {dataset_line(frame)}", title_justify="left")
    columns = [("model", "left"), ("device", "left"), ("sweep", "left"),
               ("train_size", "right"), ("repeat", "right"), ("status", "left"),
               ("val. accuracy", "right"), ("test accuracy", "right"),
               ("95% CI (test images)", "right"), ("F1 macro", "right"),
               *((column.header, "right") for column in extra), ("fit s", "right"),
               ("fit CPU s", "right"), ("to target s", "right"), ("predict s", "right"),
               ("predict images/s", "right"), ("peak MiB", "right"), ("model MiB", "right"),
               ("size MiB", "right")]
    show_repeat = frame["repeat"].nunique() > 1
    show_target = frame["target_accuracy"].notna().any()  # a model kept a per-epoch history
    # Accuracy on the images held out of training, where the run held some out.
    show_validation = ("validation_accuracy" in frame
                       and bool(frame["validation_accuracy"].notna().any()))
    hidden = {name for name in GRID_COLUMNS if name not in grid}
    hidden |= {"repeat"} if not show_repeat else set()
    hidden |= {"val. accuracy"} if not show_validation else set()
    hidden |= {"to target s"} if not show_target else set()
    for name, justify in columns:
        if name in hidden:
            continue
        table.add_column(GRID_COLUMNS.get(name, name), justify=justify)  # type: ignore[arg-type]
    disturbed = disturbed_jobs(order)
    for row, flagged in zip(order.itertuples(), disturbed, strict=True):
        style = STATUS_STYLE.get(str(row.status), "")
        # Text(), not markup: names and errors come from plugins and may hold brackets.
        # The model with how the job differs from its defaults: "svm C=10".
        cells: list[str | Text] = [Text(str(row.model_name)), Text(str(row.device))]
        if "sweep" in grid:
            cells.append(Text(row.sweep if isinstance(row.sweep, str) else ""))
        if "train_size" in grid:
            cells.append(number(row.train_size, "{:,}"))
        if show_repeat:
            cells.append(str(row.repeat))
        cells.append(Text(f"{row.status} {DISTURBED_MARK}" if flagged else str(row.status),
                          style="yellow" if flagged else style))
        if show_validation:
            cells.append(number(row.validation_accuracy, "{:.4f}"))
        cells += [number(row.accuracy, "{:.4f}"),
                  accuracy_text(*accuracy_interval(row.accuracy, row.test_size)),
                  number(row.f1_macro, "{:.4f}"),
                  *(column.cell(getattr(row, column.name, None)) for column in extra),
                  number(row.fit_seconds, "{:.2f}"), number(row.fit_cpu_seconds, "{:.2f}")]
        if show_target:
            cells.append(number(row.time_to_target_seconds, "{:.2f}"))
        cells += [number(row.predict_seconds, "{:.2f}"), number(row.predict_throughput, "{:,.0f}"),
                  number(row.peak_memory_mb, "{:,.0f}"), number(row.model_memory_mb, "{:,.0f}"),
                  number(row.size_mib, "{:,.2f}")]
        table.add_row(*cells)
    return table

def repeats_table(frame: pd.DataFrame) -> Table | None:
    """Per repeated job (ok runs): accuracy as mean ± standard deviation over seeds, with its
    95% intervals over seeds and over the test images; fit and predict time as geometric
    means with 95% intervals on the log scale. None when no job was repeated."""
    ok = ok_rows(frame)
    ok["model"] = model_names(ok)  # labelled, as in the results table, with its variant
    keys = ["model", "device", *grid_columns(ok)]  # a grid's jobs differ in those as well
    if ok.empty or ok.groupby(keys).size().max() < 2:
        return None
    from mlbench.reporting import significance  # scipy, only when there are repeats

    summary = significance.repeat_summary(ok, keys).sort_values("accuracy mean",
                                                                ascending=False)
    table = Table(title="Over repeats: test accuracy mean ± standard deviation over seeds, "
                        "its 95% intervals over seeds (Student's t) and over the test images "
                        "(Wilson); times: geometric mean and 95% interval on the log scale",
                  title_justify="left")
    for key in keys:
        table.add_column(GRID_COLUMNS.get(key, key))
    columns = ["repeats", "test accuracy", "95% CI (seeds)", "95% CI (test images)"] + [
        f"{label} {part}" for label in significance.REPEATED_TIMES.values()
        for part in ("", "95% CI")]
    for name in columns:
        table.add_column(name.strip(), justify="right")
    for row in summary.to_dict("records"):
        cells: list[str | Text] = [Text(str(row[key])) for key in keys]
        spread = "" if math.isnan(row["accuracy std"]) else f" ± {row['accuracy std']:.4f}"
        cells += [str(row["repeats"]), number(row["accuracy mean"], "{:.4f}") + spread,
                  row[significance.ACCURACY_SEEDS], row[significance.ACCURACY_IMAGES]]
        for label in significance.REPEATED_TIMES.values():
            cells += [number(row[f"{label} geo. mean"], "{:.3g}"), row[f"{label} 95% CI"]]
        table.add_row(*cells)
    return table

def speedup_table(speedups: pd.DataFrame) -> Table:
    table = Table(title="GPU against CPU (geometric means; speed-up = how many times faster "
                        "the GPU is)",
                  title_justify="left")
    for name in ("model", "CPU fit s", "GPU fit s", "fit speed-up", "training images/s ratio",
                 "prediction images/s ratio"):
        table.add_column(name, justify="left" if name == "model" else "right")
    for row in speedups.itertuples():
        table.add_row(Text(str(row.model)), number(row.cpu_fit_seconds, "{:.2f}"),
                      number(row.gpu_fit_seconds, "{:.2f}"), number(row.fit_speedup, "{:.1f}x"),
                      number(row.train_speedup, "{:.1f}x"), number(row.predict_speedup, "{:.1f}x"))
    return table

def dataset_line(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "no jobs"
    first = frame.iloc[0]
    sizes = sorted(frame["train_size"].dropna().unique())
    train = " to ".join(str(size) for size in sizes[:: max(1, len(sizes) - 1)])  # a grid's range
    held = frame.get("validation_size", pd.Series(dtype="Int64")).dropna()
    validation = f" / {held.iloc[0]} validation" if len(held) else ""
    return f"{first['dataset']}, {train or '?'} train / {first['test_size']} test{validation}"
