"""The headlines of a run, claimed only as far as its evidence goes.

Who is most accurate: the leader, and every model whose paired difference from it could be
chance (McNemar, Holm-adjusted across every pair: the significance section's own table) shares
the headline. Who is fastest: a model is called faster only when its lead is beyond the
timing noise (``stats.TIME_RULE``, on the run's noise pooled over its repeated jobs; never
from a disturbed job); otherwise the models within the noise share it. Every
headline says how many runs stand behind it. The report's Summary and the terminal print the
same sentences.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlbench.reporting import significance, stats, tables
from mlbench.reporting.document import seconds
from mlbench.results.run import Run


def headline_jobs(frame: pd.DataFrame) -> pd.DataFrame:
    """The ok jobs a headline speaks of, labelled (``label``) as the run's tables label them:
    in a grid, each model's chosen point only (its largest training set, the setting chosen
    on validation), every repeat and device of it; in a plain run, every ok job."""
    ok = tables.ok_rows(frame)
    ok["label"] = tables.model_labels(ok)
    grid = [column for column in tables.grid_columns(ok) if column in ok]
    if not grid or ok.empty:
        return ok
    chosen = tables.chosen_jobs(frame)[["model", *grid]].astype(str)
    keys = ok[["model", *grid]].astype(str)
    return ok[keys.apply(tuple, axis=1).isin(set(chosen.apply(tuple, axis=1)))]


def runs_text(count: int) -> str:
    return "one run" if count == 1 else f"{count} runs"


def _counts(jobs: pd.DataFrame, labels: list[str]) -> str:
    counts = jobs.groupby("label")["job_id"].count().reindex(labels)
    if counts.nunique() == 1:
        count = int(counts.iloc[0])
        return f"{runs_text(count)} each" if len(labels) > 1 else runs_text(count)
    return ", ".join(f"{label}: {runs_text(int(n))}" for label, n in counts.items())


def _names(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


# -- accuracy -------------------------------------------------------------------------------

def accuracy_headline(run: Run, jobs: pd.DataFrame) -> str:
    """Who is most accurate among ``jobs`` (``headline_jobs``), a single name only where the
    paired tests separate it."""
    means = jobs.groupby("label")["accuracy"].mean().sort_values(ascending=False, kind="stable")
    leader = str(means.index[0])
    test_size = int(jobs["test_size"].iloc[0]) if jobs["test_size"].notna().any() else 0
    low, high = stats.accuracy_interval(float(means.iloc[0]), test_size)
    figure = (f"{means.iloc[0]:.4f} test accuracy, 95% CI {low:.4f} to {high:.4f} over "
              f"{test_size:,} test images, {_counts(jobs, [leader])}")
    if len(means) == 1:
        return f"Only one model to rank: {leader} ({figure})."
    pairs = significance.pairwise_significance(run)
    leader_model = str(jobs.loc[jobs["label"] == leader, "model"].iloc[0])
    others = means.index[1:]
    if pairs.empty or not _tested(pairs, leader_model):
        return (f"Highest test accuracy: {leader} ({figure}); not tested against the others "
                "(their predictions were not saved), so no winner is named.")
    tied = []
    for label in others:
        model = str(jobs.loc[jobs["label"] == label, "model"].iloc[0])
        row = _pair(pairs, leader_model, model)
        if row is not None and not bool(row["real"]):
            tied.append((str(label), float(row["adjusted_p"])))
    if not tied:
        runner = str(others[0])
        row = _pair(pairs, leader_model,
                    str(jobs.loc[jobs["label"] == runner, "model"].iloc[0]))
        against = "" if row is None else (
            f"; next, {runner}: {means[runner]:.4f}, McNemar {stats.p_text(row['adjusted_p'])}"
            " Holm-adjusted")
        return (f"Most accurate: {leader} ({figure}), ahead of every other model beyond "
                f"chance{against}.")
    names = [leader, *(label for label, _ in tied)]
    values = " vs ".join(f"{means[name]:.4f}" for name in names)
    p_values = ", ".join(stats.p_text(p) for _, p in tied)
    difference = "a difference" if len(tied) == 1 else f"differences from {leader}"
    return (f"Most accurate: no single model. {_names(names)}: {values}, {difference} that "
            f"could be chance (McNemar, Holm-adjusted {p_values}; {_counts(jobs, names)}).")


def _tested(pairs: pd.DataFrame, model: str) -> bool:
    return bool(((pairs["model_a"] == model) | (pairs["model_b"] == model)).any())


def _pair(pairs: pd.DataFrame, a: str, b: str) -> pd.Series | None:
    match = pairs[((pairs["model_a"] == a) & (pairs["model_b"] == b))
                  | ((pairs["model_a"] == b) & (pairs["model_b"] == a))]
    return None if match.empty else match.iloc[0]


# -- time -----------------------------------------------------------------------------------

def speed_headline(jobs: pd.DataFrame, column: str, title: str) -> str:
    """The label with the lowest geometric mean of ``column`` (a time, per job), named alone
    only when it is faster than every other beyond the timing noise (``stats.time_differs``
    on the run's pooled noise); else every label within the noise of it shares the
    headline, and the sentence says why. Disturbed jobs (``tables.disturbed_jobs``) take no part:
    a label with no other job is left out, and the sentence says so."""
    calm = jobs[~tables.disturbed_jobs(jobs, column) & jobs[column].notna()]
    left_out = sorted(set(jobs.loc[jobs[column].notna(), "label"].astype(str))
                      - set(calm["label"].astype(str)))
    one = len(left_out) == 1
    aside = (f" Left out: {_names(left_out)}, every job of {'it' if one else 'them'} disturbed "
             f"(the machine did not give {'it its' if one else 'them their'} cores), so "
             f"{'its time is' if one else 'their times are'} not compared." if left_out else "")
    times = {str(label): rows[column].to_numpy(dtype=float)
             for label, rows in calm.groupby("label")}
    if not times:
        return f"{title}: not measured.{aside}"
    noise = tables.timing_noise(calm, column)
    centre = {label: stats.geometric_mean(values) for label, values in times.items()}
    order = sorted(times, key=lambda label: (centre[label], label))
    leader = order[0]
    figure = f"{seconds(centre[leader])}{_centre_name(times[leader])}"
    if len(order) == 1:
        return f"{title}: {leader} ({figure}, {_counts(calm, [leader])}).{aside}"
    measured = {str(label): stats.geometric_mean(rows.to_numpy(dtype=float)) for label, rows
                in tables.measured_seconds(calm, column).groupby(calm["label"])}
    within = [label for label in order[1:]
              if not stats.time_differs(times[leader], times[label], noise,
                                        max(measured[leader], measured[label]))]
    if not within:
        runner = order[1]
        return (f"{title}: {leader} ({figure}, {_counts(calm, [leader])}), "
                f"{centre[runner] / max(centre[leader], 1e-9):.1f}x faster than the next, "
                f"{runner}, beyond the timing noise.{aside}")
    names = [leader, *within]
    values = ", ".join(seconds(centre[name]) for name in names)
    if max(measured[name] for name in names) < stats.MIN_SECONDS:
        why = f"all under {stats.MIN_SECONDS} s, where start-up and timer noise dominate"
    elif noise.freedom:
        why = (f"the 95% interval of each one's time over {leader}'s includes 1, and none is "
               f"{stats.TIME_RATIO}x it; {noise.describe()}")
    else:
        why = f"from a single run, a time must be {stats.TIME_RATIO}x another's to count"
    return (f"{title}: no single model. {_names(names)} are within the timing noise of each "
            f"other ({values}; {_counts(calm, names)}: {why}).{aside}")


def _centre_name(values: np.ndarray) -> str:
    return "" if values.size < 2 else " geometric mean"


def summary_lines(run: Run) -> list[str]:
    """The Summary's sentences: most accurate, fastest to fit, fastest to predict, cheapest
    to get predictions, the best trade-offs. Empty when no job ended ok."""
    jobs = headline_jobs(run.frame)
    if jobs.empty:
        return []
    if jobs["label"].nunique() == 1:  # nothing to rank
        return [accuracy_headline(run, jobs)]
    jobs = jobs.assign(cost_seconds=jobs["fit_seconds"] + jobs["predict_seconds"])
    test_images = f"{int(jobs['test_size'].max()):,} test images" if (
        jobs["test_size"].notna().any()) else "the test images"
    models = tables.per_model_timing(jobs)
    front = models[tables.pareto_front(models)].sort_values("cost_seconds")
    return [
        accuracy_headline(run, jobs),
        speed_headline(jobs, "fit_seconds", "Fastest to fit (training alone)"),
        speed_headline(jobs, "predict_seconds", f"Fastest to predict the {test_images}"),
        speed_headline(jobs, "cost_seconds",
                       f"Cheapest to get predictions (fit + predict of the {test_images})"),
        "Best trade-offs (no other model is both more accurate, by mean test accuracy, and "
        f"cheaper to fit and predict): {', '.join(front['label'])}.",
    ]


def time_rule() -> str:
    return (f"Timing noise: {stats.TIME_RULE}. Accuracy: a model is named most accurate only "
            "when McNemar's test (Holm-adjusted) separates it from every other.")
