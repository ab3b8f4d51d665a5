"""Facts about this machine's processor that the deep-learning plugins decide on, and the
one process setting they change for speed."""

from __future__ import annotations

import ctypes
import platform
import sys
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

# mallopt parameters, from glibc's malloc.h.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


@cache
def cpu_flags() -> frozenset[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_bfloat16() -> bool:
    """True where the CPU's flags say it multiplies bfloat16 natively (AMX or AVX-512 BF16);
    without them bfloat16 is emulated, and slower than float32."""
    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags())


# How much faster than float32 a bfloat16 product must be for mixed bfloat16 to pay: its
# casts and float32 master weights take part of the gain. Side of the probe's matrices:
# big enough for the libraries' blocked kernels, small enough to take about 0.2 s in all.
BFLOAT16_GAIN = 1.3
PRODUCT_SIDE = 1536


def bfloat16_pays(multiply: Callable[[str], object]) -> bool:
    """Whether mixed bfloat16 trains faster than float32 on this CPU: its flags must show
    native bfloat16, and a square product made in the job's own framework (``multiply(dtype)``,
    which returns once it is done), timed here best of three each, must run ``BFLOAT16_GAIN``
    times faster in bfloat16. Flags alone mislead: a VM can show AVX-512 BF16 and hide AMX, and this
    project's Intel Xeon (family 6, model 207) multiplied bfloat16 at half float32's speed
    (163 against 302 GFLOP/s), where its AMD EPYC did at twice (BENCHMARKS.md)."""
    if not cpu_has_bfloat16():
        return False
    return product_seconds(multiply, "float32") > BFLOAT16_GAIN * product_seconds(
        multiply, "bfloat16")


def product_seconds(multiply: Callable[[str], object], dtype: str) -> float:
    """The fastest of three calls of ``multiply(dtype)``, in seconds."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        multiply(dtype)
        times.append(time.perf_counter() - started)
    return min(times)


def openblas_coretype() -> str | None:
    """The OpenBLAS kernels this CPU runs (OpenBLAS's own names), from its flags: for an
    OpenBLAS too old to recognise the CPU, which then falls back to its slowest, generic
    kernels. faiss-cpu 1.15.1 bundles OpenBLAS 0.3.15, which took this project's Intel Xeon
    for a "Prescott" and searched 4-7x slower than with its AVX-512 kernels (BENCHMARKS.md).
    None where the CPU has neither AVX-512 nor AVX2: OpenBLAS's own choice stands."""
    flags = cpu_flags()
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags:
        return "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return None


@cache
def keep_freed_memory() -> bool:
    """Have glibc keep freed memory for reuse instead of returning it to the OS.

    A training step allocates and frees tens of MB of activations. By default glibc gives
    large freed blocks back to the OS (munmap, heap trimming), so the next step page-faults
    all of that memory in again: measured here, that cost torch-cnn 30% of its speed on full
    MNIST (BENCHMARKS.md). Intel's PyTorch tuning guide recommends jemalloc or tcmalloc for
    the same reason; two mallopt calls get the same effect without another dependency. It
    changes no result. Safe to call twice; False where the C library is not glibc."""
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    # Blocks up to 32 MiB (glibc's maximum) come from the heap, and the heap is trimmed only
    # when over 1 GiB is free at its top.
    return bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
                and libc.mallopt(M_TRIM_THRESHOLD, 1 << 30))
