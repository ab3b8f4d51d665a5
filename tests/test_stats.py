"""The statistics behind honest comparisons, against cases that can be checked by hand, and the
reference ranges of the built-in models."""

from __future__ import annotations

import math
import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from mlbench.reporting import reference, stats
from mlbench.reporting.document import Document, Section, Text, to_html, to_markdown
from mlbench.results.folder import RunFolder
from mlbench.results.run_info import RunInfo
from mlbench.results.table import to_frame

BUILT_INS = ["linear", "logistic", "naive-bayes", "knn", "svm", "random-forest", "perceptron",
             "mlp", "keras-cnn", "torch-cnn"]
# This project's own full-MNIST accuracies (BENCHMARKS.md): every one must be in range.
MEASURED = {"linear": 0.8603, "logistic": 0.9261, "naive-bayes": 0.5558, "knn": 0.9705,
            "svm": 0.9841, "random-forest": 0.9704, "perceptron": 0.8805, "mlp": 0.9780,
            "keras-cnn": 0.99, "torch-cnn": 0.99}


def scores(right: int, wrong: int) -> np.ndarray:
    return np.array([True] * right + [False] * wrong)


def discordant(b: int, c: int, both_right: int = 50, both_wrong: int = 10
               ) -> tuple[np.ndarray, np.ndarray]:
    """Per-image correctness of two models with b images only A gets right, c only B."""
    a = np.array([True] * both_right + [True] * b + [False] * c + [False] * both_wrong)
    other = np.array([True] * both_right + [False] * b + [True] * c + [False] * both_wrong)
    return a, other


# -- McNemar -------------------------------------------------------------------------------

def chi2_one_sf(x: float) -> float:
    """Upper tail of chi-square with 1 degree of freedom, without scipy: erfc(sqrt(x / 2))."""
    return math.erfc(math.sqrt(x / 2))


@pytest.mark.parametrize(("b", "c"), [(121, 59), (150, 86)])
def test_mcnemar_chi_square_textbook_tables(b: int, c: int) -> None:
    # Wikipedia's McNemar example (b=121, c=59) and Agresti's approval ratings (150, 86):
    # continuity-corrected statistic (|b - c| - 1)^2 / (b + c).
    result = stats.mcnemar(*discordant(b, c))
    assert (result.b, result.c) == (b, c)
    assert not result.exact and "chi-square" in result.method
    assert result.statistic == pytest.approx((abs(b - c) - 1) ** 2 / (b + c))
    assert result.p_value == pytest.approx(chi2_one_sf(result.statistic), rel=1e-9)
    assert result.p_value < 0.001


@pytest.mark.parametrize(("b", "c", "p"), [
    (1, 6, 2 * (1 + 7) / 2**7),   # P(X <= 1) for X ~ Binomial(7, 1/2), both tails
    (0, 3, 2 / 2**3),             # all three discordant images go one way
    (3, 0, 2 / 2**3),
    (5, 5, 1.0),
    (0, 0, 1.0),                  # nothing discordant: nothing to test
])
def test_mcnemar_exact_binomial_by_hand(b: int, c: int, p: float) -> None:
    result = stats.mcnemar(*discordant(b, c))
    assert result.exact and result.method == "exact binomial"
    assert result.p_value == pytest.approx(p)


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

def test_mean_interval_by_hand() -> None:
    result = stats.mean_interval([1.0, 2.0, 3.0])
    half = 4.302653 / math.sqrt(3)  # t(0.975, 2 degrees of freedom) x std 1 / sqrt(n)
    assert (result.mean, result.std, result.n) == (2.0, 1.0, 3)
    assert result.low == pytest.approx(2 - half, abs=1e-5)
    assert result.high == pytest.approx(2 + half, abs=1e-5)


def test_mean_interval_of_one_value_has_no_spread() -> None:
    one = stats.mean_interval([0.97])
    assert one.mean == 0.97 and one.n == 1
    assert math.isnan(one.std) and math.isnan(one.low) and math.isnan(one.high)
    none = stats.mean_interval([])
    assert none.n == 0 and math.isnan(none.mean)


def test_repeat_summary_by_hand() -> None:
    frame = pd.DataFrame({
        "model": ["a", "a", "a", "b", "b"], "device": "cpu",
        "status": ["ok", "ok", "ok", "ok", "failed"],
        "accuracy": [0.90, 0.92, 0.94, 0.80, math.nan],
        "fit_seconds": [1.0, 2.0, 3.0, 5.0, math.nan],
        "predict_seconds": [0.1, 0.1, 0.1, 0.2, math.nan]})
    summary = stats.repeat_summary(frame, ["model", "device"]).set_index("model")
    half = 4.302653 / math.sqrt(3)  # t(0.975, 2) x std 1 / sqrt(3), for fit times 1, 2, 3
    a, b = summary.loc["a"], summary.loc["b"]
    assert a["repeats"] == 3 and a["accuracy mean"] == pytest.approx(0.92)
    assert a["accuracy std"] == pytest.approx(0.02)
    assert (a["fit s mean"], a["fit s std"]) == (2.0, 1.0)
    assert 2 - half == pytest.approx(-0.4841, abs=1e-4)  # a t interval may dip below 0
    assert a["fit s 95% CI"] == "-0.4841 to 4.484"  # document.number: 4 significant digits
    assert a["predict s std"] == 0.0 and a["predict s 95% CI"] == "0.1000 to 0.1000"
    # One ok repeat: a mean, no spread and no interval (never a false 0).
    assert b["repeats"] == 1 and b["accuracy mean"] == 0.80
    assert math.isnan(b["accuracy std"]) and b["accuracy 95% CI"] == ""


def test_welch_agrees_with_scipy_and_handles_no_spread() -> None:
    a, b = [0.91, 0.93, 0.95, 0.92], [0.96, 0.97, 0.99]
    expected = scipy_stats.ttest_ind(a, b, equal_var=False).pvalue
    assert stats.welch_p(a, b) == pytest.approx(expected)
    assert stats.welch_p([0.9] * 3, [0.9] * 3) == 1.0
    assert stats.welch_p([0.9] * 3, [0.8] * 3) == 0.0
    with pytest.raises(ValueError):
        stats.welch_p([0.9], [0.9, 0.8])


def test_holm_by_hand() -> None:
    # Sorted 0.01, 0.03, 0.04 scale by 3, 2, 1: 0.03, 0.06, 0.04, then made monotone.
    np.testing.assert_allclose(stats.holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(stats.holm([0.5, 0.6]), [1.0, 1.0])  # capped at 1
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
              labels: np.ndarray) -> tuple[pd.DataFrame, RunFolder]:
    """A run folder with test labels and one saved prediction file per job id."""
    folder = RunFolder(tmp_path / "run")
    folder.save_test_labels(labels)
    records = []
    for job_id, predicted in predictions.items():
        model, device, repeat = job_id.rsplit("-", 2)
        record = job(model, float(np.mean(predicted == labels)), device, int(repeat[1:]))
        folder.save_job(record, {"predicted": predicted})
        records.append(record)
    return to_frame(records), folder


@pytest.fixture
def three_models(tmp_path: Path) -> tuple[pd.DataFrame, RunFolder]:
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


def test_pairwise_significance(three_models: tuple[pd.DataFrame, RunFolder]) -> None:
    frame, folder = three_models
    table = stats.pairwise_significance(frame, folder)
    assert list(table.columns) == stats.PAIR_COLUMNS
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


def test_significance_section(three_models: tuple[pd.DataFrame, RunFolder],
                              tmp_path: Path) -> None:
    frame, folder = three_models
    section = stats.significance_section(frame, folder)
    assert section.title == "Which differences are real"
    text = to_markdown(Document("r", [section]))
    # Sentences for neighbours in the ranking only: good > near > poor.
    assert "good beats near by 0.3 points" in text and "could be chance" in text
    assert "near beats poor by 29.7 points" in text and "McNemar p&lt;0.001): real." in text
    assert "good beats poor by" not in text  # not neighbours: in the table only
    assert "| good " in text and "| poor " in text
    page = to_html(Document("r", [section]), tmp_path)
    assert "good beats near" in page


def test_significance_section_needs_two_models(tmp_path: Path) -> None:
    labels = np.arange(100) % 10
    frame, folder = saved_run(tmp_path, {"knn-cpu-r0": labels}, labels)
    section = stats.significance_section(frame, folder)
    assert "this run has 1" in section_text(section)


def test_extra_sections(three_models: tuple[pd.DataFrame, RunFolder]) -> None:
    frame, folder = three_models
    info = RunInfo.from_json({"dataset": {"name": "mnist"}})
    sections = stats.extra_sections(frame, folder, info)
    assert [s.title for s in sections] == ["Which differences are real", "Reference ranges"]
    assert all(isinstance(s, Section) for s in sections)


# -- reference ranges ----------------------------------------------------------------------

def test_reference_file_covers_every_built_in_honestly() -> None:
    ranges = reference.reference_ranges()
    assert list(ranges.columns) == ["model", "dataset", "train_size", "low", "high", "source",
                                    "note"]
    mnist = ranges[ranges["dataset"] == "mnist"].set_index("model")
    assert sorted(mnist.index) == sorted(BUILT_INS)
    assert (mnist["low"] < mnist["high"]).all() and (mnist["high"] <= 1).all()
    assert mnist["source"].str.len().min() > 20 and (mnist["train_size"] == 60000).all()
    for model, accuracy in MEASURED.items():
        assert mnist.loc[model, "low"] <= accuracy <= mnist.loc[model, "high"], model


def test_reference_file_is_package_data() -> None:
    assert files("mlbench.reporting").joinpath(reference.RANGES_FILE).is_file()
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    package_data = pyproject["tool"]["setuptools"]["package-data"]
    assert reference.RANGES_FILE in package_data["mlbench.reporting"]


def mnist_frame(**accuracies: float) -> pd.DataFrame:
    return to_frame(job(model.replace("_", "-"), accuracy)
                    for model, accuracy in accuracies.items())


def test_out_of_range_judges_only_known_models_on_their_dataset() -> None:
    frame = mnist_frame(knn=0.50, svm=0.984, naive_bayes=0.556, extra_trees=0.10)
    flagged = reference.out_of_range(frame, "mnist")
    assert list(flagged["model"]) == ["knn"]  # extra-trees has no range: not judged
    assert flagged.loc[0, "low"] == 0.94 and "lecun" in flagged.loc[0, "source"].lower()
    assert reference.out_of_range(frame, "digits").empty  # no figures for digits
    subset = frame.assign(train_size=1000)  # the ranges are for 60,000 training images
    assert reference.out_of_range(subset, "mnist").empty


def test_out_of_range_uses_the_mean_over_repeats() -> None:
    frame = to_frame([job("svm", 0.90, repeat=0), job("svm", 0.99, repeat=1)])
    assert reference.judged(frame, "mnist").loc[0, "accuracy"] == pytest.approx(0.945)
    assert len(reference.out_of_range(frame, "mnist")) == 1


def section_text(section: Section) -> str:
    return " ".join(block.text for block in section.blocks if isinstance(block, Text))


def test_reference_section_warns_about_a_broken_setup(tmp_path: Path) -> None:
    info = RunInfo.from_json({"dataset": {"name": "mnist"}})
    broken = reference.reference_section(mnist_frame(knn=0.11, svm=0.98), info)
    assert broken.title == "Reference ranges"
    warnings = [b for b in broken.blocks if isinstance(b, Text) and b.kind == "warning"]
    assert len(warnings) == 1
    assert "knn" in warnings[0].text and "0.940-0.985" in warnings[0].text
    assert "broken setup" in warnings[0].text and "yann.lecun.com" in warnings[0].text
    assert '<p class="warning">knn: mean accuracy 0.1100' in to_html(Document("r", [broken]),
                                                                     tmp_path)

    fine = reference.reference_section(mnist_frame(knn=0.97, svm=0.98), info)
    assert "All 2 built-in models with published figures are within" in section_text(fine)

    digits = reference.reference_section(mnist_frame(knn=0.97),
                                         RunInfo.from_json({"dataset": {"name": "digits"}}))
    assert "No published reference figures for dataset 'digits'" in section_text(digits)

    subset = reference.reference_section(mnist_frame(knn=0.80).assign(train_size=1000), info)
    assert "not judged" in section_text(subset) and "1,000" in section_text(subset)

    plugin_only = reference.reference_section(mnist_frame(extra_trees=0.97), info)
    assert "No model of this run has a published range" in section_text(plugin_only)
