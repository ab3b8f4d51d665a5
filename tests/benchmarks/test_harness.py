"""Benchmarks of mlbench's own costs: loading MNIST from the cache, and the harness's
overhead per job. Run with: pytest tests/benchmarks --benchmark-only"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import mlbench
from mlbench.datasets import LoadRequest
from mlbench.datasets.mnist import load_mnist
from tests.conftest import FULL_MNIST, needs_full_mnist


@pytest.fixture(scope="module")
def mnist_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("bench-cache")
    load_mnist(LoadRequest(cache_dir=cache, data_dir=FULL_MNIST, progress=False))  # decode once
    return cache


@needs_full_mnist
def test_load_full_mnist_from_npy_cache(benchmark: Any, mnist_cache: Path) -> None:
    """Open the cached arrays and bring all 70,000 images into memory."""
    request = LoadRequest(cache_dir=mnist_cache, progress=False)

    def load() -> int:
        dataset = load_mnist(request)
        arrays = [np.array(getattr(dataset, a)) for a in ("x_train", "y_train", "x_test",
                                                             "y_test")]
        return sum(a.nbytes for a in arrays)

    loaded_bytes = benchmark(load)
    assert loaded_bytes == 70000 * 28 * 28 + 70000


def test_harness_overhead_per_job(benchmark: Any, tmp_path: Path) -> None:
    """A whole run of one tiny job: everything but fit and predict is the harness's cost."""
    runs = iter(range(1000))
    frames = []

    def one_run() -> None:
        frames.append(mlbench.run(models=["naive-bayes"], dataset="digits", output_dir=tmp_path,
                                  name=f"r{next(runs)}", train_size=200, test_size=100).frame)

    benchmark.pedantic(one_run, rounds=3, iterations=1, warmup_rounds=1)
    work = [float(f["fit_seconds"].iloc[0] + f["predict_seconds"].iloc[0]) for f in frames]
    benchmark.extra_info["median_fit_plus_predict_s"] = float(np.median(work))
    assert all(f["status"].iloc[0] == "ok" for f in frames)
