"""Charts without traps, checked on the two grids a user runs (a --sweep and a --train-size
list): ticks a reader can read on every axis, an interval on every accuracy point, a name on
every point that stands for a model, test accuracy only for the setting chosen on validation,
one order of models; and each report's charts seen in headless Chromium."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib.image
import numpy as np
import pandas as pd
import pytest
from click.testing import Result
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure

from mlbench.reporting import charts, tables
from mlbench.results.table import read_table

Cli = Callable[..., Result]
SWEEP = ("--models", "svm,knn,logistic", "-d", "digits", "--sweep", "svm.C=1,10")
SIZES = ("--models", "svm,knn,logistic,naive-bayes", "-d", "digits", "--train-size", "400,1000")


def grid_run(cli: Cli, tmp_path: Path, name: str, args: tuple[str, ...]) -> Path:
    result = cli("run", *args, "--name", name, "-q", report=True)
    assert result.exit_code == 0, result.output
    return tmp_path / "results" / name


def labelled_ticks(axes: Axes, which: str) -> list[str]:
    """The tick labels a reader sees on one axis: drawn, inside the view, not empty."""
    axis = axes.xaxis if which == "x" else axes.yaxis
    low, high = sorted(axes.get_xlim() if which == "x" else axes.get_ylim())
    ticks = [*axis.get_major_ticks(), *axis.get_minor_ticks()]
    return [tick.label1.get_text() for tick in ticks
            if low <= tick.get_loc() <= high and tick.label1.get_visible()
            and tick.label1.get_text()]


def assert_readable_axes(figure: Figure, name: str) -> None:
    """Every axis of every panel has at least two labelled ticks (a shared axis: on the panel
    that shows it), or one for a single category."""
    FigureCanvasAgg(figure).draw()  # closed figures: a canvas lays the ticks out
    panels = [axes for axes in figure.axes if axes.get_label() != "<colorbar>"]
    for axes in panels:
        for which in ("x", "y"):
            shared = (axes.get_shared_x_axes() if which == "x"
                      else axes.get_shared_y_axes()).get_siblings(axes)
            best = max(len(labelled_ticks(other, which)) for other in shared)
            categories = len(axes.get_xticks() if which == "x" else axes.get_yticks())
            assert best >= min(2, categories), (name, axes.get_title(), which,
                                                labelled_ticks(axes, which))


def test_a_sweep_report_shows_no_test_accuracy_it_did_not_choose(cli: Cli,
                                                                 tmp_path: Path) -> None:
    run = grid_run(cli, tmp_path, "sweep", SWEEP)
    frame = read_table(run / "results.csv")
    selection = tables.sweep_selection(frame)
    assert selection is not None and selection["chosen"].sum() == 1
    figure = charts.sweep_chart(selection, tmp_path / "sweep.png")
    assert_readable_axes(figure, "sweep")
    accuracy_axes = figure.axes[0]
    bars = {container.get_label(): container for container in accuracy_axes.containers
            if isinstance(container, ErrorbarContainer)}
    # Validation accuracy at both values, test accuracy at the chosen one only, each with
    # its interval (an error bar per point, of some height).
    assert set(bars) == {"validation", "test, the setting chosen on validation"}
    for label, points in (("validation", 2), ("test, the setting chosen on validation", 1)):
        line, _, (segments,) = bars[label]
        assert len(line.get_xdata()) == points
        heights = [abs(end[1] - start[1]) for start, end in segments.get_segments()]
        assert len(heights) == points and min(heights) > 0.005, (label, heights)
    chosen = selection[selection["chosen"]].iloc[0]
    line = bars["test, the setting chosen on validation"][0]
    assert list(line.get_ydata()) == [pytest.approx(chosen["accuracy"])]

    # The report's Grid table: test accuracy in the chosen row only.
    lines = (run / "report.md").read_text().splitlines()
    start = next(number for number, line in enumerate(lines)
                 if "test accuracy (mean)" in line and "validation accuracy" in line)
    header, table = lines[start], lines[start + 2:]
    rows = [line for line in table[:table.index("")] if line.startswith("| svm ")]
    assert len(rows) == 2, rows
    column = [cell.strip() for cell in header.split("|")].index("test accuracy (mean)")
    cells = {("chosen" in row): row.split("|")[column].strip() for row in rows}
    assert cells[False] == "" and float(cells[True]) == pytest.approx(chosen["accuracy"],
                                                                      abs=1e-4)
    check_other_charts(frame, tmp_path)


def test_a_sizes_report_names_every_point(cli: Cli, tmp_path: Path) -> None:
    run = grid_run(cli, tmp_path, "sizes", SIZES)
    frame = read_table(run / "results.csv")
    pareto = tables.pareto_table(frame)
    assert pareto is not None and len(pareto) == 8  # 4 models x 2 sizes
    figure = charts.pareto_chart(pareto, tmp_path / "pareto.png")
    texts = {text.get_text() for text in figure.axes[0].texts if text.get_text()}
    for model in ("svm", "knn", "logistic", "naive-bayes"):
        for size in ("400", "1,000"):
            assert f"{model}, n={size}" in texts  # the dot
            assert f"{model}, n={size} (fit)" in texts  # its ring
    assert_readable_axes(figure, "pareto")
    scaling = tables.scaling_data(frame)
    assert scaling is not None
    assert_readable_axes(charts.scaling_chart(scaling, tmp_path / "scaling.png"), "scaling")
    check_other_charts(frame, tmp_path)


def check_other_charts(frame: pd.DataFrame, tmp_path: Path) -> None:
    """The accuracy and speed charts: readable axes, and one order of models, most accurate
    first."""
    accuracy = tables.accuracy_per_model(frame)
    speed = tables.speed_table(frame)
    assert accuracy is not None and speed is not None
    assert_readable_axes(charts.accuracy_chart(accuracy, tmp_path / "a.png"), "accuracy")
    assert_readable_axes(charts.speed_chart(speed, tmp_path / "s.png"), "speed")
    for _, rows in accuracy.groupby("train_size"):
        sizes = speed[speed["label"].isin(rows["label"])]
        assert list(sizes["label"]) == list(rows["label"])


def test_learning_curves_count_whole_epochs(tmp_path: Path) -> None:
    curves = pd.DataFrame({"model": "m", "epoch": [0.5, 1.0, 1.5, 2.0, 2.5, 3.0],
                           "test_accuracy": np.linspace(0.9, 0.99, 6),
                           "loss": np.linspace(0.5, 0.05, 6),
                           "cumulative_train_seconds": np.arange(1, 7, dtype=float)})
    figure = charts.learning_curves_chart(curves, tmp_path / "curves.png")
    FigureCanvasAgg(figure).draw()
    for axes in figure.axes[:2]:
        epochs = labelled_ticks(axes, "x")
        assert epochs and all(re.fullmatch(r"\d+", text) for text in epochs), epochs


# ---------------------------------------------------------------- seen in a browser

selenium = pytest.importorskip("selenium",
                               reason="selenium not installed (pip install -e '.[dev]')")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

from tests.report_browser import CHROMEDRIVER, CHROMIUM, chromium  # noqa: E402


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("headless Chromium not installed: apt-get install chromium chromium-driver")
    with chromium() as driver:
        yield driver


@pytest.mark.parametrize("grid", ["sweep", "sizes"])
def test_the_grid_reports_charts_in_a_browser(cli: Cli, tmp_path: Path,
                                              browser: webdriver.Chrome, grid: str) -> None:
    """Each chart of the report, as Chromium shows it: decoded, and a picture (many colours,
    ink on it), screenshotted element by element."""
    run = grid_run(cli, tmp_path, grid, SWEEP if grid == "sweep" else SIZES)
    browser.get((run / "report.html").as_uri())
    browser.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
    images = browser.find_elements(By.CSS_SELECTOR, "img")
    alts = [image.get_attribute("alt") or "" for image in images]
    linked = re.findall(r"\]\(charts/([^)]+\.png)\)", (run / "report.md").read_text())
    assert len(images) == len(linked) and {"sweep": "sweep.png", "sizes": "scaling.png"}[
        grid] in linked, linked
    for image, alt in zip(images, alts, strict=True):
        assert browser.execute_script("return arguments[0].complete && "
                                      "arguments[0].naturalWidth > 0", image), alt
        browser.execute_script("arguments[0].scrollIntoView()", image)
        shot = matplotlib.image.imread(io.BytesIO(image.screenshot_as_png), format="png")
        (tmp_path / f"{grid}-{len(list(tmp_path.glob('*.shot.png')))}.shot.png").write_bytes(
            image.screenshot_as_png)
        assert len(np.unique(shot[..., :3].reshape(-1, 3), axis=0)) > 20, alt
        assert (shot[..., :3] < 0.8).any(axis=-1).mean() > 0.005, alt
