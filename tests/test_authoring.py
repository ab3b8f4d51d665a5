"""Writing a plugin: check_model on the built-ins and on broken models, `mlbench new-plugin`,
the example package under examples/, and the guides in docs/ followed as a new user would:
their files written as shown, their commands run as shown."""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import Result

import mlbench
from mlbench.contract.registry import load_registry
from mlbench.contract.scaffold import class_name, module_name
from mlbench.testing import ModelCheckError, check_model

Cli = Callable[..., Result]
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "mlbench-extra-trees"
DOCS = ROOT / "docs"
SKLEARN_MODELS = sorted(name for name, entry in load_registry().models.items()
                        if entry.plugin == "scikit-learn")


def import_file(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"authoring_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def quiet_env(**changes: str) -> dict[str, str]:
    """The test's environment (private cache, built-in plugins only), writing no .pyc files
    into the repository when a subprocess imports from examples/."""
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **changes}


# ---------------------------------------------------------------- check_model, built-ins


@pytest.mark.parametrize("name", SKLEARN_MODELS)
def test_every_scikit_learn_model_passes_check_model(name: str) -> None:
    check_model(load_registry().models[name].cls)


@pytest.mark.long
@pytest.mark.parametrize("name", ["keras-cnn", "torch-cnn", "torch-cnn-fused"])
def test_the_cnns_pass_check_model(name: str) -> None:
    # 500 mnist-5k images, one epoch: about 10 s each on 2 cores, framework start-up included.
    try:
        check_model(load_registry().models[name].cls, params={"epochs": 1, "monitor": False})
    except mlbench.SkipJob as reason:
        pytest.skip(str(reason))


# ---------------------------------------------------------------- check_model, broken models


class Centroid(mlbench.Model):
    """Nearest class mean: a correct model, which each class below breaks in one way."""

    name = "centroid"
    defaults = {"temperature": 1.0}

    def fit(self, X: np.ndarray, y: np.ndarray) -> Any:
        self.classes_ = np.unique(y)
        self.means_ = np.stack([X[y == label].mean(axis=0) for label in self.classes_])
        return self

    def scores(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(-((X[:, None, :] - self.means_[None]) ** 2).sum(axis=2))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.classes_[self.scores(X).argmax(axis=1)])

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        weights = np.exp((self.scores(X) - self.scores(X).max(axis=1, keepdims=True))
                         / self.params["temperature"])
        return np.asarray(weights / weights.sum(axis=1, keepdims=True))


class BadName(Centroid):
    name = "Bad Name"


class WrongLength(Centroid):
    def predict(self, X: np.ndarray) -> np.ndarray:
        return super().predict(X)[:-1]


class UnseenLabels(Centroid):
    def predict(self, X: np.ndarray) -> np.ndarray:
        return super().predict(X) + 100


class ProbaNotNormalised(Centroid):
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return super().predict_proba(X) * 2


class FitReturnsNone(Centroid):
    def fit(self, X: np.ndarray, y: np.ndarray) -> Any:
        super().fit(X, y)
        return None


class NotReproducible(Centroid):
    def fit(self, X: np.ndarray, y: np.ndarray) -> Any:
        # Seeded from the OS, not from self.seed: no two fits see the same training images.
        rng = np.random.default_rng(int.from_bytes(os.urandom(8), "little"))
        half = rng.permutation(len(y))[: len(y) // 3]
        return super().fit(X[half], y[half])


class AcceptsAnything:
    """Duck-typed, without mlbench.Model: takes any param and ignores it."""

    name = "accepts-anything"

    def __init__(self, *, seed: int = 0, device: str = "cpu", **params: Any) -> None:
        self.seed = seed

    def fit(self, X: np.ndarray, y: np.ndarray) -> AcceptsAnything:
        self.majority_ = int(np.bincount(y).argmax())
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.full(len(X), self.majority_)


def test_a_correct_model_passes_check_model() -> None:
    check_model(Centroid)


@pytest.mark.parametrize(("model", "check", "detail"), [
    (BadName, "check_contract", "must be lower-case letters, digits"),
    (WrongLength, "check_predict_labels", "returned shape (299,) for 300 test images"),
    (UnseenLabels, "check_predict_labels", "labels never seen in training"),
    (ProbaNotNormalised, "check_predict_proba", "rows must sum to 1"),
    (FitReturnsNone, "check_fit_returns_self", "fit() returned NoneType"),
    (NotReproducible, "check_reproducible", "two fits with seed 0 disagree"),
    (AcceptsAnything, "check_refuses_unknown_params", "accepted an unknown param"),
])
def test_a_broken_model_fails_check_model_saying_how(model: type, check: str,
                                                      detail: str) -> None:
    with pytest.raises(ModelCheckError) as raised:
        check_model(model)
    message = str(raised.value)
    assert message.startswith(f"{model.__name__} (model {model.name!r}) failed {check}: ")
    assert detail in message and "\n" not in message


def test_a_model_that_skips_is_passed_through_for_the_test_to_decide() -> None:
    class Skips(Centroid):
        def fit(self, X: np.ndarray, y: np.ndarray) -> Any:
            raise mlbench.SkipJob("needs a framework that is not installed")

    with pytest.raises(mlbench.SkipJob, match="needs a framework"):
        check_model(Skips)


# ---------------------------------------------------------------- mlbench new-plugin


@pytest.mark.parametrize(("name", "module", "cls"), [
    ("my-model", "mlbench_my_model", "MyModel"),
    ("knn.v2", "mlbench_knn_v2", "KnnV2"),
    ("3nn", "mlbench_3nn", "Model3nn"),
])
def test_a_plugin_name_gives_a_valid_module_and_class(name: str, module: str, cls: str) -> None:
    assert (module_name(name), class_name(name)) == (module, cls)
    assert module.isidentifier() and cls.isidentifier()


@pytest.fixture
def skeleton(cli: Cli, tmp_path: Path) -> Path:
    result = cli("new-plugin", "my-model", "--dir", str(tmp_path / "work"))
    assert result.exit_code == 0, result.output
    return tmp_path / "work" / "my-model"


def test_new_plugin_writes_a_skeleton_that_passes_check_model(skeleton: Path) -> None:
    files = {str(path.relative_to(skeleton)) for path in skeleton.rglob("*") if path.is_file()}
    assert files == {"pyproject.toml", "mlbench_my_model.py", "tests/test_my_model.py",
                     "README.md"}
    assert '"my-model" = "mlbench_my_model"' in (skeleton / "pyproject.toml").read_text()
    readme = (skeleton / "README.md").read_text()
    assert "mlbench run --plugin mlbench_my_model.py --models my-model" in readme
    module = import_file(skeleton / "mlbench_my_model.py")
    assert module.MyModel.name == "my-model"
    check_model(module.MyModel)


def test_the_skeleton_runs_as_a_local_plugin(cli: Cli, skeleton: Path, tmp_path: Path) -> None:
    result = cli("run", "--plugin", str(skeleton / "mlbench_my_model.py"), "--models",
                 "my-model", "--dataset", "digits", "--name", "t", "-q")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(tmp_path / "results" / "t" / "results.csv")
    assert frame["model"].tolist() == ["my-model"] and frame["status"].tolist() == ["ok"]
    assert frame["accuracy"].iloc[0] > 0.8


def test_the_skeletons_own_test_passes(skeleton: Path) -> None:
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                           cwd=skeleton, env=quiet_env(), capture_output=True, text=True)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "1 passed" in tests.stdout


def test_the_skeleton_installs_and_is_discovered_through_its_entry_point(
    skeleton: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(skeleton)],
                   check=True, capture_output=True)
    env = quiet_env(PYTHONPATH=str(site))
    env.pop("MLBENCH_LOAD_PLUGINS")
    listing = subprocess.run([sys.executable, "-m", "mlbench.cli", "list"], env=env,
                             capture_output=True, text=True, check=True)
    assert "entry point mlbench_my_model (mlbench-my-model 0.1.0)" in listing.stdout
    assert "my-model" in listing.stdout and "error" not in listing.stderr


@pytest.mark.parametrize("name", ["My-Model", "_model", "my model", "my/model", ".."])
def test_new_plugin_refuses_a_bad_name(cli: Cli, tmp_path: Path, name: str) -> None:
    result = cli("new-plugin", name, "--dir", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr.startswith("mlbench: error: plugin name ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_new_plugin_never_overwrites_a_folder_nor_writes_into_a_file(
    cli: Cli, skeleton: Path
) -> None:
    (skeleton / "README.md").write_text("mine")
    result = cli("new-plugin", "my-model", "--dir", str(skeleton.parent))
    assert result.exit_code == 2
    expected = f"mlbench: error: {skeleton} already exists; choose another name or --dir"
    assert result.stderr.strip() == expected
    assert (skeleton / "README.md").read_text() == "mine"
    into_a_file = cli("new-plugin", "other", "--dir", str(skeleton / "README.md"))
    assert into_a_file.exit_code == 2 and "is a file; give a folder" in into_a_file.stderr


# ---------------------------------------------------------------- examples/mlbench-extra-trees


def test_the_example_plugin_passes_check_model() -> None:
    module = import_file(EXAMPLE / "mlbench_extra_trees.py")
    check_model(module.ExtraTrees)


def test_the_example_plugins_own_tests_pass() -> None:
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q"], cwd=EXAMPLE,
                           env=quiet_env(), capture_output=True, text=True)
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "2 passed" in tests.stdout


# ---------------------------------------------------------------- the guides in docs/


def guide_files(page: Path) -> dict[str, str]:
    """The files a guide shows whole: each Python block whose first line is `# NAME.py`."""
    blocks = re.findall(r"^```python\n(.*?)^```", page.read_text(), re.MULTILINE | re.DOTALL)
    return {match.group(1): block for block in blocks
            if (match := re.match(r"# ([\w.-]+\.py)\n", block))}


def guide_commands(page: Path) -> list[list[str]]:
    """The guide's `mlbench ...` commands, in order, as arguments (comments left out)."""
    blocks = re.findall(r"^```bash\n(.*?)^```", page.read_text(), re.MULTILINE | re.DOTALL)
    lines = [shlex.split(line, comments=True) for block in blocks for line in block.splitlines()]
    return [words[1:] for words in lines if words[:1] == ["mlbench"]]


def follow(page: Path, folder: Path) -> list[list[str]]:
    """Write the guide's files into ``folder`` (as a reader saves them) and return its
    commands."""
    files = guide_files(page)
    assert files, f"{page.name} shows no whole file"
    for name, source in files.items():
        (folder / name).write_text(source)
    return guide_commands(page)


def models_of(words: list[str]) -> list[str]:
    return words[words.index("--models") + 1].split(",")


def test_the_plugin_guide_runs_as_written(cli: Cli, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/plugins.md, in a fresh folder: its plugin files saved, every `mlbench` command it
    shows run in order (new-plugin, then runs of each plugin), and its check_model test."""
    monkeypatch.chdir(tmp_path)
    commands = follow(DOCS / "plugins.md", tmp_path)
    runs = [words for words in commands if words[:2] == ["run", "--plugin"]]
    assert len(runs) >= 3, commands  # the two files, and the new-plugin skeleton
    for number, words in enumerate(commands):
        if words[0] == "new-plugin" or words in runs:
            result = cli(*words, *(["--name", f"run{number}", "-q"] if words in runs else []))
            assert result.exit_code == 0, f"mlbench {shlex.join(words)}: {result.output}"
        if words in runs:
            frame = pd.read_csv(tmp_path / "results" / f"run{number}" / "results.csv")
            assert sorted(frame["model"]) == sorted(models_of(words))
            assert (frame["status"] == "ok").all(), frame[["model", "error"]]
            assert (frame["accuracy"] > 0.7).all(), frame[["model", "accuracy"]]
    # The guide's test of its model, as pytest would run it from that folder.
    monkeypatch.syspath_prepend(str(tmp_path))
    test_module = import_file(tmp_path / "test_my_models.py")
    for name in dir(test_module):
        if name.startswith("test_"):
            getattr(test_module, name)()


def test_a_dataset_plugin_written_from_the_guide_runs(tmp_path: Path) -> None:
    """docs/datasets.md's dataset plugin, saved as the guide says and run with the guide's
    own command by the `mlbench` command line, in a fresh process: the results table names
    the new dataset, and its arrays are cached where the guide says."""
    commands = follow(DOCS / "datasets.md", tmp_path)
    [words] = [words for words in commands if "--plugin" in words]
    dataset = words[words.index("--dataset") + 1]
    run = subprocess.run([sys.executable, "-m", "mlbench.cli", *words, "--name", "guide",
                          "--no-report"], cwd=tmp_path, env=quiet_env(),
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert dataset in run.stdout and all(model in run.stdout for model in models_of(words))
    frame = pd.read_csv(tmp_path / "results" / "guide" / "results.csv")
    assert sorted(frame["model"]) == sorted(models_of(words))
    assert (frame["dataset"] == dataset).all() and (frame["status"] == "ok").all()
    assert (frame["accuracy"] > 0.8).all(), frame[["model", "accuracy"]]
    assert (Path(os.environ["MLBENCH_CACHE_DIR"]) / dataset / "arrays" / "manifest.json").exists()
