"""Datasets: the arrays every job shares, cached as .npy files that workers memory-map."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

ARRAYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True)
class Dataset:
    """Images as stored (for example uint8, shape (n, height, width)) and integer labels.

    ``pixel_max`` is the value that scales to 1.0; ``source`` says where the arrays came from;
    ``folder`` is the folder of .npy files they are memory-mapped from, if any.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    pixel_max: float = 255.0
    source: str = ""
    folder: Path | None = None

    @property
    def image_shape(self) -> tuple[int, int]:
        height, width = self.x_train.shape[1:3]
        return int(height), int(width)

    @property
    def classes(self) -> list[int]:
        return sorted(int(label) for label in np.unique(self.y_train))


@dataclass(frozen=True)
class LoadRequest:
    """What a dataset loader is given: where to cache, where the user keeps data files (if
    anywhere), and whether to show download progress."""

    cache_dir: Path
    data_dir: Path | None = None
    progress: bool = True


def cache_dir() -> Path:
    """Where mlbench keeps downloads and decoded arrays: $MLBENCH_CACHE_DIR, else the XDG
    user cache folder (~/.cache/mlbench on Linux)."""
    import platformdirs

    return Path(os.environ.get("MLBENCH_CACHE_DIR") or platformdirs.user_cache_dir("mlbench"))


def save_arrays(dataset: Dataset, folder: Path) -> Dataset:
    """Write the four arrays to ``folder`` atomically (all or nothing) and memory-map them."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        for array in ARRAYS:
            np.save(staging / f"{array}.npy", np.ascontiguousarray(getattr(dataset, array)))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return load_arrays(folder, dataset)


def load_arrays(folder: Path, like: Dataset) -> Dataset:
    """Memory-map the arrays in ``folder``; raises ValueError if any is missing or unreadable."""
    try:
        arrays = {a: np.load(folder / f"{a}.npy", mmap_mode="r", allow_pickle=False)
                  for a in ARRAYS}
    except (OSError, ValueError, EOFError) as error:  # EOFError: an empty .npy file
        raise ValueError(f"cached arrays in {folder} are missing or unreadable: {error}") from error
    return replace(like, folder=folder, **arrays)


def stratified_indices(labels: np.ndarray, size: int | None, seed: int = 0) -> np.ndarray | None:
    """Indices of a deterministic stratified subset of ``size`` items, or None for all of them."""
    if size is None or size >= len(labels):
        return None
    from sklearn.model_selection import train_test_split

    indices = np.arange(len(labels))
    classes, counts = np.unique(labels, return_counts=True)
    left_out = len(labels) - size
    if left_out < len(classes):
        # train_test_split needs a class's worth on both sides; leave out fewer items than
        # there are classes by apportioning them to the classes (largest remainder).
        quotas = counts * left_out / len(labels)
        drops = np.floor(quotas).astype(int)
        drops[np.argsort(drops - quotas, kind="stable")[: left_out - drops.sum()]] += 1
        rng = np.random.default_rng(seed)
        dropped = [rng.choice(indices[labels == label], n, replace=False)
                   for label, n in zip(classes, drops, strict=True)]
        return np.setdiff1d(indices, np.concatenate(dropped))
    chosen, _ = train_test_split(indices, train_size=size, stratify=labels, random_state=seed)
    return np.sort(chosen)


@dataclass(frozen=True)
class DataRef:
    """What a worker needs to load its slice of a dataset: the .npy folder and the indices of
    the stratified subsets (None: all). Small to send; workers memory-map the files."""

    folder: Path
    pixel_max: float
    train_indices: np.ndarray | None = None
    test_indices: np.ndarray | None = None

    def load(self, input_kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Scaled float32 images shaped for ``input_kind`` ('flat' or 'image'), and labels."""
        arrays = {a: np.load(self.folder / f"{a}.npy", mmap_mode="r") for a in ARRAYS}

        def take(array: np.ndarray, indices: np.ndarray | None) -> np.ndarray:
            return np.asarray(array if indices is None else array[indices])

        def images(array: np.ndarray, indices: np.ndarray | None) -> np.ndarray:
            x = take(array, indices).astype(np.float32)
            x *= np.float32(1.0 / self.pixel_max)
            return x.reshape(len(x), -1) if input_kind == "flat" else x[..., None]

        return (
            images(arrays["x_train"], self.train_indices),
            take(arrays["y_train"], self.train_indices).astype(np.int64),
            images(arrays["x_test"], self.test_indices),
            take(arrays["y_test"], self.test_indices).astype(np.int64),
        )
