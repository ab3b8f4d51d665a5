"""Reports of real saved runs: `mlbench report`, the charts and the data behind them."""

from __future__ import annotations

import csv
import importlib.util
import math
import re
from collections.abc import Callable
from pathlib import Path

import matplotlib.figure
import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from click.testing import Result
from scipy import stats as scipy_stats

from mlbench.reporting import charts, tables
from mlbench.results.folder import RunFolder
from mlbench.results.run import Run
from mlbench.results.table import read_table

Cli = Callable[..., Result]
MODELS = ["knn", "linear", "naive-bayes"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def only_run(tmp_path: Path) -> Path:
    runs = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def assert_valid_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE, path
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert np.unique(image.reshape(-1, image.shape[2]), axis=0).shape[0] > 10  # not one colour


def test_report_of_a_run(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", "-m", ",".join(MODELS), "-d", "digits", "--repeats", "2", "--wide",
                 report=True)
    assert result.exit_code == 0, result.output
    run = only_run(tmp_path)
    report, page = run / "report.md", run / "report.html"
    # The run ends with its report, and says where it is.
    assert f"mlbench: report in {page}" in result.stderr
    assert "report in" not in result.stdout  # stdout keeps only the table
    made = report.read_text()
    check_repeat_statistics(result.stdout, made, pd.read_csv(run / "results.csv"))

    result = cli("report", str(run))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [str(page), str(report)]
    text = report.read_text()
    assert text == made  # deterministic: the same text from the run and from `report`
    assert "# mlbench report" in text and "digits: 1437 train / 360 test" in text
    assert r"| job\_id" in text and "|:---" in text  # the results table
    for model in MODELS:
        assert f"| {model}-cpu-r1" in text and f"| {model} " in text
    assert "None: every job ended ok." in text
    links = re.findall(r"!\[[^\]]*\]\((charts/[^)]+\.png)\)", text)
    assert {Path(link).name for link in links} == {
        "accuracy.png", "pareto.png", "speed.png", "per_class.png", "confusion.png",
        "sample_predictions.png", "most_wrong.png"}
    for link in links:
        assert_valid_png(run / link)
    assert not (run / "charts" / "learning_curves.png").exists()  # no history: no chart
    # Results first (Summary, the numbers, the charts), then what the HTML page folds.
    assert [line for line in text.splitlines() if line.startswith("## ")] == [
        "## Summary", "## Results", "## Charts", "## Galleries", "## Setup",
        "## Which differences are real", "## Reference ranges", "## Failures"]

    # The summary's sentences, computed here independently from results.csv.
    frame = pd.read_csv(run / "results.csv")
    by_model = frame.groupby("model")
    summary = text.split("## Summary", 1)[1].split("## Results", 1)[0]
    best = by_model["accuracy"].mean().sort_values(ascending=False)
    assert f"- Most accurate: {best.index[0]} ({best.iloc[0]:.4f} test accuracy" in summary
    # The fastest leads each speed headline, alone or first among those within the noise
    # (test_verdicts checks the noise rule with models of known times).
    for title, column in (("Fastest to fit (training alone)", "fit_seconds"),
                          ("Fastest to predict the 360 test images", "predict_seconds")):
        # by geometric mean over undisturbed jobs (a busy machine's are left out)
        flag = {"fit_seconds": "fit_disturbed", "predict_seconds": "predict_disturbed"}[column]
        calm = frame[~frame[flag].fillna(False).astype(bool)]
        if calm.empty:
            continue
        fastest = np.log(calm[column]).groupby(calm["model"]).mean().idxmin()
        assert re.search(rf"- {re.escape(title)}: (no single model\. )?{fastest}[ ,(]", summary), (
            title, summary)
    assert "- 6 of 6 jobs ended ok." in summary
    setup = text.split("## Setup", 1)[1].split("## Which differences", 1)[0]
    assert r"n\_neighbors=3" in setup and r"var\_smoothing=1e-09" in setup  # params per model
    assert "| repeats " in setup and "2 (seeds 0, 1)" in setup

    # The HTML page says the same, with every chart embedded: it needs no other file.
    html = page.read_text()
    assert "Most accurate: " + best.index[0] in html
    assert html.count('<img src="data:image/png;base64,') == len(links)
    # Nothing to fetch: every address a page loads is a data URI (web addresses only in
    # links, the reference ranges' sources, which a reader follows by choice).
    loaded = re.findall(r'<(?!a )\w+ [^>]*(?:src|href)="([^"]*)"', html)
    assert loaded and all(address.startswith("data:") for address in loaded), loaded

    # The tables behind the charts: exactly the run's ok models, computed independently here.
    opened = Run.open(run)
    table = read_table(run / "results.csv")
    out = tmp_path / "charts"
    palette = charts.model_palette(MODELS)

    accuracy = tables.accuracy_per_model(table)
    assert accuracy is not None
    charts.accuracy_chart(accuracy, out / "a.png", palette)
    expected = frame.groupby("model")["accuracy"].mean().sort_values(ascending=False)
    assert list(accuracy["model"]) == list(expected.index)
    np.testing.assert_allclose(accuracy["mean"], expected.to_numpy())
    assert (accuracy["repeats"] == 2).all()

    pareto = tables.pareto_table(table)
    assert pareto is not None and sorted(pareto["model"]) == MODELS
    charts.pareto_chart(pareto, out / "p.png", palette)
    front = set(pareto.loc[pareto["pareto"], "model"])
    assert expected.index[0] in front
    assert frame.groupby("model")["fit_seconds"].median().idxmin() in front

    speed = tables.speed_table(table)
    assert speed is not None and sorted(speed["model"]) == MODELS
    charts.speed_chart(speed, out / "s.png", palette)

    labels = np.load(run / "test_labels.npy")
    per_class = tables.per_class_accuracy(opened)
    assert per_class is not None and sorted(per_class.index) == MODELS
    charts.per_class_chart(per_class, out / "c.png")
    for model in MODELS:
        with np.load(run / "predictions" / f"{model}-cpu-r0.npz") as saved:
            predicted = saved["predicted"]
        by_digit = [np.sum((labels == d) & (predicted == d)) / np.sum(labels == d)
                    for d in range(10)]
        np.testing.assert_allclose(per_class.loc[model].to_numpy(), by_digit)

    confusion = tables.confusion_counts(opened)
    assert confusion is not None and sorted(confusion["model"].unique()) == MODELS
    assert (confusion.groupby("model")["count"].sum() == len(labels)).all()
    top = tables.top_confusions(confusion)
    assert top is not None
    charts.confusion_chart(top, out / "m.png")

    assert tables.learning_curves(opened) is None  # no history: no chart
    for name in ("a", "p", "s", "c", "m"):
        assert_valid_png(out / f"{name}.png")

    check_galleries(opened, labels, out)

    # A run saved before mlbench kept test images: the report leaves the galleries out.
    (run / "test_images.npz").unlink()
    assert cli("report", str(run)).exit_code == 0
    assert "## Galleries" not in report.read_text()
    assert not (run / "charts" / "most_wrong.png").exists()


def check_repeat_statistics(printed: str, report: str, frame: pd.DataFrame) -> None:
    """With repeats, the printed summary and the report's per-model table give each model's
    accuracy mean ± standard deviation over seeds with its Student's t interval and its
    Wilson interval over the test images, and its times' geometric means with their log-scale
    intervals from the run's pooled noise: computed here from results.csv with scipy and
    statsmodels."""
    import statsmodels.formula.api as smf
    from statsmodels.stats.proportion import proportion_confint

    assert "Over repeats: test accuracy mean ± standard deviation over seeds" in printed
    results = report.split("## Results", 1)[1].split("## Charts", 1)[0]
    results = re.sub(" +", " ", results)  # Markdown pads its columns
    assert ("| accuracy 95% CI (test images) | accuracy 95% CI (seeds) | F1 macro (mean) | "
            "balanced accuracy (mean) |") in results and "| fit s | fit s 95% CI |" in results
    for model, jobs in frame.groupby("model"):
        row = next(line for line in printed.splitlines() if f" {model} " in line
                   and "±" in line)
        line = next(line for line in results.splitlines() if line.startswith(f"| {model} |"))
        accuracy = jobs["accuracy"].to_numpy(dtype=float)
        mean, std = accuracy.mean(), accuracy.std(ddof=1)
        assert f"{mean:.4f} ± {std:.4f}" in row
        if std > 0:
            low, high = scipy_stats.t.interval(0.95, len(accuracy) - 1, mean,
                                               scipy_stats.sem(accuracy))
            assert f"{max(low, 0):.4f} to {min(high, 1):.4f}" in row
        low, high = proportion_confint(round(mean * 360), 360, alpha=0.05, method="wilson")
        assert f"| {low:.4f} to {high:.4f} |" in line and f"{low:.4f} to {high:.4f}" in row
        for column in ("fit_seconds", "predict_seconds"):
            # The run's noise pooled over its models (one-way ANOVA's residual mean square
            # of log time, statsmodels; models of 0.1 s or more, unless none is).
            # Disturbed jobs (a busy machine) take no part in the noise, nor in a model's
            # figure where it has others.
            flag = {"fit_seconds": "fit_disturbed", "predict_seconds": "predict_disturbed"}
            data = frame[~frame[flag[column]].fillna(False).astype(bool)]
            data = data.assign(log_time=np.log(data[column]))
            calm = data[data["model"] == model]
            logs = np.log((calm if len(calm) else jobs)[column].to_numpy(dtype=float))
            # models whose times were measured over 0.1 s or more (a short predict: over
            # all the calls timed)
            calls = data["predict_calls"] if column == "predict_seconds" else 1
            measured = np.log(data[column] * calls)
            long = measured.groupby(data["model"]).transform("mean") >= np.log(0.1)
            if data.empty or data.groupby("model").size().max() < 2:
                continue  # no undisturbed model timed twice: no interval to check
            fitted = smf.ols("log_time ~ C(model)", data[long] if long.any() else data).fit()
            low, high = np.exp(scipy_stats.t.interval(
                0.95, fitted.df_resid, logs.mean(), math.sqrt(fitted.mse_resid / len(logs))))
            assert low > 0
            shown = " to ".join(f"{v:,.0f}" if v >= 1000 else f"{v:.3g}" for v in (low, high))
            assert shown in row and shown in line


def check_galleries(run: Run, labels: np.ndarray, out: Path) -> None:
    with np.load(run.path / "test_images.npz") as saved:
        assert saved["images"].dtype == np.uint8 and saved["images"].shape == (360, 8, 8)
        assert float(saved["pixel_max"]) == 16.0

    # Sample predictions: the models that kept probabilities (linear has no predict_proba),
    # eight test digits, each model's ten probabilities for each, exactly as saved.
    gallery = tables.sample_probabilities(run)
    assert gallery is not None
    charts.sample_predictions_chart(gallery, out / "g.png")
    sample = gallery.data
    assert sorted(sample["model"].unique()) == ["knn", "naive-bayes"]
    digits = sample["test_index"].unique()
    assert len(digits) == 8
    assert (sample["label"] == labels[sample["test_index"]]).all()
    assert (sample.groupby(["test_index", "model"]).size() == 10).all()
    for model in ("knn", "naive-bayes"):
        with np.load(run.path / "predictions" / f"{model}-cpu-r0.npz") as saved:
            position = {int(i): n for n, i in enumerate(saved["probability_index"])}
            rows = sample[sample["model"] == model].sort_values(["test_index", "digit"])
            expected = np.concatenate([saved["probabilities"][position[i]] for i in digits])
        np.testing.assert_allclose(rows["probability"], expected, rtol=1e-6)
    again = tables.sample_probabilities(run)
    assert again is not None and again.data.equals(sample)  # the same digits every time

    # Most often wrong: every model's prediction of the digits the most models got wrong.
    most_wrong = tables.most_wrong(run)
    assert most_wrong is not None
    charts.most_wrong_chart(most_wrong, out / "w.png")
    wrong = most_wrong.data
    assert sorted(wrong["model"].unique()) == MODELS
    predicted = {}
    for model in MODELS:
        with np.load(run.path / "predictions" / f"{model}-cpu-r0.npz") as saved:
            predicted[model] = saved["predicted"]
    misses = sum((predicted[m] != labels).astype(int) for m in MODELS)
    shown = wrong.drop_duplicates("test_index")
    assert list(shown["models_wrong"]) == sorted(shown["models_wrong"], reverse=True)
    assert shown["models_wrong"].iloc[0] == misses.max()
    np.testing.assert_array_equal(shown["models_wrong"], misses[shown["test_index"]])
    np.testing.assert_array_equal(wrong["predicted"],
                                  [predicted[m][i] for i, m in
                                   zip(wrong["test_index"], wrong["model"], strict=True)])
    for name in ("g", "w"):
        assert_valid_png(out / f"{name}.png")


def test_run_without_report_and_resume_with_it(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", "-m", "naive-bayes", "-d", "digits", "--no-report")
    assert result.exit_code == 0, result.output
    run = only_run(tmp_path)
    assert (run / "results.csv").exists() and (run / "test_images.npz").exists()
    assert not (run / "report.html").exists() and not (run / "report.md").exists()
    assert not (run / "charts").exists() and "report in" not in result.stderr
    # Resuming (here: a run with nothing left to do) ends with the report too.
    result = cli("run", "--resume", str(run), report=True)
    assert result.exit_code == 0, result.output
    assert (run / "report.html").exists() and (run / "report.md").exists()


def test_a_report_failure_keeps_the_results(cli: Cli, tmp_path: Path, steerable: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tables, "confusion_counts", broken)  # any step of the report
    result = cli("run", "-m", "naive-bayes", "-d", "digits", report=True)
    assert result.exit_code == 0, result.output  # the jobs were ok: so is the exit code
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1
    assert warnings[0].startswith("mlbench: warning: report not written")
    assert "No space left on device" in warnings[0] and "mlbench report" in warnings[0]
    run = only_run(tmp_path)
    assert len(pd.read_csv(run / "results.csv")) == 1
    assert not (run / "report.html").exists()
    assert "naive-bayes" in result.stdout  # the table was printed before the report

    # A failed job keeps exit code 1 whatever happens to the report.
    result = cli("run", "--plugin", str(steerable), "-m", "steerable", "-d", "digits",
                 "-p", "steerable.fail=boom", "--name", "second", report=True)
    assert result.exit_code == 1, result.output
    assert "mlbench: warning: report not written" in result.stderr


def test_report_lists_failures_escaped(cli: Cli, tmp_path: Path, steerable: Path) -> None:
    result = cli("run", "--plugin", str(steerable), "-m", "steerable,linear", "-d", "digits",
                 "-p", "steerable.fail='boom|<b>x</b>'", "-q")
    assert result.exit_code == 1, result.output
    run = only_run(tmp_path)
    result = cli("report", str(run))
    assert result.exit_code == 0, result.output
    text = (run / "report.md").read_text()
    failures = text.split("## Failures", 1)[1].split("## Charts", 1)[0]
    assert "- 1 of 2 jobs ended ok; 1 failed (see Failures)." in text
    assert "steerable-cpu-r0" in failures and "failed" in failures
    assert r"boom\|&lt;b&gt;x&lt;/b&gt;" in failures
    assert "<b>" not in text and "boom|" not in text
    # Every table row still has the header's number of columns.
    for block in re.findall(r"(?:^\|.*\|$\n?)+", text, flags=re.M):
        widths = {len(re.split(r"(?<!\\)\|", row)) for row in block.strip().splitlines()}
        assert len(widths) == 1, block
    accuracy = tables.accuracy_per_model(read_table(run / "results.csv"))
    assert accuracy is not None and list(accuracy["model"]) == ["linear"]
    assert (run / "charts" / "accuracy.png").exists()


def test_report_of_a_run_with_no_finished_job(cli: Cli, tmp_path: Path) -> None:
    run = tmp_path / "interrupted"
    RunFolder(run).write_run({"dataset": {"name": "digits", "train_size": 1437,
                                          "test_size": 360}})
    result = cli("report", str(run))
    assert result.exit_code == 0, result.output
    text = (run / "report.md").read_text()
    assert "No job finished: nothing to compare." in text
    assert "every job ended ok" not in text and "No chart" in text
    assert (run / "report.html").exists()


def test_report_of_a_folder_that_is_no_run(cli: Cli, tmp_path: Path) -> None:
    result = cli("report", str(tmp_path))
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert result.output.startswith("mlbench: error: ")
    assert not (tmp_path / "report.md").exists()


@pytest.mark.long
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_learning_curves_of_a_cnn(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", "-m", "torch-cnn", "-d", "mnist-5k", "--train-size", "500",
                 "--test-size", "200", "-p", "torch-cnn.epochs=2", "-q")
    assert result.exit_code == 0, result.output
    run = only_run(tmp_path)
    assert cli("report", str(run)).exit_code == 0
    assert "charts/learning_curves.png" in (run / "report.md").read_text()
    assert_valid_png(run / "charts" / "learning_curves.png")
    curves = tables.learning_curves(Run.open(run))
    assert curves is not None
    assert list(curves["epoch"]) == [1, 2] or list(curves["epoch"]) == [0, 1]
    assert set(curves["model"]) == {"torch-cnn"}
    assert curves["cumulative_train_seconds"].is_monotonic_increasing
    history = pd.read_csv(run / "history.csv")
    assert list(curves["cumulative_train_seconds"]) == pytest.approx(
        list(history["cumulative_train_seconds"]))  # the running total as the plugin kept it


CLOCKED = """
import mlbench
import numpy as np


class Clocked(mlbench.Model):
    \"\"\"Keeps a history with known times: epochs of 2, 3 and 4 seconds, reaching test
    accuracy 0.992 in the second. TOTAL names the key of its running total (None: none).\"\"\"

    name = "clocked"

    def fit(self, X, y):
        self.label_ = int(np.bincount(y).argmax())
        total, self.history_ = 0.0, []
        for epoch, (seconds, accuracy) in enumerate(((2.0, 0.9), (3.0, 0.992), (4.0, 0.995)),
                                                    start=1):
            total += seconds
            entry = {"epoch": epoch, "loss": 1.0 / epoch, "test_accuracy": accuracy,
                     "epoch_seconds": seconds}
            if TOTAL is not None:
                entry[TOTAL] = total
            self.history_.append(entry)
        return self

    def predict(self, X):
        return np.full(len(X), self.label_)


@mlbench.hookimpl
def mlbench_register_models(register):
    register(Clocked)
"""


def drawn_curves(data: pd.DataFrame, path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> list[list[float]]:
    """The x values of the time panel's lines, as the learning-curve chart draws them."""
    drawn: list[list[float]] = []
    savefig = matplotlib.figure.Figure.savefig

    def keep(figure: matplotlib.figure.Figure, *args: object, **kwargs: object) -> None:
        lines = figure.axes[2].get_lines()
        drawn.extend([float(x) for x in line.get_xdata()] for line in lines)
        savefig(figure, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", keep)
    charts.learning_curves_chart(data, path)
    monkeypatch.undo()
    assert_valid_png(path)
    return drawn


# How the plugin keeps its running total: today's name, the older one, or not at all.
@pytest.mark.parametrize("total", ["cumulative_train_seconds", "train_seconds", None])
def test_learning_curves_use_the_running_total_once(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, total: str | None
) -> None:
    plugin = tmp_path / "clocked.py"
    plugin.write_text(f"TOTAL = {total!r}\n{CLOCKED}")
    result = cli("run", "--plugin", str(plugin), "-m", "clocked", "-d", "digits",
                 "--repeats", "2", "--wide")
    assert result.exit_code == 0, result.output
    assert "to target s" in result.stdout  # the per-job table's column
    run = only_run(tmp_path)
    curves = tables.learning_curves(Run.open(run))
    assert curves is not None and curves["job_id"].nunique() == 1  # one job, not repeats summed
    assert list(curves["cumulative_train_seconds"]) == [2.0, 5.0, 9.0]
    assert drawn_curves(curves, tmp_path / "curves.png", monkeypatch) == [[2.0, 5.0, 9.0]]
    history = pd.read_csv(run / "history.csv")
    assert list(history["cumulative_train_seconds"]) == [2.0, 5.0, 9.0] * 2
    # Time to the default target (0.99): the running total at epoch 2, in every job.
    table = pd.read_csv(run / "results.csv")
    assert list(table["target_accuracy"]) == [0.99, 0.99]
    assert list(table["time_to_target_seconds"]) == [5.0, 5.0]  # the double sum said 7


def test_a_target_never_reached_is_empty_not_zero(cli: Cli, tmp_path: Path) -> None:
    plugin = tmp_path / "clocked.py"
    plugin.write_text(f"TOTAL = 'cumulative_train_seconds'\n{CLOCKED}")
    result = cli("run", "--plugin", str(plugin), "-m", "clocked,knn", "-d", "digits",
                 "--target-accuracy", "0.999", report=True)
    assert result.exit_code == 0, result.output
    run = only_run(tmp_path)
    rows = {row["model"]: row for row in csv.DictReader((run / "results.csv").open())}
    assert (rows["clocked"]["target_accuracy"], rows["clocked"]["time_to_target_seconds"]) == (
        "0.999", "")
    # knn keeps no history: no target applies to it.
    assert (rows["knn"]["target_accuracy"], rows["knn"]["time_to_target_seconds"]) == ("", "")
    report = (run / "report.md").read_text()
    assert "to target s" in report and "first reached 0.999" in report


WOBBLY = """
import mlbench
import numpy as np


class Wobbly(mlbench.Model):
    \"\"\"A history with known times (1 s per evaluation, two a epoch) whose seeds differ: the
    first reaches 0.99 at 2 s and ends above it, the second reaches it at 3 s and ends below,
    the third never reaches it.\"\"\"

    name = "wobbly"

    def fit(self, X, y):
        self.label_ = int(np.bincount(y).argmax())
        accuracies = [(0.95, 0.991, 0.993, 0.995), (0.95, 0.97, 0.992, 0.985),
                      (0.95, 0.96, 0.97, 0.98)][self.seed % 3]
        self.history_ = [{"epoch": (n + 1) / 2, "loss": 1.0, "test_accuracy": accuracy,
                          "epoch_seconds": 1.0} for n, accuracy in enumerate(accuracies)]
        return self

    def predict(self, X):
        return np.full(len(X), self.label_)


@mlbench.hookimpl
def mlbench_register_models(register):
    register(Wobbly)
"""


def test_time_to_target_says_how_many_runs_reached_it(cli: Cli, tmp_path: Path) -> None:
    # Three seeds: reached and ended above, reached and fell back, never reached.
    plugin = tmp_path / "wobbly.py"
    plugin.write_text(WOBBLY)
    result = cli("run", "--plugin", str(plugin), "-m", "wobbly,knn", "-d", "digits",
                 "--repeats", "3", report=True)
    assert result.exit_code == 0, result.output
    run = only_run(tmp_path)
    table = pd.read_csv(run / "results.csv").sort_values("repeat")
    wobbly = table[table["model"] == "wobbly"]
    assert wobbly["time_to_target_seconds"].tolist()[:2] == [2.0, 3.0]
    assert wobbly["time_to_target_seconds"].isna().tolist() == [False, False, True]
    assert wobbly["test_evaluations"].tolist() == [4, 4, 4]
    assert table[table["model"] == "knn"]["test_evaluations"].isna().all()
    # The terminal: the geometric mean of 2 and 3 s over the two that reached it.
    line = next(line for line in result.stdout.splitlines() if line.strip().startswith("wobbly"))
    assert "2.45 (2/3, 1/3)" in line
    assert "to 0.99 s: training seconds until test accuracy first reached the target" in (
        result.stdout)
    # The report's per-model table, and its chart of every run against time.
    report = (run / "report.md").read_text()
    assert "2.45 (2/3 reached; 1/3 ended above)" in report
    assert "charts/to_target.png" in report
    curves = tables.target_curves(Run.open(run))
    assert curves is not None and curves["job_id"].nunique() == 3
    assert sorted(curves.groupby("repeat")["cumulative_train_seconds"].max()) == [4.0] * 3
    assert_valid_png(run / "charts" / "to_target.png")


HOARDER = """
import mlbench
import numpy as np


class Hoarder(mlbench.Model):
    \"\"\"Keeps 200 MB of its own: the memory a model adds to its worker.\"\"\"

    name = "hoarder"

    def fit(self, X, y):
        self.weights_ = np.ones(25_000_000)  # 200 MB, every page written
        self.label_ = int(np.bincount(y).argmax())
        return self

    def predict(self, X):
        return np.full(len(X), self.label_)

    def size_bytes(self):
        return self.weights_.nbytes


@mlbench.hookimpl
def mlbench_register_models(register):
    register(Hoarder)
"""


def test_memory_and_size_that_belong_to_the_model(cli: Cli, tmp_path: Path) -> None:
    plugin = tmp_path / "hoarder.py"
    plugin.write_text(HOARDER)
    result = cli("run", "--plugin", str(plugin), "-m", "hoarder,linear", "-d", "digits",
                 "--wide", report=True)  # the per-job table: model and size MiB
    assert result.exit_code == 0, result.output
    run = only_run(tmp_path)
    table = pd.read_csv(run / "results.csv").set_index("model")
    hoarder, linear = table.loc["hoarder"], table.loc["linear"]
    assert 190 <= hoarder["model_memory_mb"] <= hoarder["peak_memory_mb"]
    assert hoarder["model_size_bytes"] == 200_000_000
    # The worker's own floor (mlbench, its imports, the data) is left out of the model's.
    assert linear["model_memory_mb"] < 100 < linear["peak_memory_mb"] - linear["model_memory_mb"]
    for text in (result.stdout, (run / "report.md").read_text()):
        assert "model MiB" in text and "size MiB" in text
        assert "190.7" in text  # 200,000,000 bytes in MiB
