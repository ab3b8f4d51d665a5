"""The prepared GPU check (tests/benchmarks/gpu_check.py) end to end on this CPU-only machine:
real trainings through `mlbench run`, GPU rows skipped with mlbench's reason, a Keras backend
whose framework is missing left out with a line, the table and its files written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import without_packages

SCRIPT = Path(__file__).parent / "benchmarks" / "gpu_check.py"


@pytest.mark.long
def test_gpu_check_runs_on_cpu_and_skips_gpu(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = without_packages(tmp_path, "jax", "jaxlib")  # as on a machine without JAX
    finished = subprocess.run(
        [sys.executable, str(SCRIPT), str(out), "--devices", "cpu,gpu", "--dataset",
         "mnist-5k", "--train-size", "1000", "--epochs", "2", "--job-timeout", "300"],
        capture_output=True, text=True, env=env, timeout=900)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "keras-cnn backend=jax: jax is not installed, left out" in finished.stderr

    for network in ("notebook", "small"):  # a run of each network
        results = pd.read_csv(out / f"gpu-check-{network}" / "results.csv")
        params = [json.loads(p) for p in results["params"]]
        assert {p["network"] for p in params} == {network}
        backends = sorted(p.get("backend", "") for p, model in
                          zip(params, results["model"], strict=True) if model == "keras-cnn")
        assert backends == ["tensorflow", "tensorflow", "torch", "torch"]  # on cpu and gpu
        assert set(results.loc[results["device"] == "cpu", "status"]) == {"ok"}
        gpu = results[results["device"] == "gpu"]
        assert len(gpu) == 3 and set(gpu["status"]) == {"skipped"}
        assert gpu["error"].str.contains("GPU|CUDA").all()

    peaks = json.loads((out / "peaks.json").read_text())["used"]
    assert set(peaks) == {"cpu float32", "cpu bfloat16"} and min(peaks.values()) > 1

    text = (out / "speedup.md").read_text()
    assert text in finished.stdout
    header = [c.strip() for c in text.split("\n\n")[1].splitlines()[0].split("|")[1:-1]]
    rows = {" ".join(c.strip() for c in line.split("|")[1:4]): line
            for line in text.splitlines() if line.startswith("| ") and "---" not in line}
    for network in ("notebook", "small"):
        for label in ("torch-cnn", "keras-cnn (tensorflow)", "keras-cnn (torch)"):
            cells = [c.strip() for c in rows[f"{network} {label} cpu"].split("|")[1:-1]]
            figures = dict(zip(header, cells, strict=True))
            assert figures["status"] == "ok"
            assert float(figures["epoch s"]) > 0
            assert float(figures["GFLOP/s"].replace(",", "")) > 0
            assert figures["% of peak"].endswith("%")
            assert "skipped" in rows[f"{network} {label} gpu"]
