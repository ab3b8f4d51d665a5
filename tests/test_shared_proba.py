"""No hidden harness work: a model that gives labels and probabilities from one pass
(``predict_and_proba``: k-NN's one neighbour search) is called once for both, its labels
exactly ``predict``'s, ties included, on real MNIST digits."""

from __future__ import annotations

import importlib.util
import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.neighbors import KNeighborsClassifier

import mlbench
from mlbench.contract.model import capabilities
from mlbench.contract.registry import load_registry
from mlbench.datasets import DataRef, LoadRequest, cache_dir
from mlbench.testing import ModelCheckError, check_model
from mlbench_plugins.accelerated import FaissKNN
from mlbench_plugins.scikit_learn import KNN


def real_digits(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A whole registered dataset, scaled and flat, as a worker gets it."""
    data = load_registry().dataset(name).loader(LoadRequest(cache_dir(), progress=False))
    assert data.folder is not None
    return DataRef(data.folder, data.pixel_max).load("flat")


def tied_rows(probabilities: np.ndarray) -> int:
    top = np.sort(probabilities, axis=1)
    return int((top[:, -1] == top[:, -2]).sum())


@pytest.fixture(scope="module")
def mnist_5k() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return real_digits("mnist-5k")


def one_search(model: Any, data: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The model prepared and fitted on ``data``'s training part, and its labels and
    probabilities of the test images from its one ``predict_and_proba`` call."""
    x_train, y_train, x_test, _ = data
    model.prepare(x_train, y_train)
    model.fit(x_train, y_train)
    return model.predict_and_proba(x_test)  # type: ignore[no-any-return]


@pytest.mark.parametrize("k", [2, 3, 4])
def test_knn_labels_from_one_search_are_predicts_ties_included(
        mnist_5k: tuple[np.ndarray, ...], k: int) -> None:
    x_train, y_train, x_test, _ = mnist_5k
    labels, probabilities = one_search(KNN(n_neighbors=k), mnist_5k)
    reference = KNeighborsClassifier(n_neighbors=k, algorithm="brute").fit(x_train, y_train)
    np.testing.assert_array_equal(labels, reference.predict(x_test))
    np.testing.assert_array_equal(probabilities, reference.predict_proba(x_test))
    if k != 3:  # an even k splits votes 1-1 or 2-2 often; k=3 only on three distinct labels
        assert tied_rows(probabilities) > 20


def test_knn_without_brute_force_breaks_ties_as_its_predict() -> None:
    # Not brute force: scikit-learn's predict takes the most frequent label (the smallest on a
    # tie) instead of an argmax of probabilities; the two agree.
    x_train, y_train, x_test, _ = real_digits("digits")
    model = KNN(n_neighbors=4, algorithm="kd_tree", n_jobs=1)
    model.fit(x_train, y_train)
    labels, probabilities = model.predict_and_proba(x_test)
    assert tied_rows(probabilities) > 5
    np.testing.assert_array_equal(labels, model.predict(x_test))


@pytest.mark.skipif(importlib.util.find_spec("faiss") is None, reason="faiss not installed")
@pytest.mark.parametrize("k", [2, 4])
def test_knn_faiss_labels_from_one_search_are_predicts(
        mnist_5k: tuple[np.ndarray, ...], k: int) -> None:
    x_test = mnist_5k[2]
    model = FaissKNN(n_neighbors=k)
    labels, probabilities = one_search(model, mnist_5k)
    assert tied_rows(probabilities) > 20
    np.testing.assert_array_equal(labels, model.predict(x_test))
    np.testing.assert_array_equal(probabilities, model.predict_proba(x_test))


def test_which_models_share_one_pass() -> None:
    x_train, y_train, *_ = real_digits("digits")
    assert capabilities(KNN).predict_and_proba and capabilities(FaissKNN).predict_and_proba
    uniform = KNN().fit(x_train, y_train)
    assert capabilities(uniform).predict_and_proba
    # Distance-weighted votes: predict sums weights in another order, so two searches.
    assert not capabilities(KNN(weights="distance").fit(x_train, y_train)).predict_and_proba
    logistic = load_registry().models["logistic"].cls
    assert not capabilities(logistic).predict_and_proba


# -- check_model checks the capability ------------------------------------------------------

class Centroid(mlbench.Model):
    name = "centroid-pair"

    def fit(self, X: np.ndarray, y: np.ndarray) -> Centroid:
        self.classes_ = np.unique(y)
        self.means_ = np.stack([X[y == label].mean(axis=0) for label in self.classes_])
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        scores = -((X[:, None, :] - self.means_[None]) ** 2).sum(axis=2)
        weights = np.exp(scores - scores.max(axis=1, keepdims=True))
        return np.asarray(weights / weights.sum(axis=1, keepdims=True))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.classes_[self.predict_proba(X).argmax(axis=1)])

    def predict_and_proba(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probabilities = self.predict_proba(X)
        return self.classes_[probabilities.argmax(axis=1)], probabilities


class PairDisagrees(Centroid):
    def predict_and_proba(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        labels, probabilities = super().predict_and_proba(X)
        return (labels + 1) % 10, probabilities


class PairNotArgmax(Centroid):
    def predict_and_proba(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        labels, probabilities = super().predict_and_proba(X)
        return labels, probabilities[:, ::-1]


class PairNotAPair(Centroid):
    def predict_and_proba(self, X: np.ndarray) -> np.ndarray:  # type: ignore[override]
        return self.predict(X)


def test_check_model_checks_labels_and_probabilities_from_one_pass() -> None:
    check_model(Centroid)
    check_model(KNN)
    for model, detail in ((PairDisagrees, "labels differ from predict()'s on"),
                          (PairNotArgmax, "not the most likely class of its probabilities"),
                          (PairNotAPair, "it must return a pair (labels, probabilities)")):
        with pytest.raises(ModelCheckError, match="failed check_predict_and_proba") as raised:
            check_model(model)
        assert detail in str(raised.value) and "\n" not in str(raised.value)


# -- a real job: one neighbour search for labels and probabilities ---------------------------

# Real k-NN, counting the calls the worker makes of each method (each is one search).
COUNTED = '''
from dataclasses import replace

import mlbench
from mlbench_plugins.scikit_learn import KNN


class CountedKNN(KNN):
    name = "knn-counted"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls_ = {"predict": 0, "predict_proba": 0, "predict_and_proba": 0}

    def predict(self, X):
        self.calls_["predict"] += 1
        return super().predict(X)

    def predict_proba(self, X):
        self.calls_["predict_proba"] += 1
        return super().predict_proba(X)

    def predict_and_proba(self, X):
        self.calls_["predict_and_proba"] += 1
        return super().predict_and_proba(X)

    def runtime_info(self):
        return {**super().runtime_info(), "calls": dict(self.calls_)}


class TwoPassKNN(CountedKNN):
    """The same model, declining to share: what every k-NN job did before."""

    name = "knn-two-passes"

    def capabilities(self):
        return replace(super().capabilities(), predict_and_proba=False)


@mlbench.hookimpl
def mlbench_register_models(register):
    register(CountedKNN)
    register(TwoPassKNN)
'''


def test_a_knn_job_searches_once_for_labels_and_probabilities(
        tmp_path: Path, mnist_5k: tuple[np.ndarray, ...]) -> None:
    plugin = tmp_path / "counted.py"
    plugin.write_text(textwrap.dedent(COUNTED))
    frame = mlbench.run(models=["knn-counted", "knn-two-passes"], dataset="mnist-5k",
                        plugins=[str(plugin)], output_dir=str(tmp_path / "results")).frame
    rows = frame.set_index("model")
    assert (rows["status"] == "ok").all(), rows["error"].tolist()
    calls = {model: json.loads(rows.loc[model, "extra"])["calls"] for model in rows.index}

    shared = rows.loc["knn-counted"]
    repeats = int(shared["predict_calls"]) if shared["predict_calls"] > 1 else 0
    assert calls["knn-counted"] == {"predict": 0, "predict_proba": 0,
                                    "predict_and_proba": 1 + repeats}
    assert shared["proba_seconds"] == 0 and pd.isna(shared["proba_calls"])
    assert np.isfinite(shared["log_loss"])

    apart = rows.loc["knn-two-passes"]
    assert calls["knn-two-passes"]["predict_and_proba"] == 0
    assert calls["knn-two-passes"]["predict_proba"] >= 1 and apart["proba_seconds"] > 0

    # The same labels and log-loss either way, and scikit-learn's own predict's labels.
    run = Path(frame.attrs["run_dir"])
    predicted = {model: np.load(run / "predictions" / f"{rows.loc[model, 'job_id']}.npz",
                                allow_pickle=False)["predicted"] for model in rows.index}
    x_train, y_train, x_test, _ = mnist_5k
    reference = KNeighborsClassifier(n_neighbors=3).fit(x_train, y_train).predict(x_test)
    np.testing.assert_array_equal(predicted["knn-counted"], reference)
    np.testing.assert_array_equal(predicted["knn-two-passes"], reference)
    assert shared["accuracy"] == apart["accuracy"]
    assert shared["log_loss"] == pytest.approx(apart["log_loss"], rel=1e-6)
