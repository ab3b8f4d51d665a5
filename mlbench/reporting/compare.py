"""Saved runs side by side, in numbers: what ``mlbench compare RUN_A RUN_B [...]`` computes.

Per model and device, per run: accuracy (mean, std and 95% interval over repeats), fit
time and prediction throughput (the run's own figures: ``tables.time_figures``); each later
run against the first as relative figures with 95% intervals (accuracy in points, times as
ratios allowing for the noise within and between runs), flagged where a difference is
beyond chance or the noise (the rules, in words, are ``compare_report.RULES``); what differs
between the runs (dataset, settings, machine, versions, params), and first of all whatever
makes their times not like for like (``unlike``).

Takes saved runs as ``results.Run`` (each file read once), never the runner. The comparison
in words, its document and charts are ``compare_report``'s; ``--fail-on`` is
``compare_gate``'s; the terminal's table is the CLI's.
"""

from __future__ import annotations

import math
import os
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlbench.errors import UsageError
from mlbench.reporting import stats, tables
from mlbench.reporting.run_setup import FACETS
from mlbench.results.folder import Warn
from mlbench.results.run import Run
from mlbench.results.table import params_of

SUMMARY_COLUMNS = ["run", "model", "device", "repeats", "accuracy", "accuracy_std",
                   "accuracy_low", "accuracy_high", "images_low", "images_high",
                   "accuracy_min", "accuracy_max",
                   "fit_seconds", "fit_low", "fit_high", "predict_throughput", "predict_low",
                   "predict_high", "disturbed", "time_to_target_seconds"]
# The accuracy delta and its bounds are fractions (0.01 is a point); a ratio is the later
# run's time over the first's (above 1: slower), for prediction the time per test image.
DELTA_COLUMNS = ["run", "model", "device", "accuracy_delta", "accuracy_low", "accuracy_high",
                 "accuracy_test", "accuracy_p", "accuracy_flag",
                 "fit_ratio", "fit_low", "fit_high", "fit_flag", "fit_judged",
                 "predict_ratio", "predict_low", "predict_high", "predict_flag",
                 "predict_judged"]
TIMES = ("fit", "predict")  # fit time; prediction time per test image


@dataclass
class Comparison:
    """Two or more saved runs compared, each later one against the first."""

    runs: list[Run]
    summary: pd.DataFrame  # SUMMARY_COLUMNS: one row per run, model and device
    deltas: pd.DataFrame  # DELTA_COLUMNS: each later run against the first
    differences: list[str]
    missing: list[str] = field(default_factory=list)  # models not in every run, in words
    unlike: list[str] = field(default_factory=list)  # why times are not like for like
    between: float = stats.BETWEEN_RUNS  # the noise between runs allowed for

    @property
    def labels(self) -> list[str]:
        return [run.label for run in self.runs]


# -- reading -----------------------------------------------------------------------------

TOO_FEW = ("compare needs at least two run folders, e.g. "
           "mlbench compare results/<run-a> results/<run-b>")


def open_runs(paths: list[str | os.PathLike[str]] | tuple[str, ...],
              warn: Warn | None = None) -> list[Run]:
    """Run folders to compare, each labelled by its folder name (by the path as given where
    two share a name); a one-line UsageError for fewer than two, or one given twice. A
    damaged job record is left out and named through ``warn``."""
    given = [Path(path) for path in paths]
    if len(given) < 2:
        raise UsageError(TOO_FEW)
    if len({path.resolve() for path in given}) < len(given):
        raise UsageError("the same run folder is given twice; compare different runs")
    names = [path.name for path in given]
    labels = names if len(set(names)) == len(names) else [str(path) for path in given]
    return [Run.open(path, warn, label) for path, label in zip(given, labels, strict=True)]


def compare_runs(runs: list[Run], between: float = stats.BETWEEN_RUNS) -> Comparison:
    """Compare each later run with the first, allowing for ``between``, the noise between
    runs (``stats.BETWEEN_RUNS``). One-line UsageErrors: fewer than two runs, two with one
    label, a run with no finished job."""
    if len(runs) < 2:
        raise UsageError(TOO_FEW)
    labels = [run.label for run in runs]
    if len(set(labels)) < len(labels):
        raise UsageError(f"two runs are labelled {labels}; give each its own label "
                         "(Run.open(path, label=...))")
    for run in runs:
        run.info  # noqa: B018 - an unreadable run.json is one line before anything else
        if run.frame.empty:
            raise UsageError(f"{run.path} has no finished job to compare; finish it first "
                             f"with mlbench run --resume {run.path}")
    summary = pd.concat([summarise(run) for run in runs], ignore_index=True)
    deltas = pd.DataFrame([judge(runs[0], other, key, between) for other in runs[1:]
                           for key in shared_keys(runs[0], other)], columns=DELTA_COLUMNS)
    return Comparison(runs, summary, deltas, differences(runs), missing_models(runs),
                      unlike(runs), between)


_OK: weakref.WeakKeyDictionary[Run, pd.DataFrame] = weakref.WeakKeyDictionary()


def ok_jobs(run: Run) -> pd.DataFrame:
    """The run's ok jobs, worked out once per run (every key and judgement reads them),
    with ``name``: the model and how it differs from its defaults (``tables.model_names``),
    what a comparison keys its rows by."""
    if run not in _OK:
        ok = tables.ok_rows(run.frame)
        _OK[run] = ok.assign(name=tables.model_names(ok))
    return _OK[run]


def run_noise(run: Run, short: str) -> stats.TimingNoise:
    """The run's timing noise in ``short``'s times, pooled over its repeated jobs."""
    # Column f"{short}_seconds", as the run's report pools it (the per-image prediction
    # time only rescales it: the same noise on the log scale).
    return tables.timing_noise(ok_jobs(run), f"{short}_seconds", KEY)


def flagged(value: Any) -> bool:
    """True only for a true flag: a run without deltas (the first) has NaN, which is truthy."""
    return isinstance(value, bool | np.bool_) and bool(value)


# -- numbers -----------------------------------------------------------------------------

KEY = ["name", "device"]  # what one row of a comparison is: ok_jobs's model with its variant


def summarise(run: Run) -> pd.DataFrame:
    """Per model and device: repeats, accuracy (mean, std, 95% interval, min, max), and fit
    time and prediction throughput as the run's report gives them (``tables.time_figures``:
    geometric mean over the undisturbed jobs and its 95% interval), how many jobs were
    disturbed, and the median time to target."""
    ok = ok_jobs(run)
    figures = {column: tables.time_figures(ok, column, KEY)
               for column in ("fit_seconds", "predict_seconds")}
    rows = []
    for (model, device), jobs in ok.groupby(KEY, sort=True):
        accuracy = stats.mean_interval(jobs["accuracy"].to_numpy(dtype=float))
        fit, predict = (figures[column][(model, device)]
                        for column in ("fit_seconds", "predict_seconds"))
        images = float(jobs["test_size"].max())
        rows.append({
            "run": run.label, "model": model, "device": device, "repeats": accuracy.n,
            "accuracy": accuracy.mean, "accuracy_std": accuracy.std,
            "accuracy_low": accuracy.low, "accuracy_high": accuracy.high,
            **dict(zip(("images_low", "images_high"), stats.accuracy_interval(
                accuracy.mean, jobs["test_size"].max()), strict=True)),
            "accuracy_min": jobs["accuracy"].min(), "accuracy_max": jobs["accuracy"].max(),
            "fit_seconds": fit.center, "fit_low": fit.low, "fit_high": fit.high,
            # images per second: the test images over the prediction time's figure
            "predict_throughput": images / predict.center, "predict_low": images / predict.high,
            "predict_high": images / predict.low,
            "disturbed": int(tables.disturbed_jobs(jobs).sum()),
            "time_to_target_seconds": jobs["time_to_target_seconds"].median()})  # NaN: none
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS).astype({"repeats": "Int64"})


# (model, device), the model named with how its jobs differ from its defaults
# (tables.model_names: "svm C=10"), so runs with other settings are not compared as one.
Key = tuple[str, str]


def _keys(run: Run) -> list[Key]:
    ok = ok_jobs(run)
    return sorted({(str(m), str(d)) for m, d in zip(ok["name"], ok["device"], strict=True)})


def shared_keys(base: Run, other: Run) -> list[Key]:
    return sorted(set(_keys(base)) & set(_keys(other)))


def _jobs(run: Run, key: Key) -> pd.DataFrame:
    ok = ok_jobs(run)
    return ok[(ok["name"] == key[0]) & (ok["device"] == key[1])].sort_values(
        ["repeat", "job_id"])


def same_test_set(base: Run, other: Run) -> bool:
    """Both runs scored the same test images: same dataset, same test subset, same labels."""
    def described(run: Run) -> tuple[Any, Any]:
        return run.info.dataset.name, run.info.settings.test_size

    if described(base) != described(other):
        return False
    ours, theirs = base.test_labels, other.test_labels
    return ours is not None and theirs is not None and np.array_equal(ours, theirs)


def _correct(run: Run, key: Key) -> np.ndarray | None:
    """Per test image, whether the model's lowest-repeat job got it right."""
    labels = run.test_labels
    predicted = run.predicted_labels(str(_jobs(run, key)["job_id"].iloc[0]))
    if labels is None or predicted is None or predicted.shape != labels.shape:
        return None
    return predicted == labels


def judge_accuracy(base: Run, other: Run, key: Key) -> dict[str, Any]:
    """One model's accuracy in two runs: the test used, its p, the 95% interval of the
    difference (other - base, a fraction) and whether it is flagged; see compare_report.RULES."""
    a = _jobs(base, key)["accuracy"].to_numpy(dtype=float)
    b = _jobs(other, key)["accuracy"].to_numpy(dtype=float)
    nothing = {"accuracy_low": math.nan, "accuracy_high": math.nan, "accuracy_p": math.nan,
               "accuracy_flag": False}
    # Repeats that all score the same (a deterministic model) say nothing about chance:
    # Welch's t would call any difference real, so those go to McNemar like a single run.
    if a.size >= 2 and b.size >= 2 and (np.ptp(a) > 0 or np.ptp(b) > 0):
        p = stats.welch_p(a, b)
        low, high = stats.welch_interval(b, a)
        return {"accuracy_test": "Welch", "accuracy_p": p, "accuracy_low": low,
                "accuracy_high": high, "accuracy_flag": p < stats.ALPHA}
    if not same_test_set(base, other):
        return {**nothing, "accuracy_test": "not tested: other test images"}
    correct_a, correct_b = _correct(base, key), _correct(other, key)
    if correct_a is None or correct_b is None:
        return {**nothing, "accuracy_test": "not tested: predictions not saved"}
    p = stats.mcnemar(correct_a, correct_b).p_value
    low, high = stats.paired_bootstrap(correct_b, correct_a)
    return {"accuracy_test": "McNemar", "accuracy_p": p, "accuracy_low": low,
            "accuracy_high": high, "accuracy_flag": p < stats.ALPHA}


def _times(jobs: pd.DataFrame, short: str, images: float = 1.0) -> np.ndarray:
    """Per job, the seconds a ratio compares: fit time, or prediction time per test image
    times ``images`` (so runs on different test sizes compare); NaN where not measured."""
    if short == "fit":
        return jobs["fit_seconds"].to_numpy(dtype=float)
    return (jobs["predict_seconds"] / jobs["test_size"] * images).to_numpy(dtype=float)


def judge_time(base: Run, other: Run, key: Key, short: str,
               between: float = stats.BETWEEN_RUNS) -> dict[str, Any]:
    """One timing of a model in two runs: the ratio other / base with its 95% interval
    (``stats.runs_ratio``: both runs' pooled noise, the model's own where larger, and
    ``between``), whether it is beyond the noise (``stats.runs_differ``), and ``judged`` in
    words. Disturbed jobs take no part; with none left on a side the time is not judged
    ("disturbed"). See compare_report.RULES."""
    sides = [_jobs(run, key) for run in (base, other)]
    calm = [jobs[~tables.disturbed_jobs(jobs, f"{short}_seconds")] for jobs in sides]
    noise = stats.pool(run_noise(base, short), run_noise(other, short))._replace(between=between)
    # Prediction: the time of the first run's test set at each side's speed (the ratio of
    # runs of other test sizes).
    images = float(sides[0]["test_size"].max())
    times = [_times(jobs, short, images) for jobs in calm]
    times = [values[~np.isnan(values)] for values in times]
    row: dict[str, Any] = {f"{short}_ratio": math.nan, f"{short}_low": math.nan,
                           f"{short}_high": math.nan, f"{short}_flag": False}
    if any(values.size == 0 for values in times):
        disturbed = [run.label for run, jobs, kept in zip((base, other), sides, calm,
                                                          strict=True)
                     if kept.empty and not jobs.empty]
        slower = max(stats.geometric_mean(_times(jobs, short, images)) for jobs in sides)
        return {**row, f"{short}_judged": (
            f"no claim: under {stats.MIN_SECONDS} s" if slower < stats.MIN_SECONDS
            else f"not judged: every job disturbed in {', '.join(disturbed)}" if disturbed
            else "not measured")}
    ratio = stats.runs_ratio(times[0], times[1], noise)
    # Between runs the floor is on the time itself, not on the calls it was measured over:
    # a call of microseconds moves by more than 1.5x from one run to the next with the
    # machine's cache and clock state, however many calls time it.
    slower = max(stats.geometric_mean(values) for values in times)
    flag = stats.runs_differ(times[0], times[1], noise)
    judged = ("beyond noise" if flag else
              f"no claim: under {stats.MIN_SECONDS} s" if slower < stats.MIN_SECONDS
              else "within noise")
    return {f"{short}_ratio": ratio.center, f"{short}_low": ratio.low,
            f"{short}_high": ratio.high, f"{short}_flag": flag, f"{short}_judged": judged}


def judge(base: Run, other: Run, key: Key, between: float = stats.BETWEEN_RUNS
          ) -> dict[str, Any]:
    """One model and device of ``other`` against ``base``: deltas, intervals, tests, flags."""
    a, b = _jobs(base, key), _jobs(other, key)
    row: dict[str, Any] = {
        "run": other.label, "model": key[0], "device": key[1],
        "accuracy_delta": float(b["accuracy"].mean() - a["accuracy"].mean()),
        **judge_accuracy(base, other, key)}
    for short in TIMES:
        row.update(judge_time(base, other, key, short, between))
    return row


# -- what differs ------------------------------------------------------------------------

def _params(run: Run) -> dict[str, dict[str, Any]]:
    """Each model's params as the results record them (the first job's)."""
    params: dict[str, dict[str, Any]] = {}
    for model, text in zip(run.frame["model"], run.frame["params"], strict=True):
        if str(model) not in params and isinstance(text, str):
            params[str(model)] = params_of(text)
    return params


def differences(runs: list[Run]) -> list[str]:
    """What differs between the first run and each later one, a sentence per item."""
    base = runs[0]
    items = []
    for other in runs[1:]:
        def say(what: str, ours: Any, theirs: Any, other: Run = other) -> None:
            if ours != theirs:
                items.append(f"{what}: {ours} in {base.label}; {theirs} in {other.label}")

        for what, read in FACETS:
            say(what, read(base.info), read(other.info))
        libraries = [run.info.machine.libraries for run in (base, other)]
        for name in sorted(set(libraries[0]) | set(libraries[1])):
            say(name, libraries[0].get(name, "not installed"),
                libraries[1].get(name, "not installed"))
        ours, theirs = _params(base), _params(other)
        for model in sorted(set(ours) & set(theirs)):
            changed = sorted(name for name in set(ours[model]) | set(theirs[model])
                             if ours[model].get(name) != theirs[model].get(name))
            if changed:
                say(f"params of {model}",
                    ", ".join(f"{n}={ours[model].get(n, 'unset')!r}" for n in changed),
                    ", ".join(f"{n}={theirs[model].get(n, 'unset')!r}" for n in changed))
    return items or ["Nothing differs in dataset, settings, machine, versions or params."]


# What must match for two runs' times to be like for like (the rest of FACETS, such as the
# git commit, is what a comparison is usually made to judge).
UNLIKE_FACETS = ("CPU", "cores", "GPUs", "platform", "Python", "BLAS threads per job",
                 "jobs at once")


def unlike(runs: list[Run]) -> list[str]:
    """Why the later runs' times are not like for like with the first's, a sentence each:
    another machine, or other versions or builds of the libraries that decide the numbers.
    asv refuses such comparisons unless asked; here they are said first, and ``--fail-on``
    will not pass or fail on them (``inconclusive``) unless ``--allow-unlike``."""
    base, reasons = runs[0], []
    facets = dict(FACETS)
    for other in runs[1:]:
        for what in UNLIKE_FACETS:
            ours, theirs = facets[what](base.info), facets[what](other.info)
            if ours != theirs:
                reasons.append(f"{what}: {ours} in {base.label}, {theirs} in {other.label}")
        for section in ("libraries", "framework_builds"):
            mine, yours = (getattr(run.info.machine, section) for run in (base, other))
            for name in sorted(set(mine) & set(yours)):
                if mine[name] != yours[name]:
                    reasons.append(f"{name}: {mine[name]} in {base.label}, {yours[name]} in "
                                   f"{other.label}")
    return reasons


def missing_models(runs: list[Run]) -> list[str]:
    """Each model and device that did not end ok in every run, and why."""
    keys = sorted(set().union(*(_keys(run) for run in runs)))
    lines = []
    for model, device in keys:
        absent = [run for run in runs if (model, device) not in _keys(run)]
        if not absent:
            continue
        present = [run.label for run in runs if run not in absent]
        reasons = []
        for run in absent:
            jobs = run.frame[(tables.model_names(run.frame) == model)
                             & (run.frame["device"] == device)]
            statuses = ", ".join(sorted(set(jobs["status"].astype(str))))
            reasons.append(f"no ok job in {run.label} ({statuses})" if statuses
                           else f"not in {run.label}")
        lines.append(f"{model} ({device}): only in {', '.join(present)}; "
                     + "; ".join(reasons))
    return lines
