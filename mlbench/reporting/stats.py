"""Statistics for honest comparisons: is a difference in accuracy larger than chance?

Two kinds of question, two kinds of test:

- Two models scored on the *same* test images: McNemar's test on the images where exactly
  one of them is right, and a paired bootstrap interval of the accuracy difference. Pairing
  removes the test set's own difficulty from the comparison, so it sees differences an
  unpaired test would miss.
- One model run several times (``--repeats``): mean, standard deviation and a Student's t
  95% interval of its scores, which is what ``mlbench compare`` uses between runs.
- One accuracy on n test images, even from a single run: the Wilson score interval of a
  binomial proportion, the test set's own sampling error.
- Times: intervals of the geometric mean, computed on the log scale, so they never reach
  below zero (a time is positive and its noise multiplicative).

Everything here is a plain function of numbers (numpy and scipy only); ``significance``
applies them to a saved run. scipy comes with scikit-learn; statsmodels has McNemar and Holm
too, but it would add a large dependency (with patsy) for two short, well-known formulas,
written out here with their references.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

# scipy.special's distribution functions, not scipy.stats: importing scipy.stats takes about
# 0.9 s, which every `mlbench run` would pay while its workers start.
from scipy import special

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
      ``b + c`` tosses of a fair coin (as ``scipy.stats.binomtest``); the statistic is ``b``.
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
        # A fair coin's two tails are mirror images: twice the smaller tail, at most 1.
        p = min(1.0, 2 * float(special.bdtr(min(b, c), b + c, 0.5)))
        return McNemar(float(b), p, b, c)
    statistic = (abs(b - c) - 1) ** 2 / (b + c)
    return McNemar(float(statistic), float(special.chdtrc(1, statistic)), b, c)


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
    half = float(special.stdtrit(n - 1, (1 + CONFIDENCE) / 2)) * std / math.sqrt(n)
    return MeanInterval(mean, std, mean - half, mean + half, n)


def accuracy_interval(accuracy: Any, images: Any) -> Interval:
    """95% Wilson score interval of an accuracy measured on ``images`` test images (a mean
    over repeats is taken as that many hits, rounded): what the test set alone leaves
    uncertain, even for a deterministic model run once. NaN without an accuracy or images."""
    if _missing(images) or images <= 0 or _missing(accuracy):
        return Interval(math.nan, math.nan)
    hits = min(int(images), max(0, round(float(accuracy) * int(images))))
    n, share = int(images), hits / int(images)
    z = float(special.ndtri((1 + CONFIDENCE) / 2))
    center = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    # Rounding must not put the interval beside the measured share, or outside [0, 1].
    return Interval(max(0.0, min(share, center - half)), min(1.0, max(share, center + half)))


class TimeInterval(NamedTuple):
    """Geometric mean of ``n`` positive times and its 95% interval on the log scale
    (Student's t on the logs, back-transformed): never below zero; NaN bounds for n < 2."""

    center: float
    low: float
    high: float
    n: int


def time_interval(values: Sequence[float] | np.ndarray) -> TimeInterval:
    """See ``TimeInterval``. Times of 0 (a timer's resolution) count as a microsecond."""
    data = np.asarray(values, dtype=float)
    data = data[~np.isnan(data)]
    if data.size == 0:
        return TimeInterval(math.nan, math.nan, math.nan, 0)
    logs = np.log(np.maximum(data, 1e-6))
    spread = mean_interval(logs)
    center = float(np.exp(spread.mean))
    if spread.n < 2:
        return TimeInterval(center, math.nan, math.nan, spread.n)
    return TimeInterval(center, float(np.exp(spread.low)), float(np.exp(spread.high)), spread.n)


# When a difference in time is beyond the timing noise (the report's Summary and compare).
TIME_RATIO = 1.5  # a single run on either side: the slower must take this many times longer
MIN_SECONDS = 0.1  # below this on both sides, start-up and timer noise dominate: no claim
TIME_RULE = (f"one time is called faster than another only when the slower is {MIN_SECONDS} s "
             "or more and, with 2 or more repeats on each side, the 95% interval of their "
             "ratio (Welch's t on the log times) excludes 1; with a single run on either "
             f"side, only when one is at least {TIME_RATIO}x the other")


def time_differs(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> bool:
    """Whether two sets of times (repeats) differ beyond the timing noise: ``TIME_RULE``."""
    x, y = (np.asarray(values, dtype=float) for values in (a, b))
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    if x.size == 0 or y.size == 0 or max(np.median(x), np.median(y)) < MIN_SECONDS:
        return False
    if x.size >= 2 and y.size >= 2:
        # The interval compare prints beside the ratio, so a verdict never contradicts it.
        # (Min-max ranges apart was the rule before: with two repeats a side, pure noise
        # puts them apart one time in three.)
        ratio_interval = time_ratio(x, y)
        return bool(ratio_interval.low > 1 or ratio_interval.high < 1)
    ratio = float(np.median(y) / max(np.median(x), 1e-9))
    return ratio >= TIME_RATIO or ratio <= 1 / TIME_RATIO


def _missing(value: Any) -> bool:
    """None, NaN or pandas' NA."""
    try:
        return value is None or bool(value != value)
    except TypeError:  # pd.NA refuses to be a bool
        return True


def _welch(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(mean_a - mean_b, its standard error, Welch-Satterthwaite degrees of freedom); a set
    of equal values has no spread: exactly 0, not var()'s rounding error."""
    if a.size < 2 or b.size < 2:
        raise ValueError("Welch's t-test needs at least two values on each side")
    share_a, share_b = (0.0 if np.ptp(x) == 0 else float(x.var(ddof=1)) / x.size
                        for x in (a, b))
    difference = float(a.mean() - b.mean())
    if share_a + share_b == 0:
        return difference, 0.0, math.inf
    freedom = (share_a + share_b) ** 2 / (share_a**2 / (a.size - 1) + share_b**2 / (b.size - 1))
    return difference, math.sqrt(share_a + share_b), freedom


def welch_p(values_a: Sequence[float] | np.ndarray,
            values_b: Sequence[float] | np.ndarray) -> float:
    """Two-sided p of Welch's t-test (unequal variances) on two sets of repeats, each of at
    least two values: t = (mean_a - mean_b) / sqrt(var_a/n_a + var_b/n_b) on the
    Welch-Satterthwaite degrees of freedom. Written out rather than scipy's ttest_ind, which
    warns (and loses precision) when a set does not vary, common for deterministic models.
    When neither set varies, any difference is beyond the spread (p = 0), none is p = 1."""
    difference, error, freedom = _welch(np.asarray(values_a, dtype=float),
                                        np.asarray(values_b, dtype=float))
    if error == 0:
        return 1.0 if difference == 0 else 0.0
    return float(2 * special.stdtr(freedom, -abs(difference / error)))


def welch_interval(values_a: Sequence[float] | np.ndarray,
                   values_b: Sequence[float] | np.ndarray) -> Interval:
    """95% interval of mean_a - mean_b on Welch's t (the test of ``welch_p``); each set needs
    at least two values. When neither set varies, the difference itself at both ends."""
    difference, error, freedom = _welch(np.asarray(values_a, dtype=float),
                                        np.asarray(values_b, dtype=float))
    if error == 0:
        return Interval(difference, difference)
    half = float(special.stdtrit(freedom, (1 + CONFIDENCE) / 2)) * error
    return Interval(difference - half, difference + half)


def time_ratio(base: Sequence[float] | np.ndarray,
               other: Sequence[float] | np.ndarray) -> TimeInterval:
    """How many times longer ``other``'s times are than ``base``'s: the ratio of their
    geometric means, with a 95% interval from Welch's t on the log times, taken back (as
    ``time_interval``, never below zero). With a single time on either side: the ratio of
    the two medians and NaN bounds, since one run says nothing of its own noise. ``n`` is the
    smaller side's count."""
    a, b = (np.asarray(values, dtype=float) for values in (base, other))
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    n = int(min(a.size, b.size))
    if n == 0:
        return TimeInterval(math.nan, math.nan, math.nan, 0)
    logs_a, logs_b = (np.log(np.maximum(x, 1e-6)) for x in (a, b))
    if n < 2:
        return TimeInterval(float(np.exp(np.median(logs_b) - np.median(logs_a))), math.nan,
                            math.nan, n)
    low, high = welch_interval(logs_b, logs_a)
    return TimeInterval(float(np.exp(logs_b.mean() - logs_a.mean())), float(np.exp(low)),
                        float(np.exp(high)), n)


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


def bare_p(p: float) -> str:
    """p_text without the "p": for a table column headed p."""
    return p_text(p).removeprefix("p=").removeprefix("p")
