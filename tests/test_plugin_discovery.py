"""Plugins are discovered once per process that needs them, never once per job: the command
checks its settings once (one discovery in its own process), and every job forks from a
workers' server that discovered the run's plugins as it started (one more), on this machine
or on each Dask worker. Counted by a real plugin whose hook writes its process id to a file
each time it is called."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

import mlbench
from tests.conftest import STEERABLE_PLUGIN

Cli = Callable[..., Result]

# conftest's steerable model, its hook writing one line per call: the process that called it.
COUNTED = STEERABLE_PLUGIN.replace("def mlbench_register_models(register):\n", """\
def mlbench_register_models(register):
    with open(COUNT_FILE, "a") as calls:
        calls.write(f"{os.getpid()}\\n")
""")


@pytest.fixture
def counted(write_plugin: Callable[[str, str], Path], tmp_path: Path) -> tuple[Path, Path]:
    """The counting plugin, and the file it counts discoveries in."""
    count_file = tmp_path / "discoveries.txt"
    return write_plugin("counted", COUNTED.replace("COUNT_FILE", repr(str(count_file)))), count_file


def discoveries(count_file: Path) -> Counter[int]:
    return Counter(int(line) for line in count_file.read_text().split())


def job_pids(run: Path) -> set[int]:
    return {json.loads(path.read_text())["worker_pid"] for path in (run / "jobs").glob("*.json")}


def test_a_command_discovers_once_and_its_jobs_never(counted: tuple[Path, Path],
                                                     tmp_path: Path) -> None:
    plugin, count_file = counted
    command = subprocess.Popen(
        [sys.executable, "-m", "mlbench.cli", "run", "--plugin", str(plugin), "-m",
         "steerable,linear", "-d", "digits", "--repeats", "3", "-o", str(tmp_path / "out"),
         "--name", "r", "-q", "--no-report"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, stderr = command.communicate(timeout=300)
    assert command.returncode == 0, stderr
    jobs = job_pids(tmp_path / "out" / "r")
    assert len(jobs) == 6  # six fresh job processes
    found = discoveries(count_file)
    assert found[command.pid] == 1  # the settings were checked once, not again by the API
    assert not jobs & set(found)  # no job discovered the plugins
    assert sum(found.values()) == 2  # the command, and the workers' server its jobs forked from


def test_the_python_api_discovers_once_in_its_process(counted: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    plugin, count_file = counted
    results = mlbench.run(["steerable"], "digits", repeats=2, plugins=[str(plugin)],
                          output_dir=str(tmp_path / "out"))
    assert list(results.frame["status"]) == ["ok", "ok"]
    assert discoveries(count_file)[os.getpid()] == 1


def test_dask_workers_discover_once_each(counted: tuple[Path, Path], cli: Cli,
                                         tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    plugin, count_file = counted
    result = cli("run", "--plugin", str(plugin), "-m", "steerable", "-d", "digits", "--repeats",
                 "3", "--executor", "dask", "--name", "d", "-q")
    assert result.exit_code == 0, result.output
    jobs = job_pids(tmp_path / "results" / "d")
    assert len(jobs) == 3
    found = discoveries(count_file)
    assert found[os.getpid()] == 1
    assert not jobs & set(found)
    assert sum(found.values()) == 2  # this process, and the one Dask worker's server
