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
from mlbench.results.run_config import RunConfig
from mlbench.results.table import read_table
from mlbench.running import planning
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
    # In rounds: repeat 0 of every job, then repeat 1 (a burst of load spreads over models).
    assert ids == [job for r in (0, 1) for job in
                   [f"svm-cpu-C={c}-kernel={k}-n{n}-r{r}" for c in (1, 10)
                    for k in ("rbf", "poly") for n in (100, 300)]
                   + [f"knn-cpu-n{n}-r{r}" for n in (100, 300)]]
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
                 "--train-size", "300,700,1293", "--sweep", "knn.n_neighbors=1,5", "--wide",
                 report=True)
    assert result.exit_code == 0, result.output
    run = tmp_path / "results" / "grid"
    frame = read_table(run / "results.csv")
    assert len(frame) == 3 + 6 + 3 and (frame["status"] == "ok").all()
    assert sorted(frame.loc[frame["model"] == "knn", "job_id"]) == sorted(
        f"knn-cpu-n_neighbors={k}-n{n}-r0" for k in (1, 5) for n in (300, 700, 1293))
    knn = frame[frame["model"] == "knn"]
    assert (knn["sweep"] == knn["params"].map(
        lambda text: f"n_neighbors={json.loads(text)['n_neighbors']}")).all()
    assert frame["sweep"].isna().sum() == 6  # the models not swept
    assert sorted(frame["train_size"].unique()) == [300, 700, 1293]
    assert (frame["executor"] == "local").all()
    info = json.loads((run / "run.json").read_text())
    assert info["dataset"]["train_size"] == [300, 700, 1293]
    assert "knn-cpu-n_neighbors=5-n700-r0: ok" in result.stderr  # progress names grid jobs
    table_rows = [line for line in result.stdout.splitlines()
                  if "n_neighbors=5 " in line and line.startswith("│")]
    assert len(table_rows) == 3 and all("1,293" in r or " 700 " in r or " 300 " in r
                                        for r in table_rows)
    # Below the table, per size, the value chosen on validation images.
    assert sum(line.startswith(f"knn n={n}: n_neighbors=") for line in result.stdout.splitlines()
               for n in (300, 700, 1293)) == 3

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
        assert list(curve["train_size"]) == [300, 700, 1293]
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


# -- choosing a setting: on validation images carved from the training set, never on test ----

def _chosen_line(frame: pd.DataFrame, model: str = "knn") -> str:
    """The sentence the run must print: the best mean validation accuracy (the first in the
    grid's order on a tie), and that setting's test accuracy."""
    rows = frame[frame["model"] == model].sort_values("sweep", key=tables.grid_sort_key)
    best = rows.loc[rows["validation_accuracy"].idxmax()]
    return (f"{model}: {best['sweep']} chosen on validation accuracy "
            f"{best['validation_accuracy']:.4f} ({best['validation_size']:,} validation images, "
            f"one run); its test accuracy {best['accuracy']:.4f}.")


def test_a_sweep_is_chosen_on_validation_and_reports_the_chosen_test_accuracy(
    cli: Cli, tmp_path: Path
) -> None:
    """The issue's command, on small subsets: 0.1 of mnist-5k's 4,000 training images held
    out, each setting's validation and test accuracy shown, the choice named in both."""
    result = cli("run", "--models", "knn", "--sweep", "knn.n_neighbors=1,3,5,7", "--dataset",
                 "mnist-5k", "--train-size", "400", "--test-size", "200", "--name", "sweep",
                 report=True)
    assert result.exit_code == 0, result.output
    run = tmp_path / "results" / "sweep"
    frame = read_table(run / "results.csv")
    assert (frame["status"] == "ok").all() and len(frame) == 4
    assert (frame["validation_size"] == 400).all()
    assert (frame["train_size"] == 400).all() and (frame["test_size"] == 200).all()
    assert frame["validation_accuracy"].between(0.5, 1).all()
    info = json.loads((run / "run.json").read_text())
    assert info["config"]["validation"] == 0.1 and info["dataset"]["validation_size"] == 400

    line = _chosen_line(frame)
    assert line in result.stdout
    header = next(text for text in result.stdout.splitlines() if "model" in text)
    assert "val. accuracy" in header and "test accuracy" in header
    # Test accuracy for the setting chosen on validation only, as in the report.
    rows = [text for text in result.stdout.splitlines() if text.strip().startswith("knn ")]
    assert len(rows) == 4 and sum("not chosen" not in text for text in rows) == 1, rows
    assert "validation accuracy 0." in result.stderr  # each job's progress line too

    report = (run / "report.md").read_text()
    grid = report[report.index("## Grid"):report.index("## Setup")]
    assert line.replace("_", "\\_") in grid
    assert "validation accuracy (mean)" in grid and "test accuracy (mean)" in grid
    assert grid.count("| chosen ") == 2  # the column heading, and one setting
    assert "400 training images (--validation 0.1, stratified, seed 0) held out" in report


ORACLE_PLUGIN = '''
import hashlib, json, uuid
from pathlib import Path
import numpy as np
from sklearn.neighbors import KNeighborsClassifier
import mlbench

def keys(X):
    """Each image's pixels as a hash (the images arrive scaled to [0, 1])."""
    pixels = np.rint(np.asarray(X).reshape(len(X), -1) * 255).astype(np.uint8)
    return [hashlib.sha1(row.tobytes()).hexdigest() for row in pixels]

class Oracle(mlbench.Model):
    """mode=peek knows the test set's answers: perfect on test images, wrong on any other.
    mode=honest is a 1-nearest-neighbour. Every image fit and predict see is logged."""
    name = "oracle"
    defaults = {"mode": "honest", "answers": "", "log": ""}

    def _log(self, step, X):
        entry = {"mode": self.params["mode"], "seed": self.seed, "step": step, "keys": keys(X)}
        (Path(self.params["log"]) / f"{uuid.uuid4().hex}.json").write_text(json.dumps(entry))

    def fit(self, X, y):
        self._log("fit", X)
        self.knn_ = KNeighborsClassifier(1).fit(X, y)
        return self

    def predict(self, X):
        self._log("predict", X)
        guesses = self.knn_.predict(X)
        if self.params["mode"] == "honest":
            return guesses
        answers = json.loads(Path(self.params["answers"]).read_text())
        return np.array([answers.get(key, (int(guess) + 1) % 10)
                         for key, guess in zip(keys(X), guesses)])

@mlbench.hookimpl
def mlbench_register_models(register):
    register(Oracle)
'''


def _image_keys(images: np.ndarray) -> list[str]:
    import hashlib

    return [hashlib.sha1(row.tobytes()).hexdigest()
            for row in np.asarray(images, np.uint8).reshape(len(images), -1)]


def test_no_test_image_reaches_the_selection(
    cli: Cli, tmp_path: Path, write_plugin: Callable[[str, str], Path]
) -> None:
    """A model that recognises the test images is perfect on them, and useless on anything
    else; an honest one is worse on test but better on validation. The honest one must be
    chosen, and the images each job saw show why: validation images come from the training
    arrays, are never trained on, are never test images, and are the same for every job."""
    from mlbench.datasets import LoadRequest, cache_dir

    dataset = load_registry(()).dataset("mnist-5k").loader(LoadRequest(cache_dir()))
    train_keys, test_keys = _image_keys(dataset.x_train), _image_keys(dataset.x_test)
    assert not set(train_keys) & set(test_keys)  # no image is in both arrays
    answers = tmp_path / "answers.json"
    answers.write_text(json.dumps({key: int(label) for key, label in
                                   zip(test_keys, dataset.y_test, strict=True)}))
    log = tmp_path / "seen"
    log.mkdir()
    plugin = write_plugin("oracle", ORACLE_PLUGIN)

    result = cli("run", "--plugin", str(plugin), "--models", "oracle", "--dataset", "mnist-5k",
                 "--sweep", "oracle.mode=peek,honest", "--param", f"oracle.answers={answers}",
                 "--param", f"oracle.log={log}", "--train-size", "300", "--test-size", "200",
                 "--repeats", "2", "--name", "oracle", report=True)
    assert result.exit_code == 0, result.output
    run = tmp_path / "results" / "oracle"
    frame = read_table(run / "results.csv")
    peek, honest = (frame[frame["sweep"] == f"mode={mode}"] for mode in ("peek", "honest"))
    assert (peek["accuracy"] == 1.0).all() and (peek["validation_accuracy"] < 0.2).all()
    assert (honest["accuracy"] < 1.0).all() and (honest["validation_accuracy"] > 0.6).all()

    # Chosen on validation: the honest model, and its (lower) test accuracy is reported.
    selection = tables.sweep_selection(frame)
    assert selection is not None
    assert list(selection.loc[selection["chosen"], "sweep"]) == ["mode=honest"]
    # Named with the params it was given (answers, log): its variant.
    label = tables.model_labels(frame, leave_out=["sweep", "train_size"]).iloc[0]
    assert label.startswith("oracle answers=")
    chosen = (f"mode=honest chosen on validation accuracy "
              f"{honest['validation_accuracy'].mean():.4f} (400 validation images, mean of 2 "
              f"repeats); its test accuracy {honest['accuracy'].mean():.4f}.")
    assert f"{label}: {chosen}" in result.stdout
    assert chosen in (run / "report.md").read_text()

    # What each job's model was given: fit, then predict on test, then on validation.
    entries = [json.loads(path.read_text()) for path in log.iterdir()]
    jobs = {(entry["mode"], entry["seed"]) for entry in entries}
    assert jobs == {(mode, seed) for mode in ("peek", "honest") for seed in (0, 1)}
    train, test = set(train_keys), set(test_keys)
    validation_sets = []
    for job in jobs:
        steps = [entry for entry in entries if (entry["mode"], entry["seed"]) == job]
        fitted = [set(e["keys"]) for e in steps if e["step"] == "fit"]
        # A short predict is timed over repeated calls, all on the test images: two sets.
        predicted = [set(keys) for keys in {frozenset(e["keys"]) for e in steps
                                            if e["step"] == "predict"}]
        assert len(fitted) == 1 and len(predicted) == 2
        seen = fitted[0]
        tested = next(keys for keys in predicted if keys <= test)
        validated = next(keys for keys in predicted if keys is not tested)
        assert len(seen) == 300 and seen <= train  # trained on training images only
        assert len(tested) == 200
        assert len(validated) == 400 and validated <= train  # carved from the training arrays
        assert not validated & seen  # never trained on
        assert not validated & test  # and no test image among them
        validation_sets.append(validated)
    assert all(keys == validation_sets[0] for keys in validation_sets)  # one split per run

    # --resume rebuilds the split from run.json: a job run again sees the same images.
    job = "oracle-cpu-mode=honest-r1"
    before = frame.set_index("job_id").loc[job]
    (run / "jobs" / f"{job}.json").unlink()
    for path in log.iterdir():
        path.unlink()
    resumed = cli("run", "--resume", str(run))
    assert resumed.exit_code == 0, resumed.output
    again = [set(keys) for keys in {frozenset(json.loads(path.read_text())["keys"])
                                    for path in log.iterdir()}]  # fit, test, validation
    assert len(again) == 3 and validation_sets[0] in again
    after = read_table(run / "results.csv").set_index("job_id").loc[job]
    assert after["validation_accuracy"] == before["validation_accuracy"]
    assert after["validation_size"] == 400 and after["train_size"] == 300


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--validation", "1.5"], "--validation takes the fraction of the training set to hold "
                                  "out, from 0 up to (not including) 1, e.g. 0.1; got 1.5"),
        (["--validation", "-0.1"], "from 0 up to (not including) 1, e.g. 0.1; got -0.1"),
        (["--validation", "nan"], "from 0 up to (not including) 1, e.g. 0.1; got nan"),
        (["--validation", "0.999"], "--validation 0.999 holds out 1436 of digits's 1437 training "
                                    "images and leaves 1 to train on, fewer than the 10 classes"),
        (["--validation", "0.001"], "--validation 0.001 holds out 1 of digits's 1437 training "
                                    "images, fewer than the 10 classes"),
        (["--sweep", "knn.n_neighbors=1,3", "--train-size", "1300"],
         "--train-size 1300 is larger than the 1293 training images left after --validation "
         "0.1 holds out 144; use at most 1293, or a smaller --validation"),
        (["--sweep", "knn.n_neighbors=1,3", "--train-size", "100,1300"],
         "--train-size 1300 is larger than the 1293 training images left after"),
    ],
)
def test_bad_validation_fails_in_one_line_before_running(
    cli: Cli, tmp_path: Path, args: list[str], message: str
) -> None:
    result = cli("run", "--models", "knn", "--dataset", "digits", *args)
    assert_one_line_error(result, message, tmp_path / "results")


def test_only_a_sweep_holds_images_out_unless_asked(cli: Cli, tmp_path: Path) -> None:
    """A plain run, and a list of sizes alone, keep the plain train/test split (nothing is
    chosen); --validation holds images out of any run; --validation 0 turns a sweep's off,
    and then no setting is chosen."""
    def run(name: str, *args: str) -> tuple[pd.DataFrame, Result]:
        result = cli("run", "-m", "knn", "-d", "digits", "--name", name, *args)
        assert result.exit_code == 0, result.output
        return read_table(tmp_path / "results" / name / "results.csv"), result

    plain, result = run("plain")
    assert list(plain["job_id"]) == ["knn-cpu-r0"] and plain["train_size"].item() == 1437
    assert plain["validation_size"].isna().all() and plain["validation_accuracy"].isna().all()
    assert "val. accuracy" not in result.stdout and "chosen" not in result.stdout
    info = json.loads((tmp_path / "results" / "plain" / "run.json").read_text())
    assert info["config"]["validation"] == 0 and info["dataset"]["validation_size"] == 0

    sizes, _ = run("sizes", "--train-size", "300,600")
    assert sorted(sizes["train_size"]) == [300, 600] and sizes["validation_size"].isna().all()

    asked, result = run("asked", "--validation", "0.2")
    assert asked["validation_size"].item() == 287 and asked["train_size"].item() == 1150
    assert asked["validation_accuracy"].notna().all() and "val. accuracy" in result.stdout

    unheld, result = run("unheld", "--sweep", "knn.n_neighbors=1,3", "--validation", "0")
    assert unheld["validation_size"].isna().all() and (unheld["train_size"] == 1437).all()
    assert ("knn: no setting chosen: the run held no validation images out (--validation 0)"
            in result.stdout)


def test_ties_on_validation_go_to_the_first_value_in_numeric_order() -> None:
    """n_neighbors=5 and 10 tie on validation: 5 comes first in the grid (numeric order,
    not "10" < "5"), whatever 10's test accuracy."""
    from mlbench.results.table import to_frame

    records = [{"job_id": f"knn-{k}", "model": "knn", "device": "cpu", "repeat": 0,
                "status": "ok", "sweep": {"n_neighbors": k}, "train_size": 1000,
                "accuracy": test, "validation_accuracy": validation, "validation_size": 100,
                "fit_seconds": 0.1}
               for k, validation, test in [(10, 0.95, 0.99), (1, 0.90, 0.91), (5, 0.95, 0.93)]]
    selection = tables.sweep_selection(to_frame(records))
    assert selection is not None
    assert list(selection["sweep"]) == ["n_neighbors=1", "n_neighbors=5", "n_neighbors=10"]
    assert list(selection["chosen"]) == [False, True, False]
    assert tables.selection_lines(selection) == [
        "knn: n_neighbors=5 chosen on validation accuracy 0.9500 (100 validation images, one "
        "run); tied on validation with n_neighbors=10, the first in the grid's order is "
        "taken; its test accuracy 0.9300."]
