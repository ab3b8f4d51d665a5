"""The documentation keeps up with the code: every column, option and exit code."""

from __future__ import annotations

import re
from pathlib import Path

from mlbench.cli import main
from mlbench.results.table import COLUMNS, HISTORY_COLUMNS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_results_column_is_documented_with_its_unit() -> None:
    for name, dtype, unit, meaning in COLUMNS:
        assert f"| `{name}` | {dtype} | {unit} | {meaning} |" in README, name


def test_every_history_column_is_documented() -> None:
    section = README.split("### Schema of `history.csv`")[1].split("\n## ")[0]
    for name in HISTORY_COLUMNS:
        assert f"`{name}`" in section, name


def test_every_run_option_is_mentioned() -> None:
    run = main.commands["run"]
    for param in run.params:
        long_names = [opt for opt in param.opts if opt.startswith("--")]
        if long_names and long_names[0] != "--help":
            assert long_names[0] in README, long_names[0]


def test_exit_codes_match_the_cli() -> None:
    from mlbench.cli import commands as cli

    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", README, re.MULTILINE)}
    assert documented == {0, cli.EXIT_JOBS_FAILED, cli.EXIT_USAGE, cli.EXIT_DATASET,
                          cli.EXIT_DISK_FULL, cli.EXIT_INTERRUPTED, cli.EXIT_TERMINATED}
