"""Test helpers for plugin authors: ``check_model(MyModel)`` proves that a model class keeps
mlbench's model contract, the way scikit-learn's ``check_estimator`` does for estimators.

Each check drives the model as the worker does (``running.drive``): built from ``seed``,
``device`` and its params, ``prepare``d if it offers that, fitted on a small real slice of
digits scaled to [0, 1], then asked to predict; the driver's own checks of what it returns
fail a check here as they fail a job there. The first check that fails raises
``ModelCheckError`` naming the class and the check; a model that raises ``SkipJob`` (a missing
framework, say) has it passed through unchanged, so the test can skip.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mlbench.contract.model import SkipJob, class_capabilities, contract_problems
from mlbench.datasets import DataRef, LoadRequest, cache_dir, stratified_indices
from mlbench.errors import UsageError
from mlbench.running.drive import ContractError, Driver

FLAT_DATASET = "digits"  # 8x8 images: every check of a classic model runs in about a second
IMAGE_DATASET = "mnist-5k"  # image models (CNNs) need real 28x28 MNIST
IMAGE_TRAIN_SIZE = 500  # a few hundred images keep a CNN's checks to seconds
TEST_SIZE = 300
UNKNOWN_PARAM = "no_such_param_for_check_model"
MIN_PROBA_AGREEMENT = 0.9  # ties and float rounding may flip a few argmaxes, not more


class ModelCheckError(AssertionError):
    """A model class failed one of ``check_model``'s checks; the message names both."""


class _Failed(Exception):
    """Raised inside a check; ``check_model`` adds the class and check names."""


def expect(condition: Any, message: str) -> None:
    if not condition:
        raise _Failed(message)


@dataclass
class _Case:
    """The class under test, how to build it, its data, and what the checks learnt so far."""

    cls: Any
    seed: int
    params: dict[str, Any]
    x_train: np.ndarray = field(default_factory=lambda: np.empty(0))
    y_train: np.ndarray = field(default_factory=lambda: np.empty(0))
    x_test: np.ndarray = field(default_factory=lambda: np.empty(0))
    y_test: np.ndarray = field(default_factory=lambda: np.empty(0))
    driver: Any = None  # the Driver of the model check_fit_returns_self fitted
    predicted: np.ndarray = field(default_factory=lambda: np.empty(0))

    def build(self, **params: Any) -> Any:
        return self.cls(seed=self.seed, device="cpu", **{**self.params, **params})

    def fit(self) -> tuple[Driver, Any]:
        """A fresh model fitted as the worker fits it; returns (its driver, what fit
        returned)."""
        driver = Driver(self.build())
        driver.prepare(self.x_train, self.y_train, self.seed)
        return driver, driver.fit(self.x_train, self.y_train,
                                  eval_set=(self.x_test, self.y_test)).returned


def check_contract(case: _Case) -> None:
    problems = contract_problems(case.cls)
    expect(not problems, "; ".join(problems))


def check_builds(case: _Case) -> None:
    case.build()
    defaults = dict(getattr(case.cls, "defaults", {}))
    case.build(**{**defaults, **case.params})  # every param spelt out, as a saved run does


def check_refuses_unknown_params(case: _Case) -> None:
    try:
        case.build(**{UNKNOWN_PARAM: 1})
    except TypeError:
        return
    raise _Failed(f"accepted an unknown param {UNKNOWN_PARAM!r}; it must raise TypeError, so "
                  "that a misspelt --param is an error and not silently ignored")


def check_get_params_round_trips(case: _Case) -> None:
    if not class_capabilities(case.cls).get_params:
        return
    params = case.build().get_params()
    again = case.cls(seed=case.seed, device="cpu", **params).get_params()
    expect(again == params, f"get_params() gave {params!r}, but a model built from those "
                            f"params gives {again!r}")


def check_fit_returns_self(case: _Case) -> None:
    case.driver, returned = case.fit()
    expect(returned is case.driver.model, f"fit() returned {type(returned).__name__}; it "
                                          "must return the model itself (return self)")


def check_predict_labels(case: _Case) -> None:
    predicted, _ = case.driver.predict(case.x_test, np.unique(case.y_train))
    case.predicted = predicted.astype(np.int64)


def check_better_than_chance(case: _Case) -> None:
    n_classes = len(np.unique(case.y_train))
    accuracy = float(np.mean(case.predicted == case.y_test))
    expect(accuracy > 1.5 / n_classes,
           f"accuracy {accuracy:.3f} on {len(case.y_test)} test images is not clearly better "
           f"than chance (1/{n_classes}); is fit() learning from X and y?")


def check_predict_proba(case: _Case) -> None:
    if not case.driver.offers.predict_proba:
        return
    classes = np.unique(case.y_train)
    proba, _ = case.driver.predict_proba(case.x_test)
    proba = proba.astype(np.float64)
    shape = (len(case.x_test), len(classes))
    expect(proba.shape == shape, f"predict_proba() returned shape {proba.shape}; it must "
                                 f"return one column per training class, shape {shape}")
    expect(np.all(proba >= 0), "predict_proba() returned negative probabilities")
    sums = proba.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1)))
    expect(np.allclose(sums, 1, atol=1e-4),
           f"predict_proba() rows must sum to 1; row {worst} sums to {sums[worst]:.6g}")
    agreement = float(np.mean(classes[proba.argmax(axis=1)] == case.predicted))
    expect(agreement >= MIN_PROBA_AGREEMENT,
           f"predict_proba()'s most likely class agrees with predict() on only "
           f"{agreement:.0%} of images (columns are the sorted training labels)")


def check_predict_and_proba(case: _Case) -> None:
    """Labels and probabilities from one call must be predict()'s labels, every one, and
    each the most likely class of its row: the worker scores them instead of predict()'s."""
    if not case.driver.offers.predict_and_proba:
        return
    classes = np.unique(case.y_train)
    labels, proba, _ = case.driver.predict_and_proba(case.x_test, classes)
    shape = (len(case.x_test), len(classes))
    expect(proba.shape == shape, f"predict_and_proba()'s probabilities have shape "
                                 f"{proba.shape}; they must have one column per training "
                                 f"class, shape {shape}")
    differ = np.flatnonzero(labels != case.predicted)
    expect(len(differ) == 0,
           f"predict_and_proba()'s labels differ from predict()'s on {len(differ)} of "
           f"{len(labels)} images (first: image {differ[:1].tolist()}); they must be "
           "exactly predict()'s, which the harness then no longer calls")
    argmax = classes[proba.astype(np.float64).argmax(axis=1)]
    differ = np.flatnonzero(argmax != labels)
    expect(len(differ) == 0,
           f"predict_and_proba()'s labels are not the most likely class of its "
           f"probabilities on {len(differ)} of {len(labels)} images (first: image "
           f"{differ[:1].tolist()}; columns are the sorted training labels)")


def check_reproducible(case: _Case) -> None:
    again, _ = case.fit()
    repeated, _ = again.predict(case.x_test, np.unique(case.y_train))
    differ = int(np.sum(repeated != case.predicted))
    expect(differ == 0, f"two fits with seed {case.seed} disagree on {differ} of "
                        f"{len(case.x_test)} test images; seed every random generator the "
                        "model uses from self.seed")


# In order: later checks use the model that check_fit_returns_self fitted.
CHECKS: list[Callable[[_Case], None]] = [
    check_builds,
    check_refuses_unknown_params,
    check_get_params_round_trips,
    check_fit_returns_self,
    check_predict_labels,
    check_better_than_chance,
    check_predict_proba,
    check_predict_and_proba,
    check_reproducible,
]


def check_model(
    model_class: Any,
    *,
    dataset: str | None = None,
    seed: int = 0,
    size: int | None = None,
    params: Mapping[str, Any] | None = None,
) -> None:
    """Check that ``model_class`` keeps the model contract; raise ``ModelCheckError`` if not.

    :param model_class: the class a plugin registers (not an instance).
    :param dataset: a registered dataset; default ``digits``, or ``mnist-5k`` for
        ``input = "image"`` models, which need 28x28 images.
    :param seed: the seed every model is built with.
    :param size: training images (a stratified subset); default all of digits, or 500 for
        image models. At most 300 test images are used.
    :param params: params to build the model with, e.g. ``{"epochs": 1}`` to keep it fast.
    :raises SkipJob: unchanged, when the model raises it (a missing framework, say).
    """
    case = _Case(model_class, seed, dict(params or {}))
    class_name = getattr(model_class, "__name__", repr(model_class))
    label = f"{class_name} (model {getattr(model_class, 'name', None)!r})"
    _run(check_contract, case, label)  # first: the data's shape depends on `input`
    input_kind = getattr(model_class, "input", "flat")
    case.x_train, case.y_train, case.x_test, case.y_test = load_slice(input_kind, dataset, size)
    for check in CHECKS:
        _run(check, case, label)


def _run(check: Callable[[_Case], None], case: _Case, label: str) -> None:
    try:
        check(case)
    except SkipJob:
        raise
    except (_Failed, ContractError) as failure:
        raise ModelCheckError(f"{label} failed {check.__name__}: {failure}") from None
    except Exception as error:
        raise ModelCheckError(f"{label} failed {check.__name__}: it raised "
                              f"{type(error).__name__}: {error}") from error


def load_slice(
    input_kind: str, dataset: str | None = None, size: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A small stratified slice of a registered dataset, scaled and shaped as the worker
    gives it to a model: x_train, y_train, x_test, y_test."""
    from mlbench.contract.registry import load_registry

    image = input_kind == "image"
    name = dataset or (IMAGE_DATASET if image else FLAT_DATASET)
    if size is None and image:
        size = IMAGE_TRAIN_SIZE
    data = load_registry().dataset(name).loader(LoadRequest(cache_dir(), progress=False))
    if data.folder is None:
        raise UsageError(f"dataset '{name}' was not cached as .npy files; its loader must "
                         "return mlbench.datasets.save_arrays(...)")
    ref = DataRef(data.folder, data.pixel_max, stratified_indices(data.y_train, size),
                  stratified_indices(data.y_test, TEST_SIZE))
    return ref.load(input_kind)

