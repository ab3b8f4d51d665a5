"""Optional libraries, imported inside a job: a missing one skips the job with the line that
installs it, instead of failing it."""

from __future__ import annotations

import importlib
from typing import Any

from mlbench import SkipJob


def import_framework(module: str, label: str, extra: str) -> Any:
    """Import ``module`` (``label`` in messages), or skip the job saying how to install it:
    ``pip install 'mlbench[EXTRA]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise SkipJob(f"{label} is not installed or failed to import ({error}); "
                      f"install it with: pip install 'mlbench[{extra}]'") from error
