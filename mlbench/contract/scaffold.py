"""`mlbench new-plugin`: write a working, installable plugin skeleton to start from.

The skeleton is a real (if simple) model, so that a new author sees it listed, run and
checked before changing a line: a one-module package with the `mlbench` entry point, a test
that calls ``mlbench.testing.check_model``, and a README saying how to run it.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import inspect
import json
import re
from pathlib import Path

from mlbench.contract.model import NAME_PATTERN, NAME_RULE
from mlbench.errors import UsageError


def module_name(name: str) -> str:
    """The importable module for a plugin name: ``my-model`` -> ``mlbench_my_model``."""
    return "mlbench_" + re.sub(r"[^a-z0-9_]", "_", name)


def class_name(name: str) -> str:
    """The model class for a plugin name: ``my-model`` -> ``MyModel``."""
    words = "".join(word.capitalize() for word in re.split(r"[^a-z0-9]+", name) if word)
    return words if words[:1].isalpha() else f"Model{words}"


def new_plugin(name: str, directory: str | Path = ".", estimator: str | None = None) -> Path:
    """Write the skeleton of plugin ``name`` into ``directory/name``; returns that folder.
    ``estimator``: the dotted path of a scikit-learn style classifier to wrap (its params
    and defaults read from it) instead of the nearest-centroid placeholder.

    Raises UsageError for a name models may not have, a folder that already exists, or an
    estimator that cannot be wrapped.
    """
    if not NAME_PATTERN.match(name):
        raise UsageError(f"plugin name {name!r} must be {NAME_RULE}")
    if Path(directory).is_file():
        raise UsageError(f"--dir {directory} is a file; give a folder")
    wrapped = wrapped_estimator(estimator) if estimator is not None else {}
    target = Path(directory) / name
    if target.exists():
        raise UsageError(f"{target} already exists; choose another name or --dir")
    module = module_name(name)
    values = {"name": name, "module": module, "cls": class_name(name),
              "dependencies": '"mlbench", "numpy"', **wrapped}
    template = ESTIMATOR_MODULE if wrapped else MODULE
    files = {
        "pyproject.toml": PYPROJECT,
        f"{module}.py": template,
        f"tests/test_{module.removeprefix('mlbench_')}.py": TEST,
        "README.md": README,
    }
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.format(**values))
    return target


def wrapped_estimator(path: str) -> dict[str, str]:
    """What the estimator template needs of ``path`` (``sklearn.ensemble.ExtraTreesClassifier``):
    its import, its defaults as Python source, and the distribution that installs it."""
    module_path, _, cls_name = path.rpartition(".")
    usage = "e.g. --from sklearn.ensemble.ExtraTreesClassifier"
    if not module_path or not cls_name:
        raise UsageError(f"--from {path!r} is not a dotted path to a class; {usage}")
    try:
        module = importlib.import_module(module_path)
    except ImportError as error:
        raise UsageError(f"--from {path}: cannot import {module_path} ({error}); install it "
                         "or check the spelling") from error
    cls = getattr(module, cls_name, None)
    if not isinstance(cls, type):
        raise UsageError(f"--from {path}: {module_path} has no class {cls_name}; {usage}")
    if not all(callable(getattr(cls, method, None)) for method in ("fit", "predict",
                                                                  "get_params")):
        raise UsageError(f"--from {path}: {cls_name} is not a scikit-learn style estimator "
                         "(fit, predict and get_params); write the model by hand "
                         "(mlbench new-plugin NAME)")
    try:
        instance = cls()
        params = instance.get_params(deep=False)
    except Exception as error:  # its own code: any failure is the estimator's
        raise UsageError(f"--from {path}: {cls_name}() cannot be built with its defaults "
                         f"({type(error).__name__}: {error})") from error
    if not _classifier(instance):
        raise UsageError(f"--from {path}: {cls_name} is not a classifier, and mlbench compares "
                         "classifiers; give a classifier, or wrap it by hand")
    seeded = "random_state" in params
    kept = {key: value for key, value in params.items()
            if key != "random_state" and _literal(value)}
    left_out = sorted(set(params) - set(kept) - {"random_state"})
    top = module_path.partition(".")[0]
    distribution = importlib.metadata.packages_distributions().get(top, [top])[0]
    note = (f"\n    # Left out (not plain values; set them in build()): {', '.join(left_out)}."
            if left_out else "")
    return {
        "estimator": cls_name, "estimator_module": module_path, "requires": top,
        "summary": (inspect.getdoc(cls) or cls_name).splitlines()[0].rstrip("."),
        "defaults": "".join(f'        "{key}": {_source(value)},\n' for key, value in kept.items()),
        "left_out": note,
        "seed": ", random_state=self.seed" if seeded else "",
        "dependencies": f'"mlbench", "numpy", "{distribution}"',
    }


def _classifier(instance: object) -> bool:
    """scikit-learn's own answer (its estimator tags), where scikit-learn is installed."""
    try:
        from sklearn.base import is_classifier
    except ImportError:
        return True
    return bool(is_classifier(instance))


def _source(value: object) -> str:
    """A default as Python source, strings double-quoted as the rest of the file."""
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _literal(value: object) -> bool:
    """Whether ``value`` reads back from its repr as itself: what --param and run.json hold."""
    try:
        return bool(ast.literal_eval(repr(value)) == value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


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
dependencies = [{dependencies}]

[project.optional-dependencies]
test = ["pytest"]  # pip install -e ".[test]" && python -m pytest

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

ESTIMATOR_MODULE = '''\
"""The {name} model for mlbench: {estimator} from {estimator_module}, with its own
defaults. `mlbench.EstimatorModel` supplies fit, predict, predict_proba and the params."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import mlbench


class {cls}(mlbench.EstimatorModel):
    """{summary}."""

    name = "{name}"
    tags = ("examples",)  # a tag groups models: --models examples runs every one tagged so
    requires = ("{requires}",)  # `mlbench list` says whether it is installed
    # {estimator}'s defaults, as `mlbench new-plugin --from` read them: --param
    # {name}.NAME=VALUE sets one, `mlbench list --params {name}` lists them.{left_out}
    defaults: ClassVar[dict[str, Any]] = {{
{defaults}    }}

    def build(self) -> Any:
        # Imported here, not at the top, so that `mlbench list` stays fast.
        from {estimator_module} import {estimator}

        return {estimator}(**self.params{seed})


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
pip install -e ".[test]"    # the plugin, and pytest for its test
mlbench list
mlbench run --models {name},knn --dataset digits    # or full MNIST: --dataset mnist
```

Check that it keeps the model contract (builds, fits, predicts known labels, beats chance,
gives valid probabilities, reproduces with the same seed):

```bash
python -m pytest    # this environment's pytest, whatever else is on PATH
```
'''


def next_steps(name: str, target: Path) -> list[str]:
    """The commands that try a new plugin: as a local file, installed with its test, and run
    beside a built-in model."""
    return [f"mlbench run --plugin {target / module_name(name)}.py --models {name} "
            "--dataset digits",
            f'cd {target} && pip install -e ".[test]" && python -m pytest',
            f"mlbench run --models {name},knn --dataset digits"]
