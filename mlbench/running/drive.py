"""Driving a model through its steps the one way mlbench does, and checking what it returns.

The steps, in order: build the model from ``seed``, ``device`` and its params; seed the
global generators; ``prepare`` (framework start-up) if it offers it; ``fit``, given the test
set as ``eval_set`` if it takes one (for learning curves, never for fitting); ``predict``;
``predict_proba`` if it offers probabilities. The worker times each step and records it;
``check_model`` adds the contract's checks on top. What a model offers is asked of
``capabilities`` alone, before fitting and again after.
"""

from __future__ import annotations

import gc
import pickle
import random
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlbench.contract.model import Capabilities, capabilities
from mlbench.results.record import EpochRecord, read_history

DataSet = tuple[np.ndarray, np.ndarray]


class ContractError(Exception):
    """A model returned something the harness cannot score."""


@dataclass(frozen=True)
class Fitted:
    """What ``fit`` returned and how long it took."""

    returned: Any
    seconds: float  # wall time
    cpu_seconds: float  # every thread of this process


class Driver:
    """One built model and the steps the harness takes with it. ``where`` names the model in
    errors ("plugin 'p': model 'm' "); ``check_model`` names it itself and leaves it empty."""

    def __init__(self, model: Any, where: str = "") -> None:
        self.model = model
        self.where = where
        self.offers: Capabilities = capabilities(model)

    @classmethod
    def build(cls, model_class: Any, *, seed: int, device: str, params: Mapping[str, Any],
              where: str = "") -> Driver:
        return cls(model_class(seed=seed, device=device, **params), where)

    def params(self) -> dict[str, Any] | None:
        """The params as the model resolved them (a recipe's, say), if it says."""
        return dict(self.model.get_params()) if self.offers.get_params else None

    def prepare(self, x_train: np.ndarray, y_train: np.ndarray, seed: int) -> float | None:
        """Seed the global generators (a model may rely on them), then framework start-up,
        if the model has any: returns its wall time, or None."""
        random.seed(seed)
        np.random.seed(seed % 2**32)
        if not self.offers.prepare:
            return None
        started = time.perf_counter()
        self.model.prepare(x_train, y_train)
        return time.perf_counter() - started

    def fit(self, x_train: np.ndarray, y_train: np.ndarray, eval_set: DataSet) -> Fitted:
        options = {"eval_set": eval_set} if self.offers.eval_set else {}
        gc.collect()  # not the previous step's garbage, collected mid-fit
        wall, cpu = time.perf_counter(), time.process_time()
        returned = self.model.fit(x_train, y_train, **options)
        fitted = Fitted(returned, time.perf_counter() - wall, time.process_time() - cpu)
        self.offers = capabilities(self.model)  # asked again: fit may have settled some
        return fitted

    def history(self) -> list[EpochRecord]:
        """The training history the model kept in ``history_`` (plugins write dicts)."""
        entries = list(getattr(self.model, "history_", None) or [])
        try:
            history = read_history(entries)
        except ValueError as error:
            raise ContractError(f"{self.where}{error}") from error
        unknown = sorted({key for entry in entries for key in EpochRecord.unknown_keys(entry)})
        if unknown:
            warnings.warn(f"{self.where}history_ has keys mlbench does not keep: "
                          f"{', '.join(unknown)}", stacklevel=1)
        return history

    def predict(self, x_test: np.ndarray, classes: np.ndarray) -> tuple[np.ndarray, float]:
        """Integer labels, one per image, each a training class; and predict's wall time."""
        started = time.perf_counter()
        predicted = np.asarray(self.model.predict(x_test))
        seconds = time.perf_counter() - started
        return self._labels(predicted, len(x_test), classes), seconds

    def predict_proba(self, x_test: np.ndarray,
                      index: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        """float32 probabilities, one finite row per image of ``x_test`` (those at ``index``
        only, if given); and predict_proba's wall time."""
        started = time.perf_counter()
        probabilities = self.model.predict_proba(x_test if index is None else x_test[index])
        seconds = time.perf_counter() - started
        n = len(x_test) if index is None else len(index)
        return self._probabilities(probabilities, n), seconds

    def size_bytes(self) -> int | None:
        """The fitted model's size: its own figure, else its pickle's (a proxy for what
        deploying it would cost); None if it cannot be pickled."""
        if self.offers.size_bytes:
            return int(self.model.size_bytes())
        counter = ByteCounter()
        try:
            pickle.dump(self.model, counter, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            return None
        return counter.size

    def runtime_info(self) -> dict[str, Any]:
        if not self.offers.runtime_info:
            return {}
        info = self.model.runtime_info()
        if not isinstance(info, Mapping):
            raise ContractError(f"{self.where}runtime_info() returned {type(info).__name__}, "
                                "not a dict")
        return dict(info)

    def _labels(self, predicted: np.ndarray, n: int, classes: np.ndarray) -> np.ndarray:
        where = f"{self.where}predict()"
        if predicted.shape != (n,):
            raise ContractError(f"{where} returned shape {predicted.shape} for {n} test images; "
                                f"it must return one label per image, shape ({n},)")
        if predicted.dtype.kind == "f" and np.all(np.isfinite(predicted)) and np.all(
                predicted == np.round(predicted)):
            predicted = predicted.astype(np.int64)  # whole-number floats are labels too
        if predicted.dtype.kind not in "iu":
            raise ContractError(f"{where} returned {predicted.dtype} values, not integer class "
                                f"labels (first: {predicted[:3].tolist()})")
        unknown = np.setdiff1d(predicted, classes)
        if len(unknown):
            raise ContractError(f"{where} returned labels never seen in training: "
                                f"{unknown[:5].tolist()}")
        return predicted

    def _probabilities(self, probabilities: Any, n: int) -> np.ndarray:
        where = f"{self.where}predict_proba()"
        try:
            values = np.asarray(probabilities, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise ContractError(f"{where} returned {type(probabilities).__name__}, not an "
                                f"array of probabilities ({error})") from error
        if values.ndim != 2 or len(values) != n:
            raise ContractError(f"{where} returned shape {values.shape} for {n} images; it must "
                                f"return one row of class probabilities per image")
        if not np.all(np.isfinite(values)):
            raise ContractError(f"{where} returned {int(np.sum(~np.isfinite(values)))} NaN or "
                                "infinite probabilities")
        return values


class ByteCounter:
    """A file that only counts what is written: sizes a pickle without holding it."""

    size = 0

    def write(self, data: bytes | memoryview) -> int:
        size = memoryview(data).nbytes  # protocol 5 hands over array buffers as memoryviews
        self.size += size
        return size
