"""Saved runs side by side: ``mlbench compare RUN_A RUN_B [...]``.

Per model and device, per run: accuracy (mean, std and 95% interval over repeats), fit
time and prediction throughput (the run's own figures: ``tables.time_figures``); each later
run against the first as relative figures with 95% intervals (accuracy in points, times as
ratios allowing for the noise within and between runs), flagged where a difference is
beyond chance or the noise (the rules are in ``RULES``, and in every output); what differs
between the runs (dataset, settings, machine, versions, params), and first of all whatever
makes their times not like for like (``unlike``). ``--fail-on`` thresholds
(``parse_fail_on``, ``gate``) turn flagged regressions into a failing exit for CI, and what
they cannot judge (disturbed jobs, nothing in common, runs not like for like) into an
inconclusive one.

Reads saved run folders through ``mlbench.results`` only, never the runner; writes
``compare.md`` and ``compare.html`` from one ``document.Document``, and two charts, beside
the runs (``default_output``) unless told where.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from mlbench.errors import UsageError
from mlbench.reporting import stats, tables
from mlbench.reporting.document import (
    Bullets,
    Document,
    Figure,
    Table,
    Text,
    time_change,
    to_html,
    to_markdown,
)
from mlbench.reporting.run_setup import FACETS, runs_row
from mlbench.results.folder import ComparisonFolder, RunFolder, Warn, write_atomic
from mlbench.results.run_info import RunInfo
from mlbench.results.table import params_of

RULES = [
    "Accuracy, both runs with 2 or more repeats whose accuracies vary: Welch's t-test on the "
    f"repeats' accuracies (unequal variances), flagged when p < {stats.ALPHA}, and the "
    "difference's 95% interval on the same t. It allows for how little a few repeats say "
    "about the spread: with 3 repeats a side, |difference| > 2 standard errors would raise a "
    "false alarm about 1 time in 8, not 1 in 20.",
    "Accuracy, a run with a single repeat (or a model whose accuracy does not vary over "
    "either run's repeats), both runs on the identical test images (same dataset, test size "
    "and labels): McNemar's test on the two first repeats' saved predictions, flagged when "
    f"p < {stats.ALPHA}, and a paired bootstrap 95% interval of the difference (2,000 "
    "resamples of the test images). Otherwise the difference is not tested, and said so.",
    "Fit time and prediction time per image: {runs_rule}. A run's own figures (geometric "
    "mean and 95% interval) are the ones its report prints.",
    "Accuracy intervals: over seeds, Student's t on the repeats' accuracies (none for one "
    "repeat); over the test images, Wilson's interval for that many images, there even for "
    "one repeat.",
    "Every delta is against the first run given.",
]
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
class Run:
    """One saved run folder, read once."""

    label: str
    folder: RunFolder
    info: RunInfo
    frame: pd.DataFrame  # every job, any status

    @cached_property
    def ok(self) -> pd.DataFrame:
        """The ok jobs, worked out once (every key and judgement reads them), with
        ``name``: the model and how it differs from its defaults (``tables.model_names``),
        what a comparison keys its rows by."""
        ok = tables.ok_rows(self.frame)
        return ok.assign(name=tables.model_names(ok))

    def noise(self, short: str) -> stats.TimingNoise:
        """This run's timing noise in ``short``'s times, pooled over its repeated jobs."""
        ok = self.ok
        # Column f"{short}_seconds", as the run's report pools it (the per-image prediction
        # time only rescales it: the same noise on the log scale).
        return tables.timing_noise(ok, f"{short}_seconds", KEY)


@dataclass
class Comparison:
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

def load_run(path: Path | str, label: str | None = None, warn: Warn | None = None) -> Run:
    """A saved run folder, or a UsageError in one line saying why it is not one. A damaged
    job record is left out and named through ``warn``."""
    folder = RunFolder.existing(path)
    try:
        info = folder.info()
        frame = folder.table(folder.read_jobs(warn).records)
    except (OSError, ValueError) as error:
        raise UsageError(f"{path} cannot be read as a run folder: {error}") from error
    if frame.empty:
        raise UsageError(f"{path} has no finished job to compare; finish it first with "
                         f"mlbench run --resume {path}")
    return Run(label or folder.name, folder, info, frame)


def _labels(paths: list[Path]) -> list[str]:
    """Folder names, or the paths as given where two runs share a name."""
    names = [path.name for path in paths]
    if len(set(names)) == len(names):
        return names
    return [str(path) for path in paths]


def compare_runs(paths: list[Path | str] | tuple[str, ...], warn: Warn | None = None,
                 between: float = stats.BETWEEN_RUNS) -> Comparison:
    """Read two or more run folders and compare each later one with the first, allowing
    for ``between``, the noise between runs (``stats.BETWEEN_RUNS``); a damaged job record
    is left out and named through ``warn``."""
    given = [Path(path) for path in paths]
    if len(given) < 2:
        raise UsageError("compare needs at least two run folders, e.g. "
                         "mlbench compare results/<run-a> results/<run-b>")
    resolved = [path.resolve() for path in given]
    if len(set(resolved)) < len(resolved):
        raise UsageError("the same run folder is given twice; compare different runs")
    return compare_loaded([load_run(path, label, warn)
                           for path, label in zip(given, _labels(given), strict=True)], between)


def compare_loaded(runs: list[Run], between: float = stats.BETWEEN_RUNS) -> Comparison:
    """Each later run against the first, the runs already read (``load_run``)."""
    summary = pd.concat([summarise(run) for run in runs], ignore_index=True)
    deltas = pd.DataFrame([judge(runs[0], other, key, between) for other in runs[1:]
                           for key in shared_keys(runs[0], other)], columns=DELTA_COLUMNS)
    return Comparison(runs, summary, deltas, differences(runs), missing_models(runs),
                      unlike(runs), between)


# -- numbers -----------------------------------------------------------------------------

KEY = ["name", "device"]  # what one row of a comparison is: Run.ok's model with its variant


def summarise(run: Run) -> pd.DataFrame:
    """Per model and device: repeats, accuracy (mean, std, 95% interval, min, max), and fit
    time and prediction throughput as the run's report gives them (``tables.time_figures``:
    geometric mean over the undisturbed jobs and its 95% interval), how many jobs were
    disturbed, and the median time to target."""
    ok = run.ok
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
    ok = run.ok
    return sorted({(str(m), str(d)) for m, d in zip(ok["name"], ok["device"], strict=True)})


def shared_keys(base: Run, other: Run) -> list[Key]:
    return sorted(set(_keys(base)) & set(_keys(other)))


def _jobs(run: Run, key: Key) -> pd.DataFrame:
    ok = run.ok
    return ok[(ok["name"] == key[0]) & (ok["device"] == key[1])].sort_values(
        ["repeat", "job_id"])


def same_test_set(base: Run, other: Run) -> bool:
    """Both runs scored the same test images: same dataset, same test subset, same labels."""
    def described(run: Run) -> tuple[Any, Any]:
        return run.info.dataset.name, run.info.settings.test_size

    if described(base) != described(other):
        return False
    ours, theirs = base.folder.test_labels(), other.folder.test_labels()
    return ours is not None and theirs is not None and np.array_equal(ours, theirs)


def _correct(run: Run, key: Key) -> np.ndarray | None:
    """Per test image, whether the model's lowest-repeat job got it right."""
    labels = run.folder.test_labels()
    predicted = run.folder.predicted_labels(str(_jobs(run, key)["job_id"].iloc[0]))
    if labels is None or predicted is None or predicted.shape != labels.shape:
        return None
    return predicted == labels


def judge_accuracy(base: Run, other: Run, key: Key) -> dict[str, Any]:
    """One model's accuracy in two runs: the test used, its p, the 95% interval of the
    difference (other - base, a fraction) and whether it is flagged; see RULES."""
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
    ("disturbed"). See RULES."""
    sides = [_jobs(run, key) for run in (base, other)]
    calm = [jobs[~tables.disturbed_jobs(jobs, f"{short}_seconds")] for jobs in sides]
    noise = stats.pool(base.noise(short), other.noise(short))._replace(between=between)
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


# -- presenting --------------------------------------------------------------------------

def _pm(mean: float, std: float) -> str:
    if math.isnan(mean):
        return ""
    return f"{mean:.4f}" if math.isnan(std) else f"{mean:.4f} ± {std:.4f}"


def _interval(low: float, high: float) -> str:
    return "" if math.isnan(low) else f"{low:.4f}-{high:.4f}"


def _range(low: float, high: float, form: str | None = None) -> str:
    """" (low-high)", the 95% interval after a geometric mean, where the run knows its noise:
    the bars compare's chart draws."""
    if math.isnan(low):
        return ""
    text = _seconds if form is None else form.format
    return f" ({text(low)}-{text(high)})"


def _seconds(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.3g}" if value < 100 else f"{value:,.0f}"


def _flagged(value: Any) -> bool:
    """True only for a true flag: a run without deltas (the first) has NaN, which is truthy."""
    return isinstance(value, bool | np.bool_) and bool(value)


def _name(model: str, device: str, several_devices: bool) -> str:
    return f"{model} ({device})" if several_devices else model


def display_table(comparison: Comparison) -> pd.DataFrame:
    """Each run's own figures as text cells, one row per model, device and run; the changes
    against the first run are ``change_table``'s."""
    order = {label: index for index, label in enumerate(comparison.labels)}
    summary = comparison.summary.assign(_order=comparison.summary["run"].map(order))
    rows = []
    for row in summary.sort_values(["model", "device", "_order"]).to_dict("records"):
        rows.append({
            "model": row["model"], "device": row["device"], "run": row["run"],
            "repeats": str(row["repeats"]),
            "accuracy": _pm(row["accuracy"], row["accuracy_std"]),
            "95% CI (seeds)": _interval(row["accuracy_low"], row["accuracy_high"]),
            "95% CI (test images)": _interval(row["images_low"], row["images_high"]),
            "fit s": _seconds(row["fit_seconds"]) + _range(row["fit_low"], row["fit_high"]),
            "predict images/s": "" if math.isnan(row["predict_throughput"])
            else f"{row['predict_throughput']:,.0f}" + _range(
                row["predict_low"], row["predict_high"], "{:,.0f}"),
            "disturbed": str(row["disturbed"]) if row["disturbed"] else "",
            "to target s": _seconds(row["time_to_target_seconds"]),
        })
    cells = pd.DataFrame(rows)
    for column in ("to target s", "disturbed"):  # no model kept a history; none disturbed
        if rows and not any(row[column] for row in rows):
            cells = cells.drop(columns=column)
    return cells


def _points(value: float) -> str:
    return f"{value * 100 + 0.0:+.2f}"  # + 0.0: never "-0.00"


def accuracy_change(row: dict[Any, Any]) -> str:
    """"-12.50 pts (-14.10 to -10.90)": the later run's accuracy minus the first's."""
    text = f"{_points(row['accuracy_delta'])} pts"
    if math.isnan(row["accuracy_low"]):
        return text
    return f"{text} ({_points(row['accuracy_low'])} to {_points(row['accuracy_high'])})"


def _accuracy_judged(row: dict[Any, Any]) -> str:
    if math.isnan(row["accuracy_p"]):
        return str(row["accuracy_test"])
    return f"{row['accuracy_test']} {stats.p_text(row['accuracy_p'])}"


def _verdict(flagged: Any, better: bool) -> str:
    """"better" or "worse" for a difference beyond chance or the noise, else ""."""
    return ("better" if better else "worse") if _flagged(flagged) else ""


def change_table(comparison: Comparison, label: str) -> tuple[pd.DataFrame, list[str]]:
    """Run ``label`` against the first: per model, a row per measure (each run's figure,
    the change with its 95% interval, how it was judged), and per row "better", "worse"
    or "" (within chance or the noise) for whoever colours it."""
    base = comparison.labels[0]
    figures = {(row["run"], row["model"], row["device"]): row
               for row in comparison.summary.to_dict("records")}
    deltas = comparison.deltas[comparison.deltas["run"] == label]
    several_devices = comparison.summary["device"].nunique() > 1
    rows, verdicts = [], []
    for row in deltas.sort_values(["model", "device"]).to_dict("records"):
        ours, theirs = (figures[(run, row["model"], row["device"])] for run in (base, label))
        name = _name(row["model"], row["device"], several_devices)
        rows.append({"model": name, "measure": "accuracy",
                     base: f"{ours['accuracy']:.4f}", label: f"{theirs['accuracy']:.4f}",
                     "change (95% CI)": accuracy_change(row),
                     "judged": _accuracy_judged(row)})
        verdicts.append(_verdict(row["accuracy_flag"], row["accuracy_delta"] > 0))
        for short, measure, column, text in (
                ("fit", "fit s", "fit_seconds", _seconds),
                ("predict", "predict img/s", "predict_throughput", lambda v: f"{v:,.0f}")):
            ratio = row[f"{short}_ratio"]
            rows.append({"model": "", "measure": measure,
                         **{run: "" if math.isnan(value) else text(value) for run, value in
                            ((base, ours[column]), (label, theirs[column]))},
                         "change (95% CI)": time_change(ratio, row[f"{short}_low"],
                                                        row[f"{short}_high"]),
                         "judged": row[f"{short}_judged"]})
            verdicts.append(_verdict(row[f"{short}_flag"], ratio < 1))
    columns = ["model", "measure", base, label, "change (95% CI)", "judged"]
    return pd.DataFrame(rows, columns=columns), verdicts


def flag_sentences(comparison: Comparison) -> list[str]:
    """Every flagged difference in words."""
    base = comparison.labels[0]
    sentences = []
    for row in comparison.deltas.to_dict("records"):
        name = f"{row['model']} ({row['device']})"
        if _flagged(row["accuracy_flag"]):
            direction = "higher" if row["accuracy_delta"] > 0 else "lower"
            interval = ("" if math.isnan(row["accuracy_low"]) else
                        f"95% CI {_points(row['accuracy_low'])} to "
                        f"{_points(row['accuracy_high'])}, ")
            sentences.append(
                f"{name}: accuracy {abs(row['accuracy_delta']) * 100:.2f} points {direction} "
                f"in {row['run']} than in {base} ({interval}{row['accuracy_test']}, "
                f"{stats.p_text(row['accuracy_p'])}).")
        for short, what in (("fit", "fit"), ("predict", "prediction")):
            if _flagged(row[f"{short}_flag"]):
                change = time_change(row[f"{short}_ratio"], row[f"{short}_low"],
                                     row[f"{short}_high"])
                sentences.append(f"{name}: {what} {change} in {row['run']} than in {base}.")
    return sentences


# -- --fail-on ---------------------------------------------------------------------------

FAIL_ON_FORMS = ("accuracy:POINTS (e.g. accuracy:0.5), fit:PERCENT% or predict:PERCENT% "
                 "(e.g. fit:10%)")


@dataclass(frozen=True)
class Threshold:
    """One ``--fail-on``: ``accuracy`` (a drop, in points) or ``fit`` / ``predict`` (a
    slow-down, in percent), breached only by a difference also beyond chance or the noise."""

    measure: str
    limit: float

    def __str__(self) -> str:
        return (f"accuracy:{self.limit:g}" if self.measure == "accuracy"
                else f"{self.measure}:{self.limit:g}%")


def parse_fail_on(texts: tuple[str, ...] | list[str]) -> list[Threshold]:
    """``--fail-on`` values (repeatable, or comma-separated) as thresholds; a UsageError
    saying the accepted forms for any other."""
    thresholds = []
    for text in (part.strip() for given in texts for part in given.split(",")):
        match = re.fullmatch(r"(accuracy):(\d+(?:\.\d*)?)|(fit|predict):(\d+(?:\.\d*)?)%",
                             text)
        if not match:
            raise UsageError(f"--fail-on {text!r} is not a threshold; use {FAIL_ON_FORMS}")
        measure = match.group(1) or match.group(3)
        thresholds.append(Threshold(measure, float(match.group(2) or match.group(4))))
    return thresholds


class Gate(NamedTuple):
    """What ``--fail-on`` found: ``broken``, a line per breach (exit 5); ``undecided``, a line
    per threshold that could not be judged either way (exit 6 where nothing broke)."""

    broken: list[str]
    undecided: list[str]


def gate(comparison: Comparison, thresholds: list[Threshold],
         allow_unlike: bool = False) -> Gate:
    """Each threshold against each later run: broken by a model's accuracy lower than the
    first run's beyond chance and by more than the points given, or a time longer beyond
    the noise between runs (``stats.runs_rule``) and by more than the percent given.
    Undecided: a later run with no model in common with the first; a time whose jobs were
    all disturbed on a side; any time, where the runs are not like for like (``unlike``)
    and ``allow_unlike`` is not given."""
    base, broken, undecided = comparison.labels[0], [], []
    times_gated = any(threshold.measure != "accuracy" for threshold in thresholds)
    if comparison.unlike and times_gated and not allow_unlike:
        undecided.append("times not gated: the runs are not like for like ("
                         + "; ".join(comparison.unlike) + "); --allow-unlike gates them anyway")
    for label in comparison.labels[1:]:
        if thresholds and (comparison.deltas["run"] == label).sum() == 0:
            undecided.append(f"nothing in common to compare: no model and device ended ok in "
                             f"both {base} and {label}")
    for row in comparison.deltas.to_dict("records"):
        name = f"{row['model']} ({row['device']}) in {row['run']} against {base}"
        for threshold in thresholds:
            if threshold.measure == "accuracy":
                drop = -row["accuracy_delta"] * 100
                if _flagged(row["accuracy_flag"]) and drop > threshold.limit:
                    broken.append(f"{name}: accuracy {accuracy_change(row)}, "
                                  f"{_accuracy_judged(row)} (--fail-on {threshold})")
                continue
            short = threshold.measure
            if comparison.unlike and not allow_unlike:
                continue
            if str(row[f"{short}_judged"]).startswith("not judged"):
                undecided.append(f"{name}: {short} {row[f'{short}_judged']}")
            ratio = row[f"{short}_ratio"]
            if _flagged(row[f"{short}_flag"]) and ratio > 1 + threshold.limit / 100:
                change = time_change(ratio, row[f"{short}_low"], row[f"{short}_high"])
                broken.append(f"{name}: {short} {change}, beyond the noise within and "
                              f"between runs (--fail-on {threshold})")
    return Gate(broken, list(dict.fromkeys(undecided)))


def runs_table(runs: list[Run]) -> pd.DataFrame:
    return pd.DataFrame([{"run": run.label, "folder": str(run.folder.path), **runs_row(run.info)}
                         for run in runs])


def summary_lines(comparison: Comparison) -> list[str]:
    """The comparison's headline: per later run, how many models were compared with the
    first and which differences are beyond chance or the timing noise (``RULES``)."""
    base, lines = comparison.labels[0], []
    for label in comparison.labels[1:]:
        rows = comparison.deltas[comparison.deltas["run"] == label]
        flagged = sum(_flagged(value) for column in ("accuracy_flag", "fit_flag", "predict_flag")
                      for value in rows[column])
        if rows.empty:
            lines.append(f"{label} against {base}: nothing in common to compare (no model "
                         "and device ended ok in both).")
            continue
        verdict = (f"{flagged} difference(s) beyond chance or the timing noise (below)"
                   if flagged else "no difference beyond chance or the timing noise")
        lines.append(f"{label} against {base}: {len(rows)} model(s) compared; {verdict}.")
    return lines


def unlike_line(comparison: Comparison) -> str | None:
    """The first line of a comparison whose runs are not like for like."""
    if not comparison.unlike:
        return None
    return ("Not like for like: " + "; ".join(comparison.unlike) + ". Times compared across "
            "machines or library versions measure those as much as the models.")


def comparison_document(comparison: Comparison, figures: list[Figure],
                        fail_on: tuple[list[Threshold], Gate] | None = None) -> Document:
    """The comparison as a document; ``fail_on``: the thresholds given and what they found."""
    base = comparison.labels[0]
    document = Document(f"mlbench comparison: {' vs '.join(comparison.labels)}")
    flags = flag_sentences(comparison)
    warning = unlike_line(comparison)
    document.section("Summary", *([Text(warning, "warning")] if warning else []),
                     Bullets(summary_lines(comparison), "highlight"),
                     *([Bullets(flags)] if flags else []))
    if fail_on:
        thresholds, found = fail_on
        given = ", ".join(f"--fail-on {threshold}" for threshold in thresholds)
        blocks: list[Text | Bullets] = (
            [Text(f"{given}: {len(found.broken)} breach(es).", "warning"),
             Bullets(found.broken)] if found.broken else
            [Text(f"{given}: inconclusive.", "warning")] if found.undecided else
            [Text(f"{given}: no breach.", "good")])
        if found.undecided:
            blocks.append(Bullets([f"Inconclusive: {line}" for line in found.undecided]))
        document.section("Fail-on", *blocks)
    document.section("Runs", Table(runs_table(comparison.runs)))
    document.section("Differences", Bullets(comparison.differences))
    for label in comparison.labels[1:]:
        document.section(
            f"{label} against {base}",
            Text("Per model: each run's test accuracy (mean over repeats), fit time and "
                 "prediction throughput (geometric means over the undisturbed repeats); the "
                 "change in accuracy in points, in times as "
                 "a ratio (prediction: time per test image), each with its 95% interval, "
                 "and how it was judged (rules below)."),
            Table(change_table(comparison, label)[0]))
    document.section(
        "Each run",
        Text("Per model and device, each run's test accuracy (mean ± standard deviation over "
             "repeats; its 95% interval over the seeds, Student's t, and over the test "
             "images, Wilson), fit time and prediction throughput (geometric mean over the "
             "undisturbed repeats, with the 95% interval the run's own report gives it), how "
             "many jobs were disturbed (the machine did not give them their cores; left out "
             "of every time), and median time to target (where a model keeps a history)."),
        Table(display_table(comparison)))
    if comparison.missing:
        document.section("Models not in every run", Bullets(comparison.missing))
    document.section("How differences are judged", Bullets(
        [rule.format(runs_rule=stats.runs_rule(comparison.between)) for rule in RULES]))
    if figures:
        document.section("Charts", *figures)
    return document


# -- charts ------------------------------------------------------------------------------

HATCHES = ["", "//", "..", "xx", "\\\\", "++", "oo", "--"]


def grouped_bars(summary: pd.DataFrame, runs: list[str], value: str, low: str, high: str,
                 path: Path, label: str, log: bool = False) -> pd.DataFrame | None:
    """Bars per model (its one colour), one per run (its hatch), error bars from ``low`` to
    ``high``; saves a PNG and returns the data plotted."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display: as the run's charts
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from mlbench.reporting.charts import model_palette, save_figure

    data = summary.dropna(subset=[value]).copy()
    if data.empty:
        return None
    several_devices = data["device"].nunique() > 1
    data["label"] = data["model"] + (" (" + data["device"] + ")" if several_devices else "")
    labels = sorted(data["label"].unique())
    colours = model_palette(data["model"])
    width = 0.8 / len(runs)
    figure, axes = plt.subplots(figsize=(max(5.0, 0.35 * len(labels) * len(runs) + 2), 4))
    for index, run in enumerate(runs):
        part = data[data["run"] == run].set_index("label").reindex(labels).dropna(subset=[value])
        x = np.array([labels.index(name) for name in part.index]) + (
            index - (len(runs) - 1) / 2) * width
        # Clipped at 0: a mean can sit a rounding error outside its own interval.
        errors = np.clip(np.vstack([part[value] - part[low], part[high] - part[value]]), 0,
                         None)
        axes.bar(x, part[value], width, yerr=errors, capsize=2, hatch=HATCHES[index % 8],
                 color=[colours[m] for m in part["model"]], edgecolor="black", linewidth=0.5)
    axes.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 4 else 0,
                    ha="right" if len(labels) > 4 else "center")
    axes.set_ylabel(label)
    if log:
        axes.set_yscale("log")
    else:
        axes.set_ylim(max(0.0, float(data[low].min()) - 0.05), 1.0)
    axes.legend(handles=[Patch(facecolor="white", edgecolor="black", hatch=HATCHES[i % 8],
                               label=run) for i, run in enumerate(runs)], fontsize=8,
                loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(len(runs), 4),
                frameon=False)
    save_figure(figure, path, dpi=100)
    return data


def make_charts(comparison: Comparison, folder: ComparisonFolder) -> list[Figure]:
    made = []
    for name, value, low, high, label, log, caption in [
        ("accuracy.png", "accuracy", "images_low", "images_high",
         "test accuracy (mean, 95% CI over test images)", False,
         "Test accuracy per model and run: one colour per model, one hatch per run, error "
         "bars the 95% interval over the test images that the table prints."),
        ("fit_time.png", "fit_seconds", "fit_low", "fit_high",
         "fit time (s, geometric mean, 95% CI; log scale)", True,
         "Fit time per model and run (geometric mean over repeats, bars its 95% interval as "
         "the table prints them, log scale)."),
    ]:
        path = folder.chart(name)
        if grouped_bars(comparison.summary, comparison.labels, value, low, high, path, label,
                        log) is not None:
            made.append(Figure(folder.relative(path), caption))
    return made


def default_output(comparison: Comparison) -> Path:
    """Beside the runs: in the last run's folder, ``compare-<the other runs>``; never the
    current folder's ./results."""
    name = "compare-" + "-".join(comparison.labels[:-1])
    return comparison.runs[-1].folder.path / re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def write_report(comparison: Comparison, output: Path | str | None = None,
                 fail_on: tuple[list[Threshold], Gate] | None = None) -> ComparisonFolder:
    """Write charts, compare.md and compare.html into ``output`` (by default
    ``default_output``); returns the folder."""
    folder = ComparisonFolder(Path(output) if output else default_output(comparison))
    try:
        folder.path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot write the comparison to {folder.path}: "
                         f"{error.strerror or error}; choose another --output-dir") from error
    figures = make_charts(comparison, folder)
    document = comparison_document(comparison, figures, fail_on)
    write_atomic(folder.markdown, lambda p: p.write_text(to_markdown(document)))
    write_atomic(folder.html, lambda p: p.write_text(to_html(document, folder.path)))
    return folder


# Rich styles of a difference beyond chance or the noise; anything else stays plain.
STYLES = {"better": "bold green", "worse": "bold red", "": ""}
WIDTH = 100  # the columns compare's terminal output is laid out for (a CI log, a terminal)


def print_comparison(comparison: Comparison) -> None:
    """The comparison on stdout, within ``WIDTH`` columns (or a narrower terminal): per
    later run a table of changes against the first run, improvements green and regressions
    red where beyond chance or the noise; then the summary, flags and differences."""
    import shutil
    import sys
    import textwrap

    from rich import box
    from rich.console import Console
    from rich.table import Table as RichTable
    from rich.text import Text as RichText

    width = min(WIDTH, shutil.get_terminal_size((WIDTH, 24)).columns) if sys.stdout.isatty() \
        else WIDTH
    console = Console(highlight=False, width=width)

    def say(text: str, indent: str = "") -> None:
        # Wrapped here, with a hanging indent; soft_wrap: rich adds no breaks of its own.
        for line in textwrap.wrap(text, width, initial_indent=indent,
                                  subsequent_indent=" " * len(indent),
                                  break_on_hyphens=False) or [""]:
            console.print(RichText(line), soft_wrap=True)

    # Runs as "run 1", "run 2" in the tables' headers (a folder name is as wide as two
    # columns); not letters, which read as run names when runs are called A, B, C.
    letters = {label: f"run {index + 1}" for index, label in enumerate(comparison.labels)}
    warning = unlike_line(comparison)
    if warning:
        console.print(RichText("Not like for like:", style="bold red"))
        say(warning.removeprefix("Not like for like: "), "  ")
    for label in comparison.labels:  # how many runs stand behind each figure
        repeats = comparison.summary.loc[comparison.summary["run"] == label, "repeats"]
        count = ("no ok job" if repeats.empty else
                 f"{repeats.min()} repeat(s) per model" if repeats.min() == repeats.max()
                 else f"{repeats.min()}-{repeats.max()} repeats per model")
        role = " (base)" if label == comparison.labels[0] else ""
        say(f"{letters[label]} = {label}{role}: {count}")
    for label in comparison.labels[1:]:
        cells, verdicts = change_table(comparison, label)
        table = RichTable(title=f"{letters[label]} against {letters[comparison.labels[0]]}",
                          title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                          pad_edge=False)
        # The model's name on a row of its own, its measures indented below: no column is
        # spent on names. Names and changes stay whole while the judgement wraps; fold,
        # never cut, where even that is not enough.
        table.add_column("model, measure", overflow="fold", no_wrap=True)
        for column in cells.columns[2:]:
            table.add_column(letters.get(column, column), overflow="fold",
                             justify="left" if column == "judged" else "right",
                             no_wrap=column == "change (95% CI)")
        for row, verdict in zip(cells.to_dict("records"), verdicts, strict=True):
            if row["model"]:
                table.add_row(RichText(row["model"], style="bold"))
            style = STYLES[verdict]
            # Text(), not markup: model names come from plugins and may hold brackets.
            table.add_row(RichText(f"  {row['measure']}"),
                          *(RichText(str(row[column]), style=style if column in
                                     ("change (95% CI)", "judged") else "")
                            for column in cells.columns[2:]),
                          end_section=row["measure"] == "predict img/s")
        console.print(table)
    for title, lines in (("Summary", summary_lines(comparison)),
                         ("Beyond chance or the timing noise", flag_sentences(comparison)),
                         ("Differences", comparison.differences),
                         ("Not in every run", comparison.missing)):
        if lines:
            console.print(RichText(f"{title}:", style="bold"))
            for line in lines:
                say(line, "  - ")
    say("Each run's own figures and intervals, the rules and the charts are in compare.html "
        "and compare.md.")
