"""How often a quiet machine's jobs are flagged `disturbed`: the false-alarm rate of the rule
in mlbench/running/contention.py (docs/running.md, "Disturbed timings").

    python tests/benchmarks/disturbed.py                  # 20 jobs in a row, on mnist-5k
    python tests/benchmarks/disturbed.py --rounds 3 -- --models svm,knn --repeats 10

Runs `mlbench run --models knn,logistic,random-forest,naive-bayes --repeats 5 --dataset
mnist-5k` (20 jobs, one at a time; or the `mlbench run` options after `--`) `--rounds` times
in fresh processes, and prints, per round, the machine's load average before and after, the
pre-run line if mlbench said the machine was busy, how many jobs were flagged, and the
others' cores of every job (min, median, max; each flagged job by name); then the totals.
Run it on a machine nothing else uses (the figure it is for is "0 of 20 flagged on the
quiet machine"); a figure taken beside other work says nothing about false alarms, so the
load averages are printed with it. To check the other side, start a spinning process
(`python -c "while True: pass" &`) and run it again: every job should be flagged.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

DEFAULT_RUN = ["--models", "knn,logistic,random-forest,naive-bayes", "--repeats", "5",
               "--dataset", "mnist-5k"]


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def one_round(arguments: list[str], output: Path, name: str) -> tuple[pd.DataFrame, str]:
    """One `mlbench run` in a fresh process (no report): its results table, and the busy
    line it printed before its first job ("" if none)."""
    command = [sys.executable, "-m", "mlbench.cli", "run", *arguments, "-o", str(output),
               "--name", name, "--no-report"]
    finished = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True)
    if finished.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {finished.returncode}:\n"
                           f"{finished.stderr.strip()}")
    busy = next((line for line in finished.stderr.splitlines()
                 if "the machine is busy" in line), "")
    return pd.read_csv(output / name / "results.csv"), busy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1, help="runs in a row (default 1)")
    parser.add_argument("run", nargs="*", help="`mlbench run` options, after --")
    options = parser.parse_args()
    arguments = options.run or DEFAULT_RUN
    print(f"mlbench run {' '.join(arguments)}, {options.rounds} round(s); "
          f"{os.cpu_count()} CPUs")
    frames = []
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(options.rounds):
            before = load_average()
            frame, busy = one_round(arguments, Path(folder), f"round{round_}")
            frames.append(frame)
            flagged = frame[frame["disturbed"].astype("boolean").fillna(False).astype(bool)]
            others = frame["others_cores"]
            print(f"round {round_ + 1}: load average {before} before, {load_average()} after; "
                  f"{len(flagged)} of {len(frame)} jobs flagged; others' cores min "
                  f"{others.min():.3f}, median {others.median():.3f}, max {others.max():.3f}; "
                  f"own cores median {frame['own_cores'].median():.2f}; steal "
                  f"{frame['steal_seconds'].sum():.2f} s")
            if busy:
                print(f"  said before the run: {busy}")
            for row in flagged.itertuples():
                print(f"  flagged: {row.job_id}: others {row.others_cores:.2f} cores, own "
                      f"{row.own_cores:.2f}, fit {row.fit_seconds:.3f} s, predict "
                      f"{row.predict_seconds:.3f} s")
    every = pd.concat(frames, ignore_index=True)
    flags = every["disturbed"].astype("boolean").fillna(False).astype(bool)
    print(f"total: {int(flags.sum())} of {len(every)} jobs flagged disturbed; others' cores "
          f"over all jobs: median {every['others_cores'].median():.3f}, 95th percentile "
          f"{every['others_cores'].quantile(0.95):.3f}, max {every['others_cores'].max():.3f}")


if __name__ == "__main__":
    main()
