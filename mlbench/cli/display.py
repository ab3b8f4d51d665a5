"""The console side of a run: live progress on stderr (a live bar on a terminal, one line per
event otherwise, so logs stay readable) and the results table on stdout, via rich."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, ProgressColumn, SpinnerColumn, Task, TextColumn
from rich.progress import Progress as LiveBar
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from mlbench.contract.registry import unknown_message
from mlbench.errors import UsageError
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
from mlbench.results.naming import job_id
from mlbench.results.run import Run
from mlbench.running.contention import BusyWatch
from mlbench.running.expected import ExpectedTimes
from mlbench.running.jobs import JobSpec
from mlbench.running.progress import Progress

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


def outcome_text(record: dict[str, Any]) -> str:
    if record["status"] == "ok":
        held_out = record.get("validation_accuracy")
        validation = "" if held_out is None else f"validation accuracy {held_out:.4f}, "
        return (f"{validation}test accuracy {record['accuracy']:.4f}, fit "
                f"{record['fit_seconds']:.2f} s, predict {record['predict_seconds']:.2f} s"
                f"{disturbed_text(record)}")
    return str(record.get("error") or "").strip().split("\n")[0]


def disturbed_text(record: dict[str, Any]) -> str:
    """"; disturbed: other processes used 1.3 of the 2 cores" for a disturbed job, else
    ""."""
    if record.get("disturbed") is not True:
        return ""
    others, cores = record.get("others_cores"), record.get("usable_cores")
    used = "" if others is None else f": other processes used {others:.1f}" + (
        " cores" if cores is None else f" of the {cores} cores")
    return f"; {DISTURBED_MARK} disturbed{used}"


class ElapsedBar(BarColumn):
    """A running job's bar fills with its elapsed time over its expected time (to 99% at
    most: it ends when the job does); without an expectation it pulses."""

    def render(self, task: Task) -> ProgressBar:
        expected = task.fields.get("expected")
        if not expected:
            return super().render(task)
        elapsed = min(task.elapsed or 0.0, 0.99 * expected)
        return ProgressBar(total=expected, completed=elapsed, width=self.bar_width,
                           style=self.style, complete_style=self.complete_style,
                           finished_style=self.finished_style, pulse_style=self.pulse_style,
                           animation_time=task.get_time())


class JobClock(ProgressColumn):
    """The whole run: jobs done of all, and its time. A job: its elapsed time, and how long
    the same job took before, where it ran before. Read from each task's own clock at every
    refresh, so it moves while a worker is busy."""

    def render(self, task: Task) -> Text:
        elapsed = clock(task.elapsed)
        if "expected" not in task.fields:  # the run's own line
            return Text(f"{int(task.completed)}/{int(task.total or 0)} jobs, {elapsed}")
        expected, epoch, epochs = (task.fields.get(name)
                                   for name in ("expected", "epoch", "epochs"))
        done = f"epoch {epoch}{f'/{epochs}' if epochs else ''} done, " if epoch else ""
        if expected is None:
            return Text(f"{done}{elapsed} elapsed")
        return Text(f"{done}{elapsed}, took {clock(expected)} before")


def clock(seconds: float | None) -> str:
    """0:07, 4:05, 1:02:03: a clock that ticks every second."""
    whole = int(seconds or 0)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class ConsoleProgress(Progress):
    def __init__(self, quiet: bool = False, metrics: Sequence[str] = (),
                 busy: BusyWatch | None = None, table: bool = True) -> None:
        self.quiet = quiet
        self.table = table  # False: stdout is kept for another format (--format json)
        self.busy = busy  # said once, as the jobs are about to start (even with --quiet)
        self.metrics = list(metrics)
        self.err = Console(stderr=True, highlight=False)
        self.live = self.err.is_terminal and not quiet
        self.show_downloads = not quiet
        self.bar: LiveBar | None = None
        self.tasks: dict[str, Any] = {}
        self.started_jobs = self.done = self.total = 0
        self.expected: ExpectedTimes | None = None
        self.run: Run | None = None  # the saved run, once ended: the report reads it too

    def warn(self, message: str) -> None:
        self.err.print(Text.assemble(("mlbench: warning: ", "yellow"), message), soft_wrap=True)

    def say(self, text: str) -> None:
        if not self.quiet:
            self.err.print(text, highlight=False, soft_wrap=True, markup=False)

    def begin(self, run_dir: Path, total: int, already_done: int) -> None:
        self.total, self.started_jobs, self.done = total, 0, 0
        if self.busy is not None and total:
            line = self.busy.busy_line()
            if line is not None:
                self.err.print(Text(line, style="yellow"), soft_wrap=True)
            self.busy = None
        resumed = f", {already_done} already done" if already_done else ""
        jobs = "1 job" if total == 1 else f"{total} jobs"
        self.say(f"mlbench: {jobs} to run{resumed}; results in {run_dir}")
        if not self.quiet:
            self.expected = ExpectedTimes.for_run(run_dir)
        if self.live:
            # rich redraws on its own thread (refresh_per_second), so the clocks move while
            # this thread waits for a worker.
            self.bar = LiveBar(SpinnerColumn(), TextColumn("{task.description}"), ElapsedBar(),
                               JobClock(), console=self.err, transient=True,
                               refresh_per_second=4)
            self.bar.start()
            self.tasks["all"] = self.bar.add_task("run", total=total)

    def started(self, spec: JobSpec) -> None:
        label = job_label(spec.model, spec.device, spec.repeat, spec.job_id, spec.variant)
        expected = self.expected.expect(spec) if self.expected is not None else None
        if self.bar is not None:
            planned = spec.params.get("epochs")  # a CNN's; other models' histories vary
            self.tasks[spec.job_id] = self.bar.add_task(
                f"  {label}", total=None, expected=expected, epoch=0,
                epochs=planned if isinstance(planned, int) else None)
        else:
            # Start lines count starts, end lines count ends: with --jobs 2 each stays in order.
            self.started_jobs += 1
            about = "" if expected is None else f" (took {duration(expected)} before)"
            self.say(f"[{self.started_jobs}/{self.total}] {label}: started{about}")

    def epoch(self, spec: JobSpec, epochs: int) -> None:
        task = self.tasks.get(spec.job_id)
        if self.bar is not None and task is not None:
            self.bar.update(task, epoch=epochs)

    def finished(self, record: dict[str, Any]) -> None:
        self.done += 1
        if self.expected is not None:
            self.expected.add(record)  # the next repeat of this job expects as long
        status = record["status"]
        label = job_label(record["model"], record["device"], record["repeat"],
                          record["job_id"], record.get("variant"))
        line = f"[{self.done}/{self.total}] {label}: {status} ({outcome_text(record)})"
        if self.bar is not None:
            task = self.tasks.pop(record["job_id"], None)
            if task is not None:
                self.bar.remove_task(task)
            self.bar.advance(self.tasks["all"])
            style = "yellow" if record.get("disturbed") is True else STATUS_STYLE.get(status, "")
            self.bar.console.print(Text(line, style=style),
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
        if not self.table:
            return
        out = Console(highlight=False, width=None if sys.stdout.isatty() else 1000)
        out.print(results_table(results, self.metrics))
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
        repeated = repeats_table(results)
        if repeated is not None:
            out.print(repeated)
        run_dir = results.attrs.get("run_dir")
        self.run = Run.open(run_dir, self.warn) if run_dir else None
        if self.run is not None and not ok_rows(results).empty:
            out.print(Text("Summary:", style="bold"))
            for line in summary_lines(self.run):
                out.print(Text(f"  - {line}"), soft_wrap=True)
        speedups = device_speedups(results)
        if not speedups.empty:
            out.print(speedup_table(speedups))
        if self.run is not None:
            results_csv = self.run.folder.results_csv
            self.say(f"mlbench: results in {results_csv} (and .parquet, run.json)")


# Results columns the table shows only when asked (--metrics): header and format.
OPTIONAL_METRICS = {"balanced_accuracy": ("balanced accuracy", "{:.4f}"),
                    "log_loss": ("log-loss", "{:.4f}")}


def check_metrics(text: str | None) -> list[str]:
    """--metrics' comma-separated names, each one of OPTIONAL_METRICS."""
    names = [name.strip() for name in (text or "").split(",") if name.strip()]
    for name in names:
        if name not in OPTIONAL_METRICS:
            raise UsageError(unknown_message("metric for --metrics", name, OPTIONAL_METRICS))
    return list(dict.fromkeys(names))


def results_table(frame: pd.DataFrame, metrics: Sequence[str] = ()) -> Table:
    """Best first: models by the mean accuracy of their ok jobs, each model's repeats
    together; then the rest by status. A grid's rows are grouped instead, by model, swept
    values and training-set size, so each model reads as a curve. ``metrics``: columns of
    OPTIONAL_METRICS to show after F1."""
    grid = grid_columns(frame)
    ok = frame["status"] == "ok"
    model_mean = frame["accuracy"].where(ok).groupby(
        [frame["model"], frame["device"]]).transform("mean")
    by, ascending = (["_ok", "model", *grid, "repeat"], True) if grid else (
        ["_ok", "_model_mean", "model", "device", "repeat"], [True, False, True, True, True])
    order = frame.assign(_ok=~ok, _model_mean=model_mean, size_mib=size_mib(frame),
                         model_name=model_names(frame)).sort_values(
        by, ascending=ascending, na_position="last", key=grid_sort_key)
    table = Table(title=f"mlbench results: {_dataset_line(frame)}", title_justify="left")
    columns = [("model", "left"), ("device", "left"), ("sweep", "left"),
               ("train_size", "right"), ("repeat", "right"), ("status", "left"),
               ("val. accuracy", "right"), ("test accuracy", "right"),
               ("95% CI (test images)", "right"), ("F1 macro", "right"),
               *((OPTIONAL_METRICS[name][0], "right") for name in metrics), ("fit s", "right"),
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
            cells.append(_num(row.train_size, "{:,}"))
        if show_repeat:
            cells.append(str(row.repeat))
        cells.append(Text(f"{row.status} {DISTURBED_MARK}" if flagged else str(row.status),
                          style="yellow" if flagged else style))
        if show_validation:
            cells.append(_num(row.validation_accuracy, "{:.4f}"))
        cells += [_num(row.accuracy, "{:.4f}"),
                  accuracy_text(*accuracy_interval(row.accuracy, row.test_size)),
                  _num(row.f1_macro, "{:.4f}"),
                  *(_num(getattr(row, name), OPTIONAL_METRICS[name][1]) for name in metrics),
                  _num(row.fit_seconds, "{:.2f}"), _num(row.fit_cpu_seconds, "{:.2f}")]
        if show_target:
            cells.append(_num(row.time_to_target_seconds, "{:.2f}"))
        cells += [_num(row.predict_seconds, "{:.2f}"), _num(row.predict_throughput, "{:,.0f}"),
                  _num(row.peak_memory_mb, "{:,.0f}"), _num(row.model_memory_mb, "{:,.0f}"),
                  _num(row.size_mib, "{:,.2f}")]
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
        cells += [str(row["repeats"]), _num(row["accuracy mean"], "{:.4f}") + spread,
                  row[significance.ACCURACY_SEEDS], row[significance.ACCURACY_IMAGES]]
        for label in significance.REPEATED_TIMES.values():
            cells += [_num(row[f"{label} geo. mean"], "{:.3g}"), row[f"{label} 95% CI"]]
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
        name = f"{row['model']} {row['variant']}" if row["variant"] else str(row["model"])
        cells: list[str | Text] = [Text(name), Text(str(row["device"]))]
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
    table = Table(title="GPU against CPU (geometric means; speed-up = how many times faster "
                        "the GPU is)",
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
    held = frame.get("validation_size", pd.Series(dtype="Int64")).dropna()
    validation = f" / {held.iloc[0]} validation" if len(held) else ""
    return f"{first['dataset']}, {train or '?'} train / {first['test_size']} test{validation}"


def _num(value: Any, fmt: str) -> str:
    if value is None or pd.isna(value) or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return fmt.format(value)
