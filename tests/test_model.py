"""The model contract and the base classes plugins build on."""

from __future__ import annotations

import numpy as np
import pytest

import mlbench
from mlbench.contract.model import Capabilities, capabilities, class_capabilities, contract_problems
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
    assert capabilities(knn).predict_proba
    assert knn.predict_proba(X[:5]).shape == (5, 10)
    linear = models["linear"].cls(seed=0).fit(X, y)
    assert not capabilities(linear).predict_proba  # regression scores are not probabilities
    assert (linear.predict(X) == y).mean() > 0.9
    svm = models["svm"].cls(seed=0).fit(X, y)
    assert not capabilities(svm).predict_proba  # libsvm needs probability=True for them
    assert not capabilities(models["perceptron"].cls(seed=0).fit(X, y)).predict_proba


class ReadmeStyle:
    """A duck-typed plugin class written against docs/plugins.md: capabilities are its methods."""

    name = "readme-style"

    def __init__(self, *, seed: int = 0, device: str = "cpu", **params: object) -> None:
        self.seed = seed

    def prepare(self, X: np.ndarray, y: np.ndarray) -> None:
        pass

    def fit(self, X: np.ndarray, y: np.ndarray,
            eval_set: tuple[np.ndarray, np.ndarray] | None = None) -> ReadmeStyle:
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.zeros(len(X), dtype=int)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.ones((len(X), 1))

    def runtime_info(self) -> dict[str, object]:
        return {}


def test_capabilities_are_read_from_the_methods_a_class_defines() -> None:
    assert capabilities(ReadmeStyle) == Capabilities(
        predict_proba=True, prepare=True, eval_set=True, runtime_info=True)
    assert capabilities(ReadmeStyle()) is class_capabilities(ReadmeStyle)  # once per class

    class Plain(mlbench.Model):
        name = "plain"

        def fit(self, X: np.ndarray, y: np.ndarray) -> Plain:
            return self

    assert capabilities(Plain()) == Capabilities(get_params=True)


def test_a_model_may_declare_less_than_its_methods_say() -> None:
    from dataclasses import replace

    class NoProbabilities(mlbench.Model):
        name = "no-probabilities"

        def predict_proba(self, X: np.ndarray) -> np.ndarray:
            raise NotImplementedError("inherited, say, but not meaningful here")

        def capabilities(self) -> Capabilities:
            return replace(super().capabilities(), predict_proba=False)

    assert class_capabilities(NoProbabilities).predict_proba
    assert not capabilities(NoProbabilities()).predict_proba
