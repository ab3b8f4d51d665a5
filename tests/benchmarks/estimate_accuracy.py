"""How close `--estimate` gets on full MNIST: the estimate of the classic models at 5,000,
20,000 and 60,000 training images against the real medians of a finished run of the same
grid (by default the committed `results/scaling-mnist-r3`, 3 repeats).

    python tests/benchmarks/estimate_accuracy.py                 # two estimates
    python tests/benchmarks/estimate_accuracy.py --tries 3 --real results/my-grid-run

Needs full MNIST (`MLBENCH_DATA_DIR`, else ../shared/data/mnist). Prints, per model and
size, the estimated fit, predict and job seconds and each over the real median, the job's
range and whether the real median lies in it; then the total. The estimate costs about 35 s;
the real run it is held against took 22 minutes.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pandas as pd

import mlbench

ROOT = Path(__file__).resolve().parents[2]
SIZES = [5000, 20000, 60000]
TIMES = ["fit_seconds", "predict_seconds", "job_seconds"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=2, help="estimates to make")
    parser.add_argument("--real", type=Path, default=ROOT / "results" / "scaling-mnist-r3",
                        help="a finished run of --models sklearn at these sizes")
    args = parser.parse_args()
    data_dir = os.environ.get("MLBENCH_DATA_DIR") or ROOT.parent / "shared" / "data" / "mnist"

    real = pd.read_csv(args.real / "results.csv")
    real = real[real["status"] == "ok"].groupby(["model", "train_size"])[TIMES].median()
    for attempt in range(1, args.tries + 1):
        estimate = mlbench.run(models=["sklearn"], dataset="mnist", data_dir=data_dir,
                               train_size=SIZES, estimate=True)
        estimate = estimate.set_index(["model", "train_size"])
        held = real.loc[estimate.index]
        ratios = (estimate[TIMES] / held).add_suffix(" est/real")
        in_range = held["job_seconds"].between(estimate["job_low_seconds"],
                                               estimate["job_high_seconds"])
        print(f"\nestimate {attempt} (seconds, and over the real median)")
        print(pd.concat([estimate[TIMES], ratios, estimate[["job_low_seconds",
                         "job_high_seconds", "shaky"]], in_range.rename("real in range")],
                        axis=1).round(2).to_markdown())
        print(f"real job within its range: {int(in_range.sum())} of {len(in_range)}")
        print(f"total: estimated {estimate['job_seconds'].sum():.0f} s, real "
              f"{held['job_seconds'].sum():.0f} s")


if __name__ == "__main__":  # workers import this file: the run must not start again there
    main()
