"""The optional models: gradient boosting (XGBoost, LightGBM) and the scikit-learn models'
algorithms on other engines (oneDAL through scikit-learn-intelex, FAISS), their extras'
absence, and the report's Engines section that sets each engine beside the model it mirrors.

Each test of a library skips where it is not installed (`pip install 'mlbench[all]'`, what CI
installs, brings them all)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import Result
from sklearn.neighbors import KNeighborsClassifier

from mlbench.reporting import tables
from mlbench.results.record import JobRecord
from mlbench.results.table import to_frame
from mlbench.testing import check_model
from mlbench_plugins.accelerated import (
    FaissKNN,
    OneDALKNN,
    OneDALRandomForest,
    OneDALSVM,
)
from mlbench_plugins.boosting import LightGBM, XGBoost
from mlbench_plugins.scikit_learn import KNN, SVM, RandomForest
from tests.conftest import without_packages

Cli = Callable[..., Result]
MODULES = {XGBoost: "xgboost", LightGBM: "lightgbm", OneDALSVM: "sklearnex",
           OneDALKNN: "sklearnex", OneDALRandomForest: "sklearnex", FaissKNN: "faiss"}


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def needs(*modules: str) -> pytest.MarkDecorator:
    missing = [module for module in modules if not installed(module)]
    return pytest.mark.skipif(bool(missing), reason=f"{', '.join(missing)} not installed")


# -- each model keeps the contract ------------------------------------------------------------

@pytest.mark.parametrize("model", list(MODULES), ids=lambda model: model.name)
def test_every_new_model_passes_check_model(model: type) -> None:
    if not installed(MODULES[model]):
        pytest.skip(f"{MODULES[model]} not installed")
    # A few rounds keep the boosting checks to a second; the engines run their defaults.
    params = {"n_estimators": 20} if model in (XGBoost, LightGBM) else {}
    check_model(model, params=params)


def test_engines_mirror_their_scikit_learn_model() -> None:
    for engine, mirrored in ((OneDALSVM, SVM), (OneDALKNN, KNN), (OneDALRandomForest,
                                                                    RandomForest),
                             (FaissKNN, KNN)):
        assert engine.mirrors == mirrored.name
        assert engine.defaults == mirrored.defaults  # the same hyperparameters, read from it
        assert "implementation" in engine.tags
        assert f"{mirrored.name}-engines" in set(engine.tags) & set(mirrored.tags)
    assert OneDALKNN.tolerance == FaissKNN.tolerance == 0  # exact k-NN: identical accuracy
    assert OneDALSVM.tolerance == OneDALRandomForest.tolerance == 0.002


# -- exact k-NN votes as scikit-learn does ------------------------------------------------------

@pytest.mark.parametrize("engine", [FaissKNN, OneDALKNN], ids=lambda engine: engine.name)
@pytest.mark.parametrize("k", [2, 4])
def test_exact_knn_breaks_vote_ties_as_scikit_learn(engine: type, k: int) -> None:
    if not installed(MODULES[engine]):
        pytest.skip(f"{MODULES[engine]} not installed")
    # An even k and four classes: many test points see a tied vote, which scikit-learn
    # gives to the smallest label. Continuous data: no two distances tie.
    generator = np.random.default_rng(0)
    x_train = generator.random((300, 5), dtype=np.float32)
    y_train = generator.integers(0, 4, 300) * 3  # labels 0, 3, 6, 9: not 0..n-1
    x_test = generator.random((400, 5), dtype=np.float32)
    reference = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(x_train, y_train)
    model = engine(n_neighbors=k)
    model.prepare(x_train, y_train)
    model.fit(x_train, y_train)
    votes = reference.predict_proba(x_test)
    assert (np.sort(votes, axis=1)[:, -1] == np.sort(votes, axis=1)[:, -2]).sum() > 50  # ties
    np.testing.assert_array_equal(model.predict(x_test), reference.predict(x_test))
    np.testing.assert_allclose(model.predict_proba(x_test), votes, atol=1e-6)


def test_knn_faiss_refuses_what_it_cannot_do() -> None:
    with pytest.raises(ValueError, match="weights must be 'uniform', not 'distance'"):
        FaissKNN(weights="distance")
    with pytest.raises(ValueError, match="n_neighbors must be a positive integer, not 0"):
        FaissKNN(n_neighbors=0)


# -- a run with all of them, and its report ---------------------------------------------------

@pytest.mark.long
@needs("xgboost", "lightgbm", "sklearnex", "faiss")
def test_a_run_of_boosting_and_engines_beside_scikit_learn(cli: Cli, tmp_path: Path) -> None:
    engines = "knn-engines,svm-engines,random-forest-engines"
    result = cli("run", "--models", f"boosting,{engines}", "--dataset", "mnist-5k",
                 "--train-size", "1000", "--test-size", "500", "--name", "t", "-q",
                 "-p", "xgboost.n_estimators=30", "-p", "lightgbm.n_estimators=30",
                 report=True)
    assert result.exit_code == 0, result.output
    run = tmp_path / "results" / "t"
    frame = pd.read_csv(run / "results.csv").set_index("model")
    assert set(frame["status"]) == {"ok"}, frame["error"].dropna().to_dict()
    assert frame["model_size_bytes"].notna().all()  # each fitted model pickles, or says
    assert frame.loc[["xgboost", "lightgbm"], "accuracy"].min() > 0.8  # 30 rounds, 1,000 digits
    assert "xgboost" in frame.loc["xgboost", "framework"]
    # Exact k-NN on another engine: the same accuracy to the last digit.
    assert frame.loc["knn-faiss", "accuracy"] == frame.loc["knn", "accuracy"]
    assert frame.loc["knn-onedal", "accuracy"] == frame.loc["knn", "accuracy"]
    for engine, mirrored in (("svm-onedal", "svm"), ("knn-onedal", "knn"),
                             ("random-forest-onedal", "random-forest"), ("knn-faiss", "knn")):
        assert frame.loc[engine, "implementation_of"] == mirrored
        assert json.loads(frame.loc[engine, "params"]) == json.loads(
            frame.loc[mirrored, "params"])
    for engine in ("svm-onedal", "knn-onedal", "random-forest-onedal"):
        extra = json.loads(frame.loc[engine, "extra"])
        # oneDAL itself ran, not scikit-learn-intelex's fallback to scikit-learn.
        steps = dict(step.split(": ") for step in extra["engine_steps"].split(", "))
        assert steps and set(steps.values()) == {"oneDAL"}, steps
        assert any(call.endswith(".fit") for call in steps)
        assert pd.isna(frame.loc[engine, "warnings"])

    report = (run / "report.md").read_text()
    section = report.split("## Engines", 1)[1].split("\n## ", 1)[0]
    rows = {cells[2]: cells[3:] for line in section.splitlines() if line.startswith("| ")
            for cells in [[cell.strip() for cell in line.split("|")]]}
    # engine, runs, test accuracy, accuracy check, fit s, fit vs baseline, predict s, ...
    assert rows["knn-faiss"][3] == rows["knn-onedal"][3] == "identical"
    assert rows["svm-onedal"][3].startswith(("within 0.2 points", "NOT within 0.2 points"))
    for engine in ("knn-faiss", "svm-onedal", "random-forest-onedal"):
        assert rows[engine][5].endswith("(one run)") and "x " in rows[engine][5]
    assert rows["knn"][3] == rows["knn"][5] == "baseline" and rows["knn"][4].endswith(" s")
    assert rows["knn-faiss"][0].startswith("faiss ") and rows["knn"][0].startswith(
        "scikit-learn ")


@needs("xgboost")
def test_xgboost_on_a_gpu_it_cannot_use_is_a_skipped_row(cli: Cli, tmp_path: Path) -> None:
    import xgboost

    result = cli("run", "-m", "xgboost", "-d", "digits", "--devices", "gpu", "--name", "t",
                 "-q", "-p", "xgboost.n_estimators=5")
    assert result.exit_code == 0, result.output
    row = pd.read_csv(tmp_path / "results" / "t" / "results.csv").iloc[0]
    if xgboost.build_info().get("USE_CUDA") and row["status"] == "ok":
        pytest.skip("a CUDA GPU is there: the gpu job ran")
    assert row["status"] == "skipped"
    assert ("CPU-only build" in row["error"] and row["error"].endswith(
        "pip uninstall -y xgboost-cpu && pip install xgboost")) or (
        "no CUDA GPU visible to XGBoost" in row["error"])


# -- without the extras ---------------------------------------------------------------------

def test_without_the_extras_each_model_is_skipped_with_its_install_line(
    tmp_path: Path
) -> None:
    env = without_packages(tmp_path, "xgboost", "lightgbm", "sklearnex", "faiss")
    listing = subprocess.run([sys.executable, "-m", "mlbench.cli", "list"], env=env,
                             capture_output=True, text=True, timeout=120, check=True)
    lines = {line.split("│")[1].strip(): line for line in listing.stdout.splitlines()
             if line.startswith("│ ")}
    assert "xgboost: not installed; pip install 'mlbench[boosting]'" in lines["xgboost"]
    assert "sklearnex: not installed; pip install 'mlbench[accelerated]'" in lines[
        "svm-onedal"]
    assert "faiss: not installed; pip install 'mlbench[accelerated]'" in lines["knn-faiss"]

    run = subprocess.run([sys.executable, "-m", "mlbench.cli", "run", "-m",
                          "boosting,implementation,linear", "-d", "digits",
                          "-o", str(tmp_path / "results"), "--name", "t", "--no-report"],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    frame = pd.read_csv(tmp_path / "results" / "t" / "results.csv").set_index("model")
    assert frame.loc["linear", "status"] == "ok"  # the rest of the run goes on
    for model, library, extra in (
            ("xgboost", "XGBoost", "boosting"), ("lightgbm", "LightGBM", "boosting"),
            ("svm-onedal", "scikit-learn-intelex", "accelerated"),
            ("knn-onedal", "scikit-learn-intelex", "accelerated"),
            ("random-forest-onedal", "scikit-learn-intelex", "accelerated"),
            ("knn-faiss", "FAISS", "accelerated")):
        row = frame.loc[model]
        assert row["status"] == "skipped", model
        assert row["error"].startswith(f"{library} is not installed"), row["error"]
        assert row["error"].endswith(f"install it with: pip install 'mlbench[{extra}]'")


# -- the Engines table, from saved results alone ----------------------------------------------

def job(model: str, repeat: int, accuracy: float, fit: float, predict: float,
        mirrors: str | None = None, tolerance: float | None = None) -> JobRecord:
    record = JobRecord(job_id=f"{model}-cpu-r{repeat}", model=model, plugin="p", device="cpu",
                       repeat=repeat, seed=repeat, params={}, sweep={}, status="ok",
                       accuracy=accuracy, fit_seconds=fit, predict_seconds=predict,
                       train_size=1000, test_size=500, framework=f"{model} 1.0",
                       implementation_of=mirrors)
    if tolerance is not None:
        record.extra = {"accuracy_tolerance": tolerance}
    return record


def test_engine_table_pairs_each_engine_with_its_baseline() -> None:
    frame = to_frame([
        job("svm", 0, 0.950, 100.0, 10.0), job("svm", 1, 0.952, 110.0, 11.0),
        job("svm-fast", 0, 0.951, 10.0, 1.0, "svm"), job("svm-fast", 1, 0.953, 11.0, 1.1, "svm"),
        job("svm-off", 0, 0.930, 50.0, 5.0, "svm", 0.002),  # 2 points off: fails its check
        job("knn", 0, 0.960, 0.1, 20.0),
        job("knn-exact", 0, 0.962, 0.1, 2.0, "knn", 0.0),  # should be identical; is not
        job("forest-alone", 0, 0.97, 5.0, 1.0, "random-forest"),  # no baseline in the run
    ])
    table = tables.engine_table(frame)
    assert table is not None
    rows = table.set_index("label")
    assert list(table["label"]) == ["knn", "knn-exact", "forest-alone", "svm", "svm-fast",
                                    "svm-off"]
    assert rows.loc["svm", "baseline"] and rows.loc["knn", "baseline"]
    fast = rows.loc["svm-fast"]
    assert fast["accuracy_delta"] == pytest.approx(0.001) and fast["tolerance"] == 0.002
    assert fast["matches"]
    assert fast["fit_ratio"] == pytest.approx(0.1)  # ten times faster; two runs a side
    assert fast["fit_low"] < 0.1 < fast["fit_high"]
    assert not rows.loc["svm-off", "matches"]
    # One run against two: an interval all the same, from the noise pooled over the run's
    # repeated jobs.
    off = rows.loc["svm-off"]
    assert off["fit_low"] < off["fit_ratio"] < off["fit_high"]
    assert rows.loc["knn-exact", "tolerance"] == 0 and not rows.loc["knn-exact", "matches"]
    assert rows.loc["knn-exact", "predict_ratio"] == pytest.approx(0.1)
    assert np.isnan(rows.loc["forest-alone", "accuracy_delta"])
    assert tables.engine_table(frame[frame["implementation_of"].isna()]) is None
