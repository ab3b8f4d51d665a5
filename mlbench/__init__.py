"""mlbench: compare classifiers on MNIST fairly and fast.

A plugin writes ``@mlbench.hookimpl`` and subclasses ``mlbench.Model``; scripts and
notebooks call ``mlbench.run(models=[...], dataset=...)`` or ``mlbench.load(run_folder)`` and
get a saved run: its results table as a pandas DataFrame (``.frame``), ``.report()``,
``.compare(other)``, and a notebook display.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlbench.contract.hookspecs import hookimpl
from mlbench.contract.model import (
    Capabilities,
    EstimatorModel,
    Model,
    ReferenceAccuracy,
    SkipJob,
)
from mlbench.datasets import Dataset, LoadRequest
from mlbench.version import __version__

__all__ = [
    "Capabilities",
    "Dataset",
    "EstimatorModel",
    "LoadRequest",
    "Model",
    "ReferenceAccuracy",
    "SkipJob",
    "__version__",
    "hookimpl",
    "load",
    "resume",
    "run",
]

if TYPE_CHECKING:
    from mlbench.python_api import load, resume, run

_LAZY = ("load", "resume", "run")


def __getattr__(name: str) -> Any:
    # The runner and the reports pull in pandas and the process pool: loaded only when a
    # script asks.
    if name in _LAZY:
        from mlbench import python_api

        return getattr(python_api, name)
    raise AttributeError(f"module 'mlbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
