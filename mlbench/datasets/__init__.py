"""Datasets: the arrays every job shares, cached as .npy files that workers memory-map.

Each cache folder holds a manifest (shape, dtype and SHA-256 of every array) written with
the arrays, so a truncated, replaced or bit-flipped cache is caught when it is opened and
rebuilt, never trained on.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

ARRAYS = ("x_train", "y_train", "x_test", "y_test")
MANIFEST = "manifest.json"


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
    on_warning: Callable[[str], None] | None = None

    def warn(self, message: str) -> None:
        """One line for the user (the run's progress display, else stderr)."""
        if self.on_warning is not None:
            self.on_warning(message)
        else:
            print(f"mlbench: warning: {message}", file=sys.stderr, flush=True)


def cache_dir() -> Path:
    """Where mlbench keeps downloads and decoded arrays: $MLBENCH_CACHE_DIR, else the XDG
    user cache folder (~/.cache/mlbench on Linux)."""
    import platformdirs

    return Path(os.environ.get("MLBENCH_CACHE_DIR") or platformdirs.user_cache_dir("mlbench"))


def save_arrays(dataset: Dataset, folder: Path,
                origin: dict[str, str] | None = None) -> Dataset:
    """Write the four arrays and their manifest to ``folder`` atomically (all or nothing)
    and memory-map them. ``origin``: the SHA-256 of each file they were decoded from, kept in
    the manifest so a later run can tell whether the files it is given are the ones cached."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        manifest: dict[str, Any] = {"source": dataset.source, "origin": origin or {}}
        for array in ARRAYS:
            values = np.ascontiguousarray(getattr(dataset, array))
            np.save(staging / f"{array}.npy", values, allow_pickle=False)
            manifest[array] = {"shape": list(values.shape), "dtype": values.dtype.str,
                               "sha256": sha256_file(staging / f"{array}.npy")}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return load_arrays(folder, dataset)


def load_arrays(folder: Path, like: Dataset) -> Dataset:
    """Memory-map the arrays in ``folder``; raises ValueError if any is missing or
    unreadable, or differs from the manifest saved with it (shape, dtype or SHA-256)."""
    current = MANIFEST
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        arrays = {}
        for name in ARRAYS:
            current = f"{name}.npy"
            values = np.load(folder / current, mmap_mode="r", allow_pickle=False)
            expected = manifest[name]
            if list(values.shape) != expected["shape"] or values.dtype.str != expected["dtype"]:
                raise ValueError(f"holds {values.dtype.str} {list(values.shape)}, the manifest "
                                 f"says {expected['dtype']} {expected['shape']}")
            # Hashing the files (about 30 ms for full MNIST) catches what shapes cannot: a
            # flipped byte, or data overwritten in place.
            if sha256_file(folder / current) != expected["sha256"]:
                raise ValueError("does not match its SHA-256 in the manifest")
            arrays[name] = values
        source = manifest.get("source") or like.source
    except (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError) as error:
        # EOFError: an empty .npy file; KeyError, TypeError: a damaged manifest.
        reason = " ".join(f"{type(error).__name__}: {error}".split())
        raise ValueError(f"cached {like.name} arrays in {folder} are missing or unreadable "
                         f"({current}: {reason})") from error
    return replace(like, folder=folder, source=source, **arrays)


def cached_origin(folder: Path) -> dict[str, str]:
    """The SHA-256 of each file the cached arrays were decoded from ({} for a cache written
    before mlbench kept them)."""
    try:
        origin = json.loads((folder / MANIFEST).read_text()).get("origin")
    except (OSError, ValueError, AttributeError):
        return {}
    return origin if isinstance(origin, dict) else {}


def cached_arrays(
    folder: Path, like: Dataset, request: LoadRequest,
    shapes: dict[str, tuple[int, ...]] | None = None,
) -> Dataset | None:
    """The arrays cached in ``folder`` if they are intact (and of ``shapes``, if given), else
    None, for the loader to rebuild them. A folder that exists but is damaged is one warning;
    one that does not exist yet (the first run) is silent."""
    if not folder.exists():
        return None
    try:
        dataset = load_arrays(folder, like)
    except ValueError as error:
        request.warn(f"{error}; rebuilding them")
        return None
    for name, shape in (shapes or {}).items():
        if getattr(dataset, name).shape != shape:
            request.warn(f"cached {like.name} arrays in {folder} are not {like.name} ({name}.npy "
                         f"has shape {getattr(dataset, name).shape}, expected {shape}); "
                         "rebuilding them")
            return None
    return dataset


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file's bytes (the manifest's, and the Dask executor's check)."""
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


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
    the stratified subsets (None: all). Small to send; workers memory-map the files.

    ``validation_indices`` (into the training arrays) are held out of training: a grid's
    settings are chosen on them, never on the test set. ``load`` leaves them out of the
    training part; ``load_validation`` loads them."""

    folder: Path
    pixel_max: float
    train_indices: np.ndarray | None = None
    test_indices: np.ndarray | None = None
    validation_indices: np.ndarray | None = None

    def load(self, input_kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Scaled float32 images shaped for ``input_kind`` ('flat' or 'image'), and labels:
        the training part (without the validation images), then the test part."""
        # Not verified again here: the parent checked the manifest when it opened the cache.
        arrays = self._arrays()
        train = self.train_indices
        if self.validation_indices is not None:
            # Never train on a validation image, whatever subset the indices name.
            everything = np.arange(len(arrays["y_train"])) if train is None else train
            train = np.setdiff1d(everything, self.validation_indices)
        return (
            self._images(arrays["x_train"], train, input_kind),
            _take(arrays["y_train"], train).astype(np.int64),
            self._images(arrays["x_test"], self.test_indices, input_kind),
            _take(arrays["y_test"], self.test_indices).astype(np.int64),
        )

    def load_validation(self, input_kind: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The validation images (scaled and shaped as ``load``'s) and labels; None when the
        run holds none out."""
        if self.validation_indices is None:
            return None
        arrays = self._arrays()
        return (self._images(arrays["x_train"], self.validation_indices, input_kind),
                _take(arrays["y_train"], self.validation_indices).astype(np.int64))

    def _arrays(self) -> dict[str, np.ndarray]:
        return {a: np.load(self.folder / f"{a}.npy", mmap_mode="r", allow_pickle=False)
                for a in ARRAYS}

    def _images(self, array: np.ndarray, indices: np.ndarray | None,
                input_kind: str) -> np.ndarray:
        x = _take(array, indices).astype(np.float32)
        x *= np.float32(1.0 / self.pixel_max)
        return x.reshape(len(x), -1) if input_kind == "flat" else x[..., None]


def _take(array: np.ndarray, indices: np.ndarray | None) -> np.ndarray:
    return np.asarray(array if indices is None else array[indices])
