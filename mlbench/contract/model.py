"""The model contract: what a plugin's class must look like, and a base class that fulfils it."""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np

INPUTS = ("flat", "image")  # flat: (n, height*width); image: (n, height, width, 1)
DEVICES = ("cpu", "gpu")
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
NAME_RULE = ("lower-case letters, digits, '-', '_' or '.', starting with a letter or digit "
             "(e.g. my-model)")  # NAME_PATTERN in words, for every message that refuses a name
COLOUR_PATTERN = re.compile(r"^#[0-9a-fA-F]{6}$")


class SkipJob(Exception):
    """Raise from a model (usually from ``fit``) to record the job as ``skipped`` with a reason,
    for example when an optional framework or a device is missing."""


@dataclass(frozen=True)
class Capabilities:
    """The optional steps a model offers beyond ``fit`` and ``predict``. The harness (the
    worker, ``check_model``) asks ``capabilities(model)`` and nothing else."""

    predict_proba: bool = False  # class probabilities, one row per image
    # predict_and_proba(X): (labels, probabilities) from one pass, the labels exactly what
    # predict(X) returns (k-NN: one neighbour search for both, not two)
    predict_and_proba: bool = False
    prepare: bool = False  # prepare(X, y): framework start-up, timed apart from fit
    eval_set: bool = False  # fit(X, y, eval_set=(X_test, y_test)): per-epoch test accuracy
    runtime_info: bool = False  # runtime_info(): framework, device, precision for the record
    size_bytes: bool = False  # size_bytes(): the fitted model's size, instead of pickling it
    get_params: bool = False  # get_params(): the params as the model resolved them


@dataclass(frozen=True)
class ReferenceAccuracy:
    """A published test-accuracy range of a model on a dataset, to catch a broken setup: a
    model far outside it almost always means something is wrong (pixels not scaled, labels
    shuffled, a changed default) rather than a bad model. Generous on purpose; judged only
    where a run trained on ``dataset`` with ``train_size`` images."""

    dataset: str
    train_size: int
    low: float
    high: float
    source: str  # where the figures come from (a URL, or authors and year), quoting them
    note: str = ""


def class_capabilities(cls: type) -> Capabilities:
    """What a class offers, read once from the methods it defines (how docs/plugins.md's plugins
    say it: they define ``predict_proba``, ``prepare``, ``fit(X, y, eval_set=None)``...)."""
    if cls not in _CLASS_CAPABILITIES:
        _CLASS_CAPABILITIES[cls] = _infer_capabilities(cls)
    return _CLASS_CAPABILITIES[cls]


_CLASS_CAPABILITIES: dict[type, Capabilities] = {}


def _infer_capabilities(cls: type) -> Capabilities:
    try:
        takes_eval_set = "eval_set" in inspect.signature(cls.fit).parameters  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError):
        takes_eval_set = False
    return Capabilities(
        predict_proba=callable(getattr(cls, "predict_proba", None)),
        predict_and_proba=callable(getattr(cls, "predict_and_proba", None)),
        prepare=callable(getattr(cls, "prepare", None)),
        eval_set=takes_eval_set,
        runtime_info=callable(getattr(cls, "runtime_info", None)),
        size_bytes=callable(getattr(cls, "size_bytes", None)),
        get_params=callable(getattr(cls, "get_params", None)),
    )


def capabilities(model: Any) -> Capabilities:
    """What ``model`` (a built model, or a class) offers. A built ``Model`` is asked, so that
    a class can declare what its methods alone cannot say (``EstimatorModel`` does)."""
    if isinstance(model, Model):
        return model.capabilities()
    return class_capabilities(model if isinstance(model, type) else type(model))


class Model:
    """Base class for model plugins, in the spirit of a scikit-learn estimator.

    Subclasses set the class attributes and implement ``fit`` and ``predict``
    (and optionally ``predict_proba``). Hyperparameters live in ``defaults``; the
    harness constructs ``Model(seed=..., device=..., **params)``.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    tags: ClassVar[Sequence[str]] = ()
    defaults: ClassVar[Mapping[str, Any]] = {}
    input: ClassVar[str] = "flat"
    devices: ClassVar[Sequence[str]] = ("cpu",)
    # The least k in time ~ n^k (n training images) that --estimate extrapolates its fit
    # time and its predict time per test image with. Small fits often look flatter than the
    # full job, fixed costs weighing more; a model known to grow faster says so here (a
    # kernel SVM's fit, brute-force k-NN's predict).
    fit_growth: ClassVar[float] = 1.0
    predict_growth: ClassVar[float] = 0.0
    # The modules its jobs import that may be missing (a framework), and how to install
    # them: `mlbench list` says which are there, without importing them.
    requires: ClassVar[Sequence[str]] = ()
    install: ClassVar[str] = ""
    # How reports show the model, recorded in run.json as a run starts (reports never see a
    # plugin): its colour in every chart ("#1f77b4"; None: one hashed from its name), and
    # the published accuracy ranges its results are checked against.
    colour: ClassVar[str | None] = None
    reference_accuracy: ClassVar[Sequence[ReferenceAccuracy]] = ()

    def __init__(self, *, seed: int = 0, device: str = "cpu", **params: Any) -> None:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise TypeError(
                f"{self.name} has no param {', '.join(map(repr, unknown))}; "
                f"valid: {', '.join(self.defaults) or '(none)'}"
            )
        self.seed = seed
        self.device = device
        self.params: dict[str, Any] = {**self.defaults, **params}

    def get_params(self) -> dict[str, Any]:
        return dict(self.params)

    def set_params(self, **params: Any) -> Model:
        type(self)(seed=self.seed, device=self.device, **params)  # validates the names
        self.params.update(params)
        return self

    def capabilities(self) -> Capabilities:
        """What this model offers: by default what its class's methods say. Override to
        declare otherwise, e.g. ``replace(super().capabilities(), predict_proba=False)``.
        The harness asks before fitting and again after, when the answer may depend on
        what ``fit`` made."""
        return class_capabilities(type(self))

    def fit(self, X: np.ndarray, y: np.ndarray) -> Model:
        raise NotImplementedError

    def predict(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


def contract_problems(cls: Any) -> list[str]:
    """Everything that keeps ``cls`` from being usable as a model, as short phrases."""
    if not isinstance(cls, type):
        return [f"registered {cls!r}, which is not a class"]
    problems = []
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        problems.append(
            f"its name {name!r} must be {NAME_RULE}"
        )
    for method in ("fit", "predict"):
        if not callable(getattr(cls, method, None)):
            problems.append(f"has no {method}() method")
        elif getattr(cls, method) is getattr(Model, method):
            problems.append(f"does not implement {method}()")
    input_kind = getattr(cls, "input", "flat")
    if input_kind not in INPUTS:
        problems.append(f"input must be one of {', '.join(INPUTS)}, not {input_kind!r}")
    devices = getattr(cls, "devices", ("cpu",))
    if isinstance(devices, str) or not set(devices) <= set(DEVICES) or not devices:
        problems.append(f"devices must be a non-empty list drawn from {', '.join(DEVICES)}")
    if not isinstance(getattr(cls, "defaults", {}), Mapping):
        problems.append("defaults must be a dict of param name to default value")
    for attribute in ("fit_growth", "predict_growth"):
        growth = getattr(cls, attribute, getattr(Model, attribute))
        if (isinstance(growth, bool) or not isinstance(growth, int | float)
                or not 0 <= growth <= 3):
            problems.append(f"{attribute} must be a number from 0 to 3, not {growth!r}")
    tags = getattr(cls, "tags", ())
    if isinstance(tags, str) or not all(isinstance(tag, str) for tag in tags):
        problems.append("tags must be a list of strings")
    requires = getattr(cls, "requires", ())
    if isinstance(requires, str) or not all(isinstance(name, str) for name in requires):
        problems.append("requires must be a list of module names")
    colour = getattr(cls, "colour", None)
    if colour is not None and not (isinstance(colour, str) and COLOUR_PATTERN.match(colour)):
        problems.append(f"colour must be a hex colour such as '#1f77b4', not {colour!r}")
    problems += _reference_problems(getattr(cls, "reference_accuracy", ()))
    return problems


def _reference_problems(ranges: Any) -> list[str]:
    if isinstance(ranges, str | ReferenceAccuracy) or not isinstance(ranges, Sequence):
        return ["reference_accuracy must be a list of mlbench.ReferenceAccuracy"]
    for item in ranges:
        if not isinstance(item, ReferenceAccuracy):
            return [f"reference_accuracy must hold mlbench.ReferenceAccuracy, not {item!r}"]
        numbers = all(isinstance(value, int | float) and not isinstance(value, bool)
                      for value in (item.low, item.high))
        if not (numbers and 0 <= item.low <= item.high <= 1 and str(item.source).strip()):
            return [f"reference_accuracy on {item.dataset}: needs 0 <= low <= high <= 1 "
                    f"and a source, got {item.low}-{item.high}"]
    return []


class EstimatorModel(Model):
    """A model backed by a scikit-learn estimator: implement ``build()`` and you are done.

    ``build()`` returns an unfitted estimator made from ``self.params`` (and ``self.seed``
    where the estimator is random); ``predict_proba`` is offered when the fitted estimator
    has it.
    """

    def build(self) -> Any:
        raise NotImplementedError

    def prepare(self, X: np.ndarray, y: np.ndarray) -> None:
        """Build the estimator ahead of fit: importing its library (scikit-learn's modules
        take 0.05-0.1 s each) is start-up, timed as such, not part of the fit it precedes."""
        self.unfitted_ = self.build()

    def fit(self, X: np.ndarray, y: np.ndarray) -> EstimatorModel:
        unfitted = self.__dict__.pop("unfitted_", None)
        self.estimator_ = (self.build() if unfitted is None else unfitted).fit(X, y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator_.predict(X))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator_.predict_proba(X))

    def capabilities(self) -> Capabilities:
        # Probabilities exactly when the fitted estimator has them (LinearRegression, libsvm
        # without probability=True: none). Before fitting they are not known: building an
        # estimator only to ask would import its module before the model is prepared.
        fitted = self.__dict__.get("estimator_")
        if fitted is None:
            return super().capabilities()
        offers = super().capabilities()
        proba = hasattr(fitted, "predict_proba")
        return replace(offers, predict_proba=proba,
                       predict_and_proba=offers.predict_and_proba and proba)

    def runtime_info(self) -> dict[str, Any]:
        import sklearn

        return {"framework": f"scikit-learn {sklearn.__version__}"}
