"""Full MNIST: found in a data folder or the cache, else downloaded from public mirrors with
checksums (pooch), decoded once from IDX into .npy files that later runs memory-map."""

from __future__ import annotations

import gzip
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from mlbench.datasets import Dataset, LoadRequest, cached_arrays, cached_origin, save_arrays
from mlbench.errors import DatasetUnavailable, UsageError

# The four files as the mirrors name them, their SHA-256, and the array each decodes to.
FILES = {
    "x_train": ("train-images-idx3-ubyte.gz",
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
    "y_train": ("train-labels-idx1-ubyte.gz",
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
    "x_test": ("t10k-images-idx3-ubyte.gz",
               "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
    "y_test": ("t10k-labels-idx1-ubyte.gz",
               "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
}
SHAPES = {"x_train": (60000, 28, 28), "y_train": (60000,), "x_test": (10000, 28, 28),
          "y_test": (10000,)}
# torchvision's mirror first, then the one TensorFlow's tutorials used, then the original.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
# Seconds to wait for a connection (an offline machine gives up fast) and between bytes.
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 30.0
HOW_TO_GET = (
    "put the four MNIST .gz files in a folder and set MLBENCH_DATA_DIR (or --data-dir) to it, "
    "or run once with network access"
)


def mirrors() -> list[str]:
    """Base URLs to try in order; MLBENCH_MNIST_MIRRORS (comma-separated) replaces the list."""
    override = os.environ.get("MLBENCH_MNIST_MIRRORS")
    urls = override.split(",") if override else MIRRORS
    return [url.strip().rstrip("/") + "/" for url in urls if url.strip()]


def load_mnist(request: LoadRequest) -> Dataset:
    """The full 60,000/10,000 MNIST, memory-mapped from ``<cache>/mnist/arrays``. A data
    folder the user names is the data that runs: its four files must be MNIST's (else one
    line), and the cache is used only where it was decoded from those very files."""
    cache, data_dir, progress = request.cache_dir, request.data_dir, request.progress
    folder = cache / "mnist" / "arrays"
    given = _check_data_dir(data_dir) if data_dir is not None else None
    empty = Dataset("mnist", *(np.empty(0),) * 4)
    cached = cached_arrays(folder, empty, request, SHAPES)
    origin = {filename: sha256 for filename, sha256 in FILES.values()}
    decoded_from = cached_origin(folder)
    # A cache from before mlbench kept its origin is trusted only where nothing else is named.
    if cached is not None and (decoded_from == origin or (not decoded_from and given is None)):
        if given is None:
            return replace(cached, source=f"{cached.source or 'MNIST'} (cached in {folder})")
        return replace(cached, source=f"IDX files in {data_dir} (SHA-256 checked; the same "
                                      f"files' arrays cached in {folder})")
    # Missing, damaged or decoded from other files: rebuilt below from verified .gz files.
    dead_mirrors: set[str] = set()  # unreachable: don't wait on them again for the next file
    gz_files = given or {a: _fetch(a, cache / "mnist", progress, dead_mirrors) for a in FILES}
    decoded = {array: read_idx(path) for array, path in gz_files.items()}
    for array, values in decoded.items():
        if values.shape != SHAPES[array]:
            raise DatasetUnavailable(f"{gz_files[array]} decodes to shape {values.shape}, "
                                     f"expected {SHAPES[array]}")
    where = {str(path.parent) for path in gz_files.values()}
    dataset = Dataset("mnist", decoded["x_train"], decoded["y_train"], decoded["x_test"],
                      decoded["y_test"], source=f"IDX files in {', '.join(sorted(where))}")
    return save_arrays(dataset, folder, origin)


def read_idx(path: Path) -> np.ndarray:
    """Decode one gzipped IDX file (the MNIST format: big-endian dims, then uint8 data)."""
    with gzip.open(path, "rb") as stream:
        data = stream.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DatasetUnavailable(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _check_data_dir(data_dir: Path) -> dict[str, Path]:
    """The four files of the folder the user named, each checked against MNIST's SHA-256
    (about 30 ms in all), or a one-line UsageError saying what is wrong with the folder."""
    import pooch

    files = {}
    names = ", ".join(filename for filename, _ in FILES.values())
    for array, (filename, sha256) in FILES.items():
        candidate = data_dir / filename
        if not candidate.is_file():
            raise UsageError(f"{data_dir} has no {filename}; the MNIST data folder needs "
                             f"all four files ({names}), or leave out --data-dir / "
                             "MLBENCH_DATA_DIR to use the cache or a download")
        if not pooch.file_hash(str(candidate)) == sha256:
            raise UsageError(f"{candidate} does not match MNIST's SHA-256 checksum (other "
                             "data in MNIST's format runs as a dataset plugin: docs/datasets.md);"
                             " replace it with the original file")
        files[array] = candidate
    return files


def _fetch(array: str, cache: Path, progress: bool, dead_mirrors: set[str]) -> Path:
    """A verified .gz for ``array``: from the cache, else from a mirror."""
    import pooch

    filename, sha256 = FILES[array]
    cached = cache / filename
    if cached.exists() and pooch.file_hash(str(cached)) == sha256:
        return cached
    return _download(filename, sha256, cache, progress, dead_mirrors)


def _download(
    filename: str, sha256: str, cache: Path, progress: bool, dead_mirrors: set[str]
) -> Path:
    import pooch
    import requests

    pooch.get_logger().setLevel("WARNING")
    failures = []
    for base in mirrors():
        if base in dead_mirrors:
            continue
        bar = progress and sys.stderr.isatty()
        if progress and not bar:
            print(f"mlbench: downloading {filename} from {base}", file=sys.stderr, flush=True)
        downloader = pooch.HTTPDownloader(
            progressbar=bar, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)
        )
        try:
            # pooch streams to a temporary file and moves it into place only once the
            # checksum matches, so no partial or corrupt file is ever left in the cache.
            path = pooch.retrieve(base + filename, known_hash=f"sha256:{sha256}",
                                  fname=filename, path=cache, downloader=downloader)
            return Path(path)
        except ValueError as error:  # checksum mismatch: this mirror serves a bad copy
            failures.append(f"{base}: {str(error).splitlines()[0]}")
        except (requests.RequestException, OSError) as error:
            dead_mirrors.add(base)
            failures.append(f"{base}: {type(error).__name__}")
    raise DatasetUnavailable(f"could not download {filename} ({'; '.join(failures)}); "
                             + HOW_TO_GET)
