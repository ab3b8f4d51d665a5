"""mlbench run --estimate: small fits in real workers, a power law, and the estimate held
against real runs of the same jobs."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

import mlbench
from mlbench.cli.estimate_table import print_estimate
from mlbench.running.estimate import (
    MARGIN,
    Part,
    extrapolate,
    instability,
    local_growths,
    power_law,
    probe_sizes,
    shaky_reasons,
    time_range,
)

Cli = Callable[..., Result]

# Costs that are known in advance: fit sleeps in proportion to the training images, predict
# in proportion to test images x training images (as brute-force k-NN does).
SLEEPER_PLUGIN = '''
import time
import numpy as np
import mlbench

class Sleeper(mlbench.Model):
    """Sleeps as long as its params say, then predicts the majority class."""
    name = "sleeper"
    defaults = {"fit_ms_per_image": 0.8, "predict_ns_per_pair": 2000.0}

    def fit(self, X, y):
        time.sleep(len(X) * self.params["fit_ms_per_image"] / 1e3)
        self.n_, self.majority_ = len(X), int(np.bincount(y).argmax())
        return self

    def predict(self, X):
        time.sleep(len(X) * self.n_ * self.params["predict_ns_per_pair"] / 1e9)
        return np.full(len(X), self.majority_)


class SteepSleeper(Sleeper):
    """The same, declaring that its fit and predict grow as n^2 (its small fits will not
    show it)."""
    name = "steep-sleeper"
    fit_growth = 2
    predict_growth = 2.0


@mlbench.hookimpl
def mlbench_register_models(register):
    register(Sleeper)
    register(SteepSleeper)
'''


def test_power_law_recovers_a_known_curve() -> None:
    sizes = [250, 500, 1000]
    scale, growth = power_law(sizes, [3e-6 * n**1.7 for n in sizes])
    assert growth == pytest.approx(1.7) and scale == pytest.approx(3e-6)
    assert power_law(sizes, [0.5, 0.4, 0.3])[1] == 0.0  # times never shrink with data
    assert power_law(sizes, [0.0, 0.0, 0.0]) == (pytest.approx(1e-9), 0.0)  # below the timer
    assert power_law(sizes, [1e-3, 1.0, 1e3])[1] == 3.0  # steeper than cubic is noise


def test_a_fixed_cost_does_not_hide_the_declared_growth() -> None:
    # Small fits dominated by a fixed cost look flat; a fit reads all its data, so the
    # extrapolation grows at least in proportion: fixed + a * n, fitted to the small fits.
    sizes = [1000, 2000, 4000]
    fixed_cost = [0.08 + 2e-5 * n for n in sizes]
    assert power_law(sizes, fixed_cost)[1] < 0.4
    assert extrapolate(sizes, fixed_cost, 60000)[1] < 0.4  # no known growth: as it looks
    assert extrapolate(sizes, fixed_cost, 60000, least_growth=1.0) == (
        pytest.approx(0.08 + 2e-5 * 60000), 1.0)
    quadratic = [0.05 + 7e-8 * n**2 for n in sizes]
    assert extrapolate(sizes, quadratic, 60000, least_growth=2.0) == (
        pytest.approx(0.05 + 7e-8 * 60000**2), 2.0)
    # Steeper than declared: the small fits' own power law.
    assert extrapolate(sizes, [1e-6 * n**1.5 for n in sizes], 60000, least_growth=1.0) == (
        pytest.approx(1e-6 * 60000**1.5), pytest.approx(1.5))
    # Flat but for noise: no growth to fit, so the declared one from the largest fit.
    assert extrapolate(sizes, [0.30, 0.20, 0.25], 60000, least_growth=1.0) == (
        pytest.approx(0.25 * 15), 1.0)


# Small fits that lie on a curve, and small fits whose growth has not settled: a fixed
# 0.05 s up to 250 images, then steeply more.
STEADINESS_PLUGIN = '''
import time
import numpy as np
import mlbench

class Steady(mlbench.Model):
    """Its fit sleeps in proportion to the training images."""
    name = "steady"
    defaults = {}

    def fit(self, X, y):
        time.sleep(self.fit_seconds(len(X)))
        self.majority_ = int(np.bincount(y).argmax())
        return self

    def fit_seconds(self, n):
        return n * 1e-3

    def predict(self, X):
        return np.full(len(X), self.majority_)


class Unsteady(Steady):
    name = "unsteady"

    def fit_seconds(self, n):
        return 0.05 * max(n / 250, 1) ** 3


@mlbench.hookimpl
def mlbench_register_models(register):
    register(Steady)
    register(Unsteady)
'''


def test_how_far_small_fits_stray_from_their_curve() -> None:
    sizes = [1000, 2000, 4000]
    assert local_growths(sizes, [0.1, 0.1, 0.37]) == [0.0, pytest.approx(1.89, abs=0.01)]
    # On the curve that extrapolates them: a power law, or a fixed cost plus a known growth.
    assert instability(sizes, [1e-6 * n**1.5 for n in sizes]) == pytest.approx(0, abs=1e-9)
    fixed_cost = [0.08 + 2e-5 * n for n in sizes]
    assert instability(sizes, fixed_cost, least_growth=1.0) == pytest.approx(0, abs=1e-9)
    # Off it: flat then steep is an exponent wrong by about 0.9 either way.
    assert instability(sizes, [0.1, 0.1, 0.37]) == pytest.approx(0.94, abs=0.01)


def test_the_range_of_an_estimate() -> None:
    # The margin real runs showed, growing with the extrapolation: 15x (full MNIST from
    # 4,000 images) is 15^0.3, a factor of 2.25 either way; no extrapolation, no range.
    assert MARGIN == 0.3
    low, high = time_range(10.0, 15.0)
    assert (low, high) == (pytest.approx(10 / 15**0.3), pytest.approx(10 * 15**0.3))
    assert time_range(10.0, 1.0) == (10.0, 10.0)
    # Small fits that stray from their curve widen it to what they show.
    assert time_range(10.0, 15.0, 0.94)[1] == pytest.approx(10 * 15**0.94)
    assert time_range(10.0, 15.0, 0.1) == (low, high)  # never narrower than the margin


def test_what_makes_an_estimate_shaky() -> None:
    steady = Part(seconds=30.0, growth=1.0, growths=[1.0, 1.0], unstable=0.0)
    unsteady = Part(seconds=30.0, growth=1.0, growths=[0.0, 1.9], unstable=0.94)
    assert shaky_reasons(15.0, {"fit": steady}, 40.0) == []
    assert shaky_reasons(15.0, {"fit": unsteady}, 40.0) == [
        "fit grew as n^0.0 then n^1.9 between small fits, off its n^1.0 curve"]
    assert shaky_reasons(30.0, {"fit": steady}, 40.0) == [
        "extrapolated 30x beyond its largest small fit"]
    # An unsteady part that is a small share of its job, or under a second, is no matter.
    assert shaky_reasons(15.0, {"prediction": unsteady}, 400.0) == []
    quick = Part(seconds=0.5, growth=1.0, growths=[0.0, 1.9], unstable=0.94)
    assert shaky_reasons(15.0, {"fit": quick}, 0.6) == []


def test_estimate_ranges_and_shaky_small_fits(
    tmp_path: Path, write_plugin: Callable[[str, str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Fits on 125, 250 and 500 digits in real workers, extrapolated 2.9x to 1,437: the one
    whose small fits lie on a line gets the margin's range; the one flat then steep a wider
    one, and is marked shaky, in the table and on the terminal."""
    plugin = write_plugin("steadiness", STEADINESS_PLUGIN)
    estimate = mlbench.run(models=["steady", "unsteady"], dataset="digits", plugins=[plugin],
                           output_dir=tmp_path, estimate=True).set_index("model")
    factor = (1437 / 500) ** MARGIN
    for model, row in estimate.iterrows():
        assert row["extrapolation"] == pytest.approx(1437 / 500), model
        # Start-up and the repeats that time a short predict are not extrapolated: no range.
        fixed = row["setup_seconds"] + row["repeat_seconds"]
        assert row["repeat_seconds"] > 0, model  # a predict of microseconds, timed again
        assert row["job_low_seconds"] - fixed <= (row["job_seconds"] - fixed) / factor * 1.0001
        assert row["job_high_seconds"] - fixed >= (row["job_seconds"] - fixed) * factor * 0.9999
    assert estimate.loc["steady", "shaky"] == ""
    assert estimate.loc["unsteady", "shaky"].startswith("fit grew as n^0.")
    assert "off its n^1.5 curve" in estimate.loc["unsteady", "shaky"]
    unsteady = estimate.loc["unsteady"]
    fixed = unsteady["setup_seconds"] + unsteady["repeat_seconds"]
    assert unsteady["job_high_seconds"] - fixed > 3 * (unsteady["job_seconds"] - fixed)

    print_estimate(estimate.reset_index())
    out = capsys.readouterr().out
    assert "job range" in out and "estimates came within 0.6x to 2.2x" in out
    assert "shaky: fit grew as n^0." in out and out.count("shaky") == 1


def test_probe_sizes() -> None:
    assert probe_sizes(60000, 10) == [1000, 2000, 4000]  # at most 4,000 images
    assert probe_sizes(10000, 10) == [625, 1250, 2500]  # a quarter of the set
    assert probe_sizes(1437, 10) == [125, 250, 500]  # at least 500...
    assert probe_sizes(600, 10) == [75, 150, 300]  # ...or half the set
    assert probe_sizes(50, 10) == [20, 25]  # never fewer than two images per class


def test_estimate_prints_a_table_and_writes_nothing(
    cli: Cli, tmp_path: Path, steerable: Path
) -> None:
    result = cli("run", "--plugin", str(steerable), "-m", "linear,steerable", "-d", "digits",
                 "--repeats", "2", "-p", "steerable.fail='no good'", "--estimate")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "mlbench estimate: digits" in out
    assert "total: about" in out and "for 4 jobs" in out and "no run folder was written" in out
    assert re.search(r"total: about [\d.]+ (s|min) \([\d.]+ ?(s|min)?-[\d.]+ (s|min)\) of job", out)
    linear = next(line for line in out.splitlines() if " linear " in line)
    assert "1,437" in linear and "360" in linear and "n^" in linear
    assert "job range" in out and re.search(r" \d[\d.]*-\d[\d.]* (s|min) ", linear)
    assert "failed on 125 training images: RuntimeError: no good" in out
    assert not (tmp_path / "results").exists()
    assert " sweep " not in out.splitlines()[1]  # no grid, no sweep column

    grid = cli("run", "-m", "linear,knn", "-d", "digits", "--sweep", "knn.n_neighbors=1,5",
               "--train-size", "300,600", "--estimate")
    assert grid.exit_code == 0, grid.output
    rows = [line for line in grid.stdout.splitlines() if " knn " in line]
    assert len(rows) == 4 and sum("n_neighbors=5" in row for row in rows) == 2
    assert sum(" 600 " in row for row in rows) == 2 and "for 6 jobs" in grid.stdout


def test_estimate_is_not_for_resume(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", "--resume", str(tmp_path), "--estimate")
    assert result.exit_code == 2 and "drop --estimate" in result.stderr


@pytest.mark.long  # compares estimates with measured (sleeping) fits: no busy core here
def test_estimate_of_known_costs_and_the_timeout_warning(
    tmp_path: Path, write_plugin: Callable[[str, str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    plugin = write_plugin("sleeper", SLEEPER_PLUGIN)
    output = tmp_path / "results"
    estimate = mlbench.run(models=["sleeper"], dataset="digits", plugins=[plugin],
                           timeout=1.5, output_dir=output, estimate=True)
    row = estimate.iloc[0]
    assert (row["train_size"], row["test_size"], row["jobs"]) == (1437, 360, 1)
    assert row["fit_seconds"] == pytest.approx(1437 * 0.8e-3, rel=0.15)
    assert row["predict_seconds"] == pytest.approx(360 * 1437 * 2e-6, rel=0.15)
    assert row["fit_growth"] == pytest.approx(1.0, abs=0.1)
    # The small fits stayed under the 1.5 s timeout; the whole job will not: one warning.
    warning = capsys.readouterr().err.strip().splitlines()
    assert warning == [f"mlbench: warning: sleeper on cpu: estimated "
                       f"{row['job_seconds']:.0f} s per job, beyond --timeout 1.5 s"]
    assert not output.exists()  # nothing written

    # A model's fit_growth and predict_growth are the least exponents: its small fits (on
    # 125, 250 and 500 images) grow linearly, so they are read as fixed + a * n^2.
    steep = mlbench.run(models=["steep-sleeper"], dataset="digits", plugins=[plugin],
                        output_dir=output, estimate=True).iloc[0]
    assert steep["fit_growth"] == steep["predict_growth"] == 2.0
    probes = [125, 250, 500]
    fit = extrapolate(probes, [n * 0.8e-3 for n in probes], 1437, least_growth=2)[0]
    per_image = extrapolate(probes, [n * 2e-6 for n in probes], 1437, least_growth=2)[0]
    assert steep["fit_seconds"] == pytest.approx(fit, rel=0.15)
    assert steep["predict_seconds"] == pytest.approx(360 * per_image, rel=0.15)
    assert steep["fit_seconds"] > 2 * row["fit_seconds"]

    real = mlbench.run(models=["sleeper"], dataset="digits", plugins=[plugin],
                       output_dir=output).frame.iloc[0]
    for column in ("fit_seconds", "predict_seconds", "job_seconds"):
        assert row[column] == pytest.approx(real[column], rel=0.2), column


@pytest.mark.long
def test_estimate_of_real_models_is_complete_and_consistent(tmp_path: Path) -> None:
    """On mnist-5k (4,000 train, 1,000 test), from fits on 250, 500 and 1,000 images, in real
    workers: a finite, positive estimate of every part of every job, growth within the
    bounds each model declares, and a total that adds up. How close the times come to a real
    run is a benchmark (tests/benchmarks/test_estimate_speed.py), not a test: it depends on
    how busy the machine is."""
    models = ["linear", "knn", "svm", "logistic", "random-forest"]
    estimate = mlbench.run(models=models, dataset="mnist-5k", estimate=True, repeats=2,
                           output_dir=tmp_path).set_index("model")
    assert sorted(estimate.index) == sorted(models)
    assert not (tmp_path / "results").exists() and list(tmp_path.iterdir()) == []
    assert (estimate["train_size"] == 4000).all() and (estimate["test_size"] == 1000).all()
    assert (estimate["jobs"] == 2).all()  # the two repeats
    for column in ("fit_seconds", "predict_seconds", "job_seconds"):
        assert (estimate[column] > 0).all() and estimate[column].map(math.isfinite).all()
    assert (estimate["job_seconds"] >= estimate["fit_seconds"] + estimate["predict_seconds"]
            ).all()
    assert (estimate["total_seconds"] == 2 * estimate["job_seconds"]).all()
    assert estimate.attrs["total_seconds"] == pytest.approx(estimate["total_seconds"].sum())
    # A fit reads every image (growth at least 1); the SVM declares 2, k-NN's predict 1.
    assert estimate["fit_growth"].between(1, 3).all()
    assert estimate.loc["svm", "fit_growth"] >= 2
    assert estimate.loc["knn", "predict_growth"] >= 1
    assert estimate["note"].fillna("").eq("").all()


def test_a_run_after_its_estimate_expects_the_estimated_times(cli: Cli) -> None:
    # The estimate is kept (in the cache), so the run it estimated says how long it should
    # take before any of its jobs has run; the run after that expects the measured times.
    models = ["-m", "naive-bayes,linear", "-d", "digits"]
    estimate = cli("run", *models, "--estimate")
    assert estimate.exit_code == 0, estimate.output
    assert " naive-bayes " in estimate.stdout and " linear " in estimate.stdout

    first = cli("run", *models)
    assert first.exit_code == 0, first.output
    assert "mlbench: about " in first.stderr and " expected (their --estimate)" in first.stderr
    started = [line for line in first.stderr.splitlines() if ": started" in line]
    assert len(started) == 2 and all(": started (estimated " in line for line in started)

    second = cli("run", *models)
    assert " expected (the same jobs in earlier runs)" in second.stderr
    assert all(": started (took " in line for line in second.stderr.splitlines()
               if ": started" in line)
