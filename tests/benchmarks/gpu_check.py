"""The GPU check: every CNN on every installed Keras backend, on the CPU and the GPU, with both
networks (the notebook's, and `network=small` with its `small-sprint` recipe, issue 25),
through `mlbench run`, then one speed-up table with the matrix-multiply peaks measured in the
same run.

    python tests/benchmarks/gpu_check.py OUT_DIR                     # cpu and gpu, full MNIST
    python tests/benchmarks/gpu_check.py OUT_DIR --devices cpu       # no GPU: GPU rows skipped

Made for a machine with one NVIDIA GPU and no network (docs/running.md, "The GPU check"): it
uses only the frameworks installed there. torch-cnn runs where PyTorch is; keras-cnn runs once
per Keras backend whose framework is installed (tensorflow, jax, torch), and a backend that is
not is one line saying so, not a failure. A device that is missing (no GPU, a CPU-only build)
is a `skipped` row with mlbench's reason. Each job has a time limit (--job-timeout), so a slow
CPU backend cannot take the whole budget: on an H200 machine the whole check is meant to stay
under 8 minutes.

Writes into OUT_DIR: a run folder per network (`gpu-check-notebook/`, `gpu-check-small/`:
results.csv, history.csv, run.json), `peaks.json` and `speedup.md`, the table printed at the
end: per network, model, backend and device, the median epoch, training images/s, seconds of
training to reach 0.99 test accuracy (empty when never reached), test accuracy, GFLOP/s (at
72 MFLOP per training image for the notebook's network, 7.5 for the small one), that as a
percent of the device's matrix-multiply peak in the job's precision, and the GPU's speed-up
over the CPU (median epoch against median epoch). Every figure is one run's.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
if str(HERE.parents[1]) not in sys.path:
    sys.path.insert(0, str(HERE.parents[1]))  # run as a script: `tests.benchmarks` importable

from mlbench.results.table import params_of  # noqa: E402
from tests.benchmarks.cnn_throughput import TRAIN_FLOP  # noqa: E402

BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def installed(module: str) -> bool:
    """Whether ``module`` can be found, without importing it (TensorFlow takes seconds)."""
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # an import hook that refuses it: as good as missing
        return False


def keras_backends() -> tuple[list[str], list[str]]:
    """The Keras backends this machine can run, and a line for each it cannot."""
    if not installed("keras"):
        return [], ["keras-cnn: Keras is not installed; no Keras backend runs"]
    usable, missing = [], []
    for backend, module in BACKEND_MODULES.items():
        if installed(module):
            usable.append(backend)
        else:
            missing.append(f"keras-cnn backend={backend}: {module} is not installed, left out")
    return usable, missing


def matmul_peaks(devices: list[str], rounds: int = 5) -> dict[str, float]:
    """Best GFLOP/s of a square matrix multiply, per device and precision, through PyTorch
    (``{"cpu float32": ..., "gpu bfloat16": ...}``); empty without PyTorch. 2048 is large
    enough to reach a CPU's peak; a data-centre GPU needs 8192."""
    if not installed("torch"):
        return {}
    import torch

    peaks = {}
    for device in devices:
        if device == "gpu" and not torch.cuda.is_available():
            continue
        where = "cuda" if device == "gpu" else "cpu"
        size = 8192 if device == "gpu" else 2048
        for dtype in ("float32", "bfloat16"):
            a = torch.rand(size, size, device=where).to(getattr(torch, dtype))
            b = torch.rand(size, size, device=where).to(getattr(torch, dtype))
            best = float("inf")
            for _ in range(rounds + 1):  # the first is a warm-up
                if where == "cuda":
                    torch.cuda.synchronize()
                started = time.perf_counter()
                torch.mm(a, b)
                if where == "cuda":
                    torch.cuda.synchronize()
                best = min(best, time.perf_counter() - started)
            peaks[f"{device} {dtype}"] = 2 * size**3 / best / 1e9
    return peaks


def run_cnns(out: Path, args: argparse.Namespace, backends: list[str], network: str) -> Path:
    """`mlbench run` of torch-cnn and keras-cnn on every usable backend with ``network``
    (the small one with its own recipe): the run folder."""
    models = [m for m, ok in (("torch-cnn", installed("torch")), ("keras-cnn", bool(backends)))
              if ok]
    if not models:
        raise SystemExit("gpu_check: neither PyTorch nor Keras is installed: nothing to run")
    command = [sys.executable, "-m", "mlbench.cli", "run", "--models", ",".join(models),
               "--devices", args.devices, "--dataset", args.dataset, "--validation", "0",
               "--timeout", str(args.job_timeout), "--no-report", "-o", str(out),
               "--name", f"gpu-check-{network}", "--target-accuracy", str(args.target)]
    recipe = args.recipe if network == "notebook" else args.small_recipe
    if "keras-cnn" in models:
        command += ["--sweep", f"keras-cnn.backend={','.join(backends)}"]
    for model in models:
        command += ["--param", f"{model}.recipe={recipe}",
                    "--param", f"{model}.network={network}"]
        if network == "notebook":  # the small recipe evaluates as often as it needs
            command += ["--param", f"{model}.evals_per_epoch={args.evals_per_epoch}"]
        if args.epochs:
            command += ["--param", f"{model}.epochs={args.epochs}"]
    if args.train_size:
        command += ["--train-size", str(args.train_size)]
    print("$", " ".join(command[1:]), file=sys.stderr, flush=True)
    subprocess.run(command, check=False)  # a failed or skipped job is a row, not a stop
    folder = out / f"gpu-check-{network}"
    if not (folder / "results.csv").exists():
        raise SystemExit(f"gpu_check: mlbench run wrote no results in {folder}")
    return folder


def speedup_table(folder: Path, peaks: dict[str, float], network: str) -> pd.DataFrame:
    """One row per job of the run of ``network``: the figures the issue asks for, and the
    GPU's speed-up."""
    results = pd.read_csv(folder / "results.csv")
    history = (pd.read_csv(folder / "history.csv") if (folder / "history.csv").exists()
               else pd.DataFrame(columns=["job_id", "epoch", "epoch_seconds"]))
    # An epoch's time is the sum of its rows: evaluations within it split it into several.
    whole = history.assign(epoch=np.ceil(history["epoch"].astype(float)))
    epochs = whole.groupby(["job_id", "epoch"])["epoch_seconds"].sum().groupby("job_id").median()
    rows = []
    for row in results.itertuples():
        backend = _backend(row)
        label = row.model + (f" ({backend})" if backend else "")
        if row.status != "ok":
            rows.append({"network": network, "model": label, "device": row.device,
                         "status": row.status,
                         "note": str(row.error).splitlines()[0][:120]})
            continue
        flops = row.train_throughput * TRAIN_FLOP[network] / 1e9
        precision = "bfloat16" if row.precision in ("bfloat16", "float16") else "float32"
        peak = peaks.get(f"{row.device} {precision}")
        rows.append({
            "network": network, "model": label, "device": row.device, "status": "ok",
            "precision": row.precision, "epoch s": epochs.get(row.job_id),
            "images/s": row.train_throughput, "to 0.99 s": row.time_to_target_seconds,
            "test accuracy": row.accuracy, "GFLOP/s": flops,
            "% of peak": 100 * flops / peak if peak else None, "note": ""})
    table = pd.DataFrame(rows).sort_values(["model", "device"], kind="stable",
                                            ignore_index=True)  # each model's cpu, then gpu
    if "epoch s" in table:
        cpu = table[table["device"] == "cpu"].set_index("model")["epoch s"]
        table["GPU speed-up"] = [cpu.get(m) / e if d == "gpu" and pd.notna(e) else None
                                 for m, d, e in zip(table["model"], table["device"],
                                                    table["epoch s"], strict=True)]
    return table


def _backend(row: Any) -> str:
    if row.model != "keras-cnn":
        return ""
    return str(params_of(row.params).get("backend", ""))


def markdown(table: pd.DataFrame) -> str:
    formats = {"epoch s": "{:.2f}", "images/s": "{:,.0f}", "to 0.99 s": "{:.1f}",
               "test accuracy": "{:.4f}", "GFLOP/s": "{:,.0f}", "% of peak": "{:.0f}%",
               "GPU speed-up": "{:.1f}x"}
    shown = table.copy()
    for column, text in formats.items():
        if column in shown:
            shown[column] = [text.format(v) if pd.notna(v) else "" for v in shown[column]]
    return str(shown.fillna("").to_markdown(index=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for the run, peaks.json, speedup.md")
    parser.add_argument("--devices", default="cpu,gpu", help="cpu, gpu or cpu,gpu")
    parser.add_argument("--dataset", default="mnist",
                        help="mnist (full; MLBENCH_DATA_DIR or the cache), mnist-5k to try")
    parser.add_argument("--train-size", type=int, help="fewer training images, to try it")
    parser.add_argument("--epochs", type=int, help="epochs per CNN (default: the recipe's)")
    parser.add_argument("--networks", default="notebook,small",
                        help="the CNNs' networks, each its own run (default: notebook,small)")
    parser.add_argument("--recipe", default="fast",
                        help="the notebook network's recipe (default: fast)")
    parser.add_argument("--small-recipe", default="small-sprint",
                        help="the small network's recipe (default: small-sprint)")
    parser.add_argument("--target", type=float, default=0.99, help="test accuracy to time")
    parser.add_argument("--evals-per-epoch", type=int, default=4,
                        help="test evaluations per epoch, for time to target (default 4)")
    parser.add_argument("--job-timeout", type=float, default=150,
                        help="seconds before a job is stopped (default 150)")
    args = parser.parse_args()
    devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    if not devices or set(devices) - {"cpu", "gpu"}:
        parser.error(f"--devices takes cpu, gpu or cpu,gpu, not {args.devices!r}")
    networks = [n.strip() for n in args.networks.split(",") if n.strip()]
    if not networks or set(networks) - set(TRAIN_FLOP):
        parser.error(f"--networks takes {','.join(TRAIN_FLOP)} or either, not {args.networks!r}")
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    backends, missing = keras_backends()
    for line in missing:
        print(line, file=sys.stderr)
    before = matmul_peaks(devices)
    folders = {network: run_cnns(args.out, args, backends, network) for network in networks}
    after = matmul_peaks(devices)
    # The peak each figure is set against: the median of the before and after measurements.
    peaks = {key: statistics.median((before[key], after[key])) for key in before}
    (args.out / "peaks.json").write_text(json.dumps(
        {"before": before, "after": after, "used": peaks}, indent=2) + "\n")

    table = pd.concat([speedup_table(folder, peaks, network)
                       for network, folder in folders.items()], ignore_index=True)
    text = markdown(table)
    peak_line = ", ".join(f"{key} {value:,.0f} GFLOP/s" for key, value in peaks.items())
    report = (f"GPU check, {args.dataset}, one run per row, {time.perf_counter() - started:.0f}"
              f" s in all. Matrix-multiply peaks (torch.mm, median of before and after)"
              f": {peak_line or 'not measured (no PyTorch)'}.\n\n{text}\n")
    (args.out / "speedup.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
