"""The terminal's results table: one row per model, at most 100 columns, no number cut, at
80, 100 and 120 columns alike."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from click.testing import Result
from rich.console import Console

from mlbench.cli.model_table import MAX_WIDTH, compact_table, model_rows, seconds_cell, shorten
from mlbench.results.table import read_table

Cli = Callable[..., Result]
ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "results" / "reference-mnist" / "results.csv"


def rendered(frame: pd.DataFrame, width: int) -> list[str]:
    """The table as a terminal ``width`` columns wide shows it."""
    out = io.StringIO()
    Console(file=out, width=width, color_system=None).print(
        compact_table(frame, "mlbench results", width))
    return out.getvalue().splitlines()


def test_every_number_whole_at_every_width(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", "--models", "sklearn", "--dataset", "digits", "--repeats", "2",
                 "--name", "r", "-q")
    assert result.exit_code == 0, result.output
    frame = read_table(tmp_path / "results" / "r" / "results.csv")
    for width in (80, 100, 120):
        check_width(frame, width)


def check_width(frame: pd.DataFrame, width: int) -> None:
    lines = rendered(frame, width)
    assert max(len(line.rstrip()) for line in lines) <= min(width, MAX_WIDTH)
    rows = model_rows(frame)
    body = [line for line in lines if re.match(r"^ ?\S", line) and "│" not in line]
    for _, row in rows.iterrows():
        line = next(line for line in lines if line.strip().startswith(
            shorten(str(row["label"]), 12)[:5]) and str(int(row["jobs"])) in line)
        # The cells as the table computes them, each whole on the model's line.
        for value in (f"{row['mean']:.4f} ({row['test_low']:.3f}-{row['test_high']:.3f})",
                      seconds_cell(row["fit_center"]), seconds_cell(row["predict_center"])):
            assert value in line, (value, line)
    assert body and not any("…" in line.split()[-1] for line in body)
    assert len(rows) == 8  # one row per model, the repeats folded


def test_names_give_way_from_the_middle() -> None:
    assert shorten("random-forest-onedal n_estimators=300", 20) == "random-for…ators=300"
    assert shorten("knn", 20) == "knn"


def test_the_reference_table_fits_80_columns() -> None:
    frame = read_table(REFERENCE)
    lines = rendered(frame, 80)
    assert max(len(line.rstrip()) for line in lines) <= 80
    torch_cnn = model_rows(frame).set_index("label").loc["torch-cnn"]
    line = next(line for line in lines if line.strip().startswith("torch-cnn "))
    assert (f"{torch_cnn['mean']:.4f} ({torch_cnn['test_low']:.3f}-"
            f"{torch_cnn['test_high']:.3f})") in line


def test_the_readmes_table_is_what_the_tool_prints() -> None:
    """The README's first-run table is the table mlbench prints for the committed run folder
    it names (results/readme-first-run), line for line."""
    from mlbench.cli.result_tables import dataset_line

    frame = read_table(ROOT / "results" / "readme-first-run" / "results.csv")
    out = io.StringIO()
    Console(file=out, width=100, color_system=None).print(
        compact_table(frame, f"mlbench results: {dataset_line(frame)}", 100))
    printed = [line.rstrip() for line in out.getvalue().splitlines() if line.strip()]
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```text\nmlbench results: mnist-5k", 1)[1].split("Summary:", 1)[0]
    shown = [line.rstrip() for line in ("mlbench results: mnist-5k" + block).splitlines()
             if line.strip()]
    assert shown == printed


def test_columns_adds_any_results_column(cli: Cli, tmp_path: Path) -> None:
    # --columns takes any column of results.csv: per model its mean (distinct values for
    # text), per job with --wide; what does not fit the width is named under the table.
    asked = "setup_seconds,framework,log_loss,model_size_bytes,train_throughput,epochs"
    result = cli("run", "--models", "knn,naive-bayes", "--dataset", "digits", "--repeats",
                 "2", "--name", "c", "--columns", asked, "-q")
    assert result.exit_code == 0, result.output
    frame = read_table(tmp_path / "results" / "c" / "results.csv")
    lines = result.stdout.splitlines()
    header = next(line for line in lines if "test accuracy (95% CI)" in line)
    assert "setup_seconds" in header
    for model, jobs in frame.groupby("model"):
        line = next(line for line in lines if line.strip().startswith(f"{model} "))
        assert line.rstrip().endswith(" " + seconds_cell(jobs["setup_seconds"].mean())), line
    # The caption under the table, wrapped at its width.
    caption = " ".join(result.stdout.split("left out to fit 100 columns: ", 1)[1].split()[:12])
    assert ("framework, log-loss, model_size_bytes, train_throughput, epochs (--wide shows "
            "each job's)") in caption
    assert max(len(line.rstrip()) for line in lines if "│" not in line
               and not line.startswith(("left out", "  - ", "!"))) <= MAX_WIDTH

    narrow = cli("run", "--models", "knn", "--dataset", "digits", "--name", "n",
                 "--columns", "framework", "-q")
    knn = read_table(tmp_path / "results" / "n" / "results.csv").iloc[0]
    line = next(line for line in narrow.stdout.splitlines() if line.strip().startswith("knn "))
    assert line.rstrip().endswith(str(knn["framework"])) and "left out" not in narrow.stdout

    wide = cli("run", "--models", "knn", "--dataset", "digits", "--name", "w", "--wide",
               "--columns", "model_size_bytes", "-q")
    knn = read_table(tmp_path / "results" / "w" / "results.csv").iloc[0]
    assert "model_size_bytes" in wide.stdout and f"{knn['model_size_bytes']:,}" in wide.stdout


def test_an_unknown_column_is_one_line(cli: Cli, tmp_path: Path) -> None:
    from tests.conftest import assert_one_line_error

    result = cli("run", "--models", "knn", "--dataset", "digits", "--columns", "fit_secs")
    assert_one_line_error(result, "unknown results column for --columns 'fit_secs'. Did you "
                          "mean 'fit_seconds'? Valid: any column of results.csv",
                          tmp_path / "results")
