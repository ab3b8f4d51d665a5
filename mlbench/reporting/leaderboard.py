"""Every saved run under a results folder, as one leaderboard: ``mlbench leaderboard``.

A row is one setting of a model (the model with how it differs from its defaults and its
swept values: ``svm C=10``) on one device and training-set size. Each run that ran it gives
one result: mean test accuracy over its ok jobs with the 95% Wilson interval over the test
images, and fit and predict time as the run's own figures (``tables.time_figures``: the
geometric mean, undisturbed jobs where there are any, and its 95% interval). Per row, the
leaderboard keeps the best result (highest accuracy; the latest among equals) and the latest
one, with the run and commit each came from.

Results are ranked only against others on the same dataset and test images and the same kind
of machine (CPU, cores, GPUs): each such group is a table of its own, headed by what it is.
Unfinished runs and runs with a damaged file are left out, each with the reason
(``Leaderboard.skipped``), never a traceback. Nothing here prints: the CLI does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, cast

import pandas as pd

from mlbench.errors import UsageError
from mlbench.reporting import stats, tables
from mlbench.reporting.document import Document, Table, Text, accuracy_text, seconds
from mlbench.reporting.run_setup import gpus_text, machine_text
from mlbench.results.folder import RunFolder
from mlbench.results.run import Run

ROW_KEY = ["model", "device", "train_size"]  # one row of a group: a model's setting
GROUP_KEY = ["dataset", "test_size", "machine", "gpus"]  # results ranked only within one
# One result per run and row (``run_results``); the leaderboard's rows add rank and entry.
RESULT_COLUMNS = [*GROUP_KEY, *ROW_KEY, "accuracy", "accuracy_low", "accuracy_high",
                  "repeats", "fit_seconds", "fit_low", "fit_high", "predict_seconds",
                  "predict_low", "predict_high", "disturbed", "run", "run_dir", "git_commit",
                  "mlbench", "finished_at"]
COLUMNS = [*GROUP_KEY, "rank", *ROW_KEY, "entry", *RESULT_COLUMNS[len(GROUP_KEY)
                                                                  + len(ROW_KEY):]]


class Skipped(NamedTuple):
    """A run folder left out of the leaderboard, and why (with what to do)."""

    run_dir: str
    reason: str


class GroupKey(NamedTuple):
    dataset: str
    test_size: int | None
    machine: str
    gpus: str


class Group(NamedTuple):
    """The rows ranked against each other: one dataset and test set, one kind of machine."""

    key: GroupKey
    rows: pd.DataFrame  # COLUMNS, best accuracy first

    @property
    def title(self) -> str:
        test = "" if self.key.test_size is None else f", {self.key.test_size:,} test images"
        return f"{self.key.dataset}{test}, on {self.key.machine}, GPUs: {self.key.gpus}"


@dataclass
class Leaderboard:
    folder: Path
    results: pd.DataFrame  # COLUMNS: every group's rows, each group best first
    skipped: list[Skipped] = field(default_factory=list)
    runs_read: int = 0

    def groups(self) -> list[Group]:
        """The groups, each with its ranked rows: by dataset and test set, and within one
        the machine with the latest result first."""
        found = []
        for key, rows in self.results.groupby(GROUP_KEY, sort=False, dropna=False):
            dataset, test, machine, gpus = cast(tuple[Any, ...], key)
            found.append(Group(GroupKey(str(dataset), None if pd.isna(test) else int(test),
                                        str(machine), str(gpus)), rows.reset_index(drop=True)))
        found.sort(key=lambda group: str(group.rows["finished_at"].dropna().max()),
                   reverse=True)
        return sorted(found, key=lambda group: (group.key.dataset, group.key.test_size or 0))


# -- reading -------------------------------------------------------------------------

def run_folders(root: Path) -> list[Path]:
    """Every run folder under ``root`` (at any depth; a run folder's own subfolders are not
    searched), in path order."""
    found = []
    for path, folders, _ in os.walk(root):
        if RunFolder(Path(path)).run_json.is_file():
            found.append(Path(path))
            folders.clear()
        else:
            folders.sort()
    return sorted(found)


def read_runs(root: Path) -> tuple[list[Run], list[Skipped]]:
    """The finished, undamaged runs under ``root``, and the others with why each is left
    out."""
    runs, skipped = [], []
    for path in run_folders(root):
        try:
            run = Run.open(path)
            reason = _unusable(run)
        except (UsageError, OSError, ValueError, KeyError, TypeError,
                AttributeError) as error:  # whatever a damaged file makes of its reading
            reason = f"damaged: {error}"
        if reason is None:
            runs.append(run)
        else:
            skipped.append(Skipped(str(path), reason))
    return runs, skipped


def _unusable(run: Run) -> str | None:
    """Why a run cannot stand on a leaderboard, or None. Reads run.json and the records."""
    info = run.info
    if info.complete is False or info.finished_at is None:
        return (f"unfinished (interrupted, or still running); finish an interrupted run "
                f"with: mlbench run --resume {run.path}")
    if run.damaged:
        names = ", ".join(run.folder.relative(path) for path in run.damaged)
        return f"damaged job record ({names}); rerun it with: mlbench run --resume {run.path}"
    run.frame  # noqa: B018 - built here, so a record that parses but does not fit shows now
    return None


def run_results(run: Run) -> pd.DataFrame:
    """One result per row (``ROW_KEY``) of one run, from its ok jobs (``RESULT_COLUMNS``)."""
    ok = tables.ok_rows(run.frame)
    if ok.empty:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    info = run.info
    ok["model"] = tables.setting_names(ok)
    ok["train_size"] = ok["train_size"].fillna(0)  # 0: a table saved without sizes
    figures = {short: tables.time_figures(ok, f"{short}_seconds", ROW_KEY)
               for short in ("fit", "predict")}
    rows = []
    for key, jobs in ok.groupby(ROW_KEY, sort=True, dropna=False):
        model, device, size = cast(tuple[Any, ...], key)
        accuracy = float(jobs["accuracy"].mean())
        test_size = jobs["test_size"].max()
        fit, predict = figures["fit"][key], figures["predict"][key]
        rows.append({
            "dataset": info.dataset.name or str(jobs["dataset"].iloc[0]),
            "test_size": None if pd.isna(test_size) else int(test_size),
            "machine": machine_text(info), "gpus": gpus_text(info),
            "model": model, "device": device, "train_size": int(size) or None,
            "accuracy": accuracy,
            **dict(zip(("accuracy_low", "accuracy_high"),
                       stats.accuracy_interval(accuracy, test_size), strict=True)),
            "repeats": len(jobs),
            "fit_seconds": fit.center, "fit_low": fit.low, "fit_high": fit.high,
            "predict_seconds": predict.center, "predict_low": predict.low,
            "predict_high": predict.high,
            "disturbed": int(tables.disturbed_jobs(jobs).sum()),
            "run": run.name, "run_dir": str(run.path),
            "git_commit": info.machine.git_commit, "mlbench": info.mlbench,
            "finished_at": info.finished_at})
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


# -- ranking ---------------------------------------------------------------------------

def build_leaderboard(root: Path | str) -> Leaderboard:
    """Every run under ``root``: per group and row, the best and the latest result, ranked
    by best accuracy within the group. A UsageError in one line where ``root`` is no folder."""
    root = Path(root)
    if not root.is_dir():
        raise UsageError(f"{root} is not a folder; give the folder mlbench run writes runs "
                         "into, e.g. mlbench leaderboard results")
    runs, skipped = read_runs(root)
    results = [run_results(run) for run in runs]
    found = pd.concat([frame for frame in results if not frame.empty] or
                      [pd.DataFrame(columns=RESULT_COLUMNS)], ignore_index=True)
    return Leaderboard(root, rank(found), skipped, len(runs))


def rank(results: pd.DataFrame) -> pd.DataFrame:
    """Per group and row, the best result (highest accuracy, the latest among equals) and
    the latest (``entry``: "best", "latest", or "best, latest" for one result that is
    both), rows ranked by their best accuracy within each group (``rank``: equal
    accuracies share one), each row's latest result after its best."""
    if results.empty:
        return pd.DataFrame(columns=COLUMNS)
    when = pd.to_datetime(results["finished_at"], utc=True, errors="coerce")
    results = results.assign(_when=when, _row=results.groupby(
        [*GROUP_KEY, *ROW_KEY], sort=False, dropna=False).ngroup())
    picks: list[tuple[Any, str]] = []  # (index in results, entry)
    for _, of_row in results.groupby("_row", sort=False):
        ordered = of_row.sort_values(["_when", "run"], na_position="first")
        latest = ordered.index[-1]
        best = ordered["accuracy"].iloc[::-1].idxmax()  # the latest of equal accuracies
        picks += [(best, "best, latest")] if best == latest else [(best, "best"),
                                                                   (latest, "latest")]
    chosen = results.loc[[index for index, _ in picks]].assign(
        entry=[entry for _, entry in picks])
    best_rows = chosen[chosen["entry"] != "latest"]
    ranks = best_rows.groupby(GROUP_KEY, sort=False, dropna=False)["accuracy"].rank(
        method="min", ascending=False).astype(int)
    chosen["rank"] = chosen["_row"].map(dict(zip(best_rows["_row"], ranks, strict=True)))
    chosen["_latest"] = chosen["entry"] == "latest"
    order = chosen.groupby(GROUP_KEY, sort=False, dropna=False).ngroup()
    return (chosen.assign(_group=order)
            .sort_values(["_group", "rank", "model", "device", "_row", "_latest"])
            .reset_index(drop=True)[COLUMNS])


# -- as a document ---------------------------------------------------------------------

def display_table(rows: pd.DataFrame) -> pd.DataFrame:
    """A group's rows as the terminal and the Markdown show them: text cells."""
    several_sizes = rows["train_size"].nunique(dropna=True) > 1
    cells = pd.DataFrame({
        "rank": [str(rank) if entry != "latest" else "" for rank, entry
                 in zip(rows["rank"], rows["entry"], strict=True)],
        "model": rows["model"].astype(str), "device": rows["device"].astype(str)})
    if several_sizes:
        cells["train size"] = [("" if pd.isna(size) else f"{int(size):,}")
                               for size in rows["train_size"]]
    cells["result"] = rows["entry"].astype(str)
    cells["test accuracy"] = [f"{value:.4f}" for value in rows["accuracy"]]
    cells["95% CI (test images)"] = [accuracy_text(low, high) for low, high in
                                     zip(rows["accuracy_low"], rows["accuracy_high"],
                                         strict=True)]
    cells["repeats"] = rows["repeats"].astype(str)
    # Marked where every job of the result was disturbed: its times come from those.
    marks = [f" {tables.DISTURBED_MARK}" if disturbed and disturbed >= repeats else ""
             for disturbed, repeats in zip(rows["disturbed"], rows["repeats"], strict=True)]
    for short in ("fit", "predict"):
        cells[f"{short} (geo. mean)"] = [seconds(value) + mark for value, mark
                                         in zip(rows[f"{short}_seconds"], marks, strict=True)]
    cells["run"] = rows["run"].astype(str)
    cells["commit"] = [short_commit(commit) for commit in rows["git_commit"]]
    return cells


def short_commit(commit: object) -> str:
    """``1a2b3c4d5e+dirty``: ten hex digits are enough to name a commit; unknown: empty."""
    if not isinstance(commit, str) or not commit:
        return ""
    head, plus, state = commit.partition("+")
    return head[:10] + plus + state


def skipped_line(skipped: Skipped) -> str:
    return f"skipped {skipped.run_dir}: {skipped.reason}"


def how_to_read(board: Leaderboard) -> str:
    return ("Each model's best result (highest mean test accuracy over a run's ok jobs) and "
            "latest one; accuracy with its 95% Wilson interval over the test images, times as "
            f"the run's geometric mean over its undisturbed jobs ({tables.DISTURBED_MARK}: "
            "every job of it was disturbed, timed while other processes took its cores, so "
            "its times are likely longer than on a quiet machine). Results are ranked only "
            f"within a dataset, test set and machine. {board.runs_read} run(s) read under "
            f"{board.folder}.")


def leaderboard_document(board: Leaderboard) -> Document:
    """The leaderboard as a ``Document``: a section per group, then the runs left out."""
    document = Document(f"mlbench leaderboard: {board.folder}")
    for group in board.groups():
        document.section(group.title, Table(display_table(group.rows)))
    if board.results.empty:
        document.section("No results", Text("No finished run with an ok job was found under "
                                            f"{board.folder}.", "warning"))
    if board.skipped:
        document.section("Left out", Text("; ".join(skipped_line(skipped)
                                                    for skipped in board.skipped)))
    document.section("How to read it", Text(how_to_read(board), "note"))
    return document
