"""The report's charts, drawn from real runs: each answers its question (error rates with the
tables' intervals, mistakes without the diagonal, labels that do not overprint), a grid gets
facets, and a model keeps its colour from one run to the next whatever runs beside it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import Result
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PathCollection
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from mlbench.contract.registry import load_registry
from mlbench.reporting import charts, stats, tables
from mlbench.results.run import Run
from mlbench.results.table import read_table

Cli = Callable[..., Result]
SMALL = ("-d", "mnist-5k", "--train-size", "300", "--test-size", "200")
CHARTS = {"accuracy.png", "pareto.png", "speed.png", "per_class.png", "confusion.png"}


def run(cli: Cli, tmp_path: Path, name: str, *args: str) -> Path:
    result = cli("run", *args, "--name", name, report=True)
    assert result.exit_code == 0, result.output
    return tmp_path / "results" / name


def charts_linked(folder: Path) -> set[str]:
    """The chart files the report shows, each checked to exist."""
    names = re.findall(r"\]\(charts/([^)]+\.png)\)", (folder / "report.md").read_text())
    for name in names:
        assert (folder / "charts" / name).stat().st_size > 1000, name
    return set(names)


def dot_colours(figure: Figure) -> dict[str, str]:
    """Per model label, the colour of its dot in a drawn accuracy chart."""
    colours = {}
    for axes in figure.axes:
        labels = [tick.get_text() for tick in axes.get_yticklabels()]
        dots = next(c for c in axes.collections if isinstance(c, PathCollection))
        for y, colour in zip(dots.get_offsets()[:, 1], dots.get_facecolors(), strict=True):
            colours[labels[round(y)]] = to_hex(colour)
    return colours


def test_a_model_keeps_its_colour_across_runs(cli: Cli, tmp_path: Path) -> None:
    first = run(cli, tmp_path, "first", "--models", "knn,logistic", *SMALL)
    second = run(cli, tmp_path, "second", "--models", "knn,svm,naive-bayes", *SMALL)
    registry = load_registry()
    drawn = {}
    for folder in (first, second):
        assert charts_linked(folder) >= CHARTS
        table = read_table(folder / "results.csv")
        accuracy = tables.accuracy_per_model(table)
        assert accuracy is not None
        # Drawn as the report draws it: its palette from the colours the run recorded.
        colours = Run.open(folder).info.model_colours()
        palette = charts.model_palette(tables.ok_rows(table)["model"].unique(), colours)
        figure = charts.accuracy_chart(accuracy, tmp_path / f"{folder.name}.png", palette)
        drawn[folder.name] = dot_colours(figure)
        for model, colour in drawn[folder.name].items():
            assert colour == palette[model] == registry.models[model].colour  # its plugin's
    assert set(drawn["first"]) == {"knn", "logistic"}
    assert set(drawn["second"]) == {"knn", "svm", "naive-bayes"}
    assert drawn["first"]["knn"] == drawn["second"]["knn"]
    assert len(set(drawn["second"].values())) == 3

    # Every built-in model its own colour, from its plugin; any other name always the same
    # one, none a built-in's (a hash stable across processes, not Python's hash()).
    builtin = [entry.colour for entry in registry.models.values()]
    assert None not in builtin and len(set(builtin)) == len(builtin) == 19
    assert not set(builtin) & set(charts.HASHED_COLOURS)
    assert charts.model_colour("my-model") in charts.HASHED_COLOURS
    assert charts.model_colour("my-model") == charts.model_palette(["my-model", "knn"])[
        "my-model"]


def test_charts_of_a_run_answer_their_questions(cli: Cli, tmp_path: Path) -> None:
    folder = run(cli, tmp_path, "single", "--models", "knn,linear,naive-bayes", "--repeats",
                 "2", *SMALL)
    assert charts_linked(folder) >= CHARTS
    table = read_table(folder / "results.csv")
    frame = pd.read_csv(folder / "results.csv")
    out = tmp_path / "drawn"

    # Accuracy: error rates, lowest first, with the Wilson interval over the 200 test
    # images and the seeds' interval, each as the tables print them.
    accuracy = tables.accuracy_per_model(table)
    assert accuracy is not None
    figure = charts.accuracy_chart(accuracy, out / "a.png")
    axes = figure.axes[0]
    assert "test error rate" in axes.get_xlabel() and "200 test images, 2 runs each" in (
        axes.get_xlabel())
    assert axes.get_xscale() == "log"
    labels = [tick.get_text() for tick in axes.get_yticklabels()]
    errors = 1 - frame.groupby("model")["accuracy"].mean()
    assert labels == list(errors.sort_values().index)
    dots = next(c for c in axes.collections if isinstance(c, PathCollection))
    np.testing.assert_allclose(dots.get_offsets()[:, 0],
                               np.maximum(errors[labels], 0.5 / 200))
    # Each errorbar: a LineCollection of one horizontal segment per model.
    bars = [c for c in axes.collections if c is not dots]
    assert len(bars) == 2  # over the test images, over the seeds
    for model, segment in zip(labels, bars[0].get_segments(), strict=True):
        low, high = stats.accuracy_interval(1 - errors[model], 200)
        np.testing.assert_allclose(sorted(segment[:, 0]), np.maximum(
            [1 - high, 1 - low], 0.5 / 200), rtol=1e-9)
    printed = [text.get_text() for text in axes.texts]
    assert printed == [f"{100 * errors[m]:.2f}%" for m in labels]

    # Mistakes: the most frequent true -> predicted pairs, never a right answer.
    counts = tables.confusion_counts(Run.open(folder))
    assert counts is not None
    top = tables.top_confusions(counts)
    assert top is not None and len(top) <= 15
    pairs = [tuple(int(d) for d in label.split(" \u2192 ")) for label in top.index]
    assert all(true != predicted for true, predicted in pairs)
    wrong = counts[counts["true"] != counts["predicted"]]
    totals = wrong.groupby(["true", "predicted"])["count"].sum()
    assert [totals[pair] for pair in pairs] == sorted(totals, reverse=True)[:len(pairs)]
    figure = charts.confusion_chart(top, out / "c.png")
    shown = [tick.get_text() for tick in figure.axes[0].get_yticklabels()]
    assert shown == list(top.index) and len(figure.axes) == 2  # the heatmap and its bar

    # Per digit: error rates, most accurate model first.
    per_class = tables.per_class_accuracy(Run.open(folder))
    assert per_class is not None and list(per_class.index) == list(errors.sort_values().index)
    figure = charts.per_class_chart(per_class, out / "p.png")
    assert len(figure.axes) == 2  # with its colour bar

    # Pareto: every point named, and no two labels overprint.
    pareto = tables.pareto_table(table)
    assert pareto is not None
    figure = charts.pareto_chart(pareto, out / "pareto.png")
    renderer = FigureCanvasAgg(figure).get_renderer()  # closed: a canvas to measure on
    boxes = [text.get_window_extent(renderer) for text in figure.axes[0].texts
             if text.get_text()]  # adjustText's leader lines are empty annotations
    assert len(boxes) == 6  # each model's dot and its ring ("fit alone")
    assert not any(a.overlaps(b) for n, a in enumerate(boxes) for b in boxes[n + 1:])
    assert figure.axes[0].get_yscale() == "log"


@pytest.mark.parametrize("sweep", [False, True])
def test_a_grid_gets_facets_and_numeric_order(cli: Cli, tmp_path: Path, sweep: bool) -> None:
    args = ["--models", "knn,naive-bayes", "-d", "digits", "--train-size", "300,1000"]
    if sweep:
        args += ["--sweep", "knn.n_neighbors=1,5"]
    folder = run(cli, tmp_path, "grid", *args)
    assert CHARTS | {"scaling.png"} | ({"sweep.png"} if sweep else set()) <= charts_linked(
        folder)
    table = read_table(folder / "results.csv")
    accuracy = tables.accuracy_per_model(table)
    assert accuracy is not None
    figure = charts.accuracy_chart(accuracy, tmp_path / "a.png")
    assert [axes.get_title(loc="left") for axes in figure.axes] == [
        "300 training images", "1,000 training images"]
    per_facet = 3 if sweep else 2
    for axes in figure.axes:
        assert len(axes.get_yticklabels()) == per_facet
        assert not any("n=" in tick.get_text() for tick in axes.get_yticklabels())
    speed = tables.speed_table(table)
    assert speed is not None
    assert len(charts.speed_chart(speed, tmp_path / "s.png").axes) == 4  # 2 sizes x fit, predict

    # "Every job": n300 before n1000 (numeric), not after it (text).
    report = (folder / "report.md").read_text()
    jobs = re.findall(r"\| (naive-bayes-cpu-n\d+-r0) ", report)
    assert jobs and jobs[:2] == ["naive-bayes-cpu-n300-r0", "naive-bayes-cpu-n1000-r0"]
