"""Plugin discovery: built-ins, local files and folders, installed packages, broken plugins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from click.testing import Result

from mlbench.contract.registry import load_registry
from mlbench.errors import UsageError
from mlbench.results.run import Run

Cli = Callable[..., Result]
WritePlugin = Callable[[str, str], Path]

CENTROID = '''
import numpy as np
import mlbench

class Centroid(mlbench.Model):
    """Nearest class mean."""
    name = "{name}"
    tags = ("local",)
    defaults = {{"shrink": 0.0}}

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.means_ = np.stack([X[y == c].mean(axis=0) for c in self.classes_])
        return self

    def predict(self, X):
        distances = ((X[:, None, :] - self.means_[None]) ** 2).sum(axis=2)
        return self.classes_[distances.argmin(axis=1)]

@mlbench.hookimpl
def mlbench_register_models(register):
    register(Centroid)
'''


def test_builtins_load_through_the_entry_point() -> None:
    registry = load_registry()
    expected = {"linear", "logistic", "naive-bayes", "knn", "svm", "random-forest",
                "perceptron", "mlp"}
    assert expected <= set(registry.models)
    assert {registry.models[name].plugin for name in expected} == {"scikit-learn"}
    assert registry.plugins["scikit-learn"].source.startswith(
        "entry point mlbench_plugins.scikit_learn")
    assert set(registry.datasets) >= {"mnist", "mnist-5k", "digits"}
    assert registry.problems == []
    assert "plugins" not in sys.modules  # nothing installs a generic top-level `plugins`


def test_selection_by_name_and_tag() -> None:
    registry = load_registry()
    assert registry.select_models("svm,knn") == ["svm", "knn"]
    assert registry.select_models("linear-models,linear") == ["linear", "logistic",
                                                              "perceptron"]
    assert set(registry.select_models("all")) == set(registry.models)
    with pytest.raises(UsageError, match="Did you mean 'random-forest'"):
        registry.select_models("random-forrest")


def test_local_file_plugin_is_listed_and_runs(
    cli: Cli, tmp_path: Path, write_plugin: WritePlugin
) -> None:
    path = write_plugin("centroid", CENTROID.format(name="centroid"))
    listing = cli("list", "--plugin", str(path))
    assert "centroid" in listing.stdout and str(path) in listing.stdout
    result = cli("run", "--plugin", str(path), "-m", "centroid,linear", "-d", "digits",
                 "--name", "t", "-q")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(tmp_path / "results" / "t" / "results.csv").set_index("model")
    assert frame.loc["centroid", "status"] == "ok"
    assert frame.loc["centroid", "accuracy"] > 0.8  # nearest mean does well on digits
    assert frame.loc["centroid", "plugin"] == "centroid"


def test_plugin_folder_from_environment(
    cli: Cli, write_plugin: WritePlugin, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_plugin("one", CENTROID.format(name="centroid-one")).parent
    (folder / "two.py").write_text(textwrap.dedent(CENTROID.format(name="centroid-two")))
    monkeypatch.setenv("MLBENCH_PLUGINS", str(folder))
    registry = load_registry()
    assert {"centroid-one", "centroid-two"} <= set(registry.models)
    assert cli("run", "-m", "local", "-d", "digits", "-q").exit_code == 0


@pytest.mark.parametrize("value", ["bad::", f"{os.pathsep}no_such_plugin.py"])
def test_a_bad_path_in_the_environment_is_one_line_naming_the_variable(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("MLBENCH_PLUGINS", value)
    result = cli("list")
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("mlbench: error: plugin path ") and "does not exist" in line
    assert line.endswith(f"(it comes from MLBENCH_PLUGINS={value!r}: fix or unset it)")


BROKEN = {
    "import_error": ("import not_a_real_module_xyz\n",
                     "plugin 'import_error' ({path}) failed to load: ModuleNotFoundError: "
                     "No module named 'not_a_real_module_xyz'"),
    "duplicate": (CENTROID.format(name="knn"),
                  "plugin 'duplicate': model name 'knn' is already registered by plugin "
                  "'scikit-learn'; rename Centroid.name"),
    "no_predict": ('''
        import mlbench
        class NoPredict:
            name = "no-predict"
            def fit(self, X, y): return self
        @mlbench.hookimpl
        def mlbench_register_models(register):
            register(NoPredict)
        ''', "plugin 'no_predict': model class NoPredict left out: has no predict() method"),
    "bad_growth": ('''
        import mlbench
        class Steep:
            name = "steep"
            fit_growth = "fast"
            def fit(self, X, y): return self
            def predict(self, X): return X[:, 0]
        @mlbench.hookimpl
        def mlbench_register_models(register):
            register(Steep)
        ''', "plugin 'bad_growth': model class Steep left out: fit_growth must be "
               "a number from 0 to 3, not 'fast'"),
    "bad_colour": (CENTROID.format(name="tinted").replace(
        '"local",)', '"local",)\n    colour = "blue"'),
        "plugin 'bad_colour': model class Centroid left out: colour must be a hex colour such "
        "as '#1f77b4', not 'blue'"),
    "raising_hook": ('''
        import mlbench
        @mlbench.hookimpl
        def mlbench_register_models(register):
            raise KeyError("boom")
        ''', "plugin 'raising_hook': mlbench_register_models raised KeyError: 'boom'"),
    "misspelt": ('''
        import mlbench
        @mlbench.hookimpl
        def mlbench_register_model(register):
            pass
        ''', "plugin 'misspelt' ({path}) failed to load: PluginValidationError: unknown hook "
             "'mlbench_register_model'"),
    "no_hookimpl": (CENTROID.format(name="undecorated").replace("@mlbench.hookimpl\n", ""),
                    "plugin 'no_hookimpl' ({path}) registered nothing: is its hook function "
                    "named mlbench_register_models and decorated with @mlbench.hookimpl?"),
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_broken_plugin_is_reported_in_one_line_and_others_run(
    cli: Cli, tmp_path: Path, write_plugin: WritePlugin, kind: str
) -> None:
    source, message = BROKEN[kind]
    path = write_plugin(kind, textwrap.dedent(source))
    good = write_plugin("good", CENTROID.format(name="centroid"))
    registry = load_registry([path, good])
    assert len(registry.problems) == 1
    assert registry.problems[0].startswith(message.format(path=path)), registry.problems[0]
    assert "centroid" in registry.models and "knn" in registry.models

    result = cli("run", "--plugin", str(path), "--plugin", str(good), "-m", "centroid,knn",
                 "-d", "digits", "--name", "t", "-q")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and kind in warnings[0]
    frame = pd.read_csv(tmp_path / "results" / "t" / "results.csv").set_index("model")
    assert frame.loc["knn", "plugin"] == "scikit-learn"  # the duplicate did not replace it
    assert set(frame["status"]) == {"ok"}


def test_html_in_names_and_errors_is_printed_as_text(
    cli: Cli, tmp_path: Path, write_plugin: WritePlugin
) -> None:
    path = write_plugin("markup", '''
        import mlbench
        class Markup(mlbench.Model):
            name = "markup"
            def fit(self, X, y):
                raise ValueError("[bold]<script>alert(1)</script>[/bold]")
            def predict(self, X):
                return X
        @mlbench.hookimpl
        def mlbench_register_models(register):
            register(Markup)
        ''')
    result = cli("run", "--plugin", str(path), "-m", "markup", "-d", "digits", "-q")
    assert result.exit_code == 1
    assert "[bold]<script>alert(1)</script>[/bold]" in result.stdout


def test_installed_package_is_discovered_through_the_entry_point(tmp_path: Path) -> None:
    package = tmp_path / "mlbench-centroid"
    (package / "mlbench_centroid").mkdir(parents=True)
    (package / "mlbench_centroid" / "__init__.py").write_text(
        textwrap.dedent(CENTROID.format(name="installed-centroid")))
    (package / "pyproject.toml").write_text(textwrap.dedent('''
        [build-system]
        requires = ["setuptools"]
        build-backend = "setuptools.build_meta"
        [project]
        name = "mlbench-centroid"
        version = "1.0"
        [project.entry-points.mlbench]
        centroid = "mlbench_centroid"
        '''))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(package)],
                   check=True, capture_output=True)
    # The package's folder first, the test's own import path kept (the mlbench under test).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(site), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.pop("MLBENCH_LOAD_PLUGINS")
    listing = subprocess.run([sys.executable, "-m", "mlbench.cli", "list"], env=env,
                             capture_output=True, text=True, check=True)
    assert "installed-centroid" in listing.stdout
    assert "entry point mlbench_centroid (mlbench-centroid 1.0)" in listing.stdout
    run = subprocess.run([sys.executable, "-m", "mlbench.cli", "run", "-m",
                          "installed-centroid", "-d", "digits", "-o", str(tmp_path / "out"),
                          "--name", "t", "-q"],
                         env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    frame = pd.read_csv(tmp_path / "out" / "t" / "results.csv")
    assert frame["plugin"].tolist() == ["centroid"] and frame["status"].tolist() == ["ok"]
    # Written against the docs before colours and ranges: its report still comes out whole.
    assert "warning" not in run.stderr
    report = (tmp_path / "out" / "t" / "report.md").read_text()
    assert "installed-centroid" in report and "## Reference ranges" in report


def test_unknown_model_error_names_the_plugin_that_failed(
    cli: Cli, write_plugin: WritePlugin
) -> None:
    path = write_plugin("typo", "import mlbench\nimport no_such_module_here\n")
    result = cli("run", "--plugin", str(path), "-m", "my-model", "-d", "digits", "-q")
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(lines) == 1 and "unknown model or tag 'my-model'" in lines[0]
    assert "Plugin problems: plugin 'typo'" in lines[0] and "no_such_module_here" in lines[0]


def test_plugin_folder_skips_tests_and_can_import_its_neighbours(
    write_plugin: WritePlugin,
) -> None:
    write_plugin("_shared", "NAME = 'neighbour'\n")
    plugin = write_plugin("uses_neighbour", CENTROID.format(name="x").replace(
        'name = "x"', "from _shared import NAME\n    name = NAME"))
    write_plugin("test_uses_neighbour", "import uses_neighbour  # a test, not a plugin\n")
    registry = load_registry([plugin.parent])
    assert registry.problems == []
    assert "neighbour" in registry.models and "test_uses_neighbour" not in registry.plugins


# A plugin's own colour and published range, as docs/plugins.md shows them: the majority class
# on digits is far below its "published" 0.99-1.0, so the report must warn.
SHOWN = CENTROID.replace('    tags = ("local",)', '''    tags = ("local",)
    colour = "#123456"
    reference_accuracy = (mlbench.ReferenceAccuracy(
        "digits", 500, 0.99, 1.0, source="a figure of this test's own: 99.5%"),)''').replace(
    "return self.classes_[distances.argmin(axis=1)]", "return np.full(len(X), self.classes_[0])")


def test_a_plugin_s_colour_and_range_reach_the_report_through_run_json(
    cli: Cli, tmp_path: Path, write_plugin: WritePlugin
) -> None:
    path = write_plugin("shown", SHOWN.format(name="shown"))
    result = cli("run", "--plugin", str(path), "-m", "shown,naive-bayes", "-d", "digits",
                 "--train-size", "500", "--name", "t", "-q", report=True)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "results" / "t"
    info = Run.open(folder).info  # what the reports read: run.json, never the plugin
    assert info.model_colours() == {"shown": "#123456", "naive-bayes": "#e377c2"}
    assert [(r.dataset, r.train_size) for r in info.models["shown"].reference_accuracy] == [
        ("digits", 500)]
    report = (folder / "report.md").read_text()
    assert "Outside the published accuracy range: shown" in report
    assert "a figure of this test's own" in report

    # A run saved before run.json recorded them still reports: hashed colours, not judged.
    saved = json.loads((folder / "run.json").read_text())
    del saved["models"]
    (folder / "run.json").write_text(json.dumps(saved))
    again = cli("report", str(folder))
    assert again.exit_code == 0, again.output
    report = (folder / "report.md").read_text()
    assert "Outside the published accuracy range" not in report
    assert "No model of this run has published accuracy figures recorded" in report


@pytest.mark.parametrize(("ranges", "problem"), [
    ('"mnist 0.9-1"', "reference_accuracy must be a list of mlbench.ReferenceAccuracy"),
    ('(mlbench.ReferenceAccuracy("mnist", 60000, 0.99, 0.9, source="x"),)',
     "reference_accuracy on mnist: needs 0 <= low <= high <= 1 and a source, got 0.99-0.9"),
])
def test_a_bad_reference_range_leaves_the_model_out_in_one_line(
    write_plugin: WritePlugin, ranges: str, problem: str
) -> None:
    path = write_plugin("ranged", CENTROID.format(name="ranged").replace(
        '"local",)', f'"local",)\n    reference_accuracy = {ranges}'))
    registry = load_registry([path])
    assert "ranged" not in registry.models
    assert registry.problems == [
        f"plugin 'ranged': model class Centroid left out: {problem}"]
