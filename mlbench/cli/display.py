"""The console side of a run: live progress on stderr (a live bar on a terminal, one line per
event otherwise, so logs stay readable) and the results table on stdout, via rich."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Progress as LiveBar
from rich.table import Table
from rich.text import Text

from mlbench.reporting.tables import (
    GRID_COLUMNS,
    device_speedups,
    grid_columns,
    grid_sort_key,
    ok_rows,
)
from mlbench.results.folder import RunFolder
from mlbench.results.naming import job_id
from mlbench.running.jobs import JobSpec
from mlbench.running.progress import Progress

STATUS_STYLE = {"ok": "green", "failed": "red", "timeout": "yellow", "crashed": "red",
                "skipped": "dim"}


def job_label(model: str, device: str, repeat: int, job: str | None = None) -> str:
    """``knn on cpu, repeat 0``; a grid's job by its id, which names its params and size."""
    if job is not None and job != job_id(model, device, repeat):
        return job
    return f"{model} on {device}, repeat {repeat}"


def outcome_text(record: dict[str, Any]) -> str:
    if record["status"] == "ok":
        return (f"accuracy {record['accuracy']:.4f}, fit {record['fit_seconds']:.2f} s, "
                f"predict {record['predict_seconds']:.2f} s")
    return str(record.get("error") or "").strip().split("\n")[0]


class ConsoleProgress(Progress):
    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet
        self.err = Console(stderr=True, highlight=False)
        self.live = self.err.is_terminal and not quiet
        self.show_downloads = not quiet
        self.bar: LiveBar | None = None
        self.tasks: dict[str, Any] = {}
        self.started_jobs = self.done = self.total = 0

    def warn(self, message: str) -> None:
        self.err.print(Text.assemble(("mlbench: warning: ", "yellow"), message), soft_wrap=True)

    def say(self, text: str) -> None:
        if not self.quiet:
            self.err.print(text, highlight=False, soft_wrap=True, markup=False)

    def begin(self, run_dir: Path, total: int, already_done: int) -> None:
        self.total, self.started_jobs, self.done = total, 0, 0
        resumed = f", {already_done} already done" if already_done else ""
        jobs = "1 job" if total == 1 else f"{total} jobs"
        self.say(f"mlbench: {jobs} to run{resumed}; results in {run_dir}")
        if self.live:
            self.bar = LiveBar(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                               MofNCompleteColumn(), TimeElapsedColumn(), console=self.err,
                               transient=True)
            self.bar.start()
            self.tasks["all"] = self.bar.add_task("jobs", total=total)

    def started(self, spec: JobSpec) -> None:
        label = job_label(spec.model, spec.device, spec.repeat, spec.job_id)
        if self.bar is not None:
            self.tasks[spec.job_id] = self.bar.add_task(f"  {label}", total=None)
        else:
            # Start lines count starts, end lines count ends: with --jobs 2 each stays in order.
            self.started_jobs += 1
            self.say(f"[{self.started_jobs}/{self.total}] {label}: started")

    def finished(self, record: dict[str, Any]) -> None:
        self.done += 1
        status = record["status"]
        label = job_label(record["model"], record["device"], record["repeat"],
                          record["job_id"])
        line = f"[{self.done}/{self.total}] {label}: {status} ({outcome_text(record)})"
        if self.bar is not None:
            task = self.tasks.pop(record["job_id"], None)
            if task is not None:
                self.bar.remove_task(task)
            self.bar.advance(self.tasks["all"])
            self.bar.console.print(Text(line, style=STATUS_STYLE.get(status, "")),
                                   highlight=False, soft_wrap=True)
        else:
            self.say(line)

    def stop_bar(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None

    def interrupted(self, run_dir: Path) -> None:
        self.stop_bar()
        self.err.print(f"mlbench: interrupted; finished jobs are saved. Resume with: "
                       f"mlbench run --resume {run_dir}", highlight=False, soft_wrap=True)

    def end(self, results: pd.DataFrame) -> None:
        self.stop_bar()
        out = Console(highlight=False, width=None if sys.stdout.isatty() else 1000)
        out.print(results_table(results))
        # Errors below the table, whole: a column would fold them past reading.
        for row in results[results["error"].notna()].itertuples():
            label = job_label(str(row.model), str(row.device), row.repeat,  # type: ignore[arg-type]
                              str(row.job_id))
            out.print(Text(f"{row.status}: {label}: {row.error}",
                           style=STATUS_STYLE.get(str(row.status), "")), soft_wrap=True)
        repeated = repeats_table(results)
        if repeated is not None:
            out.print(repeated)
        speedups = device_speedups(results)
        if not speedups.empty:
            out.print(speedup_table(speedups))
        run_dir = results.attrs.get("run_dir")
        if run_dir:
            results_csv = RunFolder(Path(run_dir)).results_csv
            self.say(f"mlbench: results in {results_csv} (and .parquet, run.json)")


def results_table(frame: pd.DataFrame) -> Table:
    """Best first: ok jobs by accuracy, then the rest by status. A grid's rows are grouped
    instead, by model, swept values and training-set size, so each model reads as a curve."""
    grid = grid_columns(frame)
    by, ascending = (["_ok", "model", *grid, "repeat"], True) if grid else (
        ["_ok", "accuracy", "model"], [True, False, True])
    order = frame.assign(_ok=frame["status"] != "ok").sort_values(
        by, ascending=ascending, na_position="last", key=grid_sort_key)
    table = Table(title=f"mlbench results: {_dataset_line(frame)}", title_justify="left")
    columns = [("model", "left"), ("device", "left"), ("sweep", "left"),
               ("train_size", "right"), ("repeat", "right"), ("status", "left"),
               ("accuracy", "right"), ("F1 macro", "right"), ("fit s", "right"),
               ("fit CPU s", "right"), ("predict s", "right"), ("predict images/s", "right"),
               ("peak MiB", "right")]
    show_repeat = frame["repeat"].nunique() > 1
    for name, justify in columns:
        if (name == "repeat" and not show_repeat) or (name in GRID_COLUMNS and name not in grid):
            continue
        table.add_column(GRID_COLUMNS.get(name, name), justify=justify)  # type: ignore[arg-type]
    for row in order.itertuples():
        style = STATUS_STYLE.get(str(row.status), "")
        # Text(), not markup: names and errors come from plugins and may hold brackets.
        cells: list[str | Text] = [Text(str(row.model)), Text(str(row.device))]
        if "sweep" in grid:
            cells.append(Text(row.sweep if isinstance(row.sweep, str) else ""))
        if "train_size" in grid:
            cells.append(_num(row.train_size, "{:,}"))
        if show_repeat:
            cells.append(str(row.repeat))
        cells += [Text(str(row.status), style=style), _num(row.accuracy, "{:.4f}"),
                  _num(row.f1_macro, "{:.4f}"), _num(row.fit_seconds, "{:.2f}"),
                  _num(row.fit_cpu_seconds, "{:.2f}"), _num(row.predict_seconds, "{:.2f}"),
                  _num(row.predict_throughput, "{:,.0f}"), _num(row.peak_memory_mb, "{:,.0f}")]
        table.add_row(*cells)
    return table


def repeats_table(frame: pd.DataFrame) -> Table | None:
    """Per repeated job (ok runs): accuracy, fit and predict time as mean ± standard
    deviation and a 95% Student's t interval; None when no job was repeated."""
    ok = ok_rows(frame)
    keys = ["model", "device", *grid_columns(ok)]  # a grid's jobs differ in those as well
    if ok.empty or ok.groupby(keys).size().max() < 2:
        return None
    from mlbench.reporting.stats import (  # scipy, only when there are repeats
        REPEATED,
        repeat_summary,
    )

    summary = repeat_summary(ok, keys).sort_values("accuracy mean", ascending=False)
    table = Table(title="Over repeats: mean ± standard deviation, and the 95% interval of the "
                        "mean (Student's t)", title_justify="left")
    for key in keys:
        table.add_column(GRID_COLUMNS.get(key, key))
    table.add_column("repeats", justify="right")
    for label in REPEATED.values():
        table.add_column(label, justify="right")
        table.add_column(f"{label} 95% CI", justify="right")
    for row in summary.to_dict("records"):
        cells: list[str | Text] = [Text(str(row[key])) for key in keys]
        cells.append(str(row["repeats"]))
        for label in REPEATED.values():
            digits = "{:.4f}" if label == "accuracy" else "{:.3f}"
            spread = "" if math.isnan(row[f"{label} std"]) else (
                " ± " + digits.format(row[f"{label} std"]))
            cells += [_num(row[f"{label} mean"], digits) + spread, row[f"{label} 95% CI"]]
        table.add_row(*cells)
    return table


def print_estimate(estimate: pd.DataFrame) -> None:
    """The --estimate table on stdout, what its ranges mean, then the total (one line)."""
    from mlbench.running.estimate import RANGE_NOTE

    out = Console(highlight=False, width=None if sys.stdout.isatty() else 1000)
    attrs = estimate.attrs
    table = Table(title=f"mlbench estimate: {attrs.get('dataset', '')} (per job; from three "
                        "small fits each, extrapolated as a power law)", title_justify="left")
    show_sweep = (estimate["sweep"] != "").any()  # the swept values tell a grid's jobs apart
    for name in ("model", "device", *(("sweep",) if show_sweep else ()), "train", "test",
                 "jobs", "fit", "predict", "job", "job range", "all its jobs", "fit grows as",
                 "note"):
        table.add_column(name, justify="left" if name in (
            "model", "device", "sweep", "note") else "right")
    for row in estimate.to_dict("records"):
        cells: list[str | Text] = [Text(str(row["model"])), Text(str(row["device"]))]
        if show_sweep:
            cells.append(Text(str(row["sweep"])))
        note = "; ".join(text for text in (row["note"], row["shaky"] and
                                          f"shaky: {row['shaky']}") if text)
        cells += [f"{row['train_size']:,}", f"{row['test_size']:,}", str(row["jobs"]),
                  duration(row["fit_seconds"]), duration(row["predict_seconds"]),
                  duration(row["job_seconds"]),
                  duration_range(row["job_low_seconds"], row["job_high_seconds"]),
                  duration(row["total_seconds"]), _num(row["fit_growth"], "n^{:.1f}"),
                  Text(note)]
        table.add_row(*cells)
    out.print(table)
    out.print(RANGE_NOTE, soft_wrap=True)
    at_once = attrs.get("jobs_at_once", 1)
    wall = f"; about {duration(attrs['wall_seconds'])} with --jobs {at_once}" if (
        at_once > 1) else ""
    out.print(f"total: about {duration(attrs['total_seconds'])} of job time for "
              f"{int(estimate['jobs'].sum())} jobs{wall} (this estimate took "
              f"{duration(attrs['estimate_seconds'])}; nothing was written)", soft_wrap=True)


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


def speedup_table(speedups: pd.DataFrame) -> Table:
    table = Table(title="GPU against CPU (medians; speed-up = how many times faster the GPU is)",
                  title_justify="left")
    for name in ("model", "CPU fit s", "GPU fit s", "fit speed-up", "training images/s ratio",
                 "prediction images/s ratio"):
        table.add_column(name, justify="left" if name == "model" else "right")
    for row in speedups.itertuples():
        table.add_row(Text(str(row.model)), _num(row.cpu_fit_seconds, "{:.2f}"),
                      _num(row.gpu_fit_seconds, "{:.2f}"), _num(row.fit_speedup, "{:.1f}x"),
                      _num(row.train_speedup, "{:.1f}x"), _num(row.predict_speedup, "{:.1f}x"))
    return table


def _dataset_line(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "no jobs"
    first = frame.iloc[0]
    sizes = sorted(frame["train_size"].dropna().unique())
    train = " to ".join(str(size) for size in sizes[:: max(1, len(sizes) - 1)])  # a grid's range
    return f"{first['dataset']}, {train or '?'} train / {first['test_size']} test"


def _num(value: Any, fmt: str) -> str:
    if value is None or pd.isna(value) or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)
