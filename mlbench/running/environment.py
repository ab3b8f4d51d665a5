"""What a run records about where it ran: machine, versions, threads, GPU, git commit.

Deliberately no environment variables: they often hold secrets.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

LIBRARIES = ("mlbench", "numpy", "scikit-learn", "pandas", "pluggy", "threadpoolctl",
             "tensorflow", "tensorflow-cpu", "keras", "torch", "jax", "jaxlib", "dask",
             "distributed")


def describe_machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "libraries": library_versions(),
        "framework_builds": framework_builds(),
        "threads": thread_settings(),
        "gpus": gpu_names(),
        "git_commit": git_commit(),
    }


def library_versions() -> dict[str, str]:
    """Installed versions, read from package metadata without importing anything heavy."""
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def framework_builds() -> dict[str, str]:
    """Which build of each installed deep-learning framework this is: "CPU" or "CUDA 12.8".
    From package metadata alone, as the versions are: importing TensorFlow takes seconds."""
    builds = {}
    for framework, read in (("torch", _torch_build), ("tensorflow", _tensorflow_build),
                            ("jax", _jax_build)):
        build = read()
        if build:
            builds[framework] = build
    return builds


def _installed(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cuda_runtime(major: str) -> str:
    """"CUDA 12.8" from the NVIDIA runtime wheel the framework installed beside it."""
    version = _installed(f"nvidia-cuda-runtime-cu{major}") or _installed("nvidia-cuda-runtime")
    return "CUDA " + (".".join(version.split(".")[:2]) if version else major)


def torch_build(version: str, requires: list[str]) -> str:
    """A torch build from its version and requirements: PyTorch's own index tags the
    version (``2.13.0+cpu``, ``+cu128``, ``+rocm6.4``); PyPI's Linux wheel has no tag but
    pins the CUDA it was built for (``cuda-toolkit[cudart,...]==13.0.3``; older ones
    ``nvidia-cuda-runtime-cu12==12.8.90``)."""
    from packaging.requirements import InvalidRequirement, Requirement

    tag = version.partition("+")[2]
    if tag == "cpu":
        return "CPU"
    if tag.startswith("cu") and tag[2:].isdigit():
        return f"CUDA {tag[2:-1]}.{tag[-1]}"
    if tag.startswith("rocm"):
        return f"ROCm {tag[4:]}"
    for text in requires:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
            continue  # not on this platform
        if requirement.name == "cuda-toolkit" or requirement.name.startswith(
                "nvidia-cuda-runtime"):
            pins = [spec.version for spec in requirement.specifier if spec.operator == "=="]
            if pins:
                return "CUDA " + ".".join(pins[0].split(".")[:2])
    return "CPU"


def _torch_build() -> str | None:
    version = _installed("torch")
    if version is None:
        return None
    return torch_build(version, importlib.metadata.requires("torch") or [])


def _tensorflow_build() -> str | None:
    if _installed("tensorflow-cpu"):
        return "CPU"
    if not _installed("tensorflow"):
        return None
    if sys.platform != "linux":
        return "CPU"  # TensorFlow's CUDA builds are Linux-only
    if _installed("nvidia-cudnn-cu12"):
        return _cuda_runtime("12")
    return "CUDA build, CUDA libraries missing: pip install 'tensorflow[and-cuda]'"


def _jax_build() -> str | None:
    if not _installed("jaxlib"):
        return None
    for major in ("13", "12"):
        if _installed(f"jax-cuda{major}-plugin"):
            return _cuda_runtime(major)
    return "CPU"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def thread_settings() -> list[dict[str, Any]]:
    """The thread pools (BLAS, OpenMP) numpy and scikit-learn load, and their sizes."""
    import threadpoolctl

    return [
        {key: info.get(key) for key in ("user_api", "internal_api", "num_threads", "version")}
        for info in threadpoolctl.threadpool_info()
    ]


@functools.cache  # a run asks twice (planning, run.json); nvidia-smi can take a second
def gpu_names() -> list[str]:
    """NVIDIA GPUs as nvidia-smi lists them; frameworks are not imported just to look."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        output = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in output.splitlines() if line.strip()]


def git_commit() -> str | None:
    """The commit of the mlbench checkout in use (with '+dirty' for local changes), if any."""
    source = Path(__file__).resolve().parents[2]  # mlbench/running/ -> the checkout
    if not (source / ".git").exists() or not shutil.which("git"):
        return None
    try:
        def git(*args: str) -> str:
            return subprocess.run(["git", "-C", str(source), *args], capture_output=True,
                                  text=True, timeout=10, check=True).stdout.strip()

        return git("rev-parse", "HEAD") + ("+dirty" if git("status", "--porcelain") else "")
    except (OSError, subprocess.SubprocessError):
        return None


def command_line() -> list[str]:
    return [Path(sys.argv[0]).name, *sys.argv[1:]]
