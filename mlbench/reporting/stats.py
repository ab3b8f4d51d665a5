"""Statistics for honest comparisons: is a difference in accuracy larger than chance?

Two kinds of question, two kinds of test:

- Two models scored on the *same* test images: McNemar's test on the images where exactly
  one of them is right, and a paired bootstrap interval of the accuracy difference. Pairing
  removes the test set's own difficulty from the comparison, so it sees differences an
  unpaired test would miss.
- One model run several times (``--repeats``): mean, standard deviation and a Student's t
  95% interval of its scores, which is what ``mlbench compare`` uses between runs.

The tests themselves are plain functions of numpy arrays (numpy and scipy only). scipy comes
with scikit-learn; statsmodels has McNemar and Holm too, but it would add a large dependency
(with patsy) for two short, well-known formulas, written out here with their references.
The section builders at the end read a saved run folder and return ``document`` sections.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import combinations, pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from scipy import stats as scipy_stats

if TYPE_CHECKING:
    import pandas as pd

    from mlbench.reporting.document import Section
    from mlbench.results.folder import RunFolder
    from mlbench.results.run_info import RunInfo

ALPHA = 0.05
CONFIDENCE = 0.95
# Below this many discordant images the chi-square approximation is poor (its usual rule of
# thumb), so McNemar's test uses the exact binomial distribution instead.
EXACT_BELOW = 25


class McNemar(NamedTuple):
    """McNemar's test: ``b`` images only A got right, ``c`` only B; p is two-sided."""

    statistic: float
    p_value: float
    b: int
    c: int

    @property
    def exact(self) -> bool:
        return self.b + self.c < EXACT_BELOW

    @property
    def method(self) -> str:
        return "exact binomial" if self.exact else "chi-square, continuity-corrected"


class Interval(NamedTuple):
    low: float
    high: float


class MeanInterval(NamedTuple):
    """Mean of ``n`` values, their sample standard deviation and a Student's t interval."""

    mean: float
    std: float
    low: float
    high: float
    n: int


def _as_bool(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=bool).ravel()


def _paired(correct_a: Any, correct_b: Any) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_bool(correct_a), _as_bool(correct_b)
    if a.shape != b.shape:
        raise ValueError(f"paired tests need one score per image from each model; got {a.size} "
                         f"and {b.size}")
    return a, b


def mcnemar(correct_a: Any, correct_b: Any) -> McNemar:
    """McNemar's test of two models' per-image correctness on the same test images.

    Only the discordant images count: ``b`` (A right, B wrong) and ``c`` (A wrong, B right).
    Under the null hypothesis of equal accuracy each discordant image is a fair coin toss.

    - ``b + c < 25``: the exact test, a two-sided binomial test of ``b`` successes in
      ``b + c`` tosses of a fair coin (``scipy.stats.binomtest``); the statistic is ``b``.
    - otherwise: the chi-square statistic with Edwards' continuity correction,
      ``(|b - c| - 1)**2 / (b + c)``, on one degree of freedom (McNemar 1947; Edwards 1948).

    No discordant image at all gives statistic 0 and p = 1.
    """
    a, b_ = _paired(correct_a, correct_b)
    b = int(np.count_nonzero(a & ~b_))
    c = int(np.count_nonzero(~a & b_))
    if b + c == 0:
        return McNemar(0.0, 1.0, b, c)
    if b + c < EXACT_BELOW:
        return McNemar(float(b), float(scipy_stats.binomtest(b, b + c, 0.5).pvalue), b, c)
    statistic = (abs(b - c) - 1) ** 2 / (b + c)
    return McNemar(float(statistic), float(scipy_stats.chi2.sf(statistic, 1)), b, c)


def _percentile_interval(samples: np.ndarray) -> Interval:
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(samples, [tail, 100 - tail])
    return Interval(float(low), float(high))


def _resampled_category_counts(categories: np.ndarray, resamples: int,
                               seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Resample the test images with replacement, ``resamples`` times, and count how many of
    each category every resample drew: returns (category values, counts per resample).

    Drawing n images with replacement and counting their categories *is* a multinomial draw
    with the observed category frequencies, so this draws the counts directly: the same
    distribution as drawing n indices per resample, in O(resamples) memory instead of
    O(resamples x n) (2,000 x 10,000 indices would be 160 MB).
    """
    values, counts = np.unique(categories, return_counts=True)
    rng = np.random.default_rng(seed)
    return values, rng.multinomial(categories.size, counts / categories.size, size=resamples)


def paired_bootstrap(correct_a: Any, correct_b: Any, resamples: int = 2000,
                     seed: int = 0) -> Interval:
    """95% percentile bootstrap interval of accuracy(A) - accuracy(B).

    Each resample draws test images with replacement, the same images for both models (the
    pairing), so it keeps the correlation between the two models' mistakes.
    """
    a, b = _paired(correct_a, correct_b)
    if a.size == 0:
        return Interval(math.nan, math.nan)
    # Per image, A's score minus B's: -1, 0 or 1. A resample's accuracy difference is the
    # mean of its images' values.
    values, counts = _resampled_category_counts(a.astype(np.int8) - b.astype(np.int8),
                                                resamples, seed)
    return _percentile_interval(counts @ values / a.size)


def bootstrap_interval(correct: Any, resamples: int = 2000, seed: int = 0) -> Interval:
    """95% percentile bootstrap interval of one model's accuracy over its test images."""
    scores = _as_bool(correct)
    if scores.size == 0:
        return Interval(math.nan, math.nan)
    values, counts = _resampled_category_counts(scores.astype(np.int8), resamples, seed)
    return _percentile_interval(counts @ values / scores.size)


def mean_interval(values: Sequence[float] | np.ndarray) -> MeanInterval:
    """Mean, sample standard deviation (ddof=1) and 95% Student's t interval of the mean.

    One value has no spread: its std and interval are NaN, never a misleading 0. No value
    at all gives NaN everywhere.
    """
    data = np.asarray(values, dtype=float)
    data = data[~np.isnan(data)]
    n = int(data.size)
    if n == 0:
        return MeanInterval(math.nan, math.nan, math.nan, math.nan, 0)
    mean = float(data.mean())
    if n == 1:
        return MeanInterval(mean, math.nan, math.nan, math.nan, 1)
    std = 0.0 if np.ptp(data) == 0 else float(data.std(ddof=1))  # equal values: exactly 0
    half = float(scipy_stats.t.ppf((1 + CONFIDENCE) / 2, n - 1)) * std / math.sqrt(n)
    return MeanInterval(mean, std, mean - half, mean + half, n)


def welch_p(values_a: Sequence[float] | np.ndarray,
            values_b: Sequence[float] | np.ndarray) -> float:
    """Two-sided p of Welch's t-test (unequal variances) on two sets of repeats, each of at
    least two values: t = (mean_a - mean_b) / sqrt(var_a/n_a + var_b/n_b) on the
    Welch-Satterthwaite degrees of freedom. Written out rather than scipy's ttest_ind, which
    warns (and loses precision) when a set does not vary, common for deterministic models.
    When neither set varies, any difference is beyond the spread (p = 0), none is p = 1."""
    a = np.asarray(values_a, dtype=float)
    b = np.asarray(values_b, dtype=float)
    if a.size < 2 or b.size < 2:
        raise ValueError("Welch's t-test needs at least two values on each side")
    # A set of equal values has no spread: exactly 0, not var()'s rounding error.
    share_a, share_b = (0.0 if np.ptp(x) == 0 else float(x.var(ddof=1)) / x.size
                        for x in (a, b))
    difference = float(a.mean() - b.mean())
    if share_a + share_b == 0:
        return 1.0 if difference == 0 else 0.0
    t = difference / math.sqrt(share_a + share_b)
    freedom = (share_a + share_b) ** 2 / (share_a**2 / (a.size - 1) + share_b**2 / (b.size - 1))
    return float(2 * scipy_stats.t.sf(abs(t), freedom))


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment for many comparisons (Holm 1979): controls the chance of
    calling any true null difference real, without Bonferroni's loss of power. Adjusted
    p-values are returned in the input's order."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = (m - np.arange(m)) * p[order]
    adjusted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    result = np.empty(m)
    result[order] = adjusted
    return result


def p_text(p: float) -> str:
    """A p-value as people write it: p<0.001, p=0.023, p=0.41."""
    if math.isnan(p):
        return "p n/a"
    if p < 0.001:
        return "p<0.001"
    return f"p={p:.3f}" if p < 0.1 else f"p={p:.2f}"


def _bare_p(p: float) -> str:
    """p_text without the "p": for a table column headed p."""
    return p_text(p).removeprefix("p=").removeprefix("p")


# -- on a saved run ----------------------------------------------------------------------

PAIR_COLUMNS = ["model_a", "model_b", "accuracy_a", "accuracy_b", "difference", "ci_low",
                "ci_high", "only_a_right", "only_b_right", "mcnemar_p", "test",
                "adjusted_p", "real"]


# Columns summarised over repeats, and how tables head them.
REPEATED = {"accuracy": "accuracy", "fit_seconds": "fit s", "predict_seconds": "predict s"}


def repeat_summary(frame: pd.DataFrame, by: str | list[str]) -> pd.DataFrame:
    """Per group of ``by`` (the repeats of one job), from its ok rows: how many, and for
    accuracy, fit and predict time the mean, standard deviation and 95% Student's t interval
    (as text, empty for one repeat): columns "accuracy mean", "accuracy std",
    "accuracy 95% CI", and so on."""
    import pandas as pd

    from mlbench.reporting.document import number
    from mlbench.reporting.tables import ok_rows

    keys = [by] if isinstance(by, str) else list(by)
    rows = []
    for key, jobs in ok_rows(frame).groupby(keys, sort=True, dropna=False):
        row: dict[str, Any] = dict(zip(keys, key, strict=True))
        row["repeats"] = len(jobs)
        for column, label in REPEATED.items():
            summary = mean_interval(jobs[column].to_numpy(dtype=float))
            row[f"{label} mean"], row[f"{label} std"] = summary.mean, summary.std
            row[f"{label} 95% CI"] = ("" if math.isnan(summary.low)
                                      else f"{number(summary.low)} to {number(summary.high)}")
        rows.append(row)
    columns = [*keys, "repeats"] + [f"{label} {part}" for label in REPEATED.values()
                                    for part in ("mean", "std", "95% CI")]
    return pd.DataFrame(rows, columns=columns)


def _folder(folder: RunFolder | Path | str) -> RunFolder:
    from mlbench.results.folder import RunFolder

    return folder if isinstance(folder, RunFolder) else RunFolder(Path(folder))


def predicted_labels(folder: RunFolder | Path | str, job_id: str) -> np.ndarray | None:
    """The saved predicted label of every test image for one job, or None if not saved."""
    return _folder(folder).predicted_labels(job_id)


def correctness(frame: pd.DataFrame, folder: RunFolder | Path | str) -> dict[str, np.ndarray]:
    """Per model, whether it got each test image right: one job per model, the one that
    stands for it (``tables.chosen_jobs``: lowest repeat, CPU preferred). Models whose
    predictions were not saved, or do not match the test labels, are left out."""
    from mlbench.reporting import tables

    return tables.correctness(frame, _folder(folder))


def pairwise_significance(frame: pd.DataFrame,
                          folder: RunFolder | Path | str) -> pd.DataFrame:
    """Every pair of models in a run, tested on the same test images.

    One row per pair, the more accurate model first (``model_a``): both accuracies, their
    difference A - B (a fraction), its paired bootstrap 95% interval, the discordant counts,
    McNemar's p, Holm's adjusted p across all pairs, and ``real`` (adjusted p < 0.05).
    """
    return _pairs(correctness(frame, folder))


def _ranked(correct: dict[str, np.ndarray]) -> list[str]:
    """Models by accuracy, best first (ties by name)."""
    return sorted(correct, key=lambda model: (-float(correct[model].mean()), model))


def _pairs(correct: dict[str, np.ndarray]) -> pd.DataFrame:
    import pandas as pd

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


def pair_sentence(row: Any) -> str:
    """One pair in words: who beats whom, by how much, and whether it is real."""
    details = (f"95% CI {points(row.ci_low)} to {points(row.ci_high)}, "
               f"McNemar {p_text(row.adjusted_p)}")
    verdict = "real" if row.real else "could be chance"
    if row.difference == 0:
        return f"{row.model_a} and {row.model_b} are level ({details}): {verdict}."
    return (f"{row.model_a} beats {row.model_b} by {points(row.difference)} points "
            f"({details}): {verdict}.")


def significance_section(frame: pd.DataFrame, folder: RunFolder | Path | str) -> Section:
    """"Which differences are real": a sentence for each pair of neighbours in the accuracy
    ranking (readable with many models), and every pair in a table."""
    from mlbench.reporting.document import Bullets, Section, Table, Text

    title = "Which differences are real"
    correct = correctness(frame, folder)
    if len(correct) < 2:
        return Section(title, [Text("Needs at least two models with saved predictions on the "
                                    f"same test images; this run has {len(correct)}.")])
    table = _pairs(correct)
    ranked = _ranked(correct)
    neighbours = set(pairwise(ranked))
    adjacent = [row for row in table.itertuples() if (row.model_a, row.model_b) in neighbours]
    images = len(next(iter(correct.values())))
    explanation = Text(
        f"Each pair of models is compared on the same {images:,} test images (one job per "
        "model: the lowest repeat, on the CPU where it ran there). McNemar's test asks whether "
        "the images that only one of the two gets right split more unevenly than coin tosses "
        "would; the interval is a paired bootstrap of the accuracy difference (2,000 "
        f"resamples of the test images). p-values are Holm-adjusted across all {len(table)} "
        f"pairs, and a difference is called real when the adjusted p is below {ALPHA}: "
        f"{int(table['real'].sum())} of {len(table)} pairs are. The interval describes the "
        "size of a difference; the verdict comes from the adjusted p. Neighbours in the "
        "ranking:")
    shown = table.assign(difference=table["difference"].map(points),
                         ci_low=table["ci_low"].map(points), ci_high=table["ci_high"].map(points),
                         real=table["real"].map({True: "yes", False: "no"}),
                         mcnemar_p=table["mcnemar_p"].map(_bare_p),
                         adjusted_p=table["adjusted_p"].map(_bare_p))
    shown = shown.rename(columns={
        "model_a": "A", "model_b": "B", "accuracy_a": "accuracy A", "accuracy_b": "accuracy B",
        "difference": "A - B (points)", "ci_low": "CI low", "ci_high": "CI high",
        "only_a_right": "only A right", "only_b_right": "only B right",
        "mcnemar_p": "McNemar p", "adjusted_p": "Holm p"})
    return Section(title, [
        explanation,
        Bullets([pair_sentence(row) for row in adjacent]),
        Table(shown, caption="Every pair, the more accurate model as A; differences and 95% "
                             "intervals in percentage points."),
    ])


def extra_sections(frame: pd.DataFrame, folder: RunFolder | Path | str,
                   info: RunInfo) -> list[Section]:
    """The sections a run's report adds for honest comparisons: which differences between
    its models are real, and whether any built-in model is outside its published range."""
    from mlbench.reporting.reference import reference_section

    return [significance_section(frame, folder), reference_section(frame, info)]
