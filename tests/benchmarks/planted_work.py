"""A model whose fit does a known amount of real work: the planted regression of the
false-alarm benchmark (``false_alarms.py``).

``work``'s fit converts the training images to float64 and computes their Gram matrix,
``rounds`` times over (BLAS: real arithmetic, not a sleep), so nearly all of it is the
rounds; it predicts by the nearest class centroid. With the environment variable
``PLANTED_SLOWDOWN=1.5`` every fit does half again as many rounds: a 1.5x slower fit as a
code change would make it, invisible in the params (a params change would make the two
runs' rows different variants, not the same model slower).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

import mlbench


class Work(mlbench.Model):
    """Gram matrix of the training images, ``rounds`` times; nearest-centroid predictions."""

    name = "work"
    tags = ("benchmark",)
    defaults: ClassVar[dict[str, Any]] = {"rounds": 40}

    def fit(self, X: np.ndarray, y: np.ndarray) -> Work:
        rounds = round(self.params["rounds"] * float(os.environ.get("PLANTED_SLOWDOWN", "1")))
        for _ in range(rounds):
            data = np.asarray(X, dtype=np.float64)
            data.T @ data
        self.classes_ = np.unique(y)
        self.centroids_ = np.stack([data[y == label].mean(axis=0) for label in self.classes_])
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        data = np.asarray(X, dtype=np.float64)
        distances = ((data[:, None, :] - self.centroids_[None]) ** 2).sum(axis=2)
        return self.classes_[distances.argmin(axis=1)]


@mlbench.hookimpl
def mlbench_register_models(register: Callable[[type], None]) -> None:
    register(Work)
