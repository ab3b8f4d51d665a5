"""Grids: --sweep and lists of --train-size expand into jobs; results, resume and the report
(scaling and sweep charts) follow them."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import Result

from mlbench.contract.registry import load_registry
from mlbench.datasets import DataRef
from mlbench.reporting import charts, tables
from mlbench.results.table import read_table
from mlbench.running import planning
from mlbench.running.jobs import RunConfig
from mlbench.running.params import parse_sweep
from tests.conftest import assert_one_line_error

Cli = Callable[..., Result]


def test_sweep_and_sizes_expand_into_readable_unique_jobs(tmp_path: Path) -> None:
    labels = np.repeat(np.arange(10), 50)
    np.save(tmp_path / "y_train.npy", labels)
    registry = load_registry(())
    defaults = {model: registry.models[model].defaults for model in ("svm", "knn")}
    config = RunConfig(models=["svm", "knn"], dataset="digits", repeats=2, seed=7,
                       train_size=[100, 300], params={"svm": {"gamma": 0.01}},
                       sweep=parse_sweep(["svm.C=1,10", "svm.kernel=rbf,poly"], defaults))
    specs, skipped = planning.plan(config, registry, DataRef(tmp_path, 16.0))

    assert skipped == []
    ids = [spec.job_id for spec in specs]
    expected_svm = [f"svm-cpu-C={c}-kernel={k}-n{n}-r{r}" for c in (1, 10)
                    for k in ("rbf", "poly") for n in (100, 300) for r in (0, 1)]
    assert ids == expected_svm + [f"knn-cpu-n{n}-r{r}" for n in (100, 300) for r in (0, 1)]
    for spec in specs:
        if spec.model == "svm":
            assert spec.params == {**registry.models["svm"].defaults, "gamma": 0.01,
                                   **spec.sweep}
            assert f"C={spec.params['C']:g}-kernel={spec.params['kernel']}" in spec.job_id
            assert isinstance(spec.params["C"], float)  # typed like the default
        else:
            assert spec.sweep == {} and spec.params == registry.models["knn"].defaults
        assert spec.seed == 7 + spec.repeat
        assert spec.train_size == len(spec.data.train_indices)
        assert spec.job_id.endswith(f"-n{spec.train_size}-r{spec.repeat}")
        # each size's subset is stratified: every class, in proportion
        assert (np.bincount(labels[spec.data.train_indices]) == spec.train_size // 10).all()
    assert len({spec.job_id for spec in specs}) == len(specs) == 20

    # One size and no sweep: the job ids (and resumable run folders) of before grids.
    plain = RunConfig(models=["knn"], dataset="digits", train_size=100)
    assert [s.job_id for s in planning.plan(plain, registry, DataRef(tmp_path, 16.0))[0]] == [
        "knn-cpu-r0"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sweep", "knn.n_neighbors=1,x"],
         "--sweep 'knn.n_neighbors=1,x': knn.n_neighbors expects int (default 3), got 'x'"),
        (["--sweep", "knn.n_neighbors=1,2.5"], "knn.n_neighbors expects int"),
        (["--sweep", "knn.n_neighbors=1,,3"], "has an empty value"),
        (["--sweep", "knn.n_neighbors="], "has an empty value"),
        (["--sweep", "knn.n_neighbours=1,3"], "Did you mean 'n_neighbors'?"),
        (["--sweep", "knn"], "is not of the form MODEL.NAME=V1,V2,..."),
        (["--sweep", "svm.C=1,10"], "model 'svm' is not selected"),
        (["--sweep", "knn.n_neighbors=1,3,1"], "value 1 is given twice"),
        (["--sweep", "knn.n_neighbors=1,3", "--param", "knn.n_neighbors=5"],
         "is already set by another --sweep or --param"),
        (["--sweep", "knn.n_neighbors=1,3", "--sweep", "knn.n_neighbors=5,7"],
         "is already set by another --sweep or --param"),
        (["--sweep", "knn.algorithm=brute,'brute'"], "value 'brute' is given twice"),
        (["--train-size", "100,abc"], "--train-size takes a number of images or a comma-"),
        (["--train-size", "100,,200"], "--train-size takes a number of images"),
        (["--train-size", "100,0"], "--train-size must be at least 1, got 0"),
        (["--train-size", "100,5000"], "--train-size 5000 is larger than digits's 1437"),
        (["--train-size", "5,100"], "--train-size 5 is smaller than the 10 classes"),
    ],
)
def test_bad_grid_fails_in_one_line_before_running(
    cli: Cli, tmp_path: Path, args: list[str], message: str
) -> None:
    result = cli("run", "--models", "knn", "--dataset", "digits", *args)
    assert_one_line_error(result, message, tmp_path / "results")


def test_grid_run_resumes_and_its_report_draws_the_scaling_and_sweep_charts(
    cli: Cli, tmp_path: Path
) -> None:
    result = cli("run", "-m", "linear,knn,naive-bayes", "-d", "digits", "--name", "grid",
                 "--train-size", "300,700,1437", "--sweep", "knn.n_neighbors=1,5", report=True)
    assert result.exit_code == 0, result.output
    run = tmp_path / "results" / "grid"
    frame = read_table(run / "results.csv")
    assert len(frame) == 3 + 6 + 3 and (frame["status"] == "ok").all()
    assert sorted(frame.loc[frame["model"] == "knn", "job_id"]) == sorted(
        f"knn-cpu-n_neighbors={k}-n{n}-r0" for k in (1, 5) for n in (300, 700, 1437))
    knn = frame[frame["model"] == "knn"]
    assert (knn["sweep"] == knn["params"].map(
        lambda text: f"n_neighbors={json.loads(text)['n_neighbors']}")).all()
    assert frame["sweep"].isna().sum() == 6  # the models not swept
    assert sorted(frame["train_size"].unique()) == [300, 700, 1437]
    assert (frame["executor"] == "local").all()
    info = json.loads((run / "run.json").read_text())
    assert info["dataset"]["train_size"] == [300, 700, 1437]
    assert "knn-cpu-n_neighbors=5-n700-r0: ok" in result.stderr  # progress names grid jobs
    table_rows = [line for line in result.stdout.splitlines() if "n_neighbors=5" in line]
    assert len(table_rows) == 3 and all("1,437" in r or " 700 " in r or " 300 " in r
                                        for r in table_rows)

    # The report draws the scaling chart with every model at every size.
    report = (run / "report.md").read_text()
    assert "charts/scaling.png" in report and "charts/sweep.png" in report
    assert "## Grid" in report and "fit time grows as" in report
    assert "test images, one run)" in report  # one job per grid point: no repeats
    scaling = tables.scaling_data(frame)
    assert scaling is not None
    charts.scaling_chart(scaling, tmp_path / "scaling.png")
    assert (tmp_path / "scaling.png").stat().st_size > 1000
    assert set(scaling["model"]) == {"linear", "knn", "naive-bayes"}
    assert set(scaling["label"]) == {"linear", "naive-bayes", "knn n_neighbors=1",
                                     "knn n_neighbors=5"}
    for _, curve in scaling.groupby("label"):
        assert list(curve["train_size"]) == [300, 700, 1437]
        assert curve["accuracy"].between(0.5, 1).all()
        assert np.isfinite(curve["fit_growth"]).all() and curve["fit_growth"].nunique() == 1
    linear = scaling[scaling["model"] == "linear"].set_index("train_size")
    table = frame[frame["model"] == "linear"].set_index("train_size")
    np.testing.assert_allclose(linear["accuracy"], table.loc[linear.index, "accuracy"])
    np.testing.assert_allclose(linear["fit_seconds"], table.loc[linear.index, "fit_seconds"])
    sweep = tables.sweep_data(frame)
    assert sweep is not None and list(sweep["sweep"].unique()) == ["n_neighbors=1",
                                                                   "n_neighbors=5"]
    assert len(sweep) == 6 and set(sweep["model"]) == {"knn"}

    # The accuracy chart never averages across grid points: one bar per model, value, size.
    accuracy = tables.accuracy_per_model(frame)
    assert accuracy is not None and len(accuracy) == len(frame) == 12
    assert (accuracy["repeats"] == 1).all()
    bar = accuracy.set_index("label").loc["knn n_neighbors=5 n=700"]
    assert bar["mean"] == knn.loc[knn["job_id"] == "knn-cpu-n_neighbors=5-n700-r0",
                                  "accuracy"].item()

    # The Pareto chart keeps every grid point, joined into one line per model and value.
    pareto = tables.pareto_table(frame)
    assert pareto is not None and len(pareto) == 12 and pareto["label"].is_unique
    assert set(pareto["series"]) == set(scaling["label"])
    assert (pareto.groupby("series")["train_size"].nunique() == 3).all()

    # A plain run has neither chart.
    assert tables.scaling_data(frame[frame["train_size"] == 300]) is None
    assert tables.sweep_data(frame[frame["model"] != "knn"]) is None

    # --resume runs only the grid's missing jobs, with the grid's own subsets and params.
    before = frame.set_index("job_id")
    for job in ("knn-cpu-n_neighbors=5-n300-r0", "linear-cpu-n700-r0"):
        (run / "jobs" / f"{job}.json").unlink()
        (run / "predictions" / f"{job}.npz").unlink()
    resumed = cli("run", "--resume", str(run), "--no-report")
    assert resumed.exit_code == 0, resumed.output
    assert "2 jobs to run, 10 already done" in resumed.stderr
    after = read_table(run / "results.csv").set_index("job_id")
    assert sorted(after.index) == sorted(before.index)
    columns = ["model", "status", "params", "sweep", "train_size", "accuracy"]
    pd.testing.assert_frame_equal(after.loc[before.index, columns], before[columns])


def test_growth_is_read_overall_and_between_the_two_largest_sizes() -> None:
    """A fixed cost bends the small end of a curve: the report gives the least-squares slope
    over every size and the slope at the top, and calls a constant time flat."""
    from mlbench.reporting.report import grid_sections
    from mlbench.results.table import to_frame

    sizes = [1000, 5000, 20000, 60000]
    records = [{"job_id": f"{model}-n{n}", "model": model, "device": "cpu", "repeat": 0,
                "status": "ok", "train_size": n, "accuracy": 0.9, "predict_seconds": predict,
                "fit_seconds": fit}
               for n in sizes
               for model, fit, predict in [("square", 1e-8 * n ** 2, 0.5),
                                           ("fixed-cost", 2.0 + 1e-4 * n, 1e-5 * n)]]
    scaling = tables.scaling_data(to_frame(records))
    assert scaling is not None
    square = scaling[scaling["model"] == "square"].iloc[0]
    assert square["fit_growth"] == pytest.approx(2) and square["fit_growth_top"] == pytest.approx(2)
    assert square["predict_growth"] == pytest.approx(0, abs=1e-9)
    fixed = scaling[scaling["model"] == "fixed-cost"].iloc[0]
    top = np.log((2 + 6) / (2 + 2)) / np.log(3)  # 20,000 to 60,000 images
    assert fixed["fit_growth_top"] == pytest.approx(top) and fixed["fit_growth"] < top
    assert fixed["predict_growth"] == pytest.approx(1)

    table = grid_sections(to_frame(records))[0].blocks[0].frame.set_index("model")
    assert table.loc["square", "fit time grows as"] == "n^2.00"
    assert table.loc["square", "predict time grows as"] == "flat"
    assert table.loc["fixed-cost", "fit time grows as"] == (
        f"n^{fixed['fit_growth']:.2f}; n^{top:.2f} at the top")
    assert table.loc["fixed-cost", "predict time grows as"] == "n^1.00"


def test_accuracy_chart_of_repeats_with_equal_accuracies(tmp_path: Path) -> None:
    """Deterministic models repeat the same accuracy; its mean can round just past it."""
    from mlbench.results.table import to_frame

    records = [{"job_id": f"linear-r{repeat}", "model": "linear", "device": "cpu",
                "repeat": repeat, "status": "ok", "accuracy": 0.1} for repeat in range(3)]
    data = tables.accuracy_per_model(to_frame(records))
    assert data is not None
    charts.accuracy_chart(data, tmp_path / "accuracy.png")
    assert (tmp_path / "accuracy.png").exists()
    assert data["mean"].item() > 0.1 and data["max"].item() == 0.1  # the rounding at issue
