"""The statistics behind honest comparisons, held against an independent implementation
(statsmodels' McNemar and Holm, scipy's Welch and t interval) or a published worked example,
never against a restatement of the code's own formula; and the reference ranges of the
built-in models, held against the sources they cite."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.contingency_tables import mcnemar as statsmodels_mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from mlbench.contract.registry import load_registry
from mlbench.reporting import reference, significance, stats
from mlbench.reporting.document import (
    Details,
    Document,
    Section,
    Table,
    Text,
    to_html,
    to_markdown,
)
from mlbench.results.folder import RunFolder
from mlbench.results.run import Run
from mlbench.results.run_info import ModelInfo, RunInfo
from mlbench.results.table import to_frame

BUILT_INS = ["linear", "logistic", "naive-bayes", "knn", "svm", "random-forest", "perceptron",
             "mlp", "keras-cnn", "torch-cnn", "torch-cnn-fused", "xgboost", "lightgbm",
             "svm-onedal", "knn-onedal", "random-forest-onedal", "knn-faiss"]


def scores(right: int, wrong: int) -> np.ndarray:
    return np.array([True] * right + [False] * wrong)


def discordant(b: int, c: int, both_right: int = 50, both_wrong: int = 10
               ) -> tuple[np.ndarray, np.ndarray]:
    """Per-image correctness of two models with b images only A gets right, c only B."""
    a = np.array([True] * both_right + [True] * b + [False] * c + [False] * both_wrong)
    other = np.array([True] * both_right + [False] * b + [True] * c + [False] * both_wrong)
    return a, other


# -- McNemar -------------------------------------------------------------------------------

def two_by_two(a: np.ndarray, b: np.ndarray) -> list[list[int]]:
    """The paired 2x2 table statsmodels takes: rows A right/wrong, columns B right/wrong."""
    return [[int(np.sum(a & b)), int(np.sum(a & ~b))], [int(np.sum(~a & b)), int(np.sum(~a & ~b))]]


@pytest.mark.parametrize(("b", "c"), [(121, 59), (150, 86), (13, 12), (40, 25), (300, 310)])
def test_mcnemar_chi_square_agrees_with_statsmodels(b: int, c: int) -> None:
    # (121, 59): Wikipedia's McNemar example; (150, 86): Agresti's approval ratings.
    a, other = discordant(b, c)
    result = stats.mcnemar(a, other)
    expected = statsmodels_mcnemar(two_by_two(a, other), exact=False, correction=True)
    assert (result.b, result.c) == (b, c)
    assert not result.exact and "chi-square" in result.method
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_mcnemar_of_a_published_example() -> None:
    # Agresti, An Introduction to Categorical Data Analysis (2nd ed., section 8.1.1): approval
    # of the Prime Minister in two surveys, 150 approve-then-disapprove and 86 the reverse;
    # McNemar's z = (86 - 150) / sqrt(86 + 150) = -4.17 without continuity correction, so
    # |z| = 4.17 (p < 0.001). Edwards' correction takes 1 from |b - c| = |z| * sqrt(b + c).
    result = stats.mcnemar(*discordant(150, 86))
    corrected = (4.17 * math.sqrt(150 + 86) - 1) ** 2 / (150 + 86)
    assert result.statistic == pytest.approx(corrected, rel=3e-3)
    assert result.p_value < 0.001


@pytest.mark.parametrize(("b", "c"), [(1, 6), (0, 3), (3, 0), (5, 5), (20, 4), (2, 9)])
def test_mcnemar_exact_agrees_with_statsmodels(b: int, c: int) -> None:
    a, other = discordant(b, c)
    result = stats.mcnemar(a, other)
    expected = statsmodels_mcnemar(two_by_two(a, other), exact=True)
    assert result.exact and result.method == "exact binomial"
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)


def test_mcnemar_exact_by_hand() -> None:
    # 1 of 7 discordant images one way: P(X <= 1) for X ~ Binomial(7, 1/2) = 8 / 128, both
    # tails 0.125; nothing discordant: nothing to test.
    assert stats.mcnemar(*discordant(1, 6)).p_value == pytest.approx(0.125)
    assert stats.mcnemar(*discordant(0, 0)).p_value == 1.0


def test_mcnemar_switches_to_chi_square_at_25_discordant_images() -> None:
    assert stats.mcnemar(*discordant(12, 12)).exact  # 24
    assert not stats.mcnemar(*discordant(13, 12)).exact  # 25
    exact = stats.mcnemar(*discordant(20, 4))
    assert exact.p_value == pytest.approx(scipy_stats.binomtest(20, 24).pvalue)


def test_mcnemar_is_symmetric_and_checks_its_input() -> None:
    a, b = discordant(30, 12)
    assert stats.mcnemar(a, b).p_value == stats.mcnemar(b, a).p_value
    with pytest.raises(ValueError, match="one score per image"):
        stats.mcnemar(a, b[:-1])


# -- bootstrap -----------------------------------------------------------------------------

def test_bootstrap_of_identical_models_is_zero() -> None:
    correct = np.random.default_rng(1).random(500) < 0.9
    assert stats.paired_bootstrap(correct, correct) == (0.0, 0.0)


def test_bootstrap_brackets_a_big_difference_and_is_reproducible() -> None:
    rng = np.random.default_rng(2)
    a = rng.random(2000) < 0.95
    b = a & (rng.random(2000) < 0.8)  # B loses about a fifth of A's right answers
    low, high = stats.paired_bootstrap(a, b)
    observed = a.mean() - b.mean()
    assert 0 < low < observed < high
    assert stats.paired_bootstrap(a, b) == (low, high)  # same seed, same interval
    assert stats.paired_bootstrap(a, b, seed=1) != (low, high)


def index_bootstrap(a: np.ndarray, b: np.ndarray, resamples: int = 2000) -> tuple[float, float]:
    """The textbook paired bootstrap, literally: resample image indices, same for both."""
    rng = np.random.default_rng(123)
    indices = rng.integers(0, a.size, size=(resamples, a.size))
    differences = a[indices].mean(axis=1) - b[indices].mean(axis=1)
    low, high = np.percentile(differences, [2.5, 97.5])
    return float(low), float(high)


def test_bootstrap_matches_resampling_image_indices() -> None:
    rng = np.random.default_rng(3)
    a = rng.random(1000) < 0.9
    b = np.where(rng.random(1000) < 0.15, ~a, a)  # correlated mistakes, as real models make
    ours, literal = stats.paired_bootstrap(a, b), index_bootstrap(a, b)
    assert ours.low == pytest.approx(literal[0], abs=0.004)
    assert ours.high == pytest.approx(literal[1], abs=0.004)


def test_bootstrap_interval_of_one_accuracy() -> None:
    assert stats.bootstrap_interval(np.ones(100, dtype=bool)) == (1.0, 1.0)
    low, high = stats.bootstrap_interval(scores(9000, 1000))
    half = 1.96 * math.sqrt(0.9 * 0.1 / 10000)  # the normal approximation
    assert low == pytest.approx(0.9 - half, abs=0.0015)
    assert high == pytest.approx(0.9 + half, abs=0.0015)
    assert all(math.isnan(v) for v in stats.bootstrap_interval([]))


# -- repeats -------------------------------------------------------------------------------

@pytest.mark.parametrize("values", [[1.0, 2.0, 3.0], [0.91, 0.95, 0.93, 0.97, 0.90]])
def test_mean_interval_agrees_with_scipy(values: list[float]) -> None:
    result = stats.mean_interval(values)
    low, high = scipy_stats.t.interval(0.95, len(values) - 1, loc=np.mean(values),
                                       scale=scipy_stats.sem(values))
    assert (result.mean, result.n) == (pytest.approx(np.mean(values)), len(values))
    assert result.std == pytest.approx(np.std(values, ddof=1))
    assert (result.low, result.high) == (pytest.approx(low), pytest.approx(high))
    if values == [1.0, 2.0, 3.0]:  # t(0.975, 2) = 4.303 from any table of Student's t
        assert result.high - 2.0 == pytest.approx(4.303 / math.sqrt(3), abs=1e-3)


def test_mean_interval_of_one_value_has_no_spread() -> None:
    one = stats.mean_interval([0.97])
    assert one.mean == 0.97 and one.n == 1
    assert math.isnan(one.std) and math.isnan(one.low) and math.isnan(one.high)
    none = stats.mean_interval([])
    assert none.n == 0 and math.isnan(none.mean)


def test_repeat_summary_by_hand() -> None:
    frame = pd.DataFrame({
        "model": ["a", "a", "a", "b", "b"], "device": "cpu",
        "status": ["ok", "ok", "ok", "ok", "failed"], "test_size": 500,
        "accuracy": [0.90, 0.92, 0.94, 0.80, math.nan],
        "fit_seconds": [1.0, 2.0, 3.0, 5.0, math.nan],
        "predict_seconds": [0.1, 0.1, 0.1, 0.2, math.nan]})
    summary = significance.repeat_summary(frame, ["model", "device"]).set_index("model")
    a, b = summary.loc["a"], summary.loc["b"]
    assert a["repeats"] == 3 and a["accuracy mean"] == pytest.approx(0.92)
    assert a["accuracy std"] == pytest.approx(0.02)
    half = 4.302653 * 0.02 / math.sqrt(3)  # t(0.975, 2) x std / sqrt(3)
    assert a["accuracy 95% CI (seeds)"] == f"{0.92 - half:.4f} to {0.92 + half:.4f}"
    low, high = proportion_confint(460, 500, alpha=0.05, method="wilson")  # 0.92 of 500
    assert a["accuracy 95% CI (test images)"] == f"{low:.4f} to {high:.4f}"
    # Times: the geometric mean, and the t interval of the logs taken back: 1, 2, 3 s give
    # exp(mean(log)) = 6 ** (1/3), never a bound below zero (a plain t interval: -0.48).
    logs = np.log([1.0, 2.0, 3.0])
    spread = 4.302653 * logs.std(ddof=1) / math.sqrt(3)
    assert a["fit s geo. mean"] == pytest.approx(6 ** (1 / 3))
    assert a["fit s 95% CI"] == (f"{math.exp(logs.mean() - spread):.3g} to "
                                 f"{math.exp(logs.mean() + spread):.3g}")
    assert a["predict s 95% CI"] == "0.1 to 0.1"  # equal times: no spread
    # One ok repeat: a mean and its interval over the test images, no spread over seeds
    # (never a false 0).
    assert b["repeats"] == 1 and b["accuracy mean"] == 0.80
    assert math.isnan(b["accuracy std"]) and b["accuracy 95% CI (seeds)"] == ""
    low, high = proportion_confint(400, 500, alpha=0.05, method="wilson")
    assert b["accuracy 95% CI (test images)"] == f"{low:.4f} to {high:.4f}"
    # A single repeat still has a time interval: the run's noise, pooled from a's repeats
    # (the one group timed twice or more), on a's 2 degrees of freedom.
    assert b["fit s 95% CI"] == (f"{5.0 * math.exp(-spread * math.sqrt(3)):.3g} to "
                                 f"{5.0 * math.exp(spread * math.sqrt(3)):.3g}")


@pytest.mark.parametrize(("accuracy", "images"), [(0.9694, 360), (0.9911, 10_000),
                                                   (1.0, 50), (0.0, 12), (0.5, 7)])
def test_accuracy_interval_is_wilsons(accuracy: float, images: int) -> None:
    """Against statsmodels: the test set's sampling error, even for a deterministic model;
    about ±1.8 points on 360 digits, ±0.2 on 10,000 (the issue's figures)."""
    low, high = stats.accuracy_interval(accuracy, images)
    expected = proportion_confint(round(accuracy * images), images, alpha=0.05,
                                  method="wilson")
    assert (low, high) == pytest.approx(expected, abs=1e-9)
    assert 0 <= low <= accuracy <= high <= 1
    assert math.isnan(stats.accuracy_interval(0.9, 0).low)
    assert math.isnan(stats.accuracy_interval(math.nan, 100).low)


def test_time_intervals_are_positive_even_with_a_wild_spread() -> None:
    times = [0.01, 5.0, 0.02]
    assert stats.mean_interval(times).low < 0  # what a plain t interval would say
    interval = stats.time_interval(times)
    assert 0 < interval.low < interval.center < interval.high
    assert interval.center == pytest.approx(0.1)  # (0.01 x 5 x 0.02) ** (1/3)
    one = stats.time_interval([2.0])
    assert one.center == 2.0 and math.isnan(one.low) and one.n == 1


@pytest.mark.parametrize(("a", "b", "differs"), [
    ([1.0], [1.4], False),  # one run each: 1.4x is within the noise
    ([1.0], [1.6], True),  # 1.6x is not
    ([0.01], [0.09], False),  # under 0.1 s on both sides: no claim at all
    ([1.0, 1.1, 1.2], [1.15, 1.3], False),  # repeats whose ranges overlap
    # Ranges apart, yet with 3 and 2 repeats noise alone puts them so one time in five:
    # the ratio's interval (1.16x, 0.95 to 1.42) holds 1.
    ([1.0, 1.1, 1.2], [1.25, 1.3], False),
    ([1.0, 1.02, 1.01], [1.5, 1.52, 1.49], True),  # a clear 1.5x with little spread
    ([1.0, 1.001], [1.02, 1.021], True),  # a small difference, measured very steadily
    ([1.0, 1.1], [1.4], False),  # a single run on one side: the ratio rule
])
def test_time_differs(a: list[float], b: list[float], differs: bool) -> None:
    assert stats.time_differs(a, b) is differs
    assert stats.time_differs(b, a) is differs


def test_timing_noise_is_anovas_pooled_within_group_variance() -> None:
    """Against statsmodels: the residual mean square of log time on one dummy per job (a
    one-way ANOVA), on the sum of (repeats - 1) degrees of freedom."""
    import statsmodels.formula.api as smf

    groups = {"a": [1.0, 1.1, 0.95], "b": [0.3, 0.33], "c": [12.0, 11.0, 12.5, 11.8],
              "d": [2.0]}
    noise = stats.TimingNoise.pooled(groups.values())
    data = pd.DataFrame([(name, math.log(t)) for name, times in groups.items() for t in times],
                        columns=["job", "log_time"])
    fitted = smf.ols("log_time ~ C(job)", data).fit()
    assert noise.freedom == fitted.df_resid == 2 + 1 + 3
    assert noise.variance == pytest.approx(fitted.mse_resid, rel=1e-12)
    # A time interval on it: the group's geometric mean +- t(0.975, 6) x s / sqrt(n).
    interval = stats.time_interval(groups["a"], noise)
    half = scipy_stats.t.ppf(0.975, 6) * math.sqrt(fitted.mse_resid / 3)
    centre = np.log(groups["a"]).mean()
    assert (interval.low, interval.high) == pytest.approx(
        (math.exp(centre - half), math.exp(centre + half)), rel=1e-9)
    # Times under MIN_SECONDS stay out of the pool (their noise is the timer's) unless
    # they are all there is.
    assert stats.TimingNoise.pooled([[0.01, 0.03], [1.0, 1.1]]).freedom == 1
    assert stats.TimingNoise.pooled([[0.01, 0.03], [0.02, 0.05]]).freedom == 2


def test_two_repeats_give_useful_intervals_when_pooled() -> None:
    """The issue's case: with 2 repeats a model's own t has one degree of freedom (12.7),
    which made intervals like "3.23e-10 to 37,112 s"; pooled over the run's models every
    interval spans far less than a factor of 10."""
    run = {"svm": [1.0, 1.05], "knn": [0.48, 0.5], "random-forest": [0.9, 0.97],
           "mlp": [0.45, 0.6], "logistic": [1.55, 1.62], "naive-bayes": [0.2, 0.21]}
    alone = stats.time_interval(run["mlp"])
    assert alone.high / alone.low > 10  # the model's own spread: useless
    noise = stats.TimingNoise.pooled(run.values())
    assert noise.freedom == 6
    for times in run.values():
        interval = stats.time_interval(times, noise)
        assert interval.high / interval.low < 2
    # and the verdicts the old rule missed: svm against knn is 2.1x, beyond the noise.
    assert stats.time_differs(run["knn"], run["svm"], noise)


def test_more_repeats_never_turn_beyond_the_noise_into_within() -> None:
    """Adding repeats whose geometric mean is the first run's (the same evidence of the
    centre, plus evidence of the spread) never loses a verdict the single run gave; 2,000
    random pairs of models, 0.05 s to 20 s, each repeat up to 1.6x off either way."""
    rng = np.random.default_rng(0)
    beyond = 0
    for _ in range(2000):
        first = np.exp(rng.normal(0, 1.5, size=2))
        spread = rng.uniform(0, 0.5, size=2)
        three = [np.array([t, t * math.exp(d), t * math.exp(-d)])
                 for t, d in zip(first, spread, strict=True)]
        single = stats.time_differs([first[0]], [first[1]])
        assert stats.time_differs(three[0], three[1], stats.TimingNoise.pooled(three)) or (
            not single)
        beyond += single
    assert beyond > 500  # the premise: many single-run verdicts to keep


@pytest.mark.parametrize(("a", "b"), [
    ([0.91, 0.93, 0.95, 0.92], [0.96, 0.97, 0.99]),
    ([0.9701, 0.9705, 0.9699], [0.9712, 0.9690]),
    ([0.5, 0.6, 0.7, 0.8, 0.9], [0.55, 0.56]),
])
def test_welch_agrees_with_scipy_and_handles_no_spread(a: list[float], b: list[float]) -> None:
    expected = scipy_stats.ttest_ind(a, b, equal_var=False).pvalue
    assert stats.welch_p(a, b) == pytest.approx(expected, rel=1e-9)
    assert stats.welch_p([0.9] * 3, [0.9] * 3) == 1.0
    assert stats.welch_p([0.9] * 3, [0.8] * 3) == 0.0
    with pytest.raises(ValueError):
        stats.welch_p([0.9], [0.9, 0.8])


@pytest.mark.parametrize("p_values", [
    [0.01, 0.04, 0.03],
    [0.5, 0.6],
    [0.001, 0.2, 0.0101, 0.04, 0.9, 0.03],
    list(np.random.default_rng(4).random(28) ** 3),  # the pairs of 8 models
])
def test_holm_agrees_with_statsmodels(p_values: list[float]) -> None:
    _, expected, _, _ = multipletests(p_values, method="holm")
    np.testing.assert_allclose(stats.holm(p_values), expected, rtol=1e-12)


def test_holm_of_a_published_example() -> None:
    # Holm (1979)'s procedure as Wikipedia's "Holm-Bonferroni method" example runs it: four
    # p-values 0.01, 0.04, 0.03, 0.005 at alpha 0.05 reject only the first and the fourth.
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.005])
    assert list(adjusted < 0.05) == [True, False, False, True]
    assert stats.holm([]).size == 0


def test_p_text() -> None:
    assert [stats.p_text(p) for p in (0.0001, 0.0234, 0.41)] == ["p<0.001", "p=0.023",
                                                                 "p=0.41"]


# -- on a saved run ------------------------------------------------------------------------

def job(model: str, accuracy: float, device: str = "cpu", repeat: int = 0,
        **extra: Any) -> dict[str, Any]:
    return {"job_id": f"{model}-{device}-r{repeat}", "model": model, "device": device,
            "repeat": repeat, "status": "ok", "accuracy": accuracy, "dataset": "mnist",
            "train_size": 60000, "test_size": 10000, "params": {}, **extra}


def saved_run(tmp_path: Path, predictions: dict[str, np.ndarray],
              labels: np.ndarray) -> Run:
    """A run folder with run.json, test labels and one saved prediction file per job id."""
    folder = RunFolder(tmp_path / "run")
    folder.write_run({"dataset": {"name": "mnist"}})
    folder.save_test_labels(labels)
    for job_id, predicted in predictions.items():
        model, device, repeat = job_id.rsplit("-", 2)
        record = job(model, float(np.mean(predicted == labels)), device, int(repeat[1:]))
        folder.save_job(record, {"predicted": predicted})
    return Run.open(folder.path)


@pytest.fixture
def three_models(tmp_path: Path) -> Run:
    labels = np.arange(1000) % 10
    wrong = (labels + 1) % 10
    good = labels.copy()
    near = labels.copy()
    near[[5, 50, 500]] = wrong[[5, 50, 500]]  # differs from good in 3 images only
    poor = np.where(np.arange(1000) % 10 < 7, labels, wrong)  # 70% right
    return saved_run(tmp_path, {
        "good-cpu-r0": good, "near-cpu-r0": near, "poor-cpu-r0": poor,
        # Not chosen: tables.chosen_jobs takes repeat 0 on the CPU.
        "good-cpu-r1": wrong, "good-gpu-r0": wrong,
    }, labels)


def test_pairwise_significance(three_models: Run) -> None:
    run = three_models
    table = significance.pairwise_significance(run)
    assert list(table.columns) == significance.PAIR_COLUMNS
    pairs = {(row.model_a, row.model_b): row for row in table.itertuples()}
    assert set(pairs) == {("good", "near"), ("good", "poor"), ("near", "poor")}

    close = pairs[("good", "near")]  # 3 images apart: exact test, 2 / 2^3
    assert (close.accuracy_a, close.accuracy_b) == (1.0, 0.997)
    assert (close.only_a_right, close.only_b_right) == (3, 0)
    assert close.mcnemar_p == pytest.approx(0.25) and close.test == "exact binomial"
    assert not close.real

    far = pairs[("good", "poor")]
    assert far.difference == pytest.approx(0.3) and far.real
    assert far.ci_low > 0.25 and far.ci_high <= 0.35
    # Holm: the smallest of three p-values is multiplied by 3.
    assert far.adjusted_p == pytest.approx(3 * far.mcnemar_p)
    assert (table["adjusted_p"] >= table["mcnemar_p"]).all()


def test_significance_section(three_models: Run, tmp_path: Path) -> None:
    run = three_models
    section = significance.significance_section(run)
    assert section.title == "Which differences are real"
    _, neighbours, every_pair = section.blocks
    # The pairs that matter, one row per model: its lead over the next in the ranking
    # (good > near > poor), and the models it could be level with.
    assert isinstance(neighbours, Table)
    rows = neighbours.frame
    assert list(rows["model"]) == ["good", "near", "poor"]
    assert list(rows["next model"]) == ["near", "poor", ""]
    assert list(rows["lead (points)"]) == ["0.3", "29.7", ""]
    assert list(rows["Holm p"])[1] == "<0.001"
    assert list(rows["verdict"]) == ["could be chance", "beyond chance", ""]
    assert list(rows["could be level with"]) == ["near", "good", ""]
    # Every pair, folded, without the method repeated in each row: it is said once.
    assert isinstance(every_pair, Details) and every_pair.summary.startswith("Every pair (3)")
    (pairs,) = every_pair.blocks
    assert isinstance(pairs, Table) and len(pairs.frame) == 3
    assert "test" not in pairs.frame.columns
    text = to_markdown(Document("r", [section]))
    assert text.count("chi-square") == 1 and "exact binomial where fewer than 25" in text
    assert "<details><summary>Every pair (3), the more accurate model as A</summary>" in text
    assert "| good " in text and "| poor " in text
    page = to_html(Document("r", [section]), tmp_path)
    assert "<details><summary>Every pair (3)" in page and page.count("chi-square") == 1


def test_significance_section_needs_two_models(tmp_path: Path) -> None:
    labels = np.arange(100) % 10
    run = saved_run(tmp_path, {"knn-cpu-r0": labels}, labels)
    section = significance.significance_section(run)
    assert "this run has 1" in section_text(section)


def test_extra_sections(three_models: Run) -> None:
    sections = significance.extra_sections(three_models)
    assert [s.title for s in sections] == ["Which differences are real", "Reference ranges"]
    assert all(isinstance(s, Section) for s in sections)


# -- reference ranges ----------------------------------------------------------------------

CITATION = re.compile(r"https?://\S+|\b[A-Z][a-z]+ et al\.? (19|20)\d\d\b")
# Figures a source quotes: "12.0% error", "7.6-12% error", "99.25% test accuracy", "0.968".
PERCENT = re.compile(r"(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?%")
FRACTION = re.compile(r"(?<![\d.])0\.\d+")


def quoted_accuracies(source: str) -> list[float]:
    """Every accuracy a source quotes: percentages below 50 are error rates, the rest
    accuracies; plain fractions are accuracies. URLs are left out (they hold ids)."""
    text = re.sub(r"https?://\S+", " ", source)
    figures = []
    for match in PERCENT.finditer(text):
        for number in filter(None, match.groups()):
            value = float(number) / 100
            figures.append(1 - value if value < 0.5 else value)
    text = PERCENT.sub(" ", text)
    return figures + [float(number) for number in FRACTION.findall(text)]


def test_quoted_accuracies_reads_error_rates_and_accuracies() -> None:
    assert quoted_accuracies("linear classifier 12.0% error; deskewed 7.6%") == [
        pytest.approx(0.88), pytest.approx(0.924)]
    assert quoted_accuracies("CNNs 0.7-1.7% error; 'Gets to 99.25% test accuracy'") == [
        pytest.approx(0.993), pytest.approx(0.983), pytest.approx(0.9925)]
    assert quoted_accuracies("0.968 with 2000 trees (https://x.org/q/0.55)") == [0.968]


def recorded(dataset: str = "mnist", models: list[str] = BUILT_INS) -> RunInfo:
    """run.json as a run of ``models`` on ``dataset`` records it: each model's plugin's
    colour and published ranges, read from the registry as the runner does."""
    registry = load_registry()
    return RunInfo.from_json({"dataset": {"name": dataset}, "models": {
        name: ModelInfo.of(registry.models[name]).to_json() for name in models}})


def test_reference_ranges_stand_on_their_sources() -> None:
    """Each built-in's range on full MNIST, as its plugin declares it and a run records it,
    cites where it comes from (a URL or an author and year), and every figure its sources
    quote lies inside it: the range is the literature's, not fitted to this project's own
    measurements."""
    ranges = reference.reference_ranges(recorded())
    assert list(ranges.columns) == ["model", "dataset", "train_size", "low", "high", "source",
                                    "note"]
    mnist = ranges[ranges["dataset"] == "mnist"].set_index("model")
    assert sorted(mnist.index) == sorted(BUILT_INS)
    assert (mnist["train_size"] == 60000).all()
    for model, row in mnist.iterrows():
        assert 0.1 < row["low"] < row["high"] <= 1, model  # above chance (ten classes)
        assert CITATION.search(row["source"]), f"{model}: no URL or citation in its source"
        figures = quoted_accuracies(row["source"])
        assert figures, f"{model}: its source quotes no figure"
        outside = [f for f in figures if not row["low"] <= f <= row["high"]]
        assert outside == [], f"{model}: quoted {outside}, outside {row['low']}-{row['high']}"


def test_a_run_saved_before_ranges_were_recorded_is_not_judged() -> None:
    old = RunInfo.from_json({"dataset": {"name": "mnist"}})  # run.json without "models"
    assert reference.out_of_range(mnist_frame(knn=0.11), old).empty
    text = section_text(reference.reference_section(mnist_frame(knn=0.11), old))
    assert "No model of this run has published accuracy figures recorded" in text


def mnist_frame(**accuracies: float) -> pd.DataFrame:
    return to_frame(job(model.replace("_", "-"), accuracy)
                    for model, accuracy in accuracies.items())


def test_out_of_range_judges_only_known_models_on_their_dataset() -> None:
    frame = mnist_frame(knn=0.50, svm=0.984, naive_bayes=0.556, extra_trees=0.10)
    flagged = reference.out_of_range(frame, recorded())
    assert list(flagged["model"]) == ["knn"]  # extra-trees has no range: not judged
    assert flagged.loc[0, "low"] == 0.94 and "lecun" in flagged.loc[0, "source"].lower()
    assert reference.out_of_range(frame, recorded("digits")).empty  # no figures for digits
    subset = frame.assign(train_size=1000)  # the ranges are for 60,000 training images
    assert reference.out_of_range(subset, recorded()).empty


def test_out_of_range_uses_the_mean_over_repeats() -> None:
    frame = to_frame([job("svm", 0.90, repeat=0), job("svm", 0.99, repeat=1)])
    assert reference.judged(frame, recorded()).loc[0, "accuracy"] == pytest.approx(0.945)
    assert len(reference.out_of_range(frame, recorded())) == 1


def section_text(section: Section) -> str:
    return " ".join(block.text for block in section.blocks if isinstance(block, Text))


def test_reference_section_warns_about_a_broken_setup(tmp_path: Path) -> None:
    info = recorded()
    broken = reference.reference_section(mnist_frame(knn=0.11, svm=0.98), info)
    assert broken.title == "Reference ranges"
    warnings = [b for b in broken.blocks if isinstance(b, Text) and b.kind == "warning"]
    assert len(warnings) == 1
    assert "knn" in warnings[0].text and "0.940-0.985" in warnings[0].text
    assert "broken setup" in warnings[0].text and "yann.lecun.com" in warnings[0].text
    assert '<p class="warning">knn: mean accuracy 0.1100' in to_html(Document("r", [broken]),
                                                                     tmp_path)

    fine = reference.reference_section(mnist_frame(knn=0.97, svm=0.98), info)
    assert "All 2 models with published figures are within" in section_text(fine)

    digits = reference.reference_section(mnist_frame(knn=0.97), recorded("digits"))
    assert "No published reference figures for dataset 'digits'" in section_text(digits)

    subset = reference.reference_section(mnist_frame(knn=0.80).assign(train_size=1000), info)
    assert "not judged" in section_text(subset) and "1,000" in section_text(subset)

    no_ranges = RunInfo.from_json({"dataset": {"name": "mnist"},  # a plugin that gives none
                                   "models": {"extra-trees": {"plugin": "extra-trees"}}})
    plugin_only = reference.reference_section(mnist_frame(extra_trees=0.97), no_ranges)
    assert "No model of this run has published accuracy figures" in section_text(plugin_only)
