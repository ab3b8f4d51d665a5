"""`--format json`: `mlbench run`, `report` and `compare` print one strict JSON document on
stdout (every results column, the Summary's verdicts) and nothing else; NaN and infinity are
written as null; a non-finite param value is one line before anything runs."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from click.testing import Result

import mlbench
from mlbench.errors import UsageError
from mlbench.reporting.document import escape_markdown
from mlbench.reporting.json_documents import dumps
from mlbench.results.table import COLUMN_NAMES
from tests.conftest import assert_one_line_error

Cli = Callable[..., Result]


def strict(text: str) -> Any:
    """``text`` as JSON, refusing NaN and Infinity (Python's json module would accept them)
    and anything after the one document."""

    def reject(constant: str) -> None:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=reject)


def check_results(document: dict[str, Any], jobs: int) -> None:
    assert document["columns"] == COLUMN_NAMES
    assert len(document["results"]) == jobs
    for row in document["results"]:
        assert list(row) == COLUMN_NAMES
        assert row["status"] == "ok" and 0 < row["accuracy"] <= 1


def test_run_prints_one_document_with_every_column_and_the_summary(tmp_path: Path) -> None:
    # As a user pipes it: the real command, its stdout read by another program.
    command = [sys.executable, "-m", "mlbench.cli", "run", "--models", "knn,logistic", "--dataset",
               "digits", "--format", "json", "-o", str(tmp_path / "results")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    piped = subprocess.run([sys.executable, "-c", "import json,sys; json.load(sys.stdin)"],
                           input=done.stdout, capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0, piped.stderr
    document = strict(done.stdout)
    assert document["kind"] == "run" and document["dataset"] == "digits"
    check_results(document, jobs=2)
    # Values JSON cannot hold are null: no job held validation images out.
    assert all(row["validation_accuracy"] is None for row in document["results"])
    # The Summary's verdicts, the very sentences of the report written beside it.
    run = Path(document["run_dir"])
    report = (run / "report.md").read_text()
    assert len(document["summary"]) == 5 and document["summary"][0].startswith("Most accurate")
    for line in document["summary"]:
        assert escape_markdown(line) in report
    assert document["report"] == {"html": str(run / "report.html"),
                                  "markdown": str(run / "report.md")}
    # Progress, the report's path and the saved results' place: on stderr, never stdout.
    assert "mlbench: 2 jobs to run" in done.stderr and "report in" in done.stderr


def make_run(cli: Cli, tmp_path: Path, name: str, *options: str) -> Path:
    result = cli("run", "-d", "digits", "-q", "--name", name, "-m", "knn,naive-bayes", *options)
    assert result.exit_code == 0, result.output
    return tmp_path / "results" / name


def test_report_and_compare_print_one_document(cli: Cli, tmp_path: Path) -> None:
    base = make_run(cli, tmp_path, "base")
    small = make_run(cli, tmp_path, "small", "--train-size", "100")

    report = cli("report", str(base), "--format", "json")
    assert report.exit_code == 0, report.output
    document = strict(report.stdout)
    check_results(document, jobs=2)
    assert document["summary"][0].startswith("Most accurate")
    assert all(escape_markdown(line) in (base / "report.md").read_text()
               for line in document["summary"])

    compared = cli("compare", str(base), str(small), "--format", "json",
                   "--output", str(tmp_path / "compare"))
    assert compared.exit_code == 0, compared.output
    comparison = strict(compared.stdout)
    assert comparison["kind"] == "comparison" and comparison["base"] == "base"
    assert [run["run"] for run in comparison["runs"]] == ["base", "small"]
    for run in comparison["runs"]:
        check_results(run, jobs=2)
    # The verdicts, as the comparison's own figures give them: 100 training images
    # instead of 1,437 cost k-NN accuracy.
    flagged = sum(row[flag] is True for row in comparison["deltas"]
                  for flag in ("accuracy_flag", "fit_flag", "predict_flag"))
    assert {row["model"] for row in comparison["deltas"]} == {"knn", "naive-bayes"}
    assert next(row for row in comparison["deltas"] if row["model"] == "knn")[
        "accuracy_delta"] < 0
    assert flagged >= 1 and comparison["summary"] == [
        f"small against base: 2 model(s) compared; {flagged} difference(s) beyond chance or "
        "the timing noise (below)."]
    assert len(comparison["flagged"]) == flagged and comparison["differences"]
    # The line that says where the comparison went is on stderr with --format json.
    assert "mlbench: comparison in" in compared.stderr
    assert (tmp_path / "compare" / "compare.html").exists()


NOISY_PLUGIN = '''
import mlbench

print("a plugin that prints on import")


class Failing(mlbench.Model):
    """Fails to fit, after printing."""
    name = "failing"

    def fit(self, X, y):
        print("fitting, noisily")
        raise RuntimeError("no fit today")

    def predict(self, X):
        return X[:, 0]


@mlbench.hookimpl
def mlbench_register_models(register):
    print("registering, noisily")
    register(Failing)
'''


def test_a_noisy_plugin_and_a_failed_job_keep_stdout_one_document(
        cli: Cli, write_plugin: Callable[[str, str], Path]) -> None:
    plugin = write_plugin("noisy", NOISY_PLUGIN)
    result = cli("run", "--plugin", str(plugin), "-m", "failing,naive-bayes", "-d", "digits",
                 "--format", "json")
    assert result.exit_code == 1, result.output  # a job failed: exit 1, the document still
    document = strict(result.stdout)
    statuses = {row["model"]: (row["status"], row["error"]) for row in document["results"]}
    assert statuses["naive-bayes"] == ("ok", None)
    assert statuses["failing"][0] == "failed" and "no fit today" in statuses["failing"][1]
    assert document["summary"][0].startswith("Only one model to rank: naive-bayes")
    # What the plugin printed in this process went to stderr, not into the document.
    assert "a plugin that prints on import" in result.stderr
    assert "registering, noisily" in result.stderr


def test_estimate_prints_one_document(cli: Cli) -> None:
    result = cli("run", "-m", "knn", "-d", "digits", "--estimate", "--format", "json")
    assert result.exit_code == 0, result.output
    document = strict(result.stdout)
    assert document["kind"] == "estimate" and document["jobs"][0]["model"] == "knn"
    assert document["total_seconds"] > 0


def test_values_json_cannot_hold_are_null() -> None:
    frame = pd.DataFrame({"a": [1.0, math.inf, -math.inf, math.nan],
                          "b": pd.array([1, None, 3, 4], dtype="Int64"),
                          "c": pd.array(["x", None, "z", "w"], dtype="string")})
    text = dumps({"rows": frame.to_dict("records"), "n": np.float32("nan"),
                  "m": np.int64(7), "t": pd.NaT, "path": Path("results")})
    assert strict(text) == {
        "rows": [{"a": 1.0, "b": 1, "c": "x"}, {"a": None, "b": None, "c": None},
                 {"a": None, "b": 3, "c": "z"}, {"a": None, "b": 4, "c": "w"}],
        "n": None, "m": 7, "t": None, "path": "results"}


@pytest.mark.parametrize("option", ["svm.C=1e309", "svm.C=inf", "svm.C=nan",
                                    "svm.C=-Infinity", "svm.gamma=nan"])
def test_a_non_finite_param_is_one_line_before_anything_runs(
        cli: Cli, tmp_path: Path, option: str) -> None:
    result = cli("run", "-m", "svm", "-d", "digits", "--param", option, "--format", "json")
    name = option.partition("=")[0]
    assert_one_line_error(result, f"{name} must be a finite number, got ", tmp_path / "results")
    assert result.stdout == ""
    swept = cli("run", "-m", "svm", "-d", "digits", "--sweep", "svm.C=1,1e309")
    assert_one_line_error(swept, "svm.C must be a finite number, got inf; a number beyond "
                          "1.8e308 reads as inf", tmp_path / "results")


def test_a_non_finite_param_from_python_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"svm\.C must be a finite number, got nan"):
        mlbench.run(models=["svm"], dataset="digits", params={"svm": {"C": float("nan")}},
                    output_dir=tmp_path)
    assert not (tmp_path).joinpath("results").exists() and not any(tmp_path.iterdir())
