"""Reports of real saved runs: `mlbench report`, the charts and the data behind them."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from click.testing import Result

from mlbench import charts
from mlbench.results import RunFolder, read_table

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
    result = cli("run", "-m", ",".join(MODELS), "-d", "digits", "--repeats", "2", "-q")
    assert result.exit_code == 0, result.output
    run = only_run(tmp_path)

    result = cli("report", str(run))
    assert result.exit_code == 0, result.output
    report = run / "report.md"
    assert result.stdout.strip() == str(report)
    text = report.read_text()
    assert "# mlbench report" in text and "digits: 1437 train / 360 test" in text
    assert "| job_id" in text and "|:---" in text  # the results table
    for model in MODELS:
        assert f"| {model}-cpu-r1" in text and f"| {model} " in text
    assert "None: every job ended ok." in text
    links = re.findall(r"!\[[^\]]*\]\((charts/[^)]+\.png)\)", text)
    assert {Path(link).name for link in links} == {
        "accuracy.png", "pareto.png", "speed.png", "per_class.png", "confusion.png"}
    for link in links:
        assert_valid_png(run / link)
    assert not (run / "charts" / "learning_curves.png").exists()  # no history: no chart

    # Deterministic: a second report gives the same text.
    assert cli("report", str(run)).exit_code == 0
    assert report.read_text() == text

    # The data behind each chart: exactly the run's ok models, computed independently here.
    frame = pd.read_csv(run / "results.csv")
    folder = RunFolder(run)
    table = read_table(run / "results.csv")
    out = tmp_path / "charts"
    palette = charts.model_palette(MODELS)

    accuracy = charts.accuracy_chart(table, out / "a.png")
    assert accuracy is not None
    expected = frame.groupby("model")["accuracy"].mean().sort_values(ascending=False)
    assert list(accuracy["model"]) == list(expected.index)
    np.testing.assert_allclose(accuracy["mean"], expected.to_numpy())
    assert (accuracy["repeats"] == 2).all()

    pareto = charts.pareto_chart(table, out / "p.png")
    assert pareto is not None and sorted(pareto["model"]) == MODELS
    front = set(pareto.loc[pareto["pareto"], "model"])
    assert expected.index[0] in front
    assert frame.groupby("model")["fit_seconds"].median().idxmin() in front

    speed = charts.speed_chart(table, out / "s.png")
    assert speed is not None and sorted(speed["model"]) == MODELS

    for data in (accuracy, pareto, speed):
        assert dict(zip(data["model"], data["color"], strict=True)) == palette

    labels = np.load(run / "test_labels.npy")
    per_class = charts.per_class_chart(table, folder, out / "c.png")
    assert per_class is not None and list(per_class.index) == MODELS
    for model in MODELS:
        with np.load(run / "predictions" / f"{model}-cpu-r0.npz") as saved:
            predicted = saved["predicted"]
        by_digit = [np.sum((labels == d) & (predicted == d)) / np.sum(labels == d)
                    for d in range(10)]
        np.testing.assert_allclose(per_class.loc[model].to_numpy(), by_digit)

    confusion = charts.confusion_chart(table, folder, out / "m.png")
    assert confusion is not None and sorted(confusion["model"].unique()) == MODELS
    assert (confusion.groupby("model")["count"].sum() == len(labels)).all()

    assert charts.learning_curves_chart(table, folder, out / "l.png") is None
    for name in ("a", "p", "s", "c", "m"):
        assert_valid_png(out / f"{name}.png")


def test_report_lists_failures_escaped(cli: Cli, tmp_path: Path, steerable: Path) -> None:
    result = cli("run", "--plugin", str(steerable), "-m", "steerable,linear", "-d", "digits",
                 "-p", "steerable.fail='boom|<b>x</b>'", "-q")
    assert result.exit_code == 1, result.output
    run = only_run(tmp_path)
    result = cli("report", str(run))
    assert result.exit_code == 0, result.output
    text = (run / "report.md").read_text()
    failures = text.split("## Failures", 1)[1].split("## Charts", 1)[0]
    assert "steerable-cpu-r0" in failures and "failed" in failures
    assert r"boom\|&lt;b&gt;x&lt;/b&gt;" in failures
    assert "<b>" not in text and "boom|" not in text
    # Every table row still has the header's number of columns.
    for block in re.findall(r"(?:^\|.*\|$\n?)+", text, flags=re.M):
        widths = {len(re.split(r"(?<!\\)\|", row)) for row in block.strip().splitlines()}
        assert len(widths) == 1, block
    accuracy = charts.accuracy_chart(read_table(run / "results.csv"), tmp_path / "a.png")
    assert accuracy is not None and list(accuracy["model"]) == ["linear"]
    assert (run / "charts" / "accuracy.png").exists()


def test_report_of_a_folder_that_is_no_run(cli: Cli, tmp_path: Path) -> None:
    result = cli("report", str(tmp_path))
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert result.output.startswith("mlbench: error: ")
    assert not (tmp_path / "report.md").exists()


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_learning_curves_of_a_cnn(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", "-m", "torch-cnn", "-d", "mnist-5k", "--train-size", "500",
                 "--test-size", "200", "-p", "torch-cnn.epochs=2", "-q")
    assert result.exit_code == 0, result.output
    run = only_run(tmp_path)
    assert cli("report", str(run)).exit_code == 0
    assert "charts/learning_curves.png" in (run / "report.md").read_text()
    assert_valid_png(run / "charts" / "learning_curves.png")
    curves = charts.learning_curves_chart(read_table(run / "results.csv"), RunFolder(run),
                                          tmp_path / "l.png")
    assert curves is not None
    assert list(curves["epoch"]) == [1, 2] or list(curves["epoch"]) == [0, 1]
    assert set(curves["model"]) == {"torch-cnn"}
    assert curves["cumulative_train_seconds"].is_monotonic_increasing
