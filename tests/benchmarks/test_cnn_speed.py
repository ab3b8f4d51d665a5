"""CNN training throughput, side by side on one small slice of MNIST: the reference
notebook's Keras code (batch 32, float32) and each CNN plugin's defaults, plus the
matrix-multiply peaks they are measured against. Full-size figures come from
cnn_throughput.py (see BENCHMARKS.md). Run with: pytest tests/benchmarks --benchmark-only"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("tensorflow")

from tests.benchmarks.cnn_throughput import TRAIN_FLOP_PER_IMAGE
from tests.benchmarks.reference_notebook import notebook_model

IMAGES = 2048


@pytest.fixture(scope="module")
def slice_of_mnist(session_cache: Path) -> tuple[np.ndarray, np.ndarray]:
    from mlbench.datasets import LoadRequest
    from mlbench.datasets.builtin import load_mnist_5k

    data = load_mnist_5k(LoadRequest(cache_dir=session_cache))
    x = np.asarray(data.x_train[:IMAGES], dtype=np.float32)[..., None] / 255.0
    return x, np.asarray(data.y_train[:IMAGES], dtype=np.int64)


def _report(benchmark: Any) -> None:
    seconds = benchmark.stats.stats.median
    benchmark.extra_info["images_per_s"] = IMAGES / seconds
    benchmark.extra_info["gflop_per_s"] = IMAGES * TRAIN_FLOP_PER_IMAGE / seconds / 1e9


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_matmul_peak(benchmark: Any, dtype: str) -> None:
    import torch

    a = torch.rand(2048, 2048).to(getattr(torch, dtype))
    benchmark(torch.mm, a, a)
    benchmark.extra_info["gflop_per_s"] = 2 * 2048**3 / benchmark.stats.stats.median / 1e9


def test_reference_notebook_epoch(benchmark: Any, slice_of_mnist: Any) -> None:
    import keras

    x, y = slice_of_mnist
    keras.mixed_precision.set_dtype_policy("float32")
    model = notebook_model(keras)
    model.fit(x[:64], y[:64], verbose=0)  # trace once, as the plugins' set-up does
    benchmark.pedantic(lambda: model.fit(x, y, epochs=1, verbose=0), rounds=3)
    _report(benchmark)


@pytest.mark.parametrize("plugin", ["keras-cnn", "torch-cnn"])
def test_plugin_epoch(benchmark: Any, slice_of_mnist: Any, plugin: str) -> None:
    from mlbench.contract.registry import load_registry

    x, y = slice_of_mnist
    model = load_registry().models[plugin].cls(seed=0, epochs=1, monitor=False)
    model.prepare(x, y)
    benchmark.pedantic(lambda: model.fit(x, y), rounds=3)
    _report(benchmark)
    assert len(model.history_) == 3  # one entry per epoch, each round one epoch
