"""Which differences in a saved run are real: the statistics of ``stats`` applied to its
results table and saved predictions, as tables and report sections.

One job stands for each model in the paired tests (``tables.chosen_jobs``); repeats are
summarised with their spread over seeds and, for every accuracy, the test set's own
sampling error.
"""

from __future__ import annotations

from itertools import combinations
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlbench.reporting import tables
from mlbench.reporting.document import accuracy_text, seconds_text
from mlbench.reporting.stats import (
    ALPHA,
    EXACT_BELOW,
    accuracy_interval,
    bare_p,
    holm,
    mcnemar,
    mean_interval,
    paired_bootstrap,
)

if TYPE_CHECKING:
    from mlbench.reporting.document import Section
    from mlbench.results.run import Run

PAIR_COLUMNS = ["model_a", "model_b", "accuracy_a", "accuracy_b", "difference", "ci_low",
                "ci_high", "only_a_right", "only_b_right", "mcnemar_p", "test",
                "adjusted_p", "real"]


# How tables head what is summarised over repeats.
ACCURACY_SEEDS = "accuracy 95% CI (seeds)"
ACCURACY_IMAGES = "accuracy 95% CI (test images)"
REPEATED_TIMES = {"fit_seconds": "fit s", "predict_seconds": "predict s"}


def repeat_summary(frame: pd.DataFrame, by: str | list[str]) -> pd.DataFrame:
    """Per group of ``by`` (the repeats of one job), from its ok rows: how many; accuracy's
    mean, standard deviation and 95% Student's t interval over the seeds (clipped to [0, 1]),
    and the 95% interval over the test images of that mean; for fit and predict time the
    geometric mean (``tables.timing_rows``) and its 95% interval on the log scale from the
    run's noise pooled over every group (``stats.TimingNoise``; never below zero). Intervals
    are text, empty where no group was timed twice."""
    keys = [by] if isinstance(by, str) else list(by)
    ok = tables.ok_rows(frame)
    figures = {column: tables.time_figures(ok, column, keys) for column in REPEATED_TIMES}
    rows = []
    for key, jobs in ok.groupby(keys, sort=True, dropna=False):
        row: dict[str, Any] = dict(zip(keys, key, strict=True))
        row["repeats"] = len(jobs)
        accuracy = mean_interval(jobs["accuracy"].to_numpy(dtype=float))
        row["accuracy mean"], row["accuracy std"] = accuracy.mean, accuracy.std
        row[ACCURACY_SEEDS] = accuracy_text(max(accuracy.low, 0.0), min(accuracy.high, 1.0))
        row[ACCURACY_IMAGES] = accuracy_text(*accuracy_interval(
            accuracy.mean, jobs["test_size"].iloc[0]))
        for column, label in REPEATED_TIMES.items():
            times = figures[column][key]
            row[f"{label} geo. mean"] = times.center
            row[f"{label} 95% CI"] = seconds_text(times.low, times.high)
        rows.append(row)
    columns = [*keys, "repeats", "accuracy mean", "accuracy std", ACCURACY_SEEDS,
               ACCURACY_IMAGES] + [f"{label} {part}" for label in REPEATED_TIMES.values()
                                   for part in ("geo. mean", "95% CI")]
    return pd.DataFrame(rows, columns=columns)


def pairwise_significance(run: Run) -> pd.DataFrame:
    """Every pair of models in a run, tested on the same test images.

    One row per pair, the more accurate model first (``model_a``): both accuracies, their
    difference A - B (a fraction), its paired bootstrap 95% interval, the discordant counts,
    McNemar's p, Holm's adjusted p across all pairs, and ``real`` (adjusted p < 0.05).
    One job stands for each model (``tables.correctness``: the lowest repeat, CPU
    preferred); models whose predictions were not saved are left out.
    """
    return _pairs(tables.correctness(run))


def _ranked(correct: dict[str, np.ndarray]) -> list[str]:
    """Models by accuracy, best first (ties by name)."""
    return sorted(correct, key=lambda model: (-float(correct[model].mean()), model))


def _pairs(correct: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = []
    for model_a, model_b in combinations(_ranked(correct), 2):
        a, b = correct[model_a], correct[model_b]
        test = mcnemar(a, b)
        interval = paired_bootstrap(a, b)
        rows.append({
            "model_a": model_a, "model_b": model_b, "accuracy_a": float(a.mean()),
            "accuracy_b": float(b.mean()), "difference": float(a.mean() - b.mean()),
            "ci_low": interval.low, "ci_high": interval.high, "only_a_right": test.b,
            "only_b_right": test.c, "mcnemar_p": test.p_value, "test": test.method,
        })
    table = pd.DataFrame(rows, columns=PAIR_COLUMNS[:-2])
    table["adjusted_p"] = holm(table["mcnemar_p"].to_numpy(dtype=float))
    table["real"] = table["adjusted_p"] < ALPHA
    return table


def points(fraction: float) -> str:
    """An accuracy difference in percentage points, one decimal."""
    return f"{fraction * 100:.1f}"


def neighbours_table(table: pd.DataFrame, ranked: list[str],
                     accuracy: dict[str, float]) -> pd.DataFrame:
    """The pairs that matter, one row per model, most accurate first: its lead over the next
    model in the ranking (points, 95% interval, Holm p, verdict), and every model it could
    be level with (the pairs whose difference could be chance)."""
    pairs: dict[tuple[str, str], Any] = {}
    level: dict[str, list[str]] = {model: [] for model in ranked}
    for pair in table.itertuples():
        a, b = str(pair.model_a), str(pair.model_b)
        pairs[(a, b)] = pair
        if not pair.real:
            level[a].append(b)
            level[b].append(a)
    rows = []
    for model, below in zip(ranked, [*ranked[1:], None], strict=True):
        row: dict[str, Any] = {"model": model, "test accuracy": accuracy[model],
                               "next model": below or "", "lead (points)": "",
                               "95% CI (points)": "", "Holm p": "", "verdict": ""}
        if below is not None:
            pair = pairs[(model, below)]
            row.update({"lead (points)": points(pair.difference),
                        "95% CI (points)": f"{points(pair.ci_low)} to {points(pair.ci_high)}",
                        "Holm p": bare_p(pair.adjusted_p),
                        "verdict": "beyond chance" if pair.real else "could be chance"})
        # In ranking order, so the list reads like the table.
        row["could be level with"] = ", ".join(m for m in ranked if m in level[model])
        rows.append(row)
    return pd.DataFrame(rows)


def significance_section(run: Run) -> Section:
    """"Which differences are real": the method said once, then one row per model (its lead
    over the next in the ranking, and the models it could be level with), and every pair in
    a folded table."""
    from mlbench.reporting.document import Details, Section, Table, Text

    title = "Which differences are real"
    correct = tables.correctness(run)
    if len(correct) < 2:
        return Section(title, [Text("Needs at least two models with saved predictions on the "
                                    f"same test images; this run has {len(correct)}.")])
    table = _pairs(correct)
    ranked = _ranked(correct)
    images = len(next(iter(correct.values())))
    explanation = Text(
        f"Each pair of models is compared on the same {images:,} test images (one job per "
        "model: the lowest repeat, on the CPU where it ran there; in a grid, at the largest "
        "training set and the setting chosen on validation). Test: McNemar's, on the images "
        "only one of the two gets right (exact binomial where fewer than "
        f"{EXACT_BELOW} such images, else chi-square with continuity correction); p-values "
        f"Holm-adjusted across all {len(table)} pairs; a difference is beyond chance when the "
        f"adjusted p is below {ALPHA}: {int(table['real'].sum())} of {len(table)} pairs are. "
        "Intervals: paired bootstrap of the accuracy difference (2,000 resamples of the test "
        "images), in percentage points; they describe the size of a difference, the verdict "
        "comes from the adjusted p.")
    accuracy = {model: float(correct[model].mean()) for model in ranked}
    shown = table.drop(columns="test").assign(
        difference=table["difference"].map(points), ci_low=table["ci_low"].map(points),
        ci_high=table["ci_high"].map(points),
        real=table["real"].map({True: "yes", False: "no"}),
        mcnemar_p=table["mcnemar_p"].map(bare_p), adjusted_p=table["adjusted_p"].map(bare_p))
    shown = shown.rename(columns={
        "model_a": "A", "model_b": "B", "accuracy_a": "accuracy A", "accuracy_b": "accuracy B",
        "difference": "A - B (points)", "ci_low": "CI low", "ci_high": "CI high",
        "only_a_right": "only A right", "only_b_right": "only B right",
        "mcnemar_p": "McNemar p", "adjusted_p": "Holm p", "real": "beyond chance"})
    return Section(title, [
        explanation,
        Table(neighbours_table(table, ranked, accuracy),
              caption="Each model against the next in the ranking, and the models it could be "
                      "level with (any pair whose difference could be chance)."),
        Details(f"Every pair ({len(table)}), the more accurate model as A", [Table(shown)]),
    ])


def extra_sections(run: Run) -> list[Section]:
    """The sections a run's report adds for honest comparisons: which differences between
    its models are real, and whether any model is outside its published range."""
    from mlbench.reporting.reference import reference_section

    return [significance_section(run), reference_section(run.frame, run.info)]
