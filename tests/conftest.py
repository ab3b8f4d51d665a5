"""Shared fixtures: every test runs against a private cache and only the built-in plugins.

The conventions that keep the suite fast and deterministic (docs/development.md):

- Lanes. ``pytest`` (the README's command) runs everything not marked ``long``, in a few
  minutes. Mark a test ``@pytest.mark.long`` when it takes more than ~10 s on a 2-core
  machine (CNN trainings, real-model estimates, random-kill trials);
  ``pytest -m long`` runs those, as its own step of ``.ci/run``. To run one long test by
  name, add ``-m long`` (the default ``-m 'not long'`` deselects it). Markers are strict:
  an unregistered one (``slow``, say) is an error.
- No wall-clock assertion in either lane: a test may wait with a deadline (``wait_for_file``)
  but asserts on behaviour, never on how fast the machine is. (The one kind of duration a
  test may check is a known sleep, as test_estimate's sleeper model does: a busy core does
  not change it.) Speed is measured in ``tests/benchmarks/``, kept out of both lanes
  (``pytest tests/benchmarks --benchmark-only``), and written down in BENCHMARKS.md.
- Reports cost seconds a run: the ``cli`` fixture passes ``--no-report`` to ``mlbench run``
  unless the test asks for one with ``cli("run", ..., report=True)``. A subprocess run that
  does not test the report says ``--no-report`` itself. (The Python API draws no report.)
- Data: ``-d digits`` (or ``--train-size``/``--test-size`` subsets) for runs; small synthetic
  IDX files for the MNIST loader (test_datasets.py); full MNIST only in the one test marked
  ``full_mnist``, which runs when MLBENCH_DATA_DIR names the four .gz files (.ci/run sets it).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mlbench.cli import main
from mlbench.running.expected import ESTIMATES

# Opt-in: read before the autouse fixture below clears the variable for every test.
FULL_MNIST = Path(os.environ.get("MLBENCH_DATA_DIR") or "/nonexistent")
needs_full_mnist = pytest.mark.skipif(
    not (FULL_MNIST / "train-images-idx3-ubyte.gz").exists(),
    reason="full MNIST not found: set MLBENCH_DATA_DIR to the folder of the four .gz files",
)


def wait_for_file(path: Path, seconds: float = 60) -> str:
    """The text of ``path`` once something has written it (a plugin's pid file, say)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text():
            return path.read_text()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listened on a moment ago (for a test's server,
    or, left unused, for one that refuses connections)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Installed by sitecustomize in a child process: importlib finds none of the HIDDEN packages, as
# on a machine without them (find_spec raises what a missing package raises).
HIDING_SITECUSTOMIZE = '''
import sys

HIDDEN = {hidden!r}

class Hide:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Hide())
'''


def without_packages(folder: Path, *packages: str) -> dict[str, str]:
    """An environment for a child Python process in which ``packages`` cannot be imported:
    a sitecustomize in ``folder``, first on PYTHONPATH, hides them."""
    (folder / "sitecustomize.py").write_text(HIDING_SITECUSTOMIZE.format(hidden=packages))
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(folder), *filter(None, [os.environ.get("PYTHONPATH")])])}


def stderr_lines(result: Result) -> list[str]:
    """What a command said on stderr, less the line a busy machine adds before a run (it
    depends on what else runs beside the tests, not on the command)."""
    return [line for line in result.stderr.strip().splitlines()
            if not line.startswith("mlbench: the machine is busy")]


def assert_one_line_error(result: Result, message: str, results: Path) -> None:
    """Bad input: exit 2, one `mlbench: error:` line holding ``message``, and no run folder
    left in ``results``."""
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mlbench: error: "), result.stderr
    assert message in lines[0]
    assert not results.exists() or not any(results.iterdir())  # no run folder left behind


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mlbench-cache")


def isolate(monkeypatch: pytest.MonkeyPatch, cache: Path) -> None:
    """The built-in plugins only, and a private cache (also for a fixture shared by a
    module's tests, which the autouse ``isolated`` below does not reach)."""
    # Installed third-party plugins must not leak into the project's own tests.
    monkeypatch.setenv("MLBENCH_LOAD_PLUGINS",
                       "scikit-learn,keras,torch,boosting,accelerated")  # the built-ins
    monkeypatch.setenv("MLBENCH_CACHE_DIR", str(cache))
    for name in ("MLBENCH_PLUGINS", "MLBENCH_DATA_DIR", "MLBENCH_TRACE_PLUGINS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, session_cache: Path) -> None:
    isolate(monkeypatch, session_cache)
    # The cache's datasets are shared (decoded once); no test sees another's --estimate.
    (session_cache / ESTIMATES).unlink(missing_ok=True)


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., Result]:
    """Invoke ``mlbench`` in-process; run folders go under tmp_path/results. ``mlbench run``
    draws no report unless called with ``report=True`` (a report costs seconds)."""

    def invoke(*args: str, report: bool = False) -> Result:
        runner = CliRunner()
        arguments = list(args)
        if arguments and arguments[0] == "run":
            own_output = {"--resume", "--output-dir", "-o"} & set(arguments)
            if not own_output:
                arguments += ["--output-dir", str(tmp_path / "results")]
            if not report and "--no-report" not in arguments:
                arguments.append("--no-report")
        return runner.invoke(main, arguments, catch_exceptions=False)

    return invoke


@pytest.fixture
def write_plugin(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a local plugin file from source text; returns its path."""

    def write(name: str, source: str) -> Path:
        folder = tmp_path / "local_plugins"
        folder.mkdir(exist_ok=True)
        path = folder / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        return path

    return write


# A model whose behaviour the tests steer through its params: sleep, crash, lie.
STEERABLE_PLUGIN = '''
import os, time
from pathlib import Path
import numpy as np
import mlbench

class Steerable(mlbench.Model):
    """Predicts the majority class, after doing what its params say."""
    name = "steerable"
    tags = ("test-models",)
    defaults = {"pid_file": "", "wait_for": "", "wait_seconds": 0.0, "fail": "",
                "skip": "", "predict_count_delta": 0, "bad_label": False}

    def fit(self, X, y):
        p = self.params
        if p["pid_file"]:
            Path(p["pid_file"]).write_text(str(os.getpid()))
        deadline = time.monotonic() + p["wait_seconds"]
        while time.monotonic() < deadline:
            if p["wait_for"] and Path(p["wait_for"]).exists():
                break
            time.sleep(0.05)
        if p["fail"]:
            raise RuntimeError(p["fail"])
        if p["skip"]:
            raise mlbench.SkipJob(p["skip"])
        self.majority_ = int(np.bincount(y).argmax())
        return self

    def predict(self, X):
        label = 99 if self.params["bad_label"] else self.majority_
        return np.full(len(X) + self.params["predict_count_delta"], label)


@mlbench.hookimpl
def mlbench_register_models(register):
    register(Steerable)
'''


@pytest.fixture
def steerable(write_plugin: Callable[[str, str], Path]) -> Path:
    return write_plugin("steerable", STEERABLE_PLUGIN)


@pytest.fixture
def spinners() -> Iterator[list[int]]:
    """Processes spinning on this machine's cores, as another user's work would: one per
    core, at least two (two on the project's 2-core machine). Started through a shell that
    exits at once, so they are no descendants of this process (which mlbench counts as its
    own work), and killed afterwards by their ids."""
    count = max(2, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2)
    started = subprocess.run(
        ["sh", "-c", f"for n in $(seq {count}); do '{sys.executable}' -c 'while True: pass' "
                     ">/dev/null 2>&1 </dev/null & echo $!; done"],
        capture_output=True, text=True, check=True)
    pids = [int(pid) for pid in started.stdout.split()]
    try:
        yield pids
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
