"""Facts about this machine's processor that the deep-learning plugins decide on."""

from __future__ import annotations

from functools import cache
from pathlib import Path


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
    """True where the CPU multiplies bfloat16 natively (AMX or AVX-512 BF16): there,
    bfloat16 training is several times faster than float32; elsewhere it is slower."""
    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags())
