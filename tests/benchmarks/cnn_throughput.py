"""CNN training speed on this machine, side by side in one run: the reference notebook's
code, each CNN plugin's defaults through `mlbench run`, and the matrix-multiply peaks.

    MLBENCH_DATA_DIR=../shared/data/mnist python tests/benchmarks/cnn_throughput.py

Options: --train-size N and --epochs N (defaults: 60000 and 5, the notebook's), --devices
(passed to mlbench run; `cpu,gpu` on a GPU machine). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
# Multiply-accumulates of one forward pass of the reference CNN on a 28x28 image.
FORWARD_MACS = 26 * 26 * 32 * 9 + 24 * 24 * 64 * (9 * 32) + 9216 * 128 + 128 * 10
# The small network (network=small, issue 25): Conv 1->24 5x5 (24x24 out), pool, Conv 24->32
# 3x3 on 12x12 (10x10 out), pool to 5x5x32, Dense 800->256, Dense 256->10: about a tenth.
SMALL_FORWARD_MACS = 24 * 24 * 24 * 25 + 10 * 10 * 32 * (9 * 24) + 800 * 256 + 256 * 10
# Training costs about three forward passes (forward, gradients of inputs and of weights).
TRAIN_FLOP_PER_IMAGE = 3 * 2 * FORWARD_MACS
TRAIN_FLOP = {"notebook": TRAIN_FLOP_PER_IMAGE, "small": 3 * 2 * SMALL_FORWARD_MACS}


def matmul_peak(dtype_name: str, size: int = 4096, rounds: int = 5) -> float:
    """Best GFLOP/s of a square matrix multiply in `dtype_name`, with every core."""
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.rand(size, size).to(dtype), torch.rand(size, size).to(dtype)
    torch.mm(a, b)  # warm up
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - started)
    return 2 * size**3 / min(times) / 1e9


def reference(train_size: int, epochs: int) -> dict[str, float]:
    output = subprocess.run([sys.executable, str(HERE / "reference_notebook.py"),
                             str(train_size), str(epochs)], capture_output=True, text=True,
                            check=True).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def plugins(train_size: int, epochs: int, devices: str) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as output:
        command = [sys.executable, "-m", "mlbench.cli", "run", "-m", "keras-cnn,torch-cnn",
                   "-d", "mnist", "--devices", devices, "-o", output, "--name", "b", "-q",
                   "--no-report",
                   "-p", f"keras-cnn.epochs={epochs}", "-p", f"torch-cnn.epochs={epochs}"]
        if train_size < 60000:
            command += ["--train-size", str(train_size)]
        subprocess.run(command, check=False, stdout=subprocess.DEVNULL)
        return pd.read_csv(Path(output) / "b" / "results.csv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, default=60000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--devices", default="cpu")
    args = parser.parse_args()
    if not os.environ.get("MLBENCH_DATA_DIR"):
        print("note: MLBENCH_DATA_DIR unset; MNIST comes from the cache or a download",
              file=sys.stderr)

    peaks = {name: statistics.median(matmul_peak(name) for _ in range(3))
             for name in ("float32", "bfloat16")}
    baseline = reference(args.train_size, args.epochs)
    results = plugins(args.train_size, args.epochs, args.devices)
    peaks_after = {name: matmul_peak(name) for name in ("float32", "bfloat16")}

    rows = [{"model": baseline["model"], "device": "cpu", "precision": "float32",
             "images/s": baseline["train_throughput"], "accuracy": baseline["accuracy"],
             "setup s": float("nan"), "fit s": baseline["fit_seconds"]}]
    for row in results.itertuples():
        if row.status != "ok":
            print(f"{row.model} on {row.device}: {row.status}: {row.error}", file=sys.stderr)
            continue
        rows.append({"model": f"{row.model} (defaults)", "device": row.device,
                     "precision": row.precision, "images/s": row.train_throughput,
                     "accuracy": row.accuracy, "setup s": row.setup_seconds,
                     "fit s": row.fit_seconds})
    table = pd.DataFrame(rows)
    table["vs reference"] = table["images/s"] / baseline["train_throughput"]
    table["GFLOP/s"] = table["images/s"] * TRAIN_FLOP_PER_IMAGE / 1e9
    cpu = table["device"] == "cpu"
    table.loc[cpu, "% fp32 peak"] = 100 * table["GFLOP/s"] / peaks["float32"]
    table.loc[cpu, "% bf16 peak"] = 100 * table["GFLOP/s"] / peaks["bfloat16"]
    print(f"train size {args.train_size}, {args.epochs} epochs; "
          f"training cost {TRAIN_FLOP_PER_IMAGE / 1e6:.1f} MFLOP per image")
    print("matmul peak (torch.mm 4096x4096, median of 3 bests): "
          + ", ".join(f"{k} {v:,.0f} GFLOP/s" for k, v in peaks.items())
          + "; after the runs: "
          + ", ".join(f"{k} {v:,.0f}" for k, v in peaks_after.items()))
    formats = {"images/s": "{:,.0f}", "accuracy": "{:.4f}", "setup s": "{:.1f}",
               "fit s": "{:.0f}", "vs reference": "{:.2f}x", "GFLOP/s": "{:.0f}",
               "% fp32 peak": "{:.0f}%", "% bf16 peak": "{:.0f}%"}
    for column, text in formats.items():
        table[column] = [text.format(v) if pd.notna(v) else "" for v in table[column]]
    print(table.to_markdown(index=False))


if __name__ == "__main__":
    main()
