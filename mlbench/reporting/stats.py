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
- Times: geometric means, with intervals computed on the log scale, so they never reach
  below zero (a time is positive and its noise multiplicative), from the run's timing noise
  pooled over all its repeated jobs (``TimingNoise``), since two or three repeats of one
  model alone say almost nothing of their own spread.

Everything here is a plain function of numbers (numpy and scipy only); ``significance``
applies them to a saved run. scipy comes with scikit-learn; statsmodels has McNemar and Holm
too, but it would add a large dependency (with patsy) for two short, well-known formulas,
written out here with their references.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
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
    (Student's t on the logs, back-transformed): never below zero; NaN bounds where nothing
    is known of the noise."""

    center: float
    low: float
    high: float
    n: int


# When a difference in time is beyond the timing noise (the report's Summary and compare).
TIME_RATIO = 1.5  # a single run on either side: the slower must take this many times longer
MIN_SECONDS = 0.1  # below this on both sides, start-up and timer noise dominate: no claim


def _logs(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Log times, NaN dropped; a time of 0 (a timer's resolution) counts as a microsecond."""
    data = np.asarray(values, dtype=float)
    return np.log(np.maximum(data[~np.isnan(data)], 1e-6))


def geometric_mean(values: Sequence[float] | np.ndarray) -> float:
    """The centre every table, chart, headline and comparison gives a time (NaN: none)."""
    logs = _logs(values)
    return float(np.exp(logs.mean())) if logs.size else math.nan


class TimingNoise(NamedTuple):
    """What a run knows of its own timing noise: the variance of log times between repeats
    of the same job, pooled over every job timed two or more times (one-way ANOVA's
    within-group mean square), on ``freedom`` degrees of freedom (the sum of each job's
    repeats less one). A model alone with 2 repeats has one degree of freedom (t = 12.7: an
    interval spanning a factor of thousands); pooled over a run's models it has many. It
    assumes the machine's relative noise is alike across the run's jobs, which holds for
    times measured over ``MIN_SECONDS`` or more (a short predict timed over many calls is);
    shorter ones are left out of the pool, unless they are all there is. ``between``: a
    comparison of two runs adds the noise between runs (the sd of a log time from one run to
    the next), which repeats within one run do not see."""

    variance: float
    freedom: int
    between: float = 0.0

    @classmethod
    def pooled(cls, groups: Iterable[Sequence[float] | np.ndarray],
               measured: Iterable[float] | None = None) -> TimingNoise:
        """``measured``: per group, the seconds its times were measured over (a short call
        timed over many calls: their total), where that is more than the time itself."""
        groups = list(groups)
        spans = [geometric_mean(group) for group in groups] if measured is None \
            else list(measured)
        measured_logs = [(_logs(group), span) for group, span in zip(groups, spans,
                                                                      strict=True)]
        logs = [group for group, _ in measured_logs if group.size]
        long = [group for group, span in measured_logs if group.size and span >= MIN_SECONDS]
        squares, freedom = 0.0, 0
        for group in long or logs:
            if group.size >= 2:
                squares += float(((group - group.mean()) ** 2).sum())
                freedom += group.size - 1
        return cls(squares / freedom if freedom else math.nan, freedom)

    def known(self) -> bool:
        return self.freedom > 0 or self.between > 0

    def half_width(self, *counts: int) -> float:
        """Half the 95% interval of a mean log time over ``counts[0]`` repeats, or of a
        difference of two such means; NaN where nothing is known of the noise."""
        if not self.known() or min(counts) < 1:
            return math.nan
        within = self.variance * sum(1 / n for n in counts) if self.freedom else 0.0
        quantile = (float(special.stdtrit(self.freedom, (1 + CONFIDENCE) / 2)) if self.freedom
                    else float(special.ndtri((1 + CONFIDENCE) / 2)))
        return quantile * math.sqrt(within + self.between**2)

    def describe(self) -> str:
        """The noise as people read it: "±9% (pooled over 14 repeated jobs' 28 degrees...)"."""
        if not self.freedom:
            return "no job was timed twice"
        return (f"a repeat's time varies by a factor of about "
                f"{math.exp(math.sqrt(self.variance)):.2f} (one standard deviation, pooled over "
                f"the jobs timed twice or more: {self.freedom} degrees of freedom)")


def time_interval(values: Sequence[float] | np.ndarray,
                  noise: TimingNoise | None = None) -> TimeInterval:
    """The geometric mean of ``values`` and its 95% interval on the log scale, from the run's
    pooled ``noise`` (``TimingNoise``; by default the values' own spread alone)."""
    logs = _logs(values)
    if logs.size == 0:
        return TimeInterval(math.nan, math.nan, math.nan, 0)
    noise = TimingNoise.pooled([values]) if noise is None else noise
    center, half = float(logs.mean()), noise.half_width(logs.size)
    return TimeInterval(float(np.exp(center)), float(np.exp(center - half)),
                        float(np.exp(center + half)), int(logs.size))


def time_ratio(base: Sequence[float] | np.ndarray, other: Sequence[float] | np.ndarray,
               noise: TimingNoise | None = None) -> TimeInterval:
    """How many times longer ``other``'s times are than ``base``'s: the ratio of their
    geometric means, with a 95% interval from the run's pooled ``noise`` on the log scale
    (by default the two sets' own spread, pooled), taken back: never below zero; NaN bounds
    where nothing is known of the noise. ``n`` is the smaller side's count."""
    a, b = _logs(base), _logs(other)
    n = int(min(a.size, b.size))
    if n == 0:
        return TimeInterval(math.nan, math.nan, math.nan, 0)
    noise = TimingNoise.pooled([base, other]) if noise is None else noise
    difference, half = float(b.mean() - a.mean()), noise.half_width(a.size, b.size)
    return TimeInterval(float(np.exp(difference)), float(np.exp(difference - half)),
                        float(np.exp(difference + half)), n)


TIME_RULE = ("one time is called faster than another only when the slower was measured over "
             f"{MIN_SECONDS} s or more (a short predict is timed over many calls) and either "
             f"it is {TIME_RATIO}x the other or more (the rule for a single run, kept at every "
             "count of repeats, so more repeats never give fewer conclusions), or the 95% "
             "interval of their ratio excludes 1; times are compared by their geometric means "
             "over repeats, and the interval comes from the run's timing noise pooled over "
             "every job timed twice or more (Student's t on the log times)")


def time_differs(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
                 noise: TimingNoise | None = None, measured: float | None = None) -> bool:
    """Whether two sets of times (repeats) differ beyond the timing noise: ``TIME_RULE``
    (``noise``: the run's pooled noise, by default the two sets' own; ``measured``: the
    seconds the slower was measured over, where more than the time itself, as a short call
    timed over many calls)."""
    ratio = time_ratio(a, b, noise)
    slower = max(geometric_mean(a), geometric_mean(b)) if measured is None else measured
    if ratio.n == 0 or slower < MIN_SECONDS:
        return False
    if ratio.center >= TIME_RATIO or ratio.center <= 1 / TIME_RATIO:
        return True
    return bool(ratio.low > 1 or ratio.high < 1)


# Between two runs, a time also moves for reasons repeats within one run never see (the
# machine's clock and cache state, another tenant, which core a job landed on): the standard
# deviation of a log time from one run to the next, on top of the within-run noise. Measured
# on this project's 2-core machines by tests/benchmarks/false_alarms.py (BENCHMARKS.md);
# ``mlbench compare --run-noise`` sets another.
BETWEEN_RUNS = 0.10


def runs_ratio(base: Sequence[float] | np.ndarray, other: Sequence[float] | np.ndarray,
               noise: TimingNoise) -> TimeInterval:
    """``time_ratio`` of one model's times in two runs: the within-run noise is the larger
    of ``noise`` (both runs' pooled) and these two sets' own (a model noisier than the runs'
    others keeps its own), plus ``noise.between``."""
    own = TimingNoise.pooled([base, other])
    within = own if own.freedom and (not noise.freedom or own.variance > noise.variance) \
        else noise
    return time_ratio(base, other, within._replace(between=noise.between))


def runs_rule(between: float = BETWEEN_RUNS) -> str:
    """How ``runs_differ`` decides, in words, for the noise between runs allowed for."""
    return ("between two runs, a time is called longer or shorter only when the slower is "
            f"{MIN_SECONDS} s or more and the 95% interval of the ratio of the "
            "geometric means excludes 1, the interval allowing for the noise within each run "
            "(pooled over the runs' repeated jobs, or the model's own where larger) and for "
            f"the noise between runs (a standard deviation of {between:.0%} of a time, on the "
            "log scale; --run-noise sets it); with a single run on both sides, the slower "
            f"must also be {TIME_RATIO}x the other; disturbed jobs are left out")


def runs_differ(base: Sequence[float] | np.ndarray, other: Sequence[float] | np.ndarray,
                noise: TimingNoise, measured: float | None = None) -> bool:
    """Whether one model's times in two runs differ beyond the noise: ``runs_rule``
    (``measured`` as for ``time_differs``)."""
    ratio = runs_ratio(base, other, noise)
    slower = max(geometric_mean(base), geometric_mean(other)) if measured is None \
        else measured
    if ratio.n == 0 or slower < MIN_SECONDS:
        return False
    if ratio.low <= 1 <= ratio.high or math.isnan(ratio.low):
        return False
    single = TimingNoise.pooled([base, other]).freedom == 0 and noise.freedom == 0
    return not single or ratio.center >= TIME_RATIO or ratio.center <= 1 / TIME_RATIO


def pool(*noises: TimingNoise) -> TimingNoise:
    """Several runs' timing noise as one (their squares and degrees of freedom added)."""
    freedom = sum(noise.freedom for noise in noises)
    squares = sum(noise.variance * noise.freedom for noise in noises if noise.freedom)
    return TimingNoise(squares / freedom if freedom else math.nan, freedom,
                       max((noise.between for noise in noises), default=0.0))


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
