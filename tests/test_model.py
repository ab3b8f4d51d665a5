"""The model contract and the base classes plugins build on."""

from __future__ import annotations

import numpy as np
import pytest

import mlbench
from mlbench.contract.model import contract_problems
from mlbench.contract.registry import load_registry


class Tiny(mlbench.Model):
    name = "tiny"
    defaults = {"depth": 3, "rate": 0.1}

    def fit(self, X: np.ndarray, y: np.ndarray) -> Tiny:
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.zeros(len(X), dtype=int)


def test_params_start_from_defaults_and_unknown_ones_are_refused() -> None:
    model = Tiny(seed=3, depth=5)
    assert model.get_params() == {"depth": 5, "rate": 0.1} and model.seed == 3
    model.set_params(rate=0.5)
    assert model.get_params()["rate"] == 0.5
    with pytest.raises(TypeError, match="tiny has no param 'width'; valid: depth, rate"):
        Tiny(width=2)
    with pytest.raises(TypeError):
        model.set_params(width=2)
    assert contract_problems(Tiny) == []


def test_contract_problems_name_each_fault() -> None:
    class Bad(mlbench.Model):
        name = "Bad Name"
        input = "pixels"
        devices = ("tpu",)

    problems = contract_problems(Bad)
    assert any("lower-case" in p for p in problems)
    assert "does not implement fit()" in problems and "does not implement predict()" in problems
    assert any("input must be one of flat, image" in p for p in problems)
    assert any("devices must be" in p for p in problems)
    assert contract_problems(42) == ["registered 42, which is not a class"]


def test_estimator_models_offer_probabilities_only_when_the_estimator_has_them() -> None:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    models = load_registry().models
    knn = models["knn"].cls(seed=0).fit(X, y)
    assert knn.predict_proba(X[:5]).shape == (5, 10)
    linear = models["linear"].cls(seed=0).fit(X, y)
    assert not hasattr(linear, "predict_proba")  # regression scores are not probabilities
    assert (linear.predict(X) == y).mean() > 0.9
    svm = models["svm"].cls(seed=0).fit(X, y)
    assert not hasattr(svm, "predict_proba")  # libsvm needs probability=True for them
    assert not hasattr(models["knn"].cls(seed=0), "predict_proba")  # unfitted: unknown yet
