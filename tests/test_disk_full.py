"""A disk that fills mid-run: one line that names the run folder, says the finished jobs are
kept and gives the resume command; once there is space again, --resume completes the run."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd
import pytest
from click.testing import Result

from mlbench.cli.commands import EXIT_DISK_FULL
from tests.conftest import stderr_lines

Cli = Callable[..., Result]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 300 KB filesystem (tmpfs), mounted for the test."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"mount is not permitted here: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_full_disk_stops_the_run_in_one_line_and_resume_completes(
    cli: Cli, small_disk: Path
) -> None:
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * 220_000)  # leaves room for the run's start and a few jobs
    run = small_disk / "results" / "r"
    result = cli("run", "-m", "naive-bayes", "-d", "digits", "--repeats", "12", "-q",
                 "--no-report", "--output-dir", str(small_disk / "results"), "--name", "r")

    assert result.exit_code == EXIT_DISK_FULL, result.output
    assert "Traceback" not in result.stderr
    [line] = stderr_lines(result)
    assert line.startswith("mlbench: error: the disk is full (No space left on device): "
                           f"could not write to {run}; the finished jobs are kept")
    assert line.endswith(f"finish the run with: mlbench run --resume {run}")
    kept = {path.stem for path in (run / "jobs").glob("*.json")}
    assert 0 < len(kept) < 12

    filler.unlink()  # space again
    resumed = cli("run", "--resume", str(run), "-q", "--no-report")
    assert resumed.exit_code == 0, resumed.output
    table = pd.read_csv(run / "results.csv")
    assert len(table) == 12 and set(table["status"]) == {"ok"}
