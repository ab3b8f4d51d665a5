"""The scikit-learn models' algorithms on faster engines: oneDAL (through scikit-learn-intelex)
and FAISS. Each is its own model, with the hyperparameters of the scikit-learn model it
mirrors (read from that class, so they cannot drift apart), so a run that has both answers
"is that the algorithm's cost or the library's?".

The mirrored model travels with the results: ``runtime_info()`` reports it as
``implementation_of``, and the accuracy difference the engine's arithmetic allows as
``accuracy_tolerance`` (0 for exact k-NN: the same neighbours, the same votes), which the
report's engines section checks. Both libraries are optional (``pip install
'mlbench[accelerated]'``) and imported only when a job starts.

scikit-learn-intelex's estimators are imported directly, never through ``patch_sklearn()``,
which would swap scikit-learn's own classes for every model in the process.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import version
from typing import Any, ClassVar

import numpy as np

from mlbench import EstimatorModel, Model, hookimpl
from mlbench_plugins.hardware import openblas_coretype
from mlbench_plugins.optional import import_framework
from mlbench_plugins.scikit_learn import KNN, SVM, RandomForest

INSTALL = "pip install 'mlbench[accelerated]'"
# The difference in accuracy an engine whose arithmetic differs from scikit-learn's (float
# order, a different solver's stopping point, another random stream) may show: 0.2 points.
TOLERANCE = 0.002


class Mirror(Model):
    """A model that runs the algorithm of the scikit-learn model ``mirrors`` on another
    engine, with that model's hyperparameters."""

    mirrors: ClassVar[str] = ""
    tolerance: ClassVar[float] = TOLERANCE

    def mirror_info(self) -> dict[str, Any]:
        return {"implementation_of": self.mirrors, "accuracy_tolerance": self.tolerance}


# -- oneDAL, through scikit-learn-intelex ---------------------------------------------------

class OneDAL(Mirror, EstimatorModel):
    """A scikit-learn-intelex estimator. It runs oneDAL where it supports the parameters and
    data, and silently falls back to scikit-learn's own code where not; its log says which,
    so every step's engine is recorded, and a fallback is a warning on the job's row."""

    requires = ("sklearnex",)
    install = INSTALL
    # The precision oneDAL computes in follows its input's: None keeps the images' float32.
    dtype: ClassVar[type | None] = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.engine_steps_: dict[str, str] = {}
        self.precision_ = ""

    def as_input(self, X: np.ndarray) -> np.ndarray:
        X = X if self.dtype is None else X.astype(self.dtype)
        self.precision_ = self.precision_ or str(X.dtype)
        return X

    @staticmethod
    def module(name: str) -> Any:
        return import_framework(f"sklearnex.{name}", "scikit-learn-intelex", "accelerated")

    def fit(self, X: np.ndarray, y: np.ndarray) -> OneDAL:
        with self.engine_log():
            super().fit(self.as_input(X), y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        with self.engine_log():
            return super().predict(self.as_input(X))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        with self.engine_log():
            return super().predict_proba(self.as_input(X))

    @contextmanager
    def engine_log(self) -> Iterator[None]:
        """Record which engine each call ran on, from scikit-learn-intelex's INFO log
        ("sklearn.svm.SVC.fit: running accelerated version on CPU" or "... fallback to
        original Scikit-learn")."""
        logger = logging.getLogger("sklearnex")
        handler = _Messages()
        # Only ours while the call runs: its own handler would print each line into the log.
        saved = logger.handlers, logger.level, logger.propagate
        logger.handlers, logger.propagate = [handler], False
        logger.setLevel(logging.INFO)
        try:
            yield
        finally:
            logger.handlers, _, logger.propagate = saved
            logger.setLevel(saved[1])
        for message in handler.messages:
            call, _, outcome = message.partition(": ")
            if "running accelerated" in outcome:
                self.engine_steps_.setdefault(call, "oneDAL")
            elif "fallback" in outcome:
                self.engine_steps_[call] = "scikit-learn"
                warnings.warn(f"{self.name}: {call} fell back to scikit-learn's own code, "
                              "not oneDAL", stacklevel=3)

    def runtime_info(self) -> dict[str, Any]:
        return {"framework": f"scikit-learn-intelex {version('scikit-learn-intelex')} (oneDAL)",
                "precision": self.precision_, **self.mirror_info(),
                "engine_steps": ", ".join(f"{call.removeprefix('sklearn.')}: {engine}"
                                          for call, engine in self.engine_steps_.items())}


class _Messages(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class OneDALSVM(OneDAL):
    """RBF-kernel SVM on oneDAL's solver, with svm's settings."""

    # svm's own hyperparameters (C=5, gamma='scale', the kernel cache): only the engine
    # differs. In float64, as libsvm always computes: oneDAL follows its input's precision,
    # and in MNIST's float32 it scored 1.4 points below libsvm on full MNIST (BENCHMARKS.md).
    # Its solver still stops at a slightly different point than libsvm's.
    name = "svm-onedal"
    colour = "#bd9e39"
    reference_accuracy = SVM.reference_accuracy  # the same algorithm
    mirrors = SVM.name
    tags = ("implementation", "svm-engines")
    defaults = SVM.defaults
    fit_growth = SVM.fit_growth
    dtype = np.float64

    def build(self) -> Any:
        return self.module("svm").SVC(**self.params, random_state=self.seed)


class OneDALKNN(OneDAL):
    """Brute-force k-nearest neighbours on oneDAL, with knn's settings."""

    # knn's own hyperparameters (k=3, uniform votes, brute force, all cores). Exact search:
    # the same neighbours as scikit-learn, so the same accuracy to the last digit.
    name = "knn-onedal"
    colour = "#393b79"
    reference_accuracy = KNN.reference_accuracy  # the same algorithm
    mirrors = KNN.name
    tolerance = 0.0
    tags = ("implementation", "knn-engines")
    defaults = KNN.defaults
    predict_growth = KNN.predict_growth

    def build(self) -> Any:
        return self.module("neighbors").KNeighborsClassifier(**self.params)


class OneDALRandomForest(OneDAL):
    """Random forest of 100 fully grown trees on oneDAL, with random-forest's settings."""

    # random-forest's own hyperparameters (100 trees, sqrt features, all cores). oneDAL
    # bins each pixel into at most 256 values before splitting, and draws other random
    # numbers: another forest of the same kind, whose accuracy may differ by a little.
    name = "random-forest-onedal"
    colour = "#8ca252"
    reference_accuracy = RandomForest.reference_accuracy  # the same algorithm
    mirrors = RandomForest.name
    tags = ("implementation", "random-forest-engines")
    defaults = RandomForest.defaults

    def build(self) -> Any:
        return self.module("ensemble").RandomForestClassifier(**self.params,
                                                               random_state=self.seed)


# -- FAISS ---------------------------------------------------------------------------------

class FaissKNN(Mirror):
    """Exact k-nearest neighbours on FAISS (IndexFlatL2), with knn's settings and vote."""

    # knn's own hyperparameters: k=3 uniform votes by exact (brute-force) search; n_jobs=-1
    # is every core (OpenMP's default, so `mlbench run --threads` still limits it), a
    # positive n_jobs that many threads. `algorithm` names scikit-learn's search method: any
    # is exact, as FAISS's flat index is. The vote is scikit-learn's: the most frequent label
    # among the k neighbours, the smallest label on a tie (its argmax over vote counts), and
    # probabilities are the vote fractions. So accuracy equals knn's to the last digit.
    name = "knn-faiss"
    colour = "#6b6ecf"
    reference_accuracy = KNN.reference_accuracy  # the same algorithm
    mirrors = KNN.name
    tolerance = 0.0
    tags = ("implementation", "knn-engines")
    requires = ("faiss",)
    install = INSTALL
    defaults = KNN.defaults
    predict_growth = KNN.predict_growth

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.params["weights"] != "uniform":
            raise ValueError(f"knn-faiss votes uniformly: weights must be 'uniform', not "
                             f"{self.params['weights']!r} (knn offers 'distance')")
        if not isinstance(self.params["n_neighbors"], int) or self.params["n_neighbors"] < 1:
            raise ValueError(f"knn-faiss: n_neighbors must be a positive integer, not "
                             f"{self.params['n_neighbors']!r}")

    def prepare(self, X: np.ndarray, y: np.ndarray) -> None:
        """Import FAISS (start-up, timed apart from fit) and set its threads. Its bundled
        OpenBLAS reads OPENBLAS_CORETYPE once, when loaded: set first (unless the user set
        it), so that an OpenBLAS older than the CPU still uses the CPU's vector kernels, as
        scikit-learn's newer OpenBLAS does for knn."""
        coretype = openblas_coretype()
        if coretype is not None:
            os.environ.setdefault("OPENBLAS_CORETYPE", coretype)
        self.faiss_ = import_framework("faiss", "FAISS", "accelerated")
        if self.params["n_jobs"] not in (None, -1):
            self.faiss_.omp_set_num_threads(int(self.params["n_jobs"]))

    def fit(self, X: np.ndarray, y: np.ndarray) -> FaissKNN:
        if not hasattr(self, "faiss_"):
            self.prepare(X, y)
        self.classes_, self.codes_ = np.unique(y, return_inverse=True)
        data = np.ascontiguousarray(X, dtype=np.float32)
        self.index_ = self.faiss_.IndexFlatL2(data.shape[1])
        self.index_.add(data)
        return self

    def votes(self, X: np.ndarray) -> np.ndarray:
        """Per test image, how many of its k nearest training images carry each class."""
        k = min(int(self.params["n_neighbors"]), self.index_.ntotal)
        _, nearest = self.index_.search(np.ascontiguousarray(X, dtype=np.float32), k)
        labels = self.codes_[nearest]
        return (labels[:, :, None] == np.arange(len(self.classes_))).sum(axis=1)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.classes_[self.votes(X).argmax(axis=1)])

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        votes = self.votes(X)
        return votes / votes.sum(axis=1, keepdims=True)

    def predict_and_proba(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """predict's labels and predict_proba's probabilities from one search."""
        votes = self.votes(X)
        return (np.asarray(self.classes_[votes.argmax(axis=1)]),
                votes / votes.sum(axis=1, keepdims=True))

    def size_bytes(self) -> int:
        return int(self.index_.ntotal * self.index_.d * 4 + self.codes_.nbytes)

    def runtime_info(self) -> dict[str, Any]:
        return {"framework": f"faiss {self.faiss_.__version__} (IndexFlatL2, exact)",
                "framework_threads": self.faiss_.omp_get_max_threads(), **self.mirror_info(),
                "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE")}


MODELS = (OneDALSVM, OneDALKNN, OneDALRandomForest, FaissKNN)


@hookimpl
def mlbench_register_models(register: Callable[[type], None]) -> None:
    for model in MODELS:
        register(model)
