"""Headlines follow from the evidence: the Summary names a single winner only where the paired
tests separate it, calls a time faster only beyond the timing noise, and no time interval
anywhere goes below zero. Real runs with local plugins whose behaviour is known (an exact
copy of k-NN; models that sleep known times)."""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import Result

from mlbench.reporting import stats, tables
from mlbench.reporting.compare import compare_runs, open_runs
from mlbench.reporting.compare_report import display_table
from mlbench.reporting.stats import TIME_RATIO
from mlbench.results.table import read_table

Cli = Callable[..., Result]

TWIN = """
import mlbench
from sklearn.neighbors import KNeighborsClassifier


class KnnTwin(mlbench.EstimatorModel):
    \"\"\"The built-in knn's estimator under another name: identical predictions.\"\"\"

    name = "knn-twin"
    defaults = {"n_neighbors": 3, "algorithm": "brute", "n_jobs": -1, "weights": "uniform"}

    def build(self):
        return KNeighborsClassifier(**self.params)


@mlbench.hookimpl
def mlbench_register_models(register):
    register(KnnTwin)
"""

# Models that sleep known times: ``fit_sleeps`` and ``predict_sleeps`` are indexed by the
# job's seed (repeat r has seed r), so repeats of one model can differ by design.
SLEEPERS = """
import time
import mlbench
import numpy as np


class Sleeper(mlbench.Model):
    defaults = {"fit_sleeps": [0.0], "predict_sleeps": [0.0]}

    def _sleep(self, name):
        sleeps = self.params[name]
        time.sleep(float(sleeps[self.seed % len(sleeps)]))

    def fit(self, X, y):
        self._sleep("fit_sleeps")
        self.label_ = int(np.bincount(y).argmax())
        return self

    def predict(self, X):
        self._sleep("predict_sleeps")
        return np.full(len(X), self.label_)


def sleeper(model_name):
    return type(model_name.title().replace("-", ""), (Sleeper,), {"name": model_name})


@mlbench.hookimpl
def mlbench_register_models(register):
    for name in ("quick", "slow", "alike", "jittery"):
        register(sleeper(name))
"""


def only_run(results: Path) -> Path:
    (run,) = [path for path in results.iterdir() if path.is_dir()]
    return run


def summary_of(report: Path) -> str:
    return report.read_text().split("## Summary", 1)[1].split("## Results", 1)[0]


def bullet(summary: str, start: str) -> str:
    """The one Summary line that starts with ``start``, as a reader sees it (Markdown writes
    "<" as "&lt;")."""
    (line,) = [line for line in summary.splitlines() if line.startswith(f"- {start}")]
    return html.unescape(line)


def test_top_two_tied_share_the_headline(cli: Cli, tmp_path: Path,
                                         write_plugin: Callable[[str, str], Path]) -> None:
    plugin = write_plugin("twin", TWIN)
    result = cli("run", "--plugin", str(plugin), "-m", "knn,knn-twin,naive-bayes", "-d",
                 "digits", report=True)
    assert result.exit_code == 0, result.output
    run = only_run(tmp_path / "results")
    frame = pd.read_csv(run / "results.csv").set_index("model")
    accuracy = frame.loc["knn", "accuracy"]
    assert frame.loc["knn-twin", "accuracy"] == accuracy  # the same estimator, the same images

    text = (run / "report.md").read_text()
    summary = summary_of(run / "report.md")
    headline = bullet(summary, "Most accurate")
    assert headline == (
        f"- Most accurate: no single model. knn and knn-twin: {accuracy:.4f} vs "
        f"{accuracy:.4f}, a difference that could be chance (McNemar, Holm-adjusted p=1.00; "
        "one run each).")
    # The significance section agrees: that pair is "could be chance", the next against naive
    # Bayes is real.
    # (one row per model: next model, lead, interval, Holm p, verdict, could be level with)
    rows = re.sub(" +", " ", text)
    assert re.search(r"\| knn \| [\d.]+ \| knn-twin \| 0\.0 \| [^|]+ \| [^|]+ \| "
                     r"could be chance \| knn-twin \|", rows)
    assert re.search(r"\| knn-twin \| [\d.]+ \| naive-bayes \| [\d.]+ \| [^|]+ \| [^|]+ \| "
                     r"beyond chance \| knn \|", rows)
    # The terminal prints the same headline.
    assert headline.removeprefix("- ") in result.stdout.replace("\n    ", " ")


def test_a_separated_winner_is_named_with_its_evidence(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", "-m", "knn,naive-bayes", "-d", "digits", report=True)
    assert result.exit_code == 0, result.output
    run = only_run(tmp_path / "results")
    frame = pd.read_csv(run / "results.csv").set_index("model")
    low, high = stats.accuracy_interval(frame.loc["knn", "accuracy"], 360)
    assert bullet(summary_of(run / "report.md"), "Most accurate") == (
        f"- Most accurate: knn ({frame.loc['knn', 'accuracy']:.4f} test accuracy, 95% CI "
        f"{low:.4f} to {high:.4f} over 360 test images, one run), ahead of every other model "
        f"beyond chance; next, naive-bayes: {frame.loc['naive-bayes', 'accuracy']:.4f}, "
        "McNemar p<0.001 Holm-adjusted.")


def test_speed_claims_need_a_difference_beyond_the_noise(cli: Cli, tmp_path: Path,
                                                         write_plugin: Callable[[str, str],
                                                                                Path]) -> None:
    plugin = write_plugin("sleepers", SLEEPERS)
    # quick fits in 0.15 s, slow in 0.6 s (4x: beyond the 1.5x a single run needs); alike
    # takes 0.7 s (within 1.5x of slow). Predictions: all instant, under 0.1 s.
    result = cli("run", "--plugin", str(plugin), "-m", "quick,slow,alike", "-d", "digits",
                 "-p", "quick.fit_sleeps=[0.15]", "-p", "slow.fit_sleeps=[0.6]",
                 "-p", "alike.fit_sleeps=[0.7]", report=True)
    assert result.exit_code == 0, result.output
    run = only_run(tmp_path / "results")
    frame = pd.read_csv(run / "results.csv").set_index("model")
    summary = summary_of(run / "report.md")
    fit = frame["fit_seconds"]
    assert fit["slow"] / fit["quick"] >= TIME_RATIO  # the premise: known sleeps
    # Each named with the param that sets it apart from its defaults (Markdown's "\_").
    quick, slow = "quick fit\\_sleeps=(0.15,)", "slow fit\\_sleeps=(0.6,)"
    assert bullet(summary, "Fastest to fit") == (
        f"- Fastest to fit (training alone): {quick} ({fit['quick']:.3g} s, one run), "
        f"{fit['slow'] / fit['quick']:.1f}x faster than the next, {slow}, beyond the timing "
        "noise.")
    # Instant predictions, each timed over as many calls as fill 0.2 s: measured, so the
    # single-run rule decides (not the 0.1 s floor for a time read off the timer once).
    assert bullet(summary, "Fastest to predict").endswith(
        f"one run each: from a single run, a time must be {TIME_RATIO}x another's to count).")
    assert "no single model" in bullet(summary, "Fastest to predict")

    # Without quick, slow and alike (0.6 s against 0.7 s, one run each) are a tie.
    result = cli("run", "--plugin", str(plugin), "-m", "slow,alike", "-d", "digits",
                 "-p", "slow.fit_sleeps=[0.6]", "-p", "alike.fit_sleeps=[0.7]",
                 "--name", "tie", report=True)
    assert result.exit_code == 0, result.output
    tied = bullet(summary_of(tmp_path / "results" / "tie" / "report.md"), "Fastest to fit")
    assert tied.startswith(f"- Fastest to fit (training alone): no single model. {slow} and "
                           "alike fit\\_sleeps=(0.7,) are within the timing noise of each "
                           "other (")
    assert tied.endswith(f"one run each: from a single run, a time must be {TIME_RATIO}x "
                         "another's to count).")


NUMBER = r"-?[\d,]+(?:\.\d+)?(?:e-?\d+)?"


def interval_bounds(text: str) -> list[float]:
    """Every "LOW to HIGH" interval in ``text``, as numbers."""
    return [float(value.replace(",", "")) for pair in
            re.findall(rf"({NUMBER}) to ({NUMBER})", text) for value in pair]


def test_time_intervals_never_go_below_zero(cli: Cli, tmp_path: Path,
                                            write_plugin: Callable[[str, str], Path]) -> None:
    plugin = write_plugin("sleepers", SLEEPERS)
    spread = ["-p", "jittery.fit_sleeps=[0.01,0.8,0.02]",
              "-p", "jittery.predict_sleeps=[0.3,0.01,0.02]"]
    for name in ("first", "second"):
        result = cli("run", "--plugin", str(plugin), "-m", "jittery,quick", "-d", "digits",
                     "--repeats", "3", *spread, "--name", name, "--wide", report=True)
        assert result.exit_code == 0, result.output
    run = tmp_path / "results" / "first"
    frame = read_table(run / "results.csv")
    jittery = frame[frame["model"] == "jittery"]
    # The premise: with this spread a Student's t interval of the mean dips below zero.
    assert stats.mean_interval(jittery["fit_seconds"].to_numpy(dtype=float)).low < 0
    assert stats.mean_interval(jittery["predict_seconds"].to_numpy(dtype=float)).low < 0

    # The report's tables: every interval's bounds are positive.
    results = (run / "report.md").read_text().split("## Results", 1)[1].split("## Charts")[0]
    bounds = interval_bounds(results)
    assert bounds and min(bounds) > 0
    # The terminal's repeats table.
    over_repeats = result.stdout.split("Over repeats", 1)[1].split("Summary:", 1)[0]
    assert interval_bounds(over_repeats) and min(interval_bounds(over_repeats)) > 0
    # The speed chart's table: the chart draws exactly these bounds.
    speed = tables.speed_table(frame)
    assert speed is not None
    row = speed.set_index("model").loc["jittery"]
    assert 0 < row["fit_low"] < row["fit_center"] < row["fit_high"]
    assert 0 < row["predict_low"] < row["predict_center"] < row["predict_high"]
    logs = np.log(jittery["fit_seconds"].to_numpy(dtype=float))
    assert row["fit_center"] == pytest.approx(np.exp(logs.mean()))

    # compare: its table and its charts' bounds.
    result = cli("compare", str(run), str(tmp_path / "results" / "second"), "-o",
                 str(tmp_path / "cmp"))
    assert result.exit_code == 0, result.output
    compared = (tmp_path / "cmp" / "compare.md").read_text()
    assert not re.search(r"\| *-\d", compared)  # no negative cell in any table

    summary = compare_runs(open_runs([run, tmp_path / "results" / "second"])).summary
    assert (summary[["fit_low", "fit_high", "predict_low", "predict_high"]] > 0).all().all()


def test_summary_table_terminal_and_compare_quote_the_same_time(
        cli: Cli, tmp_path: Path, write_plugin: Callable[[str, str], Path]) -> None:
    """One statistic everywhere: the geometric mean over repeats and its interval from the
    run's pooled noise, in the Summary, the report's table, the terminal and compare."""
    plugin = write_plugin("sleepers", SLEEPERS)
    run_args = ("run", "--plugin", str(plugin), "-m", "quick,slow", "-d", "digits",
                "--repeats", "3", "-p", "quick.fit_sleeps=[0.15,0.2,0.3]",
                "-p", "slow.fit_sleeps=[0.9]", "--wide")
    result = cli(*run_args, report=True)
    assert result.exit_code == 0, result.output
    run = only_run(tmp_path / "results")
    frame = read_table(run / "results.csv")
    quick = frame.loc[frame["model"] == "quick", "fit_seconds"].to_numpy(dtype=float)
    centre = float(np.exp(np.log(quick).mean()))
    figure = f"{centre:.3g}"
    speed = tables.speed_table(frame)
    assert speed is not None
    row = speed.set_index("model").loc["quick"]
    assert row["label"] == "quick fit_sleeps=(0.15,0.2,0.3)"
    assert row["fit_center"] == pytest.approx(centre)
    interval = f"{row['fit_low']:.3g} to {row['fit_high']:.3g}"

    quick_name = "quick fit_sleeps=(0.15,0.2,0.3)"  # named with its params (its variant)
    assert (f"Fastest to fit (training alone): {quick_name.replace('_', chr(92) + '_')} "
            f"({figure} s geometric mean, 3 runs)"
            in bullet(summary_of(run / "report.md"), "Fastest to fit"))
    table = (run / "report.md").read_text().split("## Results", 1)[1].split("## Charts")[0]
    rows = [[cell.strip() for cell in line.split("|")[1:-1]] for line in table.splitlines()
            if line.startswith("| model ") or line.startswith("| quick ")]
    cells = dict(zip(*rows, strict=True))
    assert float(cells["fit s"]) == pytest.approx(centre, abs=5e-5)  # to four places
    assert cells["fit s 95% CI"] == interval
    printed = next(line for line in result.stdout.split("Over repeats", 1)[1].splitlines()
                   if " quick " in line)
    assert f" {figure} " in printed and interval in printed

    shutil.copytree(run, tmp_path / "again")
    comparison = compare_runs(open_runs([run, tmp_path / "again"]))
    cells = display_table(comparison).set_index(["model", "run"])
    assert cells.loc[(quick_name, run.name), "fit s"] == (
        f"{figure} ({row['fit_low']:.3g}-{row['fit_high']:.3g})")
