"""A job that differs from its model's defaults says how (the results' `variant` column): in
its record, the terminal table, the report and `mlbench compare`, where a model run with
other settings is a row of its own, never compared as if it were the default."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from click.testing import Result

from mlbench.reporting.compare import compare_runs, open_runs
from mlbench.reporting.compare_report import display_table
from mlbench.reporting.tables import model_labels
from mlbench.results.naming import typed_text, variant_text
from mlbench.results.table import read_table
from mlbench.running.params import parse_value

Cli = Callable[..., Result]


def run(cli: Cli, tmp_path: Path, name: str, *options: str, report: bool = False) -> Result:
    result = cli("run", "-d", "digits", "--name", name, *options, report=report)
    assert result.exit_code == 0, result.output
    return result


def variants(tmp_path: Path, name: str) -> dict[str, str]:
    frame = read_table(tmp_path / "results" / name / "results.csv")
    return dict(zip(frame["job_id"], frame["variant"].fillna(""), strict=True))


@pytest.mark.parametrize("value", [10.0, 0.001, 1e-7, "jax", "10", "True", True, None,
                                   (100, 50), (100,), [3, 4]])
def test_a_value_reads_as_typed_after_param(value: object) -> None:
    assert parse_value(typed_text(value)) == value
    assert " " not in typed_text(value)  # ", " separates a variant's settings


def test_variant_names_each_param_off_its_default_then_threads() -> None:
    defaults = {"n_neighbors": 3, "weights": "uniform", "C": 1.0, "layers": [100]}
    # weights and layers: their defaults (--param gives a list default's value as a tuple).
    given = {"C": 10.0, "weights": "uniform", "n_neighbors": 5, "layers": (100,)}
    assert variant_text(given, defaults) == "n_neighbors=5, C=10"  # the model's order
    assert variant_text(given, defaults, threads=2) == "n_neighbors=5, C=10, threads=2"
    assert variant_text({}, defaults) == ""


def test_a_job_off_its_defaults_is_labelled_in_the_table_the_report_and_compare(
    cli: Cli, tmp_path: Path
) -> None:
    shown = run(cli, tmp_path, "a", "-m", "knn,naive-bayes", "-p", "knn.weights=distance",
                report=True)
    run(cli, tmp_path, "b", "-m", "knn,naive-bayes", "-q")
    run(cli, tmp_path, "c", "-m", "knn", "-p", "knn.weights=distance", "-q")
    assert variants(tmp_path, "a") == {"knn-cpu-r0": "weights=distance", "naive-bayes-cpu-r0": ""}
    assert variants(tmp_path, "b") == {"knn-cpu-r0": "", "naive-bayes-cpu-r0": ""}

    # The terminal's progress, results table and Summary, and the report's tables.
    assert "] knn weights=distance on cpu, repeat 0: ok (" in shown.stderr
    assert "] naive-bayes on cpu, repeat 0: ok (" in shown.stderr
    table = shown.stdout.split("Summary:")[0]
    rows = [line.split() for line in table.splitlines()]  # one row per model
    assert ["knn", "weights=distance"] in [row[:2] for row in rows]
    assert ["naive-bayes"] in [row[:1] for row in rows if row[1:2] != ["weights=distance"]]
    assert "knn weights=distance" in shown.stdout.split("Summary:")[1]
    report = (tmp_path / "results" / "a" / "report.md").read_text()
    results = report.split("## Results")[1].split("\n## ")[0]
    assert "| knn weights=distance " in results and "| naive-bayes " in results

    # compare: the same settings are compared; other settings are rows of their own.
    a, b, c = (tmp_path / "results" / name for name in "abc")
    apart = compare_runs(open_runs([a, b]))
    assert set(apart.deltas["model"]) == {"naive-bayes"}
    assert apart.missing == ["knn (cpu): only in b; not in a",
                             "knn weights=distance (cpu): only in a; not in b"]
    assert set(display_table(apart)["model"]) == {"knn", "knn weights=distance", "naive-bayes"}
    assert set(compare_runs(open_runs([a, c])).deltas["model"]) == {"knn weights=distance"}
    result = cli("compare", str(a), str(b), "--output", str(tmp_path / "compare"))
    assert result.exit_code == 0, result.output
    assert "knn weights=distance" in result.stdout


def test_swept_params_stay_in_sweep_and_threads_show_when_set(cli: Cli, tmp_path: Path) -> None:
    run(cli, tmp_path, "grid", "-m", "knn", "-q", "--sweep", "knn.n_neighbors=1,3",
        "-p", "knn.weights=distance", "--threads", "1", "--validation", "0")
    frame = read_table(tmp_path / "results" / "grid" / "results.csv")
    assert set(frame["variant"]) == {"weights=distance, threads=1"}
    assert set(model_labels(frame)) == {"knn weights=distance, threads=1, n_neighbors=1",
                                        "knn weights=distance, threads=1, n_neighbors=3"}


def test_a_run_saved_before_the_column_reads_as_default(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    pd.DataFrame({"job_id": ["knn-cpu-r0"], "model": ["knn"], "device": ["cpu"],
                  "status": ["ok"]}).to_csv(path, index=False)
    frame = read_table(path)
    assert frame["variant"].isna().all() and list(model_labels(frame)) == ["knn"]


def test_an_estimate_names_the_job_with_its_variant(cli: Cli) -> None:
    result = cli("run", "-m", "knn", "-d", "digits", "-p", "knn.weights=distance", "--estimate")
    assert result.exit_code == 0, result.output
    assert "│ knn weights=distance │" in result.stdout
