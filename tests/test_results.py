"""The results table's derived views."""

from __future__ import annotations

import pandas as pd
import pytest

from mlbench.reporting.tables import device_speedups
from mlbench.results.table import to_frame


def record(model: str, device: str, fit: float, status: str = "ok") -> dict[str, object]:
    return {"job_id": f"{model}-{device}", "model": model, "device": device, "status": status,
            "fit_seconds": fit, "train_throughput": 1000 / fit, "predict_throughput": 50 / fit}


def test_speedups_pair_cpu_and_gpu_rows_of_the_same_model() -> None:
    frame = to_frame([record("cnn", "cpu", 100.0), record("cnn", "gpu", 4.0),
                      record("svm", "cpu", 10.0), record("other", "cpu", 9.0),
                      record("other", "gpu", 1.0, status="skipped")])
    table = device_speedups(frame)
    assert list(table["model"]) == ["cnn"]
    row = table.iloc[0]
    assert row["fit_speedup"] == pytest.approx(25.0)
    assert row["train_speedup"] == pytest.approx(25.0)
    assert row["predict_speedup"] == pytest.approx(25.0)


def test_no_speedups_without_both_devices() -> None:
    assert device_speedups(to_frame([record("svm", "cpu", 1.0)])).empty
    assert device_speedups(to_frame([])).empty
    assert isinstance(device_speedups(to_frame([])), pd.DataFrame)


def test_console_summary_ends_with_the_speedup_table(capsys: pytest.CaptureFixture[str]) -> None:
    from mlbench.cli.live_progress import ConsoleProgress

    frame = to_frame([{**record("cnn", "cpu", 100.0), "accuracy": 0.99, "dataset": "mnist"},
                      {**record("cnn", "gpu", 4.0), "accuracy": 0.99, "dataset": "mnist"}])
    ConsoleProgress(quiet=True).end(frame)
    printed = capsys.readouterr().out
    assert "GPU against CPU" in printed and "25.0x" in printed
    assert printed.index("mlbench results") < printed.index("GPU against CPU")
