"""Measure the harness's own cost for one CLI run: total wall time minus fit and predict.

    python tests/benchmarks/overhead.py --models knn --dataset mnist

Prints the run's wall time, the job's fit + predict time, their difference (the harness:
interpreter start, imports, dataset load, worker start, measuring, writing results), and a
cold worker start-up (a fresh interpreter importing what a worker needs) for comparison.
Any other `mlbench run` options are passed through. `timed_run` is the one way the
benchmarks time a whole `mlbench run` (fidelity.py uses it too).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def timed_run(arguments: list[str], output: Path, name: str) -> tuple[float, Path]:
    """One `mlbench run ARGUMENTS --quiet` in a fresh process, its run folder in
    ``output/name``: the command's wall time and that folder. Raises if the run failed."""
    command = [sys.executable, "-m", "mlbench.cli", "run", *arguments, "-o", str(output),
               "--name", name, "--quiet"]
    started = time.perf_counter()
    finished = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    wall = time.perf_counter() - started
    if finished.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {finished.returncode}:\n"
                           f"{finished.stderr.strip()}")
    return wall, output / name


def cold_start_seconds(rounds: int = 3) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import mlbench.running.worker"], check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(arguments: list[str]) -> None:
    with tempfile.TemporaryDirectory() as output:
        wall, folder = timed_run(arguments, Path(output), "overhead")
        frame = pd.read_csv(folder / "results.csv")
    work = float((frame["fit_seconds"] + frame["predict_seconds"]).sum())
    print(f"jobs: {len(frame)} ({', '.join(frame['model'])})")
    print(f"run wall time:        {wall:8.2f} s")
    print(f"fit + predict:        {work:8.2f} s")
    print(f"harness overhead:     {wall - work:8.2f} s")
    print(f"cold worker start-up: {cold_start_seconds():8.2f} s "
          "(python -c 'import mlbench.running.worker')")


if __name__ == "__main__":
    main(sys.argv[1:])
