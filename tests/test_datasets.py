"""The dataset layer against real files, real caches and real (local) HTTP mirrors.

Nothing of mlbench is mocked. Decoding, caching, checksums and downloads are checked on small
synthetic MNIST files (real gzipped IDX files of a few hundred random images, with their own
SHA-256; the ``synthetic_mnist`` fixture points mlbench's table of MNIST files at them), served
from HTTP servers on 127.0.0.1 where a test downloads. One test takes the canonical full MNIST
through the same path (``test_full_mnist_through_the_real_path``, opt-in: MLBENCH_DATA_DIR).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import json
import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import Result

from mlbench.datasets import (
    ARRAYS,
    MANIFEST,
    DataRef,
    Dataset,
    LoadRequest,
    cache_dir,
    load_arrays,
    mnist,
    save_arrays,
    stratified_indices,
)
from mlbench.datasets.builtin import load_digits, load_mnist_5k
from mlbench.datasets.mnist import FILES, SHAPES, load_mnist, mirrors, read_idx
from mlbench.errors import DatasetUnavailable, UsageError
from tests.conftest import FULL_MNIST, assert_one_line_error, needs_full_mnist

FILENAMES = [filename for filename, _ in FILES.values()]
# A few hundred images: every step of the real path, at a thousandth of MNIST's cost.
SYNTHETIC_SHAPES = {"x_train": (300, 28, 28), "y_train": (300,), "x_test": (100, 28, 28),
                    "y_test": (100,)}


# --------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def private_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every test gets its own cache; no user setting or proxy leaks in."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("MLBENCH_CACHE_DIR", str(cache))
    for name in ("MLBENCH_DATA_DIR", "MLBENCH_MNIST_MIRRORS", "MLBENCH_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    # The local mirrors must be reached directly, never through a proxy.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return cache


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    position = len(data) // 2 if offset is None else offset
    data[position] ^= 0xFF
    path.write_bytes(bytes(data))


def write_idx(path: Path, values: np.ndarray) -> None:
    """A gzipped IDX file as MNIST's are: magic 0x00 0x00 0x08 (unsigned byte) and the number
    of dimensions, each dimension as a big-endian 32-bit size, then the bytes."""
    header = bytes([0, 0, 0x08, values.ndim]) + b"".join(
        size.to_bytes(4, "big") for size in values.shape)
    with gzip.GzipFile(path, "wb", mtime=0) as stream:  # mtime 0: the same bytes every time
        stream.write(header + values.astype(np.uint8).tobytes())


@dataclass(frozen=True)
class SyntheticMnist:
    """Four MNIST-named IDX files of random images and every label, with their SHA-256."""

    folder: Path
    arrays: dict[str, np.ndarray]

    @property
    def files(self) -> dict[str, tuple[str, str]]:
        return {array: (filename, sha256(self.folder / filename))
                for array, (filename, _) in FILES.items()}

    @property
    def sha256(self) -> dict[str, str]:
        return dict(self.files.values())


@pytest.fixture(scope="module")
def synthetic_files(tmp_path_factory: pytest.TempPathFactory) -> SyntheticMnist:
    """Written once per module; tests copy them where they alter or serve them."""
    folder = tmp_path_factory.mktemp("synthetic-mnist")
    rng = np.random.default_rng(10)
    arrays = {}
    for array, shape in SYNTHETIC_SHAPES.items():
        if array.startswith("x_"):
            values = rng.integers(0, 256, size=shape, dtype=np.uint8)
        else:
            values = rng.permutation(np.arange(shape[0]) % 10).astype(np.uint8)
        arrays[array] = values
        write_idx(folder / FILES[array][0], values)
    for path in folder.iterdir():
        path.chmod(0o444)  # a test that altered the originals would break the others
    return SyntheticMnist(folder, arrays)


@pytest.fixture
def synthetic_mnist(synthetic_files: SyntheticMnist,
                    monkeypatch: pytest.MonkeyPatch) -> SyntheticMnist:
    """The synthetic files as mlbench's MNIST: its table of file names and SHA-256s and its
    expected shapes point at them for this test; the loading code runs unchanged."""
    monkeypatch.setattr(mnist, "FILES", synthetic_files.files)
    monkeypatch.setattr(mnist, "SHAPES", SYNTHETIC_SHAPES)
    return synthetic_files


def copy_files(source: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for name in FILENAMES:
        shutil.copyfile(source / name, target / name)
        (target / name).chmod(0o644)
    return target


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_clean_mnist_cache(cache: Path, expected_sha256: dict[str, str]) -> None:
    """Only verified .gz files and the four decoded arrays: no temp, partial or bad file."""
    allowed_dirs = {cache / "mnist", cache / "mnist" / "arrays"}
    for path in sorted(cache.rglob("*")):
        if path.is_dir():
            assert path in allowed_dirs, f"unexpected folder left in the cache: {path}"
        elif path.parent == cache / "mnist":
            assert path.name in expected_sha256, f"unexpected file left in the cache: {path}"
            assert sha256(path) == expected_sha256[path.name], (
                f"corrupt file left in the cache: {path}")
        else:
            assert path.parent == cache / "mnist" / "arrays", f"unexpected file: {path}"
            assert path.name in {f"{a}.npy" for a in ARRAYS} | {MANIFEST}, (
                f"unexpected file: {path}")


def assert_decoded(dataset: Dataset, expected: dict[str, np.ndarray]) -> None:
    """The dataset mlbench built is the files' arrays, memory-mapped from the cache."""
    assert dataset.name == "mnist"
    for array in ARRAYS:
        values = getattr(dataset, array)
        assert isinstance(values, np.memmap), f"{array} is not memory-mapped"
        assert values.shape == expected[array].shape
        assert values.dtype == np.uint8
        np.testing.assert_array_equal(values, expected[array])
    assert dataset.folder is not None and dataset.folder.is_dir()
    assert dataset.image_shape == (28, 28)
    assert dataset.classes == list(range(10))


# --------------------------------------------------------------------------- HTTP mirrors


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder and records every GET path on its server."""

    def do_GET(self) -> None:
        self.server.gets.append(self.path)  # type: ignore[attr-defined]
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


class TruncatingHandler(CountingHandler):
    """Announces the full length of a file, sends half of it, and hangs up."""

    def do_GET(self) -> None:
        self.server.gets.append(self.path)  # type: ignore[attr-defined]
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True


@dataclass
class Mirror:
    url: str
    gets: list[str]


@pytest.fixture
def serve() -> Iterator[Callable[..., Mirror]]:
    """Start HTTP servers on 127.0.0.1 (port 0) serving a folder; all stop at the end."""
    servers: list[tuple[http.server.ThreadingHTTPServer, threading.Thread]] = []

    def start(folder: Path, handler: type[CountingHandler] = CountingHandler) -> Mirror:
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler, directory=str(folder))
        )
        server.daemon_threads = True
        server.gets = []  # type: ignore[attr-defined]
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        servers.append((server, thread))
        host, port = server.server_address[:2]
        return Mirror(f"http://{host}:{port}", server.gets)  # type: ignore[attr-defined]

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class StalledMirror:
    """Accepts TCP connections on 127.0.0.1 and never answers a byte."""

    url: str
    connections: list[socket.socket] = field(default_factory=list)


@pytest.fixture
def stalled_mirror() -> Iterator[StalledMirror]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.1)
    mirror = StalledMirror(f"http://127.0.0.1:{listener.getsockname()[1]}/")
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            mirror.connections.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield mirror
    stop.set()
    thread.join(timeout=5)
    listener.close()
    for connection in mirror.connections:
        connection.close()


# --------------------------------------------------------------------------- read_idx


@needs_full_mnist
@pytest.mark.full_mnist
def test_full_mnist_through_the_real_path(tmp_path: Path) -> None:
    """The one full-size test: the canonical files pass MNIST's real SHA-256s, decode to
    60,000 + 10,000 images that look like MNIST, and load again from the .npy cache."""
    request = LoadRequest(cache_dir=tmp_path / "cache", data_dir=FULL_MNIST, progress=False)
    dataset = load_mnist(request)
    assert dataset.folder == tmp_path / "cache" / "mnist" / "arrays"
    for array, shape in SHAPES.items():
        values = getattr(dataset, array)
        assert isinstance(values, np.memmap) and values.dtype == np.uint8
        assert values.shape == shape
    for labels, first in ((dataset.y_train, [5, 0, 4, 1, 9]), (dataset.y_test, [7, 2, 1, 0, 4])):
        assert labels[:5].tolist() == first  # MNIST's well-known first labels
        # Every digit is well represented (at least ~8% of each split).
        assert np.bincount(labels, minlength=10).min() > 0.08 * len(labels)
    for images in (dataset.x_train, dataset.x_test):
        assert images.max() == 255 and images.min() == 0
        # Digits are drawn in the middle: the borders are (almost) blank, the centre is not.
        assert images[:, 0, :].mean() < 0.1 and images[:, 12:16, 12:16].mean() > 50
    assert str(FULL_MNIST) in dataset.source
    stamp = {p.name: p.stat().st_mtime_ns for p in dataset.folder.iterdir()}
    again = load_mnist(request)
    assert again.folder == dataset.folder
    assert {p.name: p.stat().st_mtime_ns for p in again.folder.iterdir()} == stamp
    np.testing.assert_array_equal(again.y_test, dataset.y_test)


@pytest.mark.parametrize("array", ARRAYS)
def test_read_idx_decodes_mnist_format_files(synthetic_files: SyntheticMnist,
                                             array: str) -> None:
    values = read_idx(synthetic_files.folder / FILES[array][0])
    assert values.dtype == np.uint8 and values.shape == SYNTHETIC_SHAPES[array]
    np.testing.assert_array_equal(values, synthetic_files.arrays[array])


def test_read_idx_reads_a_small_idx_file(tmp_path: Path) -> None:
    values = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 0x08, 3]) + b"".join(d.to_bytes(4, "big") for d in values.shape)
    path = tmp_path / "small-idx3-ubyte.gz"
    with gzip.open(path, "wb") as stream:
        stream.write(header + values.tobytes())
    np.testing.assert_array_equal(read_idx(path), values)


@pytest.mark.parametrize("header", [b"", b"\x00\x00", bytes([0, 0, 0x0D, 1]),
                                    bytes([1, 0, 0x08, 1])])
def test_read_idx_rejects_files_that_are_not_unsigned_byte_idx(
    tmp_path: Path, header: bytes
) -> None:
    path = tmp_path / "bad.gz"
    with gzip.open(path, "wb") as stream:
        stream.write(header + bytes(16))
    with pytest.raises(DatasetUnavailable, match="not an unsigned-byte IDX file"):
        read_idx(path)


def test_files_that_decode_to_the_wrong_shape_are_refused(
    tmp_path: Path, synthetic_mnist: SyntheticMnist, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mnist, "SHAPES", SHAPES)  # expect full MNIST's 60,000 images
    with pytest.raises(DatasetUnavailable, match=r"decodes to shape \(300, 28, 28\), "
                                                 r"expected \(60000, 28, 28\)"):
        load_mnist(LoadRequest(cache_dir=tmp_path / "cache", data_dir=synthetic_mnist.folder,
                               progress=False))
    assert not (tmp_path / "cache" / "mnist" / "arrays").exists()


# --------------------------------------------------------------------------- load_mnist: local


def test_load_mnist_from_data_dir_then_from_the_npy_cache(
    tmp_path: Path, synthetic_mnist: SyntheticMnist
) -> None:
    cache = tmp_path / "cache"
    request = LoadRequest(cache_dir=cache, data_dir=synthetic_mnist.folder, progress=False)

    first = load_mnist(request)
    assert_decoded(first, synthetic_mnist.arrays)
    arrays = cache / "mnist" / "arrays"
    assert first.folder == arrays
    assert sorted(p.name for p in arrays.iterdir()) == sorted(
        [f"{a}.npy" for a in ARRAYS] + [MANIFEST])
    assert str(synthetic_mnist.folder) in first.source
    # The data folder's files are used in place, not copied into the cache.
    assert not any((cache / "mnist" / name).exists() for name in FILENAMES)
    stamp = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in arrays.iterdir()}
    folder_inode = arrays.stat().st_ino

    second = load_mnist(request)
    assert_decoded(second, synthetic_mnist.arrays)
    assert second.folder == arrays
    # Loaded from the cache: the .npy files were not rewritten (save_arrays would replace
    # the whole folder with a fresh one).
    assert arrays.stat().st_ino == folder_inode
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in arrays.iterdir()} == stamp
    for array in ARRAYS:
        assert os.path.samefile(getattr(second, array).filename, arrays / f"{array}.npy")


@pytest.mark.parametrize(
    ("array", "damage"),
    [
        ("x_train", "truncate-data"),   # header intact, data cut short
        ("y_test", "truncate-header"),  # cut inside the .npy header
        ("y_train", "empty"),           # zero bytes, as after a crash or a full disk
        ("x_test", "wrong-shape"),      # a valid .npy, but not the right array
        ("y_test", "missing"),
        ("x_train", "flipped-byte"),    # one byte of pixel data changed in place
        ("y_train", "garbage"),         # the whole file overwritten with random bytes
        ("x_test", "manifest"),         # the manifest itself damaged
    ],
)
def test_load_mnist_rebuilds_a_damaged_npy_cache(
    tmp_path: Path, synthetic_mnist: SyntheticMnist, array: str, damage: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    cache = tmp_path / "cache"
    request = LoadRequest(cache_dir=cache, data_dir=synthetic_mnist.folder, progress=False)
    first = load_mnist(request)
    folder_inode = first.folder.stat().st_ino  # type: ignore[union-attr]
    del first  # release the memory maps before damaging the files
    target = cache / "mnist" / "arrays" / f"{array}.npy"
    if damage == "missing":
        target.unlink()
    elif damage == "wrong-shape":
        np.save(target, np.zeros((10, 28, 28), dtype=np.uint8))
    elif damage == "flipped-byte":
        flip_byte(target)
    elif damage == "garbage":
        target.write_bytes(np.random.default_rng(0).bytes(target.stat().st_size))
    elif damage == "manifest":
        (target.parent / MANIFEST).write_text("{not json")
    else:
        size = {"truncate-data": target.stat().st_size // 2, "truncate-header": 40,
                "empty": 0}[damage]
        with open(target, "r+b") as stream:
            stream.truncate(size)

    capsys.readouterr()
    rebuilt = load_mnist(request)
    assert_decoded(rebuilt, synthetic_mnist.arrays)
    assert rebuilt.folder is not None
    assert rebuilt.folder.stat().st_ino != folder_inode, "the cache was not rebuilt"
    assert_clean_mnist_cache(cache, synthetic_mnist.sha256)
    # One line says so, naming what was wrong.
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith(
        f"mlbench: warning: cached mnist arrays in {cache / 'mnist' / 'arrays'} are "), warning
    assert warning[0].endswith("; rebuilding them")
    assert (MANIFEST if damage == "manifest" else f"{array}.npy") in warning[0]


@pytest.mark.parametrize("bad", FILENAMES)
def test_data_dir_file_with_a_wrong_checksum_is_a_usage_error(
    tmp_path: Path, synthetic_mnist: SyntheticMnist, bad: str
) -> None:
    data_dir = copy_files(synthetic_mnist.folder, tmp_path / "data")
    flip_byte(data_dir / bad)
    cache = tmp_path / "cache"
    with pytest.raises(UsageError) as caught:
        load_mnist(LoadRequest(cache_dir=cache, data_dir=data_dir, progress=False))
    message = str(caught.value)
    assert bad in message
    assert "checksum" in message
    assert not (cache / "mnist" / "arrays").exists()


def test_data_dir_missing_a_file_is_a_usage_error(
    tmp_path: Path, synthetic_mnist: SyntheticMnist
) -> None:
    data_dir = copy_files(synthetic_mnist.folder, tmp_path / "data")
    (data_dir / "t10k-labels-idx1-ubyte.gz").unlink()
    cache = tmp_path / "cache"
    with pytest.raises(UsageError) as caught:
        load_mnist(LoadRequest(cache_dir=cache, data_dir=data_dir, progress=False))
    message = str(caught.value)
    assert "t10k-labels-idx1-ubyte.gz" in message
    assert str(data_dir) in message
    assert not (cache / "mnist" / "arrays").exists()


def test_data_dir_that_is_empty_names_the_first_missing_file(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match=r"train-images-idx3-ubyte\.gz"):
        load_mnist(LoadRequest(cache_dir=tmp_path / "cache", data_dir=tmp_path / "empty",
                               progress=False))


# --------------------------------------------------------------------------- mirrors


def test_mirrors_default_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    assert mirrors() == list(mnist.MIRRORS)
    assert all(url.endswith("/") for url in mirrors())
    monkeypatch.setenv("MLBENCH_MNIST_MIRRORS", " http://a.example/x , http://b.example/y/,, ")
    assert mirrors() == ["http://a.example/x/", "http://b.example/y/"]
    monkeypatch.setenv("MLBENCH_MNIST_MIRRORS", "")
    assert mirrors() == list(mnist.MIRRORS)


def test_download_from_a_local_mirror(
    tmp_path: Path, synthetic_mnist: SyntheticMnist,
    serve: Callable[..., Mirror], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    mirror = serve(synthetic_mnist.folder)
    monkeypatch.setenv("MLBENCH_MNIST_MIRRORS", mirror.url)
    cache = tmp_path / "cache"

    dataset = load_mnist(LoadRequest(cache_dir=cache, progress=True))

    assert_decoded(dataset, synthetic_mnist.arrays)
    assert sorted(mirror.gets) == sorted(f"/{name}" for name in FILENAMES)
    for name in FILENAMES:
        assert sha256(cache / "mnist" / name) == synthetic_mnist.sha256[name]
    assert str(cache / "mnist") in dataset.source
    assert_clean_mnist_cache(cache, synthetic_mnist.sha256)
    err = capsys.readouterr().err  # stderr is not a terminal here: one line per file
    for name in FILENAMES:
        assert f"downloading {name} from {mirror.url}/" in err

    # The verified .gz files in the cache are used again: nothing more is downloaded.
    shutil.rmtree(cache / "mnist" / "arrays")
    again = load_mnist(LoadRequest(cache_dir=cache, progress=False))
    assert_decoded(again, synthetic_mnist.arrays)
    assert len(mirror.gets) == 4


def test_a_corrupt_cached_gz_is_downloaded_again(
    tmp_path: Path, synthetic_mnist: SyntheticMnist,
    serve: Callable[..., Mirror], monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = tmp_path / "cache"
    copy_files(synthetic_mnist.folder, cache / "mnist")
    flip_byte(cache / "mnist" / "t10k-images-idx3-ubyte.gz")
    mirror = serve(synthetic_mnist.folder)
    monkeypatch.setenv("MLBENCH_MNIST_MIRRORS", mirror.url)

    assert_decoded(load_mnist(LoadRequest(cache_dir=cache, progress=False)),
                   synthetic_mnist.arrays)
    assert mirror.gets == ["/t10k-images-idx3-ubyte.gz"]
    assert_clean_mnist_cache(cache, synthetic_mnist.sha256)


@pytest.mark.parametrize("fault", ["corrupt", "truncated", "missing"])
def test_falls_back_to_the_next_mirror_and_keeps_no_bad_file(
    tmp_path: Path, synthetic_mnist: SyntheticMnist,
    serve: Callable[..., Mirror], monkeypatch: pytest.MonkeyPatch, fault: str,
) -> None:
    bad_folder = tmp_path / "bad"
    bad_folder.mkdir()
    if fault != "missing":
        copy_files(synthetic_mnist.folder, bad_folder)
    if fault == "corrupt":
        for name in FILENAMES:
            flip_byte(bad_folder / name)
            flip_byte(bad_folder / name, offset=-1)
    bad = serve(bad_folder, TruncatingHandler if fault == "truncated" else CountingHandler)
    good = serve(synthetic_mnist.folder)
    monkeypatch.setenv("MLBENCH_MNIST_MIRRORS", f"{bad.url},{good.url}")
    cache = tmp_path / "cache"

    dataset = load_mnist(LoadRequest(cache_dir=cache, progress=False))

    assert_decoded(dataset, synthetic_mnist.arrays)
    assert sorted(good.gets) == sorted(f"/{name}" for name in FILENAMES)
    if fault == "corrupt":
        # A bad copy of one file says nothing about the others: each is tried there first.
        assert sorted(bad.gets) == sorted(f"/{name}" for name in FILENAMES)
    else:
        # A mirror that fails to deliver is not asked again for the other files.
        assert len(bad.gets) == 1
    assert_clean_mnist_cache(cache, synthetic_mnist.sha256)
    assert sorted(p.name for p in (cache / "mnist").glob("*.gz")) == sorted(FILENAMES)


def test_a_stalled_mirror_times_out_once(
    tmp_path: Path, synthetic_mnist: SyntheticMnist,
    serve: Callable[..., Mirror], stalled_mirror: StalledMirror,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(mnist, "READ_TIMEOUT", 1.0)
    good = serve(synthetic_mnist.folder)
    monkeypatch.setenv("MLBENCH_MNIST_MIRRORS", f"{stalled_mirror.url},{good.url}")
    cache = tmp_path / "cache"

    dataset = load_mnist(LoadRequest(cache_dir=cache, progress=False))

    assert_decoded(dataset, synthetic_mnist.arrays)
    # Timed out once, then never asked again: one wait in all, not one per file.
    assert len(stalled_mirror.connections) == 1, "the stalled mirror was asked again"
    assert len(good.gets) == 4
    assert_clean_mnist_cache(cache, synthetic_mnist.sha256)


def test_offline_raises_dataset_unavailable_quickly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = closed_port(), closed_port()
    monkeypatch.setenv("MLBENCH_MNIST_MIRRORS",
                       f"http://127.0.0.1:{first}/mnist,http://127.0.0.1:{second}/")
    cache = tmp_path / "cache"

    with pytest.raises(DatasetUnavailable) as caught:
        load_mnist(LoadRequest(cache_dir=cache, progress=False))

    message = str(caught.value)
    assert "MLBENCH_DATA_DIR" in message
    assert "train-images-idx3-ubyte.gz" in message
    assert f"127.0.0.1:{first}" in message and f"127.0.0.1:{second}" in message
    assert not (cache / "mnist" / "arrays").exists()
    leftovers = [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []
    assert leftovers == []


# --------------------------------------------------------------------------- API fallback


def test_api_falls_back_from_mnist_to_mnist_5k(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlbench.contract.registry import load_registry
    from mlbench.results.run_config import RunConfig
    from mlbench.running.planning import load_dataset
    from mlbench.running.progress import Progress

    cache = tmp_path / "api-cache"
    monkeypatch.setenv("MLBENCH_CACHE_DIR", str(cache))
    monkeypatch.setenv("MLBENCH_MNIST_MIRRORS", f"http://127.0.0.1:{closed_port()}/")
    monkeypatch.delenv("MLBENCH_DATA_DIR", raising=False)

    dataset, warning = load_dataset(RunConfig(models=["knn"], dataset="mnist"),
                                    load_registry(), Progress())

    assert dataset.name == "mnist-5k"
    assert dataset.x_train.shape == (4000, 28, 28)
    assert dataset.folder == cache / "mnist-5k" / "arrays"
    assert warning is not None
    assert "mnist-5k" in warning
    assert "MLBENCH_DATA_DIR" in warning
    assert "mnist is unavailable" in warning


def test_api_loads_other_datasets_without_a_warning(tmp_path: Path) -> None:
    from mlbench.contract.registry import load_registry
    from mlbench.results.run_config import RunConfig
    from mlbench.running.planning import load_dataset
    from mlbench.running.progress import Progress

    dataset, warning = load_dataset(RunConfig(models=["knn"], dataset="digits"),
                                    load_registry(), Progress())
    assert dataset.name == "digits"
    assert warning is None
    assert dataset.folder == tmp_path / "cache" / "digits" / "arrays"


# --------------------------------------------------------------------------- built-in sets


def test_mnist_5k_split(tmp_path: Path) -> None:
    first = load_mnist_5k(LoadRequest(cache_dir=tmp_path / "one", progress=False))
    assert first.name == "mnist-5k"
    assert first.x_train.shape == (4000, 28, 28)
    assert first.x_test.shape == (1000, 28, 28)
    assert first.y_train.shape == (4000,) and first.y_test.shape == (1000,)
    assert first.x_train.dtype == np.uint8 and first.x_test.dtype == np.uint8
    assert first.pixel_max == 255.0
    assert int(first.x_train.max()) == 255 and int(first.x_train.min()) == 0
    assert first.image_shape == (28, 28)
    assert first.classes == list(range(10))
    assert np.bincount(first.y_train, minlength=10).tolist() == [400] * 10
    assert np.bincount(first.y_test, minlength=10).tolist() == [100] * 10
    assert first.folder == tmp_path / "one" / "mnist-5k" / "arrays"
    assert all(isinstance(getattr(first, a), np.memmap) for a in ARRAYS)
    # Train and test are disjoint: no image appears in both.
    train_rows = {row.tobytes() for row in np.asarray(first.x_train).reshape(4000, -1)}
    assert not any(row.tobytes() in train_rows
                   for row in np.asarray(first.x_test).reshape(1000, -1))

    second = load_mnist_5k(LoadRequest(cache_dir=tmp_path / "two", progress=False))
    for array in ARRAYS:
        np.testing.assert_array_equal(getattr(first, array), getattr(second, array))

    again = load_mnist_5k(LoadRequest(cache_dir=tmp_path / "one", progress=False))
    assert again.folder == first.folder
    for array in ARRAYS:
        np.testing.assert_array_equal(getattr(first, array), getattr(again, array))


def test_digits_split(tmp_path: Path) -> None:
    digits = load_digits(LoadRequest(cache_dir=tmp_path / "one", progress=False))
    assert digits.name == "digits"
    assert digits.x_train.shape == (1437, 8, 8)
    assert digits.x_test.shape == (360, 8, 8)
    assert digits.y_train.shape == (1437,) and digits.y_test.shape == (360,)
    assert digits.x_train.dtype == np.uint8
    assert digits.pixel_max == 16.0
    assert int(digits.x_train.max()) == 16
    assert digits.image_shape == (8, 8)
    assert digits.classes == list(range(10))
    # Stratified: every class of the 1,797 keeps its share of the 360 test images.
    from sklearn.datasets import load_digits as sklearn_digits

    totals = np.bincount(sklearn_digits().target, minlength=10)
    test_counts = np.bincount(digits.y_test, minlength=10)
    assert np.all(np.abs(test_counts - totals * 360 / 1797) <= 1)
    assert np.array_equal(np.bincount(digits.y_train, minlength=10) + test_counts, totals)

    other = load_digits(LoadRequest(cache_dir=tmp_path / "two", progress=False))
    for array in ARRAYS:
        np.testing.assert_array_equal(getattr(digits, array), getattr(other, array))


@pytest.mark.parametrize("damage", ["truncated", "flipped-byte", "no-manifest"])
def test_builtin_set_rebuilds_a_damaged_cache(tmp_path: Path, damage: str) -> None:
    warnings: list[str] = []
    request = LoadRequest(cache_dir=tmp_path, progress=False, on_warning=warnings.append)
    reference = {a: np.array(getattr(load_digits(request), a)) for a in ARRAYS}
    assert warnings == []  # building the cache the first time is no news
    target = tmp_path / "digits" / "arrays" / "x_train.npy"
    if damage == "truncated":
        with open(target, "r+b") as stream:
            stream.truncate(target.stat().st_size - 10)
    elif damage == "flipped-byte":
        flip_byte(target)  # still a valid .npy of the right shape: only the hash tells
    else:
        (target.parent / MANIFEST).unlink()
    rebuilt = load_digits(request)
    for array in ARRAYS:
        np.testing.assert_array_equal(getattr(rebuilt, array), reference[array])
    assert len(warnings) == 1 and warnings[0].startswith("cached digits arrays in ")
    assert ("manifest.json" if damage == "no-manifest" else "x_train.npy") in warnings[0]
    load_digits(request)
    assert len(warnings) == 1  # the rebuilt cache is intact


# --------------------------------------------------------------------------- helpers in __init__


def test_cache_dir_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cache_dir() == tmp_path / "cache"
    monkeypatch.setenv("MLBENCH_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("MLBENCH_CACHE_DIR")
    import platformdirs

    assert cache_dir() == Path(platformdirs.user_cache_dir("mlbench"))


def small_dataset(seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    return Dataset(
        "small",
        rng.integers(0, 256, size=(30, 4, 5), dtype=np.uint8),
        np.arange(30, dtype=np.uint8) % 3,
        rng.integers(0, 256, size=(12, 4, 5), dtype=np.uint8),
        np.arange(12, dtype=np.uint8) % 3,
        pixel_max=255.0,
        source="test",
    )


def test_save_and_load_arrays_round_trip(tmp_path: Path) -> None:
    folder = tmp_path / "small" / "arrays"
    original = small_dataset()
    saved = save_arrays(original, folder)
    assert saved.folder == folder
    assert (saved.name, saved.pixel_max, saved.source) == ("small", 255.0, "test")
    for array in ARRAYS:
        assert isinstance(getattr(saved, array), np.memmap)
        np.testing.assert_array_equal(getattr(saved, array), getattr(original, array))
    # Saving again replaces the folder whole, and leaves no staging folder behind.
    replacement = small_dataset(seed=1)
    del saved
    resaved = save_arrays(replacement, folder)
    np.testing.assert_array_equal(resaved.x_train, replacement.x_train)
    assert [p.name for p in folder.parent.iterdir()] == ["arrays"]
    loaded = load_arrays(folder, Dataset("small", *(np.empty(0),) * 4))
    np.testing.assert_array_equal(loaded.x_test, replacement.x_test)


def test_load_arrays_reports_missing_arrays(tmp_path: Path) -> None:
    folder = tmp_path / "arrays"
    with pytest.raises(ValueError, match="missing or unreadable"):
        load_arrays(folder, small_dataset())
    save_arrays(small_dataset(), folder)
    (folder / "y_test.npy").unlink()
    with pytest.raises(ValueError, match="missing or unreadable"):
        load_arrays(folder, small_dataset())


@pytest.mark.parametrize("size", [0, 5, 40, 100])
def test_load_arrays_reports_truncated_files(tmp_path: Path, size: int) -> None:
    folder = tmp_path / "arrays"
    save_arrays(small_dataset(), folder)
    with open(folder / "x_train.npy", "r+b") as stream:
        stream.truncate(size)
    with pytest.raises(ValueError, match="missing or unreadable"):
        load_arrays(folder, small_dataset())


def test_load_arrays_refuses_pickled_arrays(tmp_path: Path) -> None:
    folder = tmp_path / "arrays"
    save_arrays(small_dataset(), folder)
    np.save(folder / "y_train.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="missing or unreadable"):
        load_arrays(folder, small_dataset())


# --------------------------------------------------------------------------- stratified_indices


def test_stratified_indices() -> None:
    rng = np.random.default_rng(42)
    labels = rng.choice(10, size=5000, p=np.linspace(1, 3, 10) / np.linspace(1, 3, 10).sum())
    totals = np.bincount(labels, minlength=10)

    for size in (10, 123, 1000, 4999):
        chosen = stratified_indices(labels, size, seed=3)
        assert chosen is not None
        assert len(chosen) == size
        assert len(np.unique(chosen)) == size
        assert np.all(np.diff(chosen) > 0), "indices are sorted"
        assert chosen.min() >= 0 and chosen.max() < len(labels)
        counts = np.bincount(labels[chosen], minlength=10)
        expected = totals * size / len(labels)
        assert np.all(np.abs(counts - expected) <= 1), (size, counts, expected)
        np.testing.assert_array_equal(chosen, stratified_indices(labels, size, seed=3))

    assert not np.array_equal(stratified_indices(labels, 1000, seed=0),
                              stratified_indices(labels, 1000, seed=1))
    assert stratified_indices(labels, None) is None
    assert stratified_indices(labels, len(labels)) is None
    assert stratified_indices(labels, len(labels) + 1) is None


@pytest.mark.parametrize("left_out", [1, 5, 9, 10, 11])
@pytest.mark.parametrize("dominant", [False, True])
def test_stratified_indices_leaving_out_fewer_items_than_classes(
    left_out: int, dominant: bool
) -> None:
    # e.g. --train-size 59995 of MNIST's 60,000: fewer left out than there are classes.
    weights = np.array([20, 1, 1, 1, 1, 1, 1, 1, 1, 1.0]) if dominant else np.ones(10)
    labels = np.random.default_rng(7).choice(10, size=2000, p=weights / weights.sum())
    size = len(labels) - left_out
    chosen = stratified_indices(labels, size, seed=5)
    assert chosen is not None
    assert len(chosen) == size and len(np.unique(chosen)) == size
    assert np.all(np.diff(chosen) > 0)
    counts = np.bincount(labels[chosen], minlength=10)
    expected = np.bincount(labels, minlength=10) * size / len(labels)
    assert np.all(np.abs(counts - expected) <= 1), (counts, expected)
    np.testing.assert_array_equal(chosen, stratified_indices(labels, size, seed=5))


# --------------------------------------------------------------------------- DataRef


@pytest.fixture
def saved_small(tmp_path: Path) -> Dataset:
    return save_arrays(small_dataset(), tmp_path / "small" / "arrays")


def test_dataref_flat(saved_small: Dataset) -> None:
    assert saved_small.folder is not None
    x_train, y_train, x_test, y_test = DataRef(saved_small.folder, 255.0).load("flat")
    assert x_train.dtype == np.float32 and x_test.dtype == np.float32
    assert x_train.shape == (30, 20) and x_test.shape == (12, 20)
    assert x_train.min() >= 0.0 and x_train.max() <= 1.0
    np.testing.assert_allclose(x_train, np.asarray(saved_small.x_train).reshape(30, 20) / 255,
                               rtol=1e-6)
    np.testing.assert_allclose(x_test, np.asarray(saved_small.x_test).reshape(12, 20) / 255,
                               rtol=1e-6)
    assert y_train.dtype == np.int64 and y_test.dtype == np.int64
    np.testing.assert_array_equal(y_train, saved_small.y_train)
    np.testing.assert_array_equal(y_test, saved_small.y_test)


def test_dataref_image_with_indices(saved_small: Dataset) -> None:
    assert saved_small.folder is not None
    train_indices, test_indices = np.array([0, 7, 29]), np.array([3, 11])
    ref = DataRef(saved_small.folder, 255.0, train_indices, test_indices)
    x_train, y_train, x_test, y_test = ref.load("image")
    assert x_train.shape == (3, 4, 5, 1) and x_test.shape == (2, 4, 5, 1)
    assert x_train.dtype == np.float32
    np.testing.assert_allclose(x_train[..., 0],
                               np.asarray(saved_small.x_train)[train_indices] / 255, rtol=1e-6)
    np.testing.assert_allclose(x_test[..., 0],
                               np.asarray(saved_small.x_test)[test_indices] / 255, rtol=1e-6)
    np.testing.assert_array_equal(y_train, np.asarray(saved_small.y_train)[train_indices])
    np.testing.assert_array_equal(y_test, np.asarray(saved_small.y_test)[test_indices])
    flat = ref.load("flat")
    np.testing.assert_array_equal(flat[0], x_train.reshape(3, -1))


def test_dataref_scales_by_pixel_max(tmp_path: Path) -> None:
    digits = load_digits(LoadRequest(cache_dir=tmp_path, progress=False))
    assert digits.folder is not None
    x_train, y_train, _, _ = DataRef(digits.folder, digits.pixel_max).load("flat")
    assert x_train.shape == (1437, 64)
    assert x_train.max() == 1.0 and x_train.min() == 0.0
    np.testing.assert_allclose(x_train * 16, np.asarray(digits.x_train).reshape(1437, 64))
    np.testing.assert_array_equal(y_train, digits.y_train)


# --------------------------------------------------------------------------- the folder named


def _run_json(results: Path, name: str) -> dict[str, Any]:
    return json.loads((results / name / "run.json").read_text())


def test_a_named_data_folder_is_the_data_that_runs(
    tmp_path: Path, synthetic_mnist: SyntheticMnist, cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Once MNIST is cached, the folder a user names (--data-dir or MLBENCH_DATA_DIR) is
    still the data that runs: an empty folder, or one of other valid IDX files, is one line
    and exit 2, never a run on the cache; the original files run, and run.json says where
    the arrays came from."""
    monkeypatch.setenv("MLBENCH_CACHE_DIR", str(tmp_path / "cache"))
    results = tmp_path / "results"
    run = ("run", "--models", "naive-bayes", "--dataset", "mnist")
    first = cli(*run, "--data-dir", str(synthetic_mnist.folder), "--name", "first")
    assert first.exit_code == 0, first.output
    assert str(synthetic_mnist.folder) in _run_json(results, "first")["dataset"]["source"]

    (tmp_path / "empty").mkdir()
    other = tmp_path / "other"  # valid IDX files of the same shapes, other pixels
    other.mkdir()
    for array, values in synthetic_mnist.arrays.items():
        write_idx(other / mnist.FILES[array][0], 255 - values if array.startswith("x_")
                  else values)
    for folder, message in ((tmp_path / "empty", "has no train-images-idx3-ubyte.gz"),
                            (other, "does not match MNIST's SHA-256 checksum")):
        for how in ("option", "environment"):
            if how == "option":
                result = cli(*run, "--data-dir", str(folder), "--name", "refused")
            else:
                monkeypatch.setenv("MLBENCH_DATA_DIR", str(folder))
                result = cli(*run, "--name", "refused")
                monkeypatch.delenv("MLBENCH_DATA_DIR")
            assert_one_line_error(result, message, results / "refused")
            assert str(folder) in result.stderr

    again = cli(*run, "--data-dir", str(synthetic_mnist.folder), "--name", "again")
    assert again.exit_code == 0, again.output
    source = _run_json(results, "again")["dataset"]["source"]
    assert str(synthetic_mnist.folder) in source and "SHA-256 checked" in source
    plain = cli(*run, "--name", "plain")  # nothing named: the cache, saying what it holds
    assert plain.exit_code == 0, plain.output
    source = _run_json(results, "plain")["dataset"]["source"]
    assert str(synthetic_mnist.folder) in source and "cached in" in source


def test_a_cache_from_other_files_is_rebuilt_from_the_folder_named(
    tmp_path: Path, synthetic_mnist: SyntheticMnist
) -> None:
    """A cache decoded from other files than the folder named (or kept before mlbench noted
    its origin) is rebuilt from the folder's files, never used in their place."""
    cache = tmp_path / "cache"
    request = LoadRequest(cache_dir=cache, data_dir=synthetic_mnist.folder, progress=False)
    first = load_mnist(request)
    manifest_path = cache / "mnist" / "arrays" / MANIFEST
    assert mnist.cached_origin(cache / "mnist" / "arrays") == {
        filename: sha256 for filename, sha256 in mnist.FILES.values()}
    folder_inode = first.folder.stat().st_ino  # type: ignore[union-attr]
    del first
    for origin in ({"train-images-idx3-ubyte.gz": "0" * 64}, None):  # other files; unknown
        manifest = json.loads(manifest_path.read_text())
        manifest.pop("origin")
        if origin is not None:
            manifest["origin"] = origin
        manifest_path.write_text(json.dumps(manifest))
        rebuilt = load_mnist(request)
        assert_decoded(rebuilt, synthetic_mnist.arrays)
        assert rebuilt.folder is not None and rebuilt.folder.stat().st_ino != folder_inode
        folder_inode = rebuilt.folder.stat().st_ino
        del rebuilt
    # With nothing named, a cache of unknown origin (an older mlbench's) is still used.
    manifest = json.loads(manifest_path.read_text())
    manifest.pop("origin")
    manifest_path.write_text(json.dumps(manifest))
    kept = load_mnist(LoadRequest(cache_dir=cache, progress=False))
    assert kept.folder is not None and kept.folder.stat().st_ino == folder_inode
