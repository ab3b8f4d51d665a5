"""mlbench: compare classifiers on MNIST fairly and fast.

A plugin writes ``@mlbench.hookimpl`` and subclasses ``mlbench.Model``; scripts call
``mlbench.run(models=[...], dataset=...)`` and get a pandas DataFrame back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlbench.contract.hookspecs import hookimpl
from mlbench.contract.model import Capabilities, EstimatorModel, Model, SkipJob
from mlbench.datasets import Dataset, LoadRequest

__version__ = "0.1.0"
__all__ = [
    "Capabilities",
    "Dataset",
    "EstimatorModel",
    "LoadRequest",
    "Model",
    "SkipJob",
    "__version__",
    "hookimpl",
    "resume",
    "run",
]

if TYPE_CHECKING:
    from mlbench.running.api import resume, run


def __getattr__(name: str) -> Any:
    # The runner pulls in pandas and the process pool: load it only when a script asks.
    if name in ("run", "resume"):
        from mlbench.running import api

        return getattr(api, name)
    raise AttributeError(f"module 'mlbench' has no attribute {name!r}")
