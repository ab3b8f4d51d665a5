"""For plugin authors' tests: ``from mlbench.testing import check_model``."""

from mlbench.running.check import ModelCheckError, check_model

__all__ = ["ModelCheckError", "check_model"]
