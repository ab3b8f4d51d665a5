"""Driving a model through its steps the one way mlbench does, and checking what it returns.

The steps, in order: build the model from ``seed``, ``device`` and its params; seed the
global generators; ``prepare`` (framework start-up) if it offers it; ``fit``, given the test
set as ``eval_set`` if it takes one (for learning curves, never for fitting); ``predict``;
``predict_proba`` if it offers probabilities, or both from one call where it offers
``predict_and_proba``. The worker times each step and records it; ``check_model`` adds the
contract's checks on top. What a model offers is asked of ``capabilities`` alone, before
fitting and again after.

Fit runs once. A prediction the worker reports is timed over as many calls as it takes to
be longer than the timer's and the scheduler's noise (``timed_calls``); only the first call's
output is ever used, so a model whose later calls differ (state kept between calls, random
predictions) is scored on what it gave first.
"""

from __future__ import annotations

import gc
import pickle
import random
import statistics
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlbench.contract.model import Capabilities, capabilities
from mlbench.results.record import EpochRecord, read_history

DataSet = tuple[np.ndarray, np.ndarray]

# A call shorter than this is timed again, over as many calls as fill it (timeit's
# autorange: batches of 1, 2, 5, 10, 20, ... calls), in BATCHES batches of at least
# BATCH_SECONDS each; a longer call is timed once.
SHORT_SECONDS = 0.2
BATCHES = 3  # batches of calls behind a short call's time: its median, and their spread
BATCH_SECONDS = SHORT_SECONDS / BATCHES


class ContractError(Exception):
    """A model returned something the harness cannot score."""


@dataclass(frozen=True)
class Fitted:
    """What ``fit`` returned and how long it took."""

    returned: Any
    seconds: float  # wall time
    cpu_seconds: float  # every thread of this process


@dataclass(frozen=True)
class Timing:
    """How long one call of a step took: ``seconds`` per call, over ``calls`` calls."""

    seconds: float  # one call's wall time, or the median over batches of batch time / calls
    calls: int = 1  # calls behind ``seconds``: 1 when one call was long enough to time alone
    spread: float | None = None  # (max - min) / median of the batches' per-call times


def timed_calls(call: Callable[[], Any], repeat: bool = True,
                what: str = "the call") -> tuple[Any, Timing]:
    """``call()``'s result, from its first call, and its time. Where ``repeat`` and that
    call took under ``SHORT_SECONDS``, it is called again in batches (results dropped) of
    the first size in 1, 2, 5, 10, 20, ... whose batch takes at least ``BATCH_SECONDS``,
    until ``BATCHES`` such batches, together at least ``SHORT_SECONDS``, are timed; the time
    per call is the median over them.
    Calibration starts at the size the first call suggests, so it costs at most a batch or
    two more; the garbage collector waits while batches run, as in timeit. Where a repeated
    call raises, a warning names ``what`` and the first call is timed alone."""
    started = time.perf_counter()
    result = call()
    first = time.perf_counter() - started
    if not repeat or first >= SHORT_SECONDS:
        return result, Timing(first)
    size = batch_size(first)
    per_call: list[float] = []
    enabled = gc.isenabled()
    gc.disable()
    try:
        while len(per_call) < BATCHES:
            started = time.perf_counter()
            for _ in range(size):
                call()
            seconds = time.perf_counter() - started
            # Calibrated once a batch is long enough; after that every batch counts (one
            # that came out shorter is the calls speeding up, not a batch too small).
            if seconds >= BATCH_SECONDS or per_call:
                per_call.append(seconds / size)
            else:
                size = next_size(size)
    except Exception as error:  # the first call's result stands; only its timing is lost
        warnings.warn(f"{what} raised {type(error).__name__} when called again to time it "
                      f"({error}): timed once", stacklevel=2)
        return result, Timing(first)
    finally:
        if enabled:
            gc.enable()
    median = statistics.median(per_call)
    spread = (max(per_call) - min(per_call)) / median if median > 0 else 0.0
    return result, Timing(median, size * len(per_call), spread)


def next_size(size: int) -> int:
    """The batch size after ``size`` in 1, 2, 5, 10, 20, 50, ..."""
    scale = 1
    while size >= 10 * scale:
        scale *= 10
    return {1: 2, 2: 5}.get(size // scale, 10) * scale


def batch_size(first_seconds: float) -> int:
    """The largest of 1, 2, 5, 10, ... calls that the first call's time says stays under
    ``BATCH_SECONDS``: a smaller batch would only be too short, since later calls are rarely
    slower than the first (which warms the caches); not a larger one, in case they are."""
    size, first_seconds = 1, max(first_seconds, 1e-6)  # a clock's 0 is not a free call
    while next_size(size) * first_seconds < BATCH_SECONDS:
        size = next_size(size)
    return size


def repeat_seconds(call_seconds: float) -> float:
    """What ``timed_calls`` spends beyond the first call on a call of ``call_seconds`` (every
    call that long): the calibration batch, then ``BATCHES`` batches; 0 for a long call."""
    if call_seconds >= SHORT_SECONDS:
        return 0.0
    calibration = batch_size(call_seconds)
    return call_seconds * (calibration + BATCHES * next_size(calibration))


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

    def predict(self, x_test: np.ndarray, classes: np.ndarray, *,
                repeat: bool = False) -> tuple[np.ndarray, Timing]:
        """Integer labels, one per image, each a training class; and predict's wall time,
        over repeated calls if ``repeat`` and one was short (``timed_calls``)."""
        predicted, timing = timed_calls(lambda: np.asarray(self.model.predict(x_test)), repeat,
                                        f"{self.where}predict()")
        return self._labels(predicted, len(x_test), classes), timing

    def predict_proba(self, x_test: np.ndarray, index: np.ndarray | None = None, *,
                      repeat: bool = False) -> tuple[np.ndarray, Timing]:
        """float32 probabilities, one finite row per image of ``x_test`` (those at ``index``
        only, if given); and predict_proba's wall time, as ``predict``'s."""
        images = x_test if index is None else x_test[index]
        probabilities, timing = timed_calls(lambda: self.model.predict_proba(images), repeat,
                                            f"{self.where}predict_proba()")
        return self._probabilities(probabilities, len(images)), timing

    def predict_and_proba(self, x_test: np.ndarray, classes: np.ndarray, *,
                          repeat: bool = False) -> tuple[np.ndarray, np.ndarray, Timing]:
        """Labels and probabilities from one call of a model that offers
        ``predict_and_proba`` (k-NN: one neighbour search for both), checked as ``predict``'s
        and ``predict_proba``'s are; and that call's wall time, as ``predict``'s."""
        returned, timing = timed_calls(lambda: self.model.predict_and_proba(x_test), repeat,
                                       f"{self.where}predict_and_proba()")
        if not isinstance(returned, tuple | list) or len(returned) != 2:
            raise ContractError(f"{self.where}predict_and_proba() returned "
                                f"{type(returned).__name__}; it must return a pair "
                                "(labels, probabilities)")
        labels = self._labels(np.asarray(returned[0]), len(x_test), classes)
        return labels, self._probabilities(returned[1], len(x_test)), timing

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
