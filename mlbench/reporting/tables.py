"""Every table a report, its charts, its statistics and a comparison are made from.

Each function takes the results table (one row per job), or, where it needs predictions or
history, the saved run (``results.Run``, which reads each file once), and returns a
DataFrame, or None where the run has no data for it (no ok job, no grid, no saved
predictions). Nothing here draws: ``charts`` draws these tables, ``report``, ``stats`` and
``compare`` put them into words.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from mlbench.reporting import stats
from mlbench.results.run import Run
from mlbench.results.table import params_of

GALLERY_SEED = 0  # which test digits the sample gallery shows: the same ones every report


# -- rows and labels --------------------------------------------------------------------

def ok_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The jobs that ended ok: the only ones any average, chart or test is made from."""
    return frame[frame["status"] == "ok"].copy()


def not_ok_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The jobs that failed, timed out, crashed or were skipped: the report's Failures."""
    return frame[frame["status"] != "ok"]


def warning_lines(frame: pd.DataFrame) -> list[str]:
    """One line per model (with its variant) and warning its jobs raised, the first line of
    the warning's text, and in how many of the model's jobs: what the terminal and the
    report's Failures section print, so that a ConvergenceWarning is not left in a column."""
    if "warnings" not in frame or frame["warnings"].isna().all():
        return []
    jobs = frame.assign(name=model_names(frame))
    lines = []
    for name, rows in jobs.groupby("name", sort=False):
        raised: dict[str, int] = {}
        for cell in rows["warnings"].dropna():
            # The column joins a job's warnings with "; ", each "Category: message".
            for warning in dict.fromkeys(str(cell).split("; ")):
                first = " ".join(warning.strip().splitlines()[0].split()) if warning else ""
                if first:
                    raised[first] = raised.get(first, 0) + 1
        for text, count in raised.items():
            short = text if len(text) <= 150 else text[:147] + "..."
            lines.append(f"{name} raised {short} (in {count} of {len(rows)} "
                         f"job{'s' if len(rows) > 1 else ''})")
    return lines


# Which flag says a time was disturbed: fit's and predict's each have their own window;
# anything else (the cost, fit + predict) any of them.
DISTURBED_FLAGS = {"fit_seconds": "fit_disturbed", "predict_seconds": "predict_disturbed",
                   "predict_throughput": "predict_disturbed"}


def disturbed_jobs(frame: pd.DataFrame, time: str | None = None) -> pd.Series:
    """True for each job flagged ``disturbed`` (other processes took the cores it was given
    while it was timed: docs/running.md), or, for ``time`` (a column of times), flagged over
    that time's own window; a job whose flag is not known (a run saved before mlbench
    measured it, no /proc/stat) counts as not flagged."""
    flag = DISTURBED_FLAGS.get(time or "", "disturbed")
    flag = flag if flag in frame else "disturbed"
    if flag not in frame:
        return pd.Series(False, index=frame.index, dtype=bool)
    return frame[flag].astype("boolean").fillna(False).astype(bool)


DISTURBED_MARK = "!"  # beside a disturbed job's status, in the terminal and the report


def disturbed_note(frame: pd.DataFrame) -> str | None:
    """One sentence on the disturbed jobs of ``frame``, for the terminal and the report:
    how many, how busy the machine was, what it means; None when none was flagged."""
    flagged = frame[disturbed_jobs(frame)]
    if flagged.empty:
        return None
    timed = int(frame["disturbed"].notna().sum())
    others = [f"{cores:.1f}" for cores in (flagged["others_cores"].min(),
                                           flagged["others_cores"].max()) if pd.notna(cores)]
    spread = f" ({' to '.join(dict.fromkeys(others))} cores on average)" if others else ""
    jobs = "1 job was" if len(flagged) == 1 else f"{len(flagged)} jobs were"
    return (f"{jobs} disturbed (of {timed} timed; marked {DISTURBED_MARK}): other processes "
            f"used the cores they were given while they ran{spread}, so their times are "
            "likely longer than on a quiet machine and not like-for-like with undisturbed ones; "
            "their accuracies stand. Rerun them on a quiet machine, or give --threads N "
            "leaving cores free (docs/running.md, Disturbed timings).")


def timing_rows(ok: pd.DataFrame, by: str | list[str] = "label",
                time: str | None = None) -> pd.DataFrame:
    """The jobs whose ``time`` a figure is made from, per group of ``by``: the undisturbed
    ones, or all of a group's where every one was disturbed (so it still has a figure, which
    its marks then call disturbed). The one rule for every table, chart, headline and
    comparison, so they quote the same time."""
    calm = ~disturbed_jobs(ok, time)
    some_calm = calm.groupby([ok[key] for key in np.atleast_1d(by)], dropna=False).transform(
        "any").astype(bool)
    return ok[calm | ~some_calm]


def measured_seconds(jobs: pd.DataFrame, column: str) -> pd.Series:
    """Per job, the seconds its ``column`` time was measured over: the time, or for a short
    predict timed over many calls (``predict_calls``) their total, which is what decides
    whether timer noise dominates it (``stats.MIN_SECONDS``)."""
    seconds = jobs["predict_seconds"] if column == "predict_throughput" else jobs[column]
    if column in ("predict_seconds", "predict_throughput") and "predict_calls" in jobs:
        return seconds * jobs["predict_calls"].astype("float64").fillna(1.0).clip(lower=1.0)
    return seconds.astype("float64")


def timing_noise(jobs: pd.DataFrame, column: str, by: str | list[str] = "label"
                 ) -> stats.TimingNoise:
    """The run's timing noise in ``column``, pooled over its groups of repeats (``by``), from
    undisturbed jobs only: a disturbed time says nothing about the noise of a quiet one."""
    calm = jobs[~disturbed_jobs(jobs, column)]
    groups = calm.assign(_measured=measured_seconds(calm, column)).groupby(by, dropna=False)
    return stats.TimingNoise.pooled(
        (rows[column].to_numpy(dtype=float) for _, rows in groups),
        [stats.geometric_mean(rows["_measured"].to_numpy(dtype=float)) for _, rows in groups])


def time_figures(ok: pd.DataFrame, column: str, by: str | list[str] = "label"
                 ) -> dict[Any, stats.TimeInterval]:
    """Per group of ``by`` (its key as pandas gives it), the figure every table, chart,
    headline and comparison quotes for time ``column``: the geometric mean of its
    ``timing_rows`` and the 95% interval from the run's pooled ``timing_noise``."""
    noise = timing_noise(ok, column, by)
    return {key: stats.time_interval(rows[column].to_numpy(dtype=float), noise)
            for key, rows in timing_rows(ok, by, column).groupby(by, dropna=False)}


GRID_COLUMNS = {"sweep": "sweep", "train_size": "train size"}  # a grid's columns: headings


def grid_columns(frame: pd.DataFrame) -> list[str]:
    """The grid columns whose values differ between the table's jobs (none in a plain run)."""
    return [name for name in GRID_COLUMNS
            if name in frame and frame[name].nunique(dropna=False) > 1]


def grid_sort_key(column: pd.Series) -> pd.Series:
    """For ``sort_values(key=...)``: swept values in numeric order (C=5 before C=10)."""
    if column.name != "sweep":
        return column
    # Plain objects: an Arrow-backed column would map the tuples to Arrow lists, unsortable.
    return pd.Series([_sweep_order(text) for text in column], index=column.index, dtype=object)


def _sweep_order(text: Any) -> tuple[tuple[str, float, str], ...]:
    if not isinstance(text, str):
        return ()
    order = []
    for part in text.split(", "):
        name, _, value = part.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = float("inf")  # words after numbers, among themselves alphabetically
        order.append((name, number, value))
    return tuple(order)


def _with_settings(names: pd.Series, frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """``names`` followed by the job's text in ``columns`` (variant, sweep), ', '-joined,
    where it has any: ``svm C=10``."""
    present = [frame[column] for column in columns if column in frame]
    settings = [", ".join(text for text in texts if isinstance(text, str) and text)
                for texts in zip(*present, strict=True)] if present else [""] * len(frame)
    return pd.Series([f"{name} {text}" if text else name
                      for name, text in zip(names.astype(str), settings, strict=True)],
                     index=frame.index, dtype=object)


def model_names(frame: pd.DataFrame) -> pd.Series:
    """Each job's model followed by how the job differs from the model's defaults (its
    ``variant``): ``torch-cnn learning_rate=0.01``; the model alone for a job with the
    defaults, or from a run saved before the column."""
    return _with_settings(frame["model"], frame, ["variant"])


def setting_names(frame: pd.DataFrame) -> pd.Series:
    """``model_names`` with the job's swept values too (``svm C=10``): one setting of a
    model, whatever run it came from (a leaderboard's rows)."""
    return _with_settings(frame["model"], frame, ["variant", "sweep"])


def model_labels(frame: pd.DataFrame, leave_out: Iterable[str] = ()) -> pd.Series:
    """The series name: the model, with its device when the run used more than one, how its
    jobs differ from the model's defaults (``variant``), and in a grid its swept values and
    training-set size (except the grid columns in ``leave_out``, which a chart shows on an
    axis)."""
    labels = frame["model"].astype(str)
    if frame["device"].nunique() > 1:
        labels = labels + " (" + frame["device"].astype(str) + ")"
    grid = [column for column in grid_columns(frame) if column not in leave_out]
    labels = _with_settings(labels, frame, ["variant", *(["sweep"] if "sweep" in grid else [])])
    if "train_size" in grid:
        labels = labels + frame["train_size"].map(lambda size: f" n={size}").astype(str)
    return labels


def chosen_jobs(frame: pd.DataFrame) -> pd.DataFrame:
    """One ok job per model, the one that stands for it wherever a single job must (per-class
    accuracy, confusion, galleries, learning curves, paired tests, the Summary): the lowest
    repeat, on the CPU where the model ran there, on the largest training set (in a grid),
    at the setting chosen on validation (in a sweep that held images out; never on test)."""
    ok = ok_rows(frame)
    selection = sweep_selection(frame)
    if selection is not None and selection["chosen"].any():
        chosen = selection[selection["chosen"]]
        keep = set(zip(chosen["model"], chosen["sweep"], chosen["train_size"], strict=True))
        swept = set(chosen["model"])
        ok = ok[[model not in swept or (model, sweep, size) in keep for model, sweep, size
                 in zip(ok["model"], ok["sweep"], ok["train_size"], strict=True)]].copy()
    ok["_gpu"] = ok["device"] != "cpu"
    ok["_smaller"] = -ok["train_size"].fillna(0)
    ok = ok.sort_values(["model", "_gpu", "_smaller", "repeat", "job_id"])
    return ok.drop_duplicates("model").drop(columns=["_gpu", "_smaller"]).reset_index(drop=True)


# -- accuracy and speed per model ---------------------------------------------------------

def accuracy_per_model(frame: pd.DataFrame) -> pd.DataFrame | None:
    """Per model (per device and grid point, where the run has several: never averaged across
    them): test accuracy mean, std, min, max and repeats over its ok jobs, best first; the
    95% interval over the test images (``test_low``, ``test_high``: Wilson, on the mean) and
    over the seeds (``seeds_low``, ``seeds_high``: Student's t, NaN for one repeat);
    ``series`` is the label without the training-set size, the name within one size."""
    ok = ok_rows(frame)
    if ok.empty:
        return None
    ok["label"] = model_labels(ok)
    ok["series"] = model_labels(ok, leave_out=["train_size"])
    ok["train_size"] = ok["train_size"].fillna(0)  # a table saved without sizes: one group
    data = (ok.groupby(["label", "series", "model", "train_size"])
            .agg(mean=("accuracy", "mean"), std=("accuracy", "std"), min=("accuracy", "min"),
                 max=("accuracy", "max"), repeats=("accuracy", "count"),
                 test_size=("test_size", "max"))
            .reset_index()
            .sort_values(["mean", "label"], ascending=[False, True], ignore_index=True))
    data[["test_low", "test_high"]] = [
        stats.accuracy_interval(mean, size) for mean, size in zip(data["mean"],
                                                                  data["test_size"],
                                                                  strict=True)]
    seeds = {label: stats.mean_interval(values.to_numpy(dtype=float))
             for label, values in ok.groupby("label")["accuracy"]}
    data["seeds_low"] = np.clip([seeds[label].low for label in data["label"]], 0, 1)
    data["seeds_high"] = np.clip([seeds[label].high for label in data["label"]], 0, 1)
    return data


def target_reach(ok: pd.DataFrame, by: str) -> pd.DataFrame:
    """Per group of ``by``, of its ok jobs that measured test accuracy during training:
    ``runs``, how many ``reached`` target_accuracy at some point (time_to_target_seconds),
    how many ``ended`` at or above it (final_test_accuracy), and the time to it
    (``seconds``); groups without such jobs are left out."""
    scored = ok[ok["target_accuracy"].notna()]
    ended = scored["final_test_accuracy"] >= scored["target_accuracy"]
    counts = pd.DataFrame({
        "runs": scored.groupby(by).size(),
        "reached": scored["time_to_target_seconds"].notna().groupby(scored[by]).sum(),
        "ended": ended.groupby(scored[by]).sum()}).astype(int)
    # The time itself: a geometric mean over the runs that reached it, as every time is.
    counts["seconds"] = scored.groupby(by)["time_to_target_seconds"].agg(stats.geometric_mean)
    return counts


def target_text(seconds: float, reach: pd.Series) -> str:
    """"3.91 (5/5 reached; 4/5 ended above)": the time to target (a geometric mean over the
    runs that reached it) and how many runs reached it and ended at or above it."""
    time = "never" if pd.isna(seconds) else f"{seconds:.3g}"
    runs, reached, ended = (int(reach[name]) for name in ("runs", "reached", "ended"))
    return f"{time} ({reached}/{runs} reached; {ended}/{runs} ended above)"


def size_mib(frame: pd.DataFrame) -> pd.Series:
    """The fitted model's size in MiB, as every table shows it."""
    return frame["model_size_bytes"].astype("float64") / 2**20


def results_per_model(ok: pd.DataFrame) -> pd.DataFrame:
    """The report's per-model table of the ok jobs ``ok`` (labelled by ``model_labels`` in
    column ``label``): runs, test accuracy, F1, balanced accuracy, log-loss (where a model
    gave probabilities), prediction throughput and time to target (geometric means, as every
    time: ``timing_rows``), memory and model size, most accurate first. Its intervals come
    from ``significance.repeat_summary``."""
    table = (ok.assign(model_size_mib=size_mib(ok))
             .groupby("label")
             .agg(**{"runs": ("job_id", "count"),
                     "test accuracy (mean)": ("accuracy", "mean"),
                     "F1 macro (mean)": ("f1_macro", "mean"),
                     "balanced accuracy (mean)": ("balanced_accuracy", "mean"),
                     "log-loss (mean)": ("log_loss", "mean"),
                     "to target s (geo. mean)": ("time_to_target_seconds",
                                                 stats.geometric_mean),
                     "peak MiB (max)": ("peak_memory_mb", "max"),
                     "model MiB (max)": ("model_memory_mb", "max"),
                     "size MiB (median)": ("model_size_mib", "median")})
             .round({"peak MiB (max)": 0, "model MiB (max)": 0})
             .reset_index().rename(columns={"label": "model"})
             .sort_values(["test accuracy (mean)", "model"], ascending=[False, True]))
    throughput = timing_rows(ok, "label", "predict_throughput").groupby("label")[
        "predict_throughput"].agg(stats.geometric_mean)
    table["predict images/s (geo. mean)"] = table["model"].map(throughput)
    if ok["target_accuracy"].isna().all():  # no model kept a history with test accuracy
        table = table.drop(columns="to target s (geo. mean)")
    else:  # the time, and how many runs it stands for: "3.91 (5/5 reached; 4/5 ended above)"
        reach = target_reach(ok, "label")
        table["to target s (geo. mean)"] = [
            target_text(time, reach.loc[label]) if label in reach.index else ""
            for label, time in zip(table["model"], table["to target s (geo. mean)"],
                                   strict=True)]
    if ok["log_loss"].isna().all():  # no model gave probabilities
        table = table.drop(columns="log-loss (mean)")
    if ok["balanced_accuracy"].isna().all():  # a run saved before mlbench measured it
        table = table.drop(columns="balanced accuracy (mean)")
    flagged = disturbed_jobs(ok)
    if flagged.any():  # how many of each model's runs were timed beside other work
        counts = flagged.groupby(ok["label"]).sum()
        table.insert(2, f"disturbed {DISTURBED_MARK}",
                     table["model"].map(counts).fillna(0).astype(int))
    return table


def per_model_timing(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model (and device, if several, and grid point): mean accuracy; fit and predict
    time, cost (fit + predict of the test set, per job: what a user pays to get predictions)
    and throughput as geometric means over repeats (``timing_rows``: undisturbed jobs where
    there are any), the one centre every figure of a time uses; ``series`` names the model
    without its training-set size."""
    ok = ok_rows(frame)
    ok["label"] = model_labels(ok)
    ok["series"] = model_labels(ok, leave_out=["train_size"])
    ok["cost_seconds"] = ok["fit_seconds"] + ok["predict_seconds"]
    keys = ["label", "series", "model", "device", "train_size"]
    accuracy = (ok.groupby(keys, dropna=False)
                .agg(accuracy=("accuracy", "mean"), repeats=("job_id", "count"),
                     test_size=("test_size", "max")))
    times = pd.concat([timing_rows(ok, "label", column).groupby(keys, dropna=False)[column]
                       .agg(stats.geometric_mean)
                       for column in ("fit_seconds", "predict_seconds", "cost_seconds",
                                      "predict_throughput")], axis=1)
    return (accuracy.join(times).reset_index()
            [[*keys, "accuracy", "fit_seconds", "predict_seconds", "cost_seconds",
              "predict_throughput", "repeats", "test_size"]]
            .sort_values("label", ignore_index=True))


def pareto_front(data: pd.DataFrame) -> pd.Series:
    """True where no other row is at least as accurate and as cheap (``cost_seconds``: fit
    plus predict), and better in one."""
    accuracy, seconds = data["accuracy"].to_numpy(), data["cost_seconds"].to_numpy()
    front = []
    for a, s in zip(accuracy, seconds, strict=True):
        beaten = (accuracy >= a) & (seconds <= s) & ((accuracy > a) | (seconds < s))
        front.append(not beaten.any())
    return pd.Series(front, index=data.index)


def pareto_table(frame: pd.DataFrame) -> pd.DataFrame | None:
    """``per_model_timing`` with column ``pareto``: on the accuracy / cost frontier."""
    if ok_rows(frame).empty:
        return None
    data = per_model_timing(frame)
    data["pareto"] = pareto_front(data)
    return data


def speed_table(frame: pd.DataFrame) -> pd.DataFrame | None:
    """``per_model_timing`` with, for fit and predict time, the geometric mean over repeats
    and its 95% interval on the log scale from the run's pooled timing noise (``fit_center``,
    ``fit_low``, ``fit_high``, ``predict_*``; NaN bounds where no job was timed twice), as
    the report's tables print them; most accurate first, as every chart orders models."""
    ok = ok_rows(frame)
    if ok.empty:
        return None
    ok["label"] = model_labels(ok)
    data = per_model_timing(frame)
    for short in ("fit", "predict"):
        intervals = time_figures(ok, f"{short}_seconds")
        for part in ("center", "low", "high"):
            data[f"{short}_{part}"] = [getattr(intervals[label], part)
                                       for label in data["label"]]
    # Most accurate first, as the accuracy chart and the tables: one order of models.
    accuracy = ok.groupby("label")["accuracy"].mean()
    return (data.assign(order=data["label"].map(accuracy))
            .sort_values(["order", "label"], ascending=[False, True], ignore_index=True)
            .drop(columns="order"))


def device_speedups(frame: pd.DataFrame) -> pd.DataFrame:
    """For each model that ran ok on both CPU and GPU: times on each (geometric means, as
    every time) and the ratios (how many times faster the GPU is). Empty when no model ran
    on both."""
    ok = ok_rows(frame)
    columns = ["fit_seconds", "train_throughput", "predict_throughput"]
    centres = (timing_rows(ok, ["model", "device"]).groupby(["model", "device"])[columns]
               .agg(stats.geometric_mean).unstack("device"))
    if centres.empty or "cpu" not in centres.columns.get_level_values(1) or (
            "gpu" not in centres.columns.get_level_values(1)):
        return pd.DataFrame(columns=["model", "cpu_fit_seconds", "gpu_fit_seconds",
                                     "fit_speedup", "train_speedup", "predict_speedup"])
    table = pd.DataFrame({
        "cpu_fit_seconds": centres[("fit_seconds", "cpu")],
        "gpu_fit_seconds": centres[("fit_seconds", "gpu")],
        "fit_speedup": centres[("fit_seconds", "cpu")] / centres[("fit_seconds", "gpu")],
        "train_speedup": centres[("train_throughput", "gpu")]
        / centres[("train_throughput", "cpu")],
        "predict_speedup": centres[("predict_throughput", "gpu")]
        / centres[("predict_throughput", "cpu")],
    }).dropna(subset=["fit_speedup"])
    return table.reset_index()


# -- the same algorithm on other engines --------------------------------------------------

# An engine is compared with the model it mirrors at the same device and grid point.
ENGINE_POINT = ["device", "train_size", "sweep"]
ENGINE_TOLERANCE = 0.002  # 0.2 points, where a model reports no accuracy_tolerance


def engine_table(frame: pd.DataFrame) -> pd.DataFrame | None:
    """The same algorithm on several engines. Per algorithm (a model that ok jobs report as
    their ``implementation_of``) and point (device, training-set size, swept values), that
    model first (``baseline`` True), then each engine (by ``label``): its ``framework``,
    ``runs``, mean ``accuracy``, fit and predict time (``fit_center``, ``predict_center``:
    geometric means over runs); and for an engine against the baseline: ``accuracy_delta``
    (engine minus baseline, a fraction), the ``tolerance`` it must keep within (the
    ``accuracy_tolerance`` its ``extra`` reports, 0 where identical accuracy is due; else
    ``ENGINE_TOLERANCE``) and ``matches``; ``fit_ratio``, ``predict_ratio``: engine time over
    baseline time (below 1: faster; ``stats.time_ratio`` on the run's pooled noise), with
    ``_low``, ``_high`` bounds (NaN where no job was timed twice); times from
    ``timing_rows``. Comparisons are NaN where the run has no baseline at that point.
    None when no ok job reports an implementation."""
    ok = ok_rows(frame)
    if "implementation_of" not in ok or ok["implementation_of"].isna().all():
        return None
    ok["label"] = model_labels(ok)
    ok["_point"] = list(zip(*(ok[name].astype(str) for name in ENGINE_POINT), strict=True))
    noise = {short: timing_noise(ok, f"{short}_seconds") for short in ("fit", "predict")}
    ok = timing_rows(ok).assign(_accuracy=ok["accuracy"].groupby(ok["label"]).transform("mean"))
    engines = ok[ok["implementation_of"].notna()]
    rows = []
    for (algorithm, point), jobs in engines.groupby(["implementation_of", "_point"], sort=True):
        base = ok[(ok["model"] == algorithm) & (ok["_point"] == point)]
        if not base.empty:
            rows.append(_engine_row(str(algorithm), base, None, noise))
        for _, engine in jobs.groupby("label", sort=True):
            rows.append(_engine_row(str(algorithm), engine, base, noise))
    return pd.DataFrame(rows)


def _engine_row(algorithm: str, jobs: pd.DataFrame, base: pd.DataFrame | None,
                noise: dict[str, stats.TimingNoise]) -> dict[str, Any]:
    """One row of ``engine_table``: ``jobs`` of one model at one point, against ``base``
    (None: they are the baseline; empty: the run has none); ``noise``: the run's, per time."""
    row: dict[str, Any] = {
        "algorithm": algorithm, "label": jobs["label"].iloc[0], "model": jobs["model"].iloc[0],
        "framework": next(iter(jobs["framework"].dropna()), ""), "baseline": base is None,
        "runs": len(jobs), "accuracy": float(jobs["_accuracy"].iloc[0]),
        **{f"{short}_center": stats.geometric_mean(jobs[f"{short}_seconds"].to_numpy(
            dtype=float)) for short in ("fit", "predict")}}
    if base is None or base.empty:
        return row
    tolerance = params_of(jobs["extra"].iloc[0]).get("accuracy_tolerance", ENGINE_TOLERANCE)
    delta = row["accuracy"] - float(base["_accuracy"].iloc[0])
    row.update(accuracy_delta=delta, tolerance=float(tolerance),
               matches=abs(delta) <= float(tolerance) + 1e-12)
    for short in ("fit", "predict"):
        ratio = stats.time_ratio(base[f"{short}_seconds"].to_numpy(dtype=float),
                                 jobs[f"{short}_seconds"].to_numpy(dtype=float), noise[short])
        row.update({f"{short}_ratio": ratio.center, f"{short}_low": ratio.low,
                    f"{short}_high": ratio.high})
    return row


# -- grids: scaling with the training set, swept params -------------------------------------

def growth_exponent(sizes: Iterable[float], seconds: Iterable[float]) -> float:
    """k in time ~ size^k: the slope of the least-squares line through the log-log points;
    NaN with fewer than two sizes or a time that is not positive."""
    x, y = np.log(np.asarray(list(sizes), float)), np.asarray(list(seconds), float)
    if len(x) < 2 or np.ptp(x) == 0 or not (y > 0).all():
        return float("nan")
    return float(np.polyfit(x, np.log(y), 1)[0])


def scaling_data(frame: pd.DataFrame) -> pd.DataFrame | None:
    """Per model (and swept value) and training-set size: mean accuracy, fit and predict
    time (geometric means), repeats; and per model how its times grow (``fit_growth``,
    ``predict_growth``: k in time ~ size^k, least squares over every size; and
    ``fit_growth_top``, ``predict_growth_top``: k between the two largest sizes, where fixed
    costs weigh least). None unless ok jobs ran on two sizes or more."""
    ok = ok_rows(frame)
    if ok.empty or ok["train_size"].nunique() < 2:
        return None
    ok["label"] = model_labels(ok, leave_out=["train_size"])
    data = (ok.groupby(["label", "model", "train_size"])
            .agg(accuracy=("accuracy", "mean"), fit_seconds=("fit_seconds", stats.geometric_mean),
                 predict_seconds=("predict_seconds", stats.geometric_mean),
                 repeats=("job_id", "count"))
            .reset_index().sort_values(["label", "train_size"], ignore_index=True))
    curves = dict(list(data.groupby("label")))
    for column, growth in (("fit_seconds", "fit_growth"), ("predict_seconds", "predict_growth")):
        data[growth] = data["label"].map(
            {label: growth_exponent(rows["train_size"], rows[column])
             for label, rows in curves.items()})
        data[f"{growth}_top"] = data["label"].map(
            {label: growth_exponent(rows["train_size"].iloc[-2:], rows[column].iloc[-2:])
             for label, rows in curves.items()})
    return data


def sweep_data(frame: pd.DataFrame) -> pd.DataFrame | None:
    """Per swept model, swept value (in numeric order) and training-set size: mean test
    accuracy, fit time (geometric mean), repeats, mean validation accuracy and validation
    images. None unless ok jobs swept a param over two values or more."""
    ok = ok_rows(frame)
    if "sweep" not in ok:
        return None
    ok = ok[ok["sweep"].notna()].copy()
    if ok.empty or ok["sweep"].nunique() < 2:
        return None
    ok["label"] = model_labels(ok, leave_out=["sweep", "train_size"])
    for column in ("validation_accuracy", "validation_size"):
        if column not in ok:  # a table saved before mlbench held validation images out
            ok[column] = np.nan
    data = (ok.groupby(["label", "model", "sweep", "train_size"])
            .agg(accuracy=("accuracy", "mean"), fit_seconds=("fit_seconds", stats.geometric_mean),
                 repeats=("job_id", "count"),
                 validation_accuracy=("validation_accuracy", "mean"),
                 validation_size=("validation_size", "max"), test_size=("test_size", "max"))
            .reset_index().sort_values(["label", "sweep", "train_size"], key=grid_sort_key,
                                       ignore_index=True))
    # Each accuracy's 95% Wilson interval over the images it was measured on, as the
    # per-model table prints for test accuracy.
    for kind, accuracy, images in (("test", "accuracy", "test_size"),
                                   ("validation", "validation_accuracy", "validation_size")):
        data[[f"{kind}_low", f"{kind}_high"]] = [
            stats.accuracy_interval(value, size)
            for value, size in zip(data[accuracy], data[images], strict=True)]
    return data


def sweep_selection(frame: pd.DataFrame) -> pd.DataFrame | None:
    """``sweep_data`` (test ``accuracy`` and ``validation_accuracy``, each the mean over
    repeats) with the setting each swept model (per device and training-set size) would be
    used with: ``chosen`` on the best mean validation accuracy, never on test accuracy. Ties
    go to the first value in the grid's numeric order, and ``tied_with`` names the others.
    A model whose jobs held out no validation images gets no choice: choosing by test
    accuracy would select on the test set. None unless ok jobs swept two values or more."""
    data = sweep_data(frame)
    if data is None:
        return None
    data["chosen"] = False
    data["tied_with"] = ""
    for _, rows in data.groupby(["label", "train_size"], sort=False):
        scores = rows["validation_accuracy"].astype(float)
        if scores.isna().all():
            continue
        best = rows.index[np.isclose(scores, scores.max(), rtol=0, atol=1e-12)]
        data.loc[best[0], "chosen"] = True  # rows are in the grid's order
        data.loc[best[0], "tied_with"] = ", ".join(data.loc[best[1:], "sweep"])
    return data


def selection_lines(selection: pd.DataFrame) -> list[str]:
    """One sentence per swept model (and size): the setting chosen on validation and its
    test accuracy; the report and the terminal print the same words."""
    lines = []
    several_sizes = selection["train_size"].nunique() > 1
    for (label, size), rows in selection.groupby(["label", "train_size"], sort=False):
        name = f"{label} n={size}" if several_sizes else str(label)
        chosen = rows[rows["chosen"]]
        if chosen.empty:
            lines.append(f"{name}: no setting chosen: the run held no validation images out "
                         "(--validation 0), and choosing on test accuracy would select on "
                         "the test set.")
            continue
        row = chosen.iloc[0]
        runs = "one run" if row["repeats"] == 1 else f"mean of {row['repeats']} repeats"
        held = (f"{int(row['validation_size']):,} validation images, " if
                pd.notna(row["validation_size"]) else "")
        tie = (f"; tied on validation with {row['tied_with']}, the first in the grid's order "
               "is taken" if row["tied_with"] else "")
        lines.append(f"{name}: {row['sweep']} chosen on validation accuracy "
                     f"{row['validation_accuracy']:.4f} ({held}{runs}){tie}; its test "
                     f"accuracy {row['accuracy']:.4f}.")
    return lines


# -- from saved predictions and history ----------------------------------------------------

class Predictions(NamedTuple):
    """The test labels, and each chosen job's saved arrays by model (``chosen_jobs``)."""

    labels: np.ndarray
    arrays: dict[str, dict[str, np.ndarray]]

    @property
    def predicted(self) -> dict[str, np.ndarray]:
        return {model: saved["predicted"] for model, saved in self.arrays.items()
                if "predicted" in saved}


class Gallery(NamedTuple):
    """A table about some test digits, with the test images to show them."""

    data: pd.DataFrame
    images: np.ndarray
    pixel_max: float


def chosen_predictions(run: Run) -> Predictions | None:
    """The saved arrays of each model's chosen job; None without test labels or arrays."""
    labels, frame = run.test_labels, run.frame
    if labels is None or frame.empty:
        return None
    arrays = {}
    for row in chosen_jobs(frame).itertuples():
        saved = run.arrays(str(row.job_id))
        if saved is not None:
            arrays[str(row.model)] = saved
    return Predictions(labels, arrays) if arrays else None


def correctness(run: Run) -> dict[str, np.ndarray]:
    """Per model, whether its chosen job got each test image right. Models whose
    predictions were not saved, or do not match the test labels, are left out."""
    loaded = chosen_predictions(run)
    if loaded is None:
        return {}
    return {model: predicted == loaded.labels for model, predicted in loaded.predicted.items()
            if predicted.shape == loaded.labels.shape}


def per_class_accuracy(run: Run) -> pd.DataFrame | None:
    """Accuracy per model (rows, most accurate on the whole test set first) and true digit
    (columns), from saved predictions."""
    loaded = chosen_predictions(run)
    predicted = loaded.predicted if loaded is not None else {}
    if loaded is None or not predicted:
        return None
    labels = loaded.labels
    models = sorted(predicted, key=lambda m: (-float(np.mean(predicted[m] == labels)), m))
    data = pd.DataFrame(
        {int(c): [float(np.mean(predicted[m][labels == c] == c)) for m in models]
         for c in np.unique(labels)}, index=pd.Index(models, name="model"))
    data.columns.name = "digit"
    return data


def confusion_counts(run: Run) -> pd.DataFrame | None:
    """Per model, true digit and predicted digit: how many test images (every pair of the
    test set's digits, 0 included); columns model, true, predicted, count."""
    loaded = chosen_predictions(run)
    predicted = loaded.predicted if loaded is not None else {}
    if loaded is None or not predicted:
        return None
    classes = np.unique(loaded.labels)
    long = []
    for model in sorted(predicted):
        matrix = pd.crosstab(pd.Series(loaded.labels, name="true"),
                             pd.Series(predicted[model], name="predicted"))
        matrix = matrix.reindex(index=classes, columns=classes, fill_value=0)
        matrix.index.name, matrix.columns.name = "true", "predicted"
        stacked = matrix.reset_index().melt(id_vars="true", value_name="count")
        stacked.insert(0, "model", model)
        long.append(stacked)
    return pd.concat(long, ignore_index=True)


def top_confusions(counts: pd.DataFrame, count: int = 15) -> pd.DataFrame | None:
    """From ``confusion_counts``: the ``count`` mistakes (true digit predicted as another;
    never the diagonal) most frequent over all models, as a table of test images per mistake
    (rows, ``"4 → 9"``, most frequent first) and model (columns, fewest mistakes first).
    None when no model made a mistake."""
    wrong = counts[counts["true"] != counts["predicted"]]
    totals = wrong.groupby(["true", "predicted"])["count"].sum()
    totals = totals[totals > 0]
    if totals.empty:
        return None
    top = totals.sort_index().sort_values(ascending=False, kind="stable").index[:count]
    table = wrong.pivot_table(index=["true", "predicted"], columns="model", values="count",
                              aggfunc="sum").reindex(top)
    table = table[sorted(table.columns, key=lambda m: (wrong.loc[wrong["model"] == m,
                                                                  "count"].sum(), m))]
    table.index = [f"{true} \u2192 {predicted}" for true, predicted in table.index]
    table.index.name, table.columns.name = "true \u2192 predicted", "model"
    return table.astype(int)


def learning_curves(run: Run) -> pd.DataFrame | None:
    """Test accuracy, loss and cumulative training time per epoch of each model's chosen job;
    None when no chosen job kept a history."""
    history = run.history
    history = history[history["job_id"].isin(chosen_jobs(run.frame)["job_id"])]
    if history.empty:
        return None
    # The running total as read_history completed it: never summed again here.
    data = history.sort_values(["model", "epoch"], ignore_index=True)
    return data[["model", "job_id", "epoch", "test_accuracy", "loss",
                 "cumulative_train_seconds"]]


def target_curves(run: Run) -> pd.DataFrame | None:
    """Test accuracy against cumulative training time for every ok job whose history measured
    it (every seed, not only the chosen job), with its target and time to target; None
    where no job did."""
    ok = ok_rows(run.frame)
    ok = ok[ok["target_accuracy"].notna()]
    if ok.empty:
        return None
    jobs = ok.assign(label=model_labels(ok))[
        ["job_id", "label", "target_accuracy", "time_to_target_seconds"]]
    history = run.history.merge(jobs, on="job_id")
    history = history[history["test_accuracy"].notna()
                      & history["cumulative_train_seconds"].notna()]
    if history.empty:
        return None
    return history.sort_values(["label", "repeat", "cumulative_train_seconds"],
                               ignore_index=True)[
        ["model", "label", "job_id", "repeat", "epoch", "cumulative_train_seconds",
         "test_accuracy", "target_accuracy", "time_to_target_seconds"]]


def sample_probabilities(run: Run, count: int = 8) -> Gallery | None:
    """Some test digits, each with every model's predicted probability of each digit.

    The digits are drawn (with a fixed seed) from the test images that every chosen job with
    probabilities kept them for. Columns test_index, label, model, digit, probability. None
    when the run saved no test images or no model has ``predict_proba``."""
    loaded, images = chosen_predictions(run), run.test_images
    if loaded is None or images is None:
        return None
    labels = loaded.labels
    kept = {model: saved for model, saved in loaded.arrays.items() if "probabilities" in saved}
    if not kept:
        return None
    common = sorted(set.intersection(*(set(saved["probability_index"].tolist())
                                       for saved in kept.values())))
    if not common:
        return None
    rng = np.random.default_rng(GALLERY_SEED)
    chosen = np.sort(rng.choice(common, size=min(count, len(common)), replace=False))
    rows = []
    for model in sorted(kept):
        position = {int(i): n for n, i in enumerate(kept[model]["probability_index"])}
        probabilities = kept[model]["probabilities"]
        # Columns are the classes in sorted order (scikit-learn's classes_), as in the labels.
        classes = np.unique(labels)
        if len(classes) != probabilities.shape[1]:
            classes = np.arange(probabilities.shape[1])
        for index in chosen:
            for digit, probability in zip(classes, probabilities[position[int(index)]],
                                          strict=True):
                rows.append((int(index), int(labels[index]), model, int(digit),
                             float(probability)))
    data = pd.DataFrame(rows, columns=["test_index", "label", "model", "digit", "probability"])
    return Gallery(data, *images)


def most_wrong(run: Run, count: int = 10) -> Gallery | None:
    """The test digits the most models got wrong (each model's chosen job), most first,
    with every model's prediction: columns test_index, label, models_wrong, model,
    predicted. None when the run saved no test images or no model got a digit wrong."""
    loaded, images = chosen_predictions(run), run.test_images
    predicted = loaded.predicted if loaded is not None else {}
    if loaded is None or images is None or not predicted:
        return None
    labels = loaded.labels
    models = sorted(predicted)
    wrong = np.sum([predicted[m] != labels for m in models], axis=0)
    order = np.lexsort((np.arange(len(labels)), -wrong))  # most wrong first, then test order
    chosen = [int(i) for i in order[:count] if wrong[i] > 0]
    if not chosen:
        return None
    data = pd.DataFrame(
        [(i, int(labels[i]), int(wrong[i]), m, int(predicted[m][i])) for i in chosen
         for m in models],
        columns=["test_index", "label", "models_wrong", "model", "predicted"])
    return Gallery(data, *images)
