"""Gradient-boosted trees: XGBoost and LightGBM, the libraries practitioners reach for first.

Both are optional (``pip install 'mlbench[boosting]'``) and imported only when a job starts;
a missing one skips its jobs with that line. Defaults are what a practitioner would pick for
full MNIST on a 2-core machine: histogram trees, a few hundred small trees in all, every
core, each class saying why.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from mlbench import EstimatorModel, ReferenceAccuracy, SkipJob, hookimpl
from mlbench_plugins.optional import import_framework

XGBOOST_GPU_INSTALL = "pip uninstall -y xgboost-cpu && pip install xgboost"


def published_on_mnist(note: str) -> tuple[ReferenceAccuracy, ...]:
    """Gradient-boosted trees' published range on full MNIST, for both models here."""
    return (ReferenceAccuracy("mnist", 60000, 0.95, 0.99, note=note, source=(
        "XGBoost on MNIST's pixels, 200 rounds of depth-6 trees trained on 54,000 of its training "
        "images: test accuracy 0.9762 "
        "(https://github.com/baobaybong/digit-recognizer/blob/main/notebooks/xgb_baseline.ipynb); "
        "LeCun et al. 1998, results table at http://yann.lecun.com/exdb/mnist/: boosted trees "
        "1.53% error")),)


class GradientBoosting(EstimatorModel):
    """What both need: labels as 0..n-1, which both libraries expect (MNIST's digits already
    are, a subset missing a digit is not), mapped back on prediction."""

    install = "pip install 'mlbench[boosting]'"

    def fit(self, X: np.ndarray, y: np.ndarray) -> GradientBoosting:
        self.classes_, codes = np.unique(y, return_inverse=True)
        super().fit(X, codes)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.classes_[np.asarray(self.estimator_.predict(X), dtype=np.intp)])


class XGBoost(GradientBoosting):
    """XGBoost, histogram trees (tree_method='hist'), on the CPU or a CUDA GPU."""

    # 150 rounds of depth-6 trees at XGBoost's own learning rate 0.3: 0.981 on full MNIST in
    # 153 s on 2 cores (BENCHMARKS.md), a few minutes at most, as a practitioner's first try
    # would be. 64 bins per pixel instead of 256: fewer bins to build and scan at each split,
    # and pixels are mostly 0 or near 1, so few split points are lost.
    name = "xgboost"
    colour = "#843c39"
    reference_accuracy = published_on_mnist(
        "Gradient-boosted histogram trees on raw pixels (this project measured 0.9808).")
    tags = ("boosting", "ensembles")
    devices = ("cpu", "gpu")
    requires = ("xgboost",)
    defaults = {"n_estimators": 150, "learning_rate": 0.3, "max_depth": 6, "max_bin": 64,
                "tree_method": "hist", "n_jobs": -1}

    def build(self) -> Any:
        xgboost = import_framework("xgboost", "XGBoost", "boosting")
        self.framework_ = f"xgboost {xgboost.__version__} ({build(xgboost)})"
        device = "cpu"
        if self.device == "gpu":
            device = "cuda"
            cuda_device_visible(xgboost)
        return xgboost.XGBClassifier(**self.params, device=device, random_state=self.seed)

    def predict(self, X: np.ndarray) -> np.ndarray:
        with quiet_device_mismatch():
            return super().predict(X)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        with quiet_device_mismatch():
            return super().predict_proba(X)

    def runtime_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"framework": self.framework_}
        if self.device == "gpu":
            config = json.loads(self.estimator_.get_booster().save_config())
            info["device_name"] = config["learner"]["generic_param"]["device"]
        return info


def build(xgboost: Any) -> str:
    return "CUDA build" if xgboost.build_info().get("USE_CUDA") else "CPU build"


def cuda_device_visible(xgboost: Any) -> None:
    """Skip the job unless XGBoost can train on a CUDA GPU here. XGBoost itself only warns
    and trains on the CPU instead, which would record a CPU's time as the GPU's; so one
    boosting round on four rows, in the job's start-up, asks it."""
    if build(xgboost) != "CUDA build":
        raise SkipJob(f"xgboost {xgboost.__version__} here is a CPU-only build (the "
                      f"xgboost-cpu wheel); GPU training needs its CUDA build: "
                      f"{XGBOOST_GPU_INSTALL}")
    rows = np.eye(4, dtype=np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        booster = xgboost.train({"device": "cuda", "tree_method": "hist"},
                                xgboost.DMatrix(rows, label=np.arange(4) % 2),
                                num_boost_round=1)
    device = json.loads(booster.save_config())["learner"]["generic_param"]["device"]
    if not str(device).startswith("cuda"):
        said = "; ".join(str(warning.message).strip() for warning in caught)
        raise SkipJob(f"no CUDA GPU visible to XGBoost ({xgboost.__version__}, CUDA build)"
                      + (f": {said}" if said else ""))


@contextmanager
def quiet_device_mismatch() -> Iterator[None]:
    """On a GPU, XGBoost warns that NumPy test images are on the host: prediction copies
    them, as intended here (the timing includes the copy, as for the CNNs)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*mismatched devices")
        yield


class LightGBM(GradientBoosting):
    """LightGBM, leaf-wise histogram trees, on the CPU."""

    # 200 rounds of 31-leaf trees at LightGBM's learning rate 0.1: 0.982 on full MNIST in 68 s
    # on 2 cores (BENCHMARKS.md). 63 bins (LightGBM's advice for speed) instead of 255, as
    # for xgboost. n_jobs=0 is OpenMP's default: every core, unless `mlbench run --threads`
    # sets fewer (LightGBM's -1 counts the cores itself and would ignore it). CPU only: its
    # GPU build needs OpenCL, which nothing here can check cheaply.
    name = "lightgbm"
    colour = "#637939"
    reference_accuracy = published_on_mnist(
        "Leaf-wise gradient-boosted trees on raw pixels, judged by gradient-boosted "
        "trees' published figures (this project measured 0.9819).")
    tags = ("boosting", "ensembles")
    requires = ("lightgbm",)
    defaults = {"n_estimators": 200, "learning_rate": 0.1, "num_leaves": 31, "max_bin": 63,
                "n_jobs": 0}

    def build(self) -> Any:
        lightgbm = import_framework("lightgbm", "LightGBM", "boosting")
        self.lightgbm_version_ = lightgbm.__version__
        # verbosity=-1: LightGBM otherwise prints its progress and hints into the job's log.
        return lightgbm.LGBMClassifier(**self.params, random_state=self.seed, verbosity=-1)

    def runtime_info(self) -> dict[str, Any]:
        return {"framework": f"lightgbm {self.lightgbm_version_}"}


MODELS = (XGBoost, LightGBM)


@hookimpl
def mlbench_register_models(register: Callable[[type], None]) -> None:
    for model in MODELS:
        register(model)
