"""Does mixed bfloat16 pay on this CPU? A float32 and a bfloat16 matrix-multiply peak
(torch, 4096x4096, 2 threads), then keras-cnn and torch-cnn fitted in each precision on the
same data, interleaved (float32 runs, then bfloat16 runs, ROUNDS times).

    MLBENCH_DATA_DIR=../shared/data/mnist python tests/benchmarks/precision_probe.py OUT

Each fit is one `mlbench run --models keras-cnn,torch-cnn` with `precision=P` for both, one
epoch on a stratified 15,000 of MNIST's training images; prints each run's fit seconds and
disturbed flag. `precision=auto` takes bfloat16 wherever the CPU's flags show AVX-512 BF16
or AMX: this says whether that is right on the machine at hand.
"""

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch

ROUNDS = 2


def peak(dtype: torch.dtype) -> float:
    a, b = torch.randn(4096, 4096, dtype=dtype), torch.randn(4096, 4096, dtype=dtype)
    a @ b
    started = time.perf_counter()
    for _ in range(5):
        a @ b
    return 5 * 2 * 4096**3 / (time.perf_counter() - started) / 1e9


def fit(out: Path, name: str, precision: str) -> pd.DataFrame:
    params = [item for model in ("keras-cnn", "torch-cnn")
              for item in ("-p", f"{model}.precision={precision}", "-p", f"{model}.epochs=1")]
    subprocess.run(["mlbench", "run", "--models", "keras-cnn,torch-cnn", *params,
                    "--train-size", "15000", "--dataset", "mnist", "-q", "--no-report",
                    "-o", str(out), "--name", name], check=True, stdout=subprocess.DEVNULL)
    return pd.read_csv(out / name / "results.csv")


def main() -> None:
    out = Path(sys.argv[1])
    torch.set_num_threads(2)
    print(f"matmul peak: float32 {peak(torch.float32):.0f} GFLOP/s, "
          f"bfloat16 {peak(torch.bfloat16):.0f} GFLOP/s")
    for round_ in range(1, ROUNDS + 1):
        for precision in ("float32", "bfloat16"):
            frame = fit(out, f"r{round_}-{precision}", precision)
            print(f"round {round_} {precision}: " + ", ".join(
                f"{row.model} fit {row.fit_seconds:.1f} s"
                + (" (disturbed)" if row.disturbed else "") for row in frame.itertuples()))


if __name__ == "__main__":
    main()
