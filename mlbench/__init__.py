"""mlbench: compare classifiers on MNIST fairly and fast.

A plugin writes ``@mlbench.hookimpl`` and subclasses ``mlbench.Model``; scripts call
``mlbench.run(models=[...], dataset=...)`` and get a pandas DataFrame back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlbench.datasets import Dataset, LoadRequest
from mlbench.hookspecs import hookimpl
from mlbench.model import EstimatorModel, Model, SkipJob

__version__ = "0.1.0"
__all__ = [
    "Dataset",
    "EstimatorModel",
    "LoadRequest",
    "Model",
    "SkipJob",
    "__version__",
    "hookimpl",
    "run",
]

if TYPE_CHECKING:
    from mlbench.api import run


def __getattr__(name: str) -> Any:
    # The runner pulls in pandas and the process pool: load it only when a script asks.
    if name == "run":
        from mlbench.api import run

        return run
    raise AttributeError(f"module 'mlbench' has no attribute {name!r}")
