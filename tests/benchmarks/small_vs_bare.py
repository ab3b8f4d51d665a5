"""Issue 25's comparison: mlbench's small CNNs against the bare script (bare_small_cnn.py), in
one session, seed by seed, so the machine's drift falls on all of them alike.

    MLBENCH_DATA_DIR=../shared/data/mnist python tests/benchmarks/small_vs_bare.py OUT \\
        [--seeds 0,1,2,3,4] [--notebook]

For each seed: the bare script in float32, the bare script with bfloat16 autocast, then the
issue's command for that seed (`mlbench run --models cnn` with both CNNs on network=small
and recipe=small-sprint, `--seed S`; with --notebook, the notebook network's CNNs too, as
named variants beside them). Prints, per contender, each seed's seconds of training to 0.99
test accuracy and final test accuracy, and the mean and median; writes OUT/small_vs_bare.json.
Time to 0.99 leaves evaluation time out on both sides; mlbench's start-up (imports, building
the network, warm-up) is not training time, and the bare script's is not timed either.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve()
SMALL = ["--param", "torch-cnn.network=small", "--param", "keras-cnn.network=small",
         "--param", "torch-cnn.recipe=small-sprint", "--param", "keras-cnn.recipe=small-sprint"]


def bare(seed: int, bf16: bool) -> dict[str, object]:
    command = [sys.executable, "-m", "tests.benchmarks.bare_small_cnn", str(seed)]
    output = subprocess.run(command + (["--bf16"] if bf16 else []), check=True,
                            capture_output=True, text=True, cwd=HERE.parents[2]).stdout
    found = json.loads(output.strip().splitlines()[-1])
    return {"contender": f"bare script ({'bfloat16' if bf16 else 'float32'})", "seed": seed,
            "seconds": found["seconds_to_0.99"], "final": found["final_accuracy"],
            "evaluations": found["evaluations"]}


def mlbench(out: Path, seed: int, notebook: bool) -> list[dict[str, object]]:
    name = f"seed{seed}"
    models = "cnn,cnn-small" if notebook else "cnn"
    subprocess.run(["mlbench", "run", "--models", models, "--dataset", "mnist", "--seed",
                    str(seed), "--no-report", "--quiet", "--output-dir", str(out),
                    "--name", name, *([] if notebook else SMALL)], check=True,
                   stdout=subprocess.DEVNULL)
    frame = pd.read_csv(out / name / "results.csv")
    return [{"contender": f"mlbench {row.model} ({row.precision})"
             + (" disturbed" if row.disturbed else ""), "seed": seed,
             "seconds": None if pd.isna(row.time_to_target_seconds)
             else float(row.time_to_target_seconds),
             "final": float(row.accuracy), "evaluations": int(row.test_evaluations)}
            for row in frame.itertuples()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--notebook", action="store_true",
                        help="the notebook network's CNNs too (--models cnn,cnn-small)")
    args = parser.parse_args()
    if "MLBENCH_DATA_DIR" not in os.environ:
        sys.exit("set MLBENCH_DATA_DIR to the folder of the four MNIST .gz files")
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, object]] = []
    for seed in (int(text) for text in args.seeds.split(",")):
        rows += [bare(seed, bf16=False), bare(seed, bf16=True)]
        rows += mlbench(args.out, seed, args.notebook)
        print(pd.DataFrame(rows[-4:]).to_string(index=False), flush=True)
    frame = pd.DataFrame(rows)
    summary = frame.groupby("contender").agg(
        seeds=("seed", "count"), reached=("seconds", "count"),
        at_or_above=("final", lambda values: int((values >= 0.99).sum())),
        mean_s=("seconds", "mean"), median_s=("seconds", "median"),
        min_final=("final", "min"))
    per_seed = frame.pivot_table(index="contender", columns="seed", values="seconds")
    print("\nSeconds of training to 0.99, per seed:")
    print(per_seed.to_string(float_format=lambda value: f"{value:.2f}"))
    print("\n" + summary.sort_values("mean_s").to_string(
        float_format=lambda value: f"{value:.4g}"))
    (args.out / "small_vs_bare.json").write_text(json.dumps(
        {"rows": rows, "cpu": cpu_name(), "load_at_end": os.getloadavg()}, indent=1))


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


if __name__ == "__main__":
    main()
