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
