"""The classic scikit-learn classifiers.

Defaults aim to be fair, reasonably fast representatives of each family on full MNIST on a
2-core machine; each class says why its defaults were chosen. scikit-learn is imported only
when a model is built, so listing models stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from mlbench import Capabilities, EstimatorModel, hookimpl


class SklearnModel(EstimatorModel):
    """What every model of this plugin needs: scikit-learn, one of mlbench's own
    dependencies."""

    requires = ("sklearn",)
    install = "pip install scikit-learn"


class Linear(SklearnModel):
    """Linear regression as a classifier: least squares on one-hot targets, argmax."""

    # Plain least squares, as textbooks present it (about 0.86 on MNIST); fit_intercept
    # is the only knob of LinearRegression that matters here.
    name = "linear"
    tags = ("sklearn", "linear-models")
    defaults = {"fit_intercept": True}

    def build(self) -> Any:
        from sklearn.linear_model import LinearRegression

        return LinearRegression(**self.params)

    def fit(self, X: np.ndarray, y: np.ndarray) -> Linear:
        self.classes_ = np.unique(y)
        one_hot = (y[:, None] == self.classes_[None, :]).astype(X.dtype)
        self.estimator_ = self.build().fit(X, one_hot)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.classes_[np.argmax(self.estimator_.predict(X), axis=1)])


class Logistic(SklearnModel):
    """Multinomial logistic regression (L-BFGS)."""

    # scikit-learn's defaults: C=1 is near the best on MNIST pixels in [0, 1], and 100
    # L-BFGS iterations reach ~0.926 in ~10 s; more iterations barely move accuracy.
    name = "logistic"
    tags = ("sklearn", "linear-models")
    defaults = {"C": 1.0, "max_iter": 100, "tol": 1e-4}

    def build(self) -> Any:
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(**self.params, random_state=self.seed)


class Perceptron(SklearnModel):
    """Rosenblatt's perceptron, one-vs-rest."""

    # scikit-learn's defaults (no penalty, stops when the loss stalls): the classic algorithm
    # as published, ~0.88 on MNIST in ~10 s.
    name = "perceptron"
    tags = ("sklearn", "linear-models")
    defaults = {"penalty": None, "alpha": 1e-4, "max_iter": 1000, "tol": 1e-3}

    def build(self) -> Any:
        from sklearn.linear_model import Perceptron as SklearnPerceptron

        return SklearnPerceptron(**self.params, random_state=self.seed)


class NaiveBayes(SklearnModel):
    """Gaussian naive Bayes."""

    # The textbook Gaussian model with scikit-learn's defaults: ~0.56 on MNIST, the figure
    # usually published. Its independence assumption fits pixels badly; raising
    # var_smoothing (e.g. 0.1) lifts it to ~0.8, which `--param naive-bayes.var_smoothing=0.1`
    # shows.
    name = "naive-bayes"
    tags = ("sklearn",)
    defaults = {"var_smoothing": 1e-9}

    def build(self) -> Any:
        from sklearn.naive_bayes import GaussianNB
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import FunctionTransformer

        # Its log-likelihoods reach -1e7 on MNIST: in float32, probabilities stop summing to
        # one (found by mlbench.testing.check_model), so it works in float64.
        return make_pipeline(FunctionTransformer(as_float64), GaussianNB(**self.params))


class KNN(SklearnModel):
    """k-nearest neighbours, Euclidean distance, brute force."""

    # k=3 is the classic choice for MNIST (~0.970); brute force on all cores is fastest for
    # 784-dimensional data, where trees do not prune.
    name = "knn"
    tags = ("sklearn", "knn-engines")
    defaults = {"n_neighbors": 3, "weights": "uniform", "algorithm": "brute", "n_jobs": -1}
    # Brute force measures each test image against every training image; small fits hide
    # it behind fixed costs (--estimate's fits on 1,000-4,000 images showed n^0.2-0.6).
    predict_growth = 1.0

    def build(self) -> Any:
        from sklearn.neighbors import KNeighborsClassifier

        return KNeighborsClassifier(**self.params)

    def predict_and_proba(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Labels and probabilities from one neighbour search, not one each. With uniform
        votes scikit-learn's predict is this argmax of predict_proba (brute force: its own
        code; otherwise the most frequent neighbour label, the smallest on a tie, as
        argmax's first maximum), so the labels are predict's (tests/test_shared_proba.py)."""
        probabilities = np.asarray(self.estimator_.predict_proba(X))
        return self.estimator_.classes_[probabilities.argmax(axis=1)], probabilities

    def capabilities(self) -> Capabilities:
        # Distance-weighted votes: predict sums the weights in another order than
        # predict_proba does, so a near tie could go the other way; two searches then.
        offers = super().capabilities()
        return replace(offers, predict_and_proba=offers.predict_and_proba
                       and self.params["weights"] == "uniform")


class SVM(SklearnModel):
    """Support vector machine, RBF kernel (libsvm)."""

    # RBF with gamma='scale' and C=5 reaches ~0.98; a larger kernel cache cuts fit time on
    # 60,000 images. Linear SVMs are faster but stay near 0.92, which would misrepresent SVMs.
    name = "svm"
    tags = ("sklearn", "svm-engines")
    defaults = {"C": 5.0, "kernel": "rbf", "gamma": "scale", "cache_size": 2000}
    # libsvm's solver evaluates kernels between ever more pairs of training images: on
    # MNIST its fit grew as n^1.4 up to 5,000 images but n^1.7-2.3 beyond (BENCHMARKS.md),
    # so --estimate, which fits at most 4,000, extrapolates with at least n^2.
    fit_growth = 2.0

    def build(self) -> Any:
        from sklearn.svm import SVC

        return SVC(**self.params, random_state=self.seed)


class RandomForest(SklearnModel):
    """Random forest of 100 fully grown trees."""

    # scikit-learn's defaults (100 trees, sqrt features) on all cores: ~0.97 in ~15 s.
    name = "random-forest"
    tags = ("sklearn", "ensembles", "random-forest-engines")
    defaults = {"n_estimators": 100, "max_features": "sqrt", "n_jobs": -1}

    def build(self) -> Any:
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(**self.params, random_state=self.seed)


class MLP(SklearnModel):
    """Multi-layer perceptron, one hidden layer of 100 ReLU units, Adam."""

    # One hidden layer of 100 units for 20 epochs: ~0.978 in ~7 s; scikit-learn's default
    # 200 epochs overfits for the same accuracy at ten times the cost.
    name = "mlp"
    tags = ("sklearn", "neural-networks")
    defaults = {"hidden_layer_sizes": (100,), "alpha": 1e-4, "batch_size": 200,
                "learning_rate_init": 1e-3, "max_iter": 20}

    def build(self) -> Any:
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        # Stopping at max_iter is the intended budget, not a problem to warn about.
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        return MLPClassifier(**self.params, random_state=self.seed)


def as_float64(X: np.ndarray) -> np.ndarray:
    return X.astype(np.float64)


MODELS = (Linear, Logistic, Perceptron, NaiveBayes, KNN, SVM, RandomForest, MLP)


@hookimpl
def mlbench_register_models(register: Callable[[type], None]) -> None:
    for model in MODELS:
        register(model)
