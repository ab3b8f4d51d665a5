"""The layering contracts (`[tool.importlinter]` in pyproject.toml) hold on the code as it is,
and catch a wrong import: run `lint-imports` on a copy of the package, before and after
adding an import that crosses the layers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` in ``project``, finding its copies of the packages before any installed
    ones (the current directory first on the import path, as lint-imports puts it)."""
    environment = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo", "pyproject.toml"],
                          cwd=project, env=environment, capture_output=True, text=True,
                          timeout=120)


def test_the_contracts_pass_and_catch_a_wrong_import(tmp_path: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "mlbench", tmp_path / "mlbench", ignore=ignore)
    shutil.copytree(ROOT / "plugins", tmp_path / "mlbench_plugins", ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tmp_path)

    kept = lint_imports(tmp_path)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "0 broken" in kept.stdout

    # Reporting reads results; it must never reach into running (they sit side by side).
    report = tmp_path / "mlbench" / "reporting" / "report.py"
    report.write_text(report.read_text() + "\nimport mlbench.running.api  # a wrong import\n")
    broken = lint_imports(tmp_path)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "1 broken" in broken.stdout
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c["name"] for c in contracts["contracts"] if c["type"] == "layers")
    broken_section = " ".join(broken.stdout.split("Broken contracts")[1].split())  # unwrapped
    assert layers in broken_section
    assert "mlbench.reporting.report -> mlbench.running.api" in broken.stdout
