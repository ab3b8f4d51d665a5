"""A run's live progress on stderr: a live bar on a terminal, one line per event otherwise (so
logs stay readable), via rich; at the end, the results tables on stdout (``result_tables``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, ProgressColumn, SpinnerColumn, Task, TextColumn
from rich.progress import Progress as LiveBar
from rich.progress_bar import ProgressBar
from rich.text import Text

from mlbench.cli.cells import STATUS_STYLE, clock, duration, job_label
from mlbench.cli.extra_columns import ExtraColumn
from mlbench.cli.result_tables import print_results
from mlbench.reporting.tables import DISTURBED_MARK
from mlbench.results.run import Run
from mlbench.running.contention import BusyWatch
from mlbench.running.expected import BEFORE, ESTIMATED, ExpectedTimes
from mlbench.running.jobs import JobSpec, Phase
from mlbench.running.progress import Progress


def outcome_text(record: dict[str, Any]) -> str:
    if record["status"] == "ok":
        held_out = record.get("validation_accuracy")
        validation = "" if held_out is None else f"validation accuracy {held_out:.4f}, "
        return (f"{validation}test accuracy {record['accuracy']:.4f}, fit "
                f"{record['fit_seconds']:.2f} s, predict {record['predict_seconds']:.2f} s"
                f"{job_text(record)}{disturbed_text(record)}")
    return str(record.get("error") or "").strip().split("\n")[0]


SHOWN_SECONDS = 1.0  # a job's time, and its start-up's, said from this long on
STARTUP_SHARE = 0.2  # start-up said where it took this share of the job too


def job_text(record: dict[str, Any]) -> str:
    """"; job 38 s (start-up 27 s)": the whole job's time, which the live clock showed, with
    its start-up (``setup_seconds``) where that explains much of it; "" for a job under a
    second (fit and predict say enough) or a record from before job_seconds."""
    job, setup = record.get("job_seconds"), record.get("setup_seconds") or 0.0
    if job is None or job < SHOWN_SECONDS:
        return ""
    large = setup >= max(SHOWN_SECONDS, STARTUP_SHARE * job)
    return f"; job {duration(job)}" + (f" (start-up {duration(setup)})" if large else "")


def disturbed_text(record: dict[str, Any]) -> str:
    """"; disturbed: other processes used 1.3 of the 2 cores" for a disturbed job, else
    ""."""
    if record.get("disturbed") is not True:
        return ""
    others, cores = record.get("others_cores"), record.get("usable_cores")
    used = "" if others is None else f": other processes used {others:.1f}" + (
        " cores" if cores is None else f" of the {cores} cores")
    return f"; {DISTURBED_MARK} disturbed{used}"


def expected_text(basis: str | None, time: str) -> str:
    """"took 0:38 before" (earlier runs of the job), or "estimated 0:40" (its --estimate)."""
    return f"estimated {time}" if basis == ESTIMATED else f"took {time} before"


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
    """The whole run: jobs done of all, and its time. A job: its phase and that phase's time
    (``fit 0:05, epoch 1/5 done``; start-up's time is the job's), its elapsed time, and how
    long the same job took before, where it ran before. Read from each task's own clock at
    every refresh, so it moves while a worker is busy."""

    def render(self, task: Task) -> Text:
        elapsed = clock(task.elapsed)
        if "expected" not in task.fields:  # the run's own line
            return Text(f"{int(task.completed)}/{int(task.total or 0)} jobs, {elapsed}")
        expected, epoch, epochs, phase = (
            task.fields.get(name) for name in ("expected", "epoch", "epochs", "phase"))
        job = f"{elapsed} elapsed" if expected is None else (
            f"{elapsed}, {expected_text(task.fields.get('basis'), clock(expected))}")
        if phase == "start-up":
            return Text(f"{phase} {job}")
        since = task.fields.get("since", task.start_time)  # when the phase began
        step = "" if phase is None else f"{phase} {clock(task.get_time() - (since or 0.0))}"
        done = ""
        if epoch and phase in (None, "fit"):  # the epochs are fit's: not said after it
            done = f"epoch {epoch}{f'/{epochs}' if epochs else ''} done"
        told = ", ".join(part for part in (step, done) if part)
        return Text(f"{told}; {job}" if told else job)


class ConsoleProgress(Progress):
    def __init__(self, quiet: bool = False, extra: Sequence[ExtraColumn] = (),
                 busy: BusyWatch | None = None, table: bool = True, wide: bool = False) -> None:
        self.quiet = quiet
        self.wide = wide  # one row per job (--wide), not per model
        self.table = table  # False: stdout is kept for another format (--format json)
        self.busy = busy  # said once, as the jobs are about to start (even with --quiet)
        self.extra = list(extra)  # --columns
        self.err = Console(stderr=True, highlight=False)
        self.live = self.err.is_terminal and not quiet
        self.show_downloads = not quiet
        self.bar: LiveBar | None = None
        self.tasks: dict[str, Any] = {}
        self.started_jobs = self.done = self.total = 0
        self.expected: ExpectedTimes | None = None
        self.run: Run | None = None  # the saved run, once ended: the report reads it too
        self.numbers: dict[str, int] = {}  # each running job's number, given as it started
        self.waiting: dict[str, float | None] = {}  # unfinished jobs' times in earlier runs
        self.at_once = 1

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

    def planned(self, specs: list[JobSpec], jobs_at_once: int) -> None:
        """One line: how long the run should take, where earlier runs of every job say."""
        self.at_once = max(1, jobs_at_once)
        if self.expected is None or not specs:
            return
        expectations = {spec.job_id: self.expected.expectation(spec) for spec in specs}
        self.waiting = {job: seconds for job, (seconds, _) in expectations.items()}
        left = self.time_left()
        if left is not None:
            bases = {basis for _, basis in expectations.values()}
            source = ("the same jobs in earlier runs" if bases == {BEFORE} else
                      "their --estimate" if bases == {ESTIMATED} else
                      "the same jobs in earlier runs, and --estimate for the others")
            self.say(f"mlbench: about {duration(left)} expected ({source}"
                     f"{f', {self.at_once} at once' if self.at_once > 1 else ''})")

    def time_left(self) -> float | None:
        """The jobs not yet finished, at their earlier times, shared among the jobs at once;
        None where a job has not run before (no guess is made for it)."""
        times = list(self.waiting.values())
        if not times or any(time is None for time in times):
            return None
        return sum(times) / self.at_once  # type: ignore[arg-type]

    def started(self, spec: JobSpec) -> None:
        label = job_label(spec.model, spec.device, spec.repeat, spec.job_id, spec.variant)
        expected, basis = (self.expected.expectation(spec) if self.expected is not None
                           else (None, None))
        # A job keeps the number it started with, so with --jobs 2 its end line says the same.
        self.started_jobs += 1
        self.numbers[spec.job_id] = self.started_jobs
        if self.bar is not None:
            planned = spec.params.get("epochs")  # a CNN's; other models' histories vary
            self.tasks[spec.job_id] = self.bar.add_task(
                f"  {label}", total=None, expected=expected, basis=basis, epoch=0,
                epochs=planned if isinstance(planned, int) else None)
        else:
            about = "" if expected is None else f" ({expected_text(basis, duration(expected))})"
            self.say(f"[{self.started_jobs}/{self.total}] {label}: started{about}")

    def epoch(self, spec: JobSpec, epochs: int) -> None:
        self.show(spec, epoch=epochs)

    def phase(self, spec: JobSpec, phase: Phase) -> None:
        if self.bar is not None:
            self.show(spec, phase=phase, since=self.bar.get_time())

    def show(self, spec: JobSpec, **fields: Any) -> None:
        """On the live bar only: a log keeps one line per job started and ended."""
        task = self.tasks.get(spec.job_id)
        if self.bar is not None and task is not None:
            self.bar.update(task, **fields)

    def finished(self, record: dict[str, Any]) -> None:
        self.done += 1
        if self.expected is not None:
            self.expected.add(record)  # the next repeat of this job expects as long
        self.waiting.pop(record["job_id"], None)
        status = record["status"]
        label = job_label(record["model"], record["device"], record["repeat"],
                          record["job_id"], record.get("variant"))
        # Its own number (a skipped job, never started, takes the next); then how far along.
        number = self.numbers.pop(record["job_id"], None)
        if number is None:
            self.started_jobs += 1
            number = self.started_jobs
        left = self.time_left() if self.done < self.total else None
        progress = f"; {self.done} of {self.total} done" + (
            f", about {duration(left)} left" if left is not None else "")
        line = (f"[{number}/{self.total}] {label}: {status} ({outcome_text(record)})"
                f"{progress if self.total > 1 else ''}")
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
        run_dir = results.attrs.get("run_dir")
        self.run = Run.open(run_dir, self.warn) if run_dir else None
        print_results(results, self.run, self.extra, self.wide)
        if self.run is not None:
            results_csv = self.run.folder.results_csv
            self.say(f"mlbench: results in {results_csv} (and .parquet, run.json)")
