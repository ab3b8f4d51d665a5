"""What the Keras and PyTorch CNN plugins share: the architecture's recipe, its params and
the per-epoch history.

The reference is the classic introductory notebook: Conv2D 32 3x3 relu, Conv2D 64 3x3 relu,
MaxPool 2x2, Dropout 0.25, Flatten, Dense 128 relu, Dropout 0.5, Dense 10 softmax; Adam,
sparse categorical cross-entropy, 5 epochs, batch 32, float32, pixels in [0, 1].
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from mlbench import Model

# `--param NAME.recipe=reference` reproduces the notebook exactly.
REFERENCE = {"batch_size": 32, "learning_rate": 1e-3, "lr_schedule": "constant",
             "precision": "float32", "compile": False}
SCHEDULES = ("cosine", "constant")


class CNN(Model):
    """Base of both CNN plugins: resolves the recipe and keeps the training history."""

    input = "image"
    devices = ("cpu", "gpu")
    defaults = {
        "epochs": 5,
        "batch_size": 128,        # 4x the notebook's: fewer, larger steps use the cores better
        "learning_rate": 1e-3,    # Adam's default, the peak of the schedule
        "lr_schedule": "cosine",  # cosine decay to zero over all steps: steadier final epochs
        "precision": "auto",      # auto: bfloat16 where the hardware has it, else float32
        "compile": False,         # XLA / torch.compile: measured slower on CPU (BENCHMARKS.md)
        "recipe": "fast",         # "reference": the notebook's exact settings
        "monitor": True,          # test accuracy after each epoch, for learning curves
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if self.params["recipe"] not in ("fast", "reference"):
            raise ValueError(f"{self.name}: recipe must be 'fast' or 'reference', "
                             f"not {self.params['recipe']!r}")
        if self.params["recipe"] == "reference":
            self.params.update(REFERENCE)
        if self.params["lr_schedule"] not in SCHEDULES:
            raise ValueError(f"{self.name}: lr_schedule must be one of {', '.join(SCHEDULES)}, "
                             f"not {self.params['lr_schedule']!r}")
        if self.params["precision"] not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError(f"{self.name}: precision must be auto, float32, bfloat16 or "
                             f"float16, not {self.params['precision']!r}")
        self.history_: list[dict[str, Any]] = []
        self._epoch_started = 0.0
        self._train_seconds = 0.0
        self._eval_set: tuple[np.ndarray, np.ndarray] | None = None

    def total_steps(self, count: int) -> int:
        """Optimizer steps in the whole fit: what the learning-rate schedule decays over."""
        return int(self.params["epochs"]) * -(-count // int(self.params["batch_size"]))

    def begin_fit(self, eval_set: tuple[np.ndarray, np.ndarray] | None) -> None:
        """Remember the test set to score after each epoch (only if ``monitor`` is on)."""
        self._eval_set = eval_set if self.params["monitor"] else None

    def start_epoch(self) -> None:
        self._epoch_started = time.perf_counter()

    def end_epoch(self, loss: float, train_accuracy: float) -> None:
        """Log one epoch; test accuracy is measured after the clock for training stops."""
        seconds = time.perf_counter() - self._epoch_started
        self._train_seconds += seconds
        started = time.perf_counter()
        test_accuracy = None
        if self._eval_set is not None:
            test_accuracy = accuracy(self.predict_proba(self._eval_set[0]), self._eval_set[1])
        self.history_.append({
            "epoch": len(self.history_) + 1, "loss": float(loss),
            "train_accuracy": float(train_accuracy), "test_accuracy": test_accuracy,
            "epoch_seconds": seconds, "cumulative_train_seconds": self._train_seconds,
            "eval_seconds": time.perf_counter() - started,
        })

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.predict_proba(X).argmax(axis=1))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(probabilities.argmax(axis=1) == labels))
