"""A job is isolated from where mlbench is run and ends with everything it started: a
folder named mlbench or a numpy.py in the current folder changes nothing, and a job that
times out takes the processes it started with it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from click.testing import Result

from tests.conftest import wait_for_file

Cli = Callable[..., Result]
WritePlugin = Callable[[str, str], Path]

SPAWNS_AND_HANGS = '''
import subprocess, time
import numpy as np
import mlbench

class SpawnsAndHangs(mlbench.Model):
    """Starts a child process, then hangs."""
    name = "spawns-and-hangs"
    defaults = {"pid_file": ""}

    def fit(self, X, y):
        child = subprocess.Popen(["sleep", "1000"])
        with open(self.params["pid_file"], "w") as file:
            file.write(str(child.pid))
        time.sleep(1000)
        return self

    def predict(self, X):
        return np.zeros(len(X), dtype=int)

@mlbench.hookimpl
def mlbench_register_models(register):
    register(SpawnsAndHangs)
'''


def test_a_run_from_a_folder_holding_mlbench_and_numpy_look_alikes(tmp_path: Path) -> None:
    """The worker processes' server is started as `python -c`, which would put the current
    folder first on its import path: ./mlbench and ./numpy.py would shadow the real ones."""
    here = tmp_path / "here"
    (here / "mlbench").mkdir(parents=True)
    (here / "numpy.py").write_text("raise ImportError('the numpy.py of the current folder')\n")
    mlbench = Path(sys.executable).parent / "mlbench"
    done = subprocess.run(
        [str(mlbench), "run", "--models", "knn", "--dataset", "digits", "--no-report",
         "--output-dir", str(tmp_path / "results"), "--name", "r"],
        cwd=here, capture_output=True, text=True, timeout=300,
        env={name: value for name, value in os.environ.items() if name != "PYTHONSAFEPATH"})
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(tmp_path / "results" / "r" / "results.csv")
    assert list(table["status"]) == ["ok"], table["error"].tolist()


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped by init, does not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


# The same kill through Dask is a longer trial (a cluster starts): the long lane's.
EXECUTORS = ["local"]
if importlib.util.find_spec("distributed") is not None:
    EXECUTORS.append(pytest.param("dask", marks=pytest.mark.long))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("executor", EXECUTORS)
def test_a_timed_out_job_leaves_no_process_it_started(
    cli: Cli, tmp_path: Path, write_plugin: WritePlugin, executor: str
) -> None:
    plugin = write_plugin("spawns_and_hangs", SPAWNS_AND_HANGS)
    pid_file = tmp_path / "child.pid"
    result = cli("run", "--plugin", str(plugin), "-m", "spawns-and-hangs", "-d", "digits",
                 "--name", "t", "--timeout", "5", "--no-report", "--executor", executor,
                 "-p", f"spawns-and-hangs.pid_file={str(pid_file)!r}")
    assert result.exit_code == 1, result.output
    table = pd.read_csv(tmp_path / "results" / "t" / "results.csv")
    assert list(table["status"]) == ["timeout"]
    child = int(wait_for_file(pid_file))
    deadline = time.monotonic() + 10  # SIGKILL is sent; the kernel may take a moment
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(child), f"the job's child {child} (sleep 1000) still runs"
