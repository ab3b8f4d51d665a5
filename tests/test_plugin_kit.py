"""The plugin kit as a new author meets it: `new-plugin --from` an estimator and the commands
it prints, names that are taken or not allowed, `list --params`, bool params, completion."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
import textwrap
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from click.testing import Result

from tests.conftest import assert_one_line_error, stderr_lines

Cli = Callable[..., Result]


def fresh_venv(folder: Path) -> dict[str, str]:
    """A new virtual environment that sees this one's packages (mlbench, scikit-learn, pytest:
    already installed, so nothing is downloaded but the plugin's build backend) and has an
    `mlbench` command, as `pip install mlbench` would leave it; the environment to run in."""
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    site = subprocess.run([folder / "bin" / "python", "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    # addsitedir, not a bare path: it also reads this environment's .pth files (the editable
    # install of mlbench itself is one).
    (Path(site) / "parent-environment.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    script = folder / "bin" / "mlbench"  # what pip writes for a console script
    script.write_text(f"#!{folder / 'bin' / 'python'}\nimport sys\nfrom mlbench.cli import main\n"
                      "if __name__ == '__main__':\n    sys.exit(main())\n")
    script.chmod(0o755)
    env = {key: value for key, value in os.environ.items()
           if key not in {"VIRTUAL_ENV", "PYTHONPATH", "MLBENCH_LOAD_PLUGINS"}}
    return {**env, "PATH": f"{folder / 'bin'}{os.pathsep}{env['PATH']}",
            "VIRTUAL_ENV": str(folder), "PYTHONDONTWRITEBYTECODE": "1"}


def test_a_plugin_from_an_estimator_installs_tests_and_runs_as_printed(tmp_path: Path) -> None:
    """`new-plugin my-trees --from sklearn.ensemble.ExtraTreesClassifier`, then each command it
    prints, in a fresh virtual environment: the plugin as a local file, installed with its
    test (which passes), and run beside knn, found through its entry point."""
    env = fresh_venv(tmp_path / "venv")
    work = tmp_path / "work"
    work.mkdir()
    created = subprocess.run(["mlbench", "new-plugin", "my-trees", "--from",
                              "sklearn.ensemble.ExtraTreesClassifier"], cwd=work, env=env,
                             capture_output=True, text=True)
    assert created.returncode == 0, created.stderr
    source = (work / "my-trees" / "mlbench_my_trees.py").read_text()
    assert "class MyTrees(mlbench.EstimatorModel)" in source
    assert '"n_estimators": 100,' in source and '"max_features": "sqrt",' in source
    assert "random_state=self.seed" in source and '"random_state"' not in source
    commands = [line.strip() for line in created.stdout.splitlines()[1:]]
    assert len(commands) == 3, created.stdout
    outputs = []
    for number, command in enumerate(commands):
        if command.startswith("mlbench run"):  # its own results folder, and quick
            command += f" --output-dir {shlex.quote(str(tmp_path / 'results'))} " \
                       f"--name run{number} --no-report -q"
        done = subprocess.run(command, shell=True, cwd=work, env=env, capture_output=True,
                              text=True)
        assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"
        outputs.append(done.stdout)
    assert "1 passed" in outputs[1]
    for number, models in ((0, ["my-trees"]), (2, ["knn", "my-trees"])):
        frame = pd.read_csv(tmp_path / "results" / f"run{number}" / "results.csv")
        assert sorted(frame["model"]) == models
        assert (frame["status"] == "ok").all() and (frame["accuracy"] > 0.8).all()


@pytest.mark.parametrize(("name", "message"), [
    ("knn", "'knn' is already a model of plugin 'scikit-learn'"),
    ("ensembles", "'ensembles' is already a tag"),
])
def test_new_plugin_refuses_a_name_already_registered(cli: Cli, tmp_path: Path, name: str,
                                                      message: str) -> None:
    result = cli("new-plugin", name, "--dir", str(tmp_path / "work"))
    assert_one_line_error(result, message, tmp_path / "work")


@pytest.mark.parametrize(("estimator", "message"), [
    ("sklearn.linear_model.LinearRegression", "LinearRegression is not a classifier"),
    ("sklearn.ensemble.NoSuchForest", "sklearn.ensemble has no class NoSuchForest"),
    ("no_such_package.Model", "cannot import no_such_package"),
    ("ExtraTreesClassifier", "is not a dotted path to a class"),
    ("sklearn.ensemble.StackingClassifier", "cannot be built with its defaults"),
])
def test_new_plugin_from_refuses_what_it_cannot_wrap(cli: Cli, tmp_path: Path, estimator: str,
                                                      message: str) -> None:
    result = cli("new-plugin", "mine", "--from", estimator, "--dir", str(tmp_path / "work"))
    assert_one_line_error(result, message, tmp_path / "work")


BAD_NAME = textwrap.dedent("""\
    import mlbench
    import numpy as np


    class Mine(mlbench.Model):
        name = "my/model"

        def fit(self, X, y):
            self.label_ = np.bincount(y).argmax()
            return self

        def predict(self, X):
            return np.full(len(X), self.label_)


    @mlbench.hookimpl
    def mlbench_register_models(register):
        register(Mine)
    """)


def test_a_model_name_that_breaks_the_rule_is_one_short_line(cli: Cli, tmp_path: Path) -> None:
    """The model asked for was refused by its plugin: the run says why in one short line
    naming the rule (not the list of every valid name), and `list` does not call the plugin
    ok."""
    plugin = tmp_path / "bad_name.py"
    plugin.write_text(BAD_NAME)
    result = cli("run", "--plugin", str(plugin), "--models", "my/model", "--dataset", "digits")
    assert_one_line_error(result, "model class Mine left out: its name 'my/model' must be "
                                  "lower-case letters, digits", tmp_path / "results")
    assert len(result.stderr) < 250 and "Valid:" not in result.stderr
    listing = cli("list", "--plugin", str(plugin))
    row = next(line for line in listing.stdout.splitlines() if "bad_name" in line)
    assert "its name 'my/model' must be" in row and " ok " not in row


def test_models_named_twice_are_named(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", "--models", "knn,svm,knn", "--dataset", "digits")
    assert_one_line_error(result, "--models names 'knn' more than once", tmp_path / "results")


def test_list_params_of_the_models_named(cli: Cli) -> None:
    result = cli("list", "--params", "svm,knn")
    assert result.exit_code == 0, result.output
    rows = [line.split("│")[1:4] for line in result.stdout.splitlines() if "│" in line]
    models = {cells[0].strip() for cells in rows}
    assert models == {"svm", "knn"}
    assert ["svm", "C", "5.0"] in [[cell.strip() for cell in cells] for cells in rows]
    everything = cli("list", "--params")  # no value: every table, and every model's params
    assert everything.exit_code == 0 and "Datasets" in everything.stdout
    assert "random-forest" in everything.stdout and "n_estimators" in everything.stdout
    unknown = cli("list", "--params", "nope")
    assert unknown.exit_code == 2 and "unknown model or tag 'nope'" in unknown.stderr


def test_a_bool_param_takes_true_and_false_from_the_command_line(cli: Cli,
                                                                 tmp_path: Path) -> None:
    result = cli("run", "--models", "linear", "--dataset", "digits", "--sweep",
                 "linear.fit_intercept=TRUE,no", "--validation", "0.2", "--name", "b", "-q")
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(tmp_path / "results" / "b" / "results.csv")
    assert sorted(frame["params"]) == ['{"fit_intercept": false}', '{"fit_intercept": true}']
    assert (frame["status"] == "ok").all()
    refused = cli("run", "--models", "linear", "--param", "linear.fit_intercept=maybe")
    assert refused.exit_code == 2 and "expects true or false" in stderr_lines(refused)[0]


@pytest.mark.parametrize(("words", "expected"), [
    ("mlbench run --models knn,sv", {"knn,svm", "knn,svm-engines", "knn,svm-onedal"}),
    ("mlbench run --dataset mnist", {"mnist", "mnist-5k"}),
    ("mlbench list --params random-f", {"random-forest", "random-forest-engines",
                                         "random-forest-onedal"}),
])
def test_the_shell_completes_models_tags_and_datasets(words: str, expected: set[str]) -> None:
    """What bash's completion asks of `mlbench` (click's protocol, docs/cli.md)."""
    env = {**os.environ, "_MLBENCH_COMPLETE": "bash_complete", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - 1)}
    env.pop("MLBENCH_LOAD_PLUGINS", None)
    # The installed command: click names the variable after the program (_MLBENCH_COMPLETE).
    done = subprocess.run([Path(sys.executable).parent / "mlbench"], env=env,
                          capture_output=True, text=True, check=True)
    offered = {line.split(",", 1)[1] for line in done.stdout.splitlines()}
    assert offered == expected, done.stdout


UNCONVERGED = textwrap.dedent("""\
    from typing import Any

    import mlbench


    class Hasty(mlbench.EstimatorModel):
        name = "hasty"
        defaults = {"max_iter": 3}

        def build(self) -> Any:
            from sklearn.linear_model import LogisticRegression

            return LogisticRegression(**self.params)


    @mlbench.hookimpl
    def mlbench_register_models(register):
        register(Hasty)
    """)


def test_a_models_warning_reaches_the_terminal_and_the_report(cli: Cli, tmp_path: Path) -> None:
    """scikit-learn's real ConvergenceWarning (three iterations of lbfgs): one line in the
    terminal, and a line in the report's Failures section, naming the model and its jobs."""
    plugin = tmp_path / "hasty.py"
    plugin.write_text(UNCONVERGED)
    result = cli("run", "--plugin", str(plugin), "--models", "hasty,naive-bayes", "--dataset",
                 "digits", "--repeats", "2", "--name", "w", report=True)
    assert result.exit_code == 0, result.output
    notes = [line for line in stderr_lines(result) if line.startswith("mlbench: note: ")]
    assert len(notes) == 1, result.stderr
    assert notes[0].startswith("mlbench: note: hasty raised ConvergenceWarning: lbfgs failed "
                               "to converge")
    assert notes[0].endswith("(in 2 of 2 jobs)") and len(notes[0]) < 250
    report = (tmp_path / "results" / "w" / "report.md").read_text()
    failures = report[report.index("## Failures"):]
    assert "Warnings the models raised:" in failures
    assert notes[0].removeprefix("mlbench: note: ") in failures
    assert "naive-bayes raised" not in failures
