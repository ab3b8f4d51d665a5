"""A short predict timed properly: logistic's per-call predict time on full MNIST's 10,000 test
images over 3 repeats, and how much it varies, within each job and across the repeats.

    MLBENCH_DATA_DIR=../shared/data/mnist python tests/benchmarks/short_predict.py
    python tests/benchmarks/short_predict.py --models knn,logistic  # other models, as well

Runs `mlbench run --models logistic --repeats 3 --no-report` on full MNIST (MLBENCH_DATA_DIR
must name the four .gz files; the run fails rather than fall back to mnist-5k), then prints
per job the per-call predict time (`predict_seconds`: the median of its batches of calls),
the calls timed (`predict_calls`) and the within-job spread (`predict_spread`: (max - min) /
median of its batches' per-call times), and per model the spread across the repeats,
(max - min) / median of their `predict_seconds`. Issue 22 asks for under 10% across 3
repeats on a quiet machine. The load average before and after is printed, since a busy
machine spreads every figure. Any other `mlbench run` options are passed through.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: `tests.benchmarks` importable
from tests.benchmarks.overhead import timed_run  # noqa: E402

GOAL = 0.10  # issue 22: under 10% across 3 repeats on a quiet machine


def spread(values: pd.Series) -> float:
    """(max - min) / median."""
    return float((values.max() - values.min()) / values.median())


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} CPUs)"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="logistic")
    parser.add_argument("--repeats", type=int, default=3)
    options, passed = parser.parse_known_args(argv)
    data_dir = os.environ.get("MLBENCH_DATA_DIR")
    if not data_dir or not (Path(data_dir) / "t10k-images-idx3-ubyte.gz").exists():
        sys.exit("set MLBENCH_DATA_DIR to the folder of full MNIST's four .gz files")
    print(f"before: {load()}")
    with tempfile.TemporaryDirectory() as output:
        wall, folder = timed_run(["--models", options.models, "--repeats",
                                  str(options.repeats), "--dataset", "mnist", "--no-report",
                                  *passed], Path(output), "short-predict")
        frame = pd.read_csv(folder / "results.csv")
    print(f"after:  {load()}; the run took {wall:.1f} s")
    if (frame["test_size"] != 10_000).any() or (frame["status"] != "ok").any():
        raise SystemExit(f"not every job ran ok on 10,000 test images:\n"
                         f"{frame[['job_id', 'status', 'dataset', 'test_size', 'error']]}")
    # Whether other processes took CPU while each job predicted: a disturbed job's spread
    # measures the machine, not the timing.
    columns = ["job_id", "predict_seconds", "predict_calls", "predict_spread",
               "predict_disturbed", "others_cores"]
    print(frame[columns].to_string(index=False, float_format=lambda x: f"{x:.6g}"))
    for model, jobs in frame.groupby("model"):
        across = spread(jobs["predict_seconds"])
        print(f"{model}: per-call predict {jobs['predict_seconds'].median() * 1e3:.3f} ms "
              f"(median of {len(jobs)} repeats); across repeats (max - min) / median = "
              f"{across:.1%} ({'under' if across < GOAL else 'NOT under'} {GOAL:.0%}); "
              f"within jobs {', '.join(f'{value:.1%}' for value in jobs['predict_spread'])}; "
              f"{int(jobs['predict_disturbed'].fillna(False).astype(bool).sum())} of "
              f"{len(jobs)} disturbed")


if __name__ == "__main__":
    main(sys.argv[1:])
