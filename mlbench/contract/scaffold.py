"""`mlbench new-plugin`: write a working, installable plugin skeleton to start from.

The skeleton is a real (if simple) model, so that a new author sees it listed, run and
checked before changing a line: a one-module package with the `mlbench` entry point, a test
that calls ``mlbench.testing.check_model``, and a README saying how to run it.
"""

from __future__ import annotations

import re
from pathlib import Path

from mlbench.contract.model import NAME_PATTERN
from mlbench.errors import UsageError


def module_name(name: str) -> str:
    """The importable module for a plugin name: ``my-model`` -> ``mlbench_my_model``."""
    return "mlbench_" + re.sub(r"[^a-z0-9_]", "_", name)


def class_name(name: str) -> str:
    """The model class for a plugin name: ``my-model`` -> ``MyModel``."""
    words = "".join(word.capitalize() for word in re.split(r"[^a-z0-9]+", name) if word)
    return words if words[:1].isalpha() else f"Model{words}"


def new_plugin(name: str, directory: str | Path = ".") -> Path:
    """Write the skeleton of plugin ``name`` into ``directory/name``; returns that folder.

    Raises UsageError for a name models may not have or a folder that already exists.
    """
    if not NAME_PATTERN.match(name):
        raise UsageError(f"plugin name {name!r} must be lower-case letters, digits, '-', '_' "
                         "or '.', starting with a letter or digit (e.g. my-model)")
    if Path(directory).is_file():
        raise UsageError(f"--dir {directory} is a file; give a folder")
    target = Path(directory) / name
    if target.exists():
        raise UsageError(f"{target} already exists; choose another name or --dir")
    module = module_name(name)
    values = {"name": name, "module": module, "cls": class_name(name)}
    files = {
        "pyproject.toml": PYPROJECT,
        f"{module}.py": MODULE,
        f"tests/test_{module.removeprefix('mlbench_')}.py": TEST,
        "README.md": README,
    }
    for relative, template in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template.format(**values))
    return target


PYPROJECT = '''\
[build-system]
requires = ["setuptools>=69"]
build-backend = "setuptools.build_meta"

[project]
name = "mlbench-{name}"
version = "0.1.0"
description = "The {name} model for mlbench."
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["mlbench", "numpy"]

# How mlbench finds the plugin once it is installed.
[project.entry-points.mlbench]
"{name}" = "{module}"

[tool.setuptools]
py-modules = ["{module}"]

[tool.pytest.ini_options]
pythonpath = ["."]
'''

MODULE = '''\
"""The {name} model for mlbench: nearest centroid, each image gets the label of the closest
class mean. Replace fit/predict with your own model; keep the class attributes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import mlbench
import numpy as np


class {cls}(mlbench.Model):
    """Nearest centroid: the label of the closest class mean."""

    name = "{name}"
    tags = ("examples",)
    # Every hyperparameter and its default; `--param {name}.temperature=0.5` overrides one.
    defaults: ClassVar[dict[str, Any]] = {{"temperature": 1.0}}
    input = "flat"  # (n, 784) float32 in [0, 1]; "image" gives (n, 28, 28, 1)
    devices = ("cpu",)

    def fit(self, X: np.ndarray, y: np.ndarray) -> {cls}:
        # Nothing here is random; a model that is must seed its generators from self.seed.
        self.classes_ = np.unique(y)
        self.centroids_ = np.stack([X[y == label].mean(axis=0) for label in self.classes_])
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.classes_[self._distances(X).argmin(axis=1)])

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """A softmax over negative squared distances; columns are the sorted labels."""
        scores = -self._distances(X) / self.params["temperature"]
        scores -= scores.max(axis=1, keepdims=True)
        weights = np.exp(scores)
        return np.asarray(weights / weights.sum(axis=1, keepdims=True))

    def _distances(self, X: np.ndarray) -> np.ndarray:
        # |x - c|^2 = |x|^2 - 2 x.c + |c|^2, without an (images x classes x pixels) array.
        return np.asarray(
            (X**2).sum(axis=1)[:, None] - 2 * X @ self.centroids_.T
            + (self.centroids_**2).sum(axis=1)[None, :]
        )


@mlbench.hookimpl
def mlbench_register_models(register: Callable[[type], None]) -> None:
    register({cls})
'''

TEST = '''\
"""{cls} keeps mlbench's model contract: it builds, fits, predicts and reproduces."""

from mlbench.testing import check_model

from {module} import {cls}


def test_{module}_passes_check_model() -> None:
    check_model({cls})
'''

README = '''\
# mlbench-{name}

The `{name}` model for mlbench. It starts as a nearest-centroid classifier, a placeholder
to replace with yours: `{module}.py` holds the model class and the hook that registers it.

Run it as a local file, no install needed:

```bash
mlbench run --plugin {module}.py --models {name} --dataset digits
```

Or install it, and mlbench finds it through the `mlbench` entry point in `pyproject.toml`:

```bash
pip install -e .
mlbench list
mlbench run --models {name} --dataset digits    # or full MNIST: --dataset mnist
```

Check that it keeps the model contract (builds, fits, predicts known labels, beats chance,
gives valid probabilities, reproduces with the same seed):

```bash
pytest
```
'''
