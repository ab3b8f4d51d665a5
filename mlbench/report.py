"""The report of a saved run: charts in RUN_DIR/charts/ and a Markdown summary in
RUN_DIR/report.md. Reads the run folder through ``mlbench.results`` only, never the runner, so
it works on any finished (or interrupted) run and gives the same text every time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from mlbench import charts
from mlbench.errors import UsageError
from mlbench.results import RunFolder, read_table, write_atomic

TABLE_COLUMNS = ["job_id", "model", "device", "repeat", "status", "accuracy", "f1_macro",
                 "fit_seconds", "predict_throughput", "peak_memory_mb"]
KEY_LIBRARIES = ("numpy", "pandas", "scikit-learn", "torch", "tensorflow", "tensorflow-cpu",
                 "keras")


def escape(value: Any) -> str:
    """Text safe inside a Markdown table cell: no pipes, newlines or HTML tags."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")


def markdown_table(frame: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table, its text cells escaped, numbers rounded."""
    cells = frame.copy()
    for column in cells.columns:
        if pd.api.types.is_float_dtype(cells[column]):
            cells[column] = cells[column].map(_number)
        elif not pd.api.types.is_numeric_dtype(cells[column]):
            cells[column] = cells[column].map(escape)
    cells.columns = [escape(column) for column in cells.columns]
    return str(cells.to_markdown(index=False, missingval="", disable_numparse=True))


def _number(value: float) -> str:
    if pd.isna(value):
        return ""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4f}" if abs(value) <= 1 else f"{value:.4g}"


def load_results(folder: RunFolder) -> pd.DataFrame:
    for name in ("results.parquet", "results.csv"):
        if (folder.path / name).exists():
            return read_table(folder.path / name)
    return folder.table()


def build_report(run_dir: Path | str) -> Path:
    """Write RUN_DIR/charts/*.png and RUN_DIR/report.md; returns the path of report.md."""
    folder = RunFolder(Path(run_dir))
    if not folder.run_json.is_file():
        raise UsageError(f"{run_dir} is not a run folder (no run.json); give a folder that "
                         "mlbench run made, e.g. results/<run>")
    info = folder.read_run()
    frame = load_results(folder)
    frame = frame.sort_values(["model", "device", "repeat", "job_id"], ignore_index=True)

    lines = [f"# mlbench report: {escape(folder.name)}", ""]
    lines += _setup(info)
    lines += ["## Results", ""]
    if frame.empty:
        lines += ["No job finished.", ""]
    else:
        lines += [markdown_table(frame[TABLE_COLUMNS]), ""]
    lines += _failures(frame)
    lines += _charts(frame, folder)
    path = folder.path / "report.md"
    text = "\n".join(lines).rstrip() + "\n"
    write_atomic(path, lambda p: p.write_text(text))
    return path


def _setup(info: dict[str, Any]) -> list[str]:
    dataset = info.get("dataset") or {}
    machine = info.get("machine") or {}
    libraries = machine.get("libraries") or {}
    versions = ", ".join(f"{name} {libraries[name]}" for name in KEY_LIBRARIES
                         if name in libraries)
    command = " ".join(str(part) for part in info.get("command") or [])
    rows = [
        ("dataset", f"{dataset.get('name', '?')}: {dataset.get('train_size', '?')} train / "
                    f"{dataset.get('test_size', '?')} test images"),
        ("started", info.get("started_at", "")),
        ("machine", f"{machine.get('cpu', '?')}, {machine.get('cpu_count', '?')} cores"),
        ("GPUs", ", ".join(machine.get("gpus") or []) or "none"),
        ("Python", machine.get("python", "?")),
        ("libraries", versions),
        ("mlbench", info.get("mlbench", "")),
        ("command", command),
    ]
    if dataset.get("fallback_warning"):
        rows.append(("warning", dataset["fallback_warning"]))
    table = ["| | |", "|---|---|"]
    table += [f"| {name} | {escape(value)} |" for name, value in rows]
    return ["## Setup", "", *table, ""]


def _failures(frame: pd.DataFrame) -> list[str]:
    failed = frame[frame["status"] != "ok"]
    lines = ["## Failures", ""]
    if failed.empty:
        return [*lines, "None: every job ended ok.", ""]
    return [*lines, markdown_table(failed[["job_id", "status", "error"]]), ""]


ChartMaker = Callable[[Path], "pd.DataFrame | None"]


def _charts(frame: pd.DataFrame, folder: RunFolder) -> list[str]:
    palette = charts.model_palette(charts.ok_rows(frame)["model"])
    target = folder.path / "charts"
    makers: list[tuple[str, str, ChartMaker]] = [
        ("accuracy.png", "Test accuracy per model: mean, with min-max over repeats.",
         lambda p: charts.accuracy_chart(frame, p, palette)),
        ("pareto.png", "Accuracy against fit time; the dashed line joins the models no other "
                       "beats on both.",
         lambda p: charts.pareto_chart(frame, p, palette)),
        ("speed.png", "Fit time and prediction throughput per model (medians, log scale).",
         lambda p: charts.speed_chart(frame, p, palette)),
        ("per_class.png", "Accuracy per true digit (repeat 0 of each model, CPU preferred).",
         lambda p: charts.per_class_chart(frame, folder, p)),
        ("confusion.png", "Confusion matrices: true digit (rows) against predicted (columns).",
         lambda p: charts.confusion_chart(frame, folder, p)),
        ("learning_curves.png", "Learning curves: test accuracy and loss per epoch, and test "
                                "accuracy against training time.",
         lambda p: charts.learning_curves_chart(frame, folder, p, palette)),
    ]
    lines = ["## Charts", ""]
    made = 0
    for name, caption, make in makers:
        path = target / name
        if make(path) is None:
            path.unlink(missing_ok=True)  # a stale chart from an earlier report
            continue
        made += 1
        lines += [f"![{caption}](charts/{name})", "", f"*{caption}*", ""]
    if not made:
        lines += ["No chart: no job ended ok.", ""]
    return lines
