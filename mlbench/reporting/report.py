"""The report of a saved run: charts in RUN_DIR/charts/, then one `Document` written twice,
as RUN_DIR/report.md and as the self-contained RUN_DIR/report.html.

Reads the run folder through ``mlbench.results`` only, never the runner, so it works on any
finished (or interrupted) run and gives the same text every time. The report answers, in
this order: which model is most accurate and which is fastest (Summary), how the run was
made (Setup), the numbers (Results), what went wrong (Failures), then the pictures.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from mlbench.reporting import charts, stats
from mlbench.reporting.document import (
    Block,
    Bullets,
    Document,
    Figure,
    Section,
    Table,
    Text,
    number,
    to_html,
    to_markdown,
)
from mlbench.results.folder import RunFolder, write_atomic
from mlbench.results.table import params_of, read_table

JOB_COLUMNS = {"job_id": "job_id", "model": "model", "device": "device", "repeat": "repeat",
               "status": "status", "accuracy": "accuracy", "f1_macro": "F1 macro",
               "fit_seconds": "fit s", "predict_throughput": "predict images/s",
               "peak_memory_mb": "peak MiB"}
KEY_LIBRARIES = ("numpy", "pandas", "scikit-learn", "torch", "tensorflow", "tensorflow-cpu",
                 "keras")


class Report(NamedTuple):
    html: Path
    markdown: Path


def load_results(folder: RunFolder) -> pd.DataFrame:
    for name in ("results.parquet", "results.csv"):
        if (folder.path / name).exists():
            return read_table(folder.path / name)
    return folder.table()


def build_report(run_dir: Path | str) -> Report:
    """Write RUN_DIR/charts/*.png, RUN_DIR/report.md and RUN_DIR/report.html; returns the
    paths of the two reports."""
    folder = RunFolder.existing(run_dir)
    info = folder.read_run()
    frame = load_results(folder)
    frame = frame.sort_values(["model", "device", "repeat", "job_id"], ignore_index=True)

    document = Document(f"mlbench report: {folder.name}")
    document.sections += [
        summary_section(frame, info),
        setup_section(frame, info),
        results_section(frame),
        *grid_sections(frame),
        failures_section(frame),
        # The place for sections other modules compute from the same run (significance
        # tests, reference ranges): they go after the numbers, before the pictures.
        *stats.extra_sections(frame, folder, info),
        *chart_sections(frame, folder),
    ]
    markdown = folder.path / "report.md"
    page = folder.path / "report.html"
    write_atomic(markdown, lambda p: p.write_text(to_markdown(document)))
    write_atomic(page, lambda p: p.write_text(to_html(document, folder.path)))
    return Report(page, markdown)


# -- Summary --------------------------------------------------------------------------

def summary_section(frame: pd.DataFrame, info: dict[str, Any]) -> Section:
    """The answers a reader comes for, as sentences computed from the results table."""
    section = Section("Summary")
    warning = (info.get("dataset") or {}).get("fallback_warning")
    if warning:
        section.blocks.append(Text(warning, "warning"))
    ok = charts.ok_rows(frame)
    counts = frame["status"].value_counts()
    tally = f"{len(ok)} of {len(frame)} jobs ended ok"
    others = [f"{counts[s]} {s}" for s in ("failed", "timeout", "crashed", "skipped")
              if counts.get(s, 0)]
    if others:
        tally += f"; {', '.join(others)} (see Failures)"
    if ok.empty:
        tally = tally if len(frame) else "No job finished"
        section.blocks.append(Text(f"{tally}: nothing to compare.", "warning"))
        return section
    models = charts.per_model_timing(frame)
    repeats = ok.groupby(charts.model_labels(ok))["job_id"].count()  # per grid point
    runs = (f"mean of {repeats.iloc[0]} repeats" if repeats.nunique() == 1 and
            repeats.iloc[0] > 1 else "mean over repeats" if repeats.max() > 1 else "one run")
    accurate = _best(models, "accuracy", largest=True)
    trained = _best(models, "fit_seconds", largest=False)
    predicted = _best(models, "predict_throughput", largest=True)
    front = models[charts.pareto_front(models)].sort_values("fit_seconds")
    section.blocks.append(Bullets([
        f"Most accurate: {accurate} ({number(models['accuracy'].max())} test accuracy, "
        f"{runs}).",
        f"Fastest to train: {trained} ({seconds(models['fit_seconds'].min())} median fit "
        "time).",
        f"Fastest to predict: {predicted} ({number(models['predict_throughput'].max())} "
        "test images/s, median).",
        "Best trade-offs (no other model is both more accurate and faster to train): "
        f"{', '.join(front['label'])}.",
        f"{tally}.",
    ], "highlight"))
    return section


def _best(models: pd.DataFrame, column: str, largest: bool) -> str:
    """The label of the best row by ``column``, every tied row named."""
    best = models[column].max() if largest else models[column].min()
    return " and ".join(models.loc[models[column] == best, "label"])


def seconds(value: float) -> str:
    return f"{number(value)} s" if value >= 1000 else f"{value:.3g} s"


# -- Setup ----------------------------------------------------------------------------

def setup_section(frame: pd.DataFrame, info: dict[str, Any]) -> Section:
    dataset = info.get("dataset") or {}
    machine = info.get("machine") or {}
    config = info.get("config") or {}
    libraries = machine.get("libraries") or {}
    versions = ", ".join(f"{name} {libraries[name]}" for name in KEY_LIBRARIES
                         if name in libraries)
    threads = ", ".join(dict.fromkeys(
        f"{pool.get('internal_api') or pool.get('user_api')} {pool.get('num_threads')}"
        for pool in machine.get("threads") or []))
    repeats, seed = config.get("repeats", 1), config.get("seed", 0)
    seeds = ", ".join(str(seed + n) for n in range(repeats)) if repeats <= 5 else (
        f"{seed} to {seed + repeats - 1}")
    cores = f"{machine.get('cpu_count', '?')} cores"
    if machine.get("usable_cpus") not in (None, machine.get("cpu_count")):
        cores += f" ({machine['usable_cpus']} usable)"
    rows = [
        ("dataset", f"{dataset.get('name', '?')}: "
                    f"{_sizes(dataset.get('train_size', '?'))} train / "
                    f"{dataset.get('test_size', '?')} test images"),
        ("source", dataset.get("source", "")),
        ("models", ", ".join(config.get("models") or sorted(frame["model"].unique()))),
        ("devices", ", ".join(config.get("devices") or [])),
        ("repeats", f"{repeats} (seed{'s' if repeats > 1 else ''} {seeds})"),
        ("sweep", "; ".join(f"{model}.{name}={', '.join(str(value) for value in values)}"
                            for model, swept in (config.get("sweep") or {}).items()
                            for name, values in swept.items())),
        ("jobs at once", config.get("jobs", "")),
        ("executor", config.get("executor", "local") + (
            f" (scheduler {config['scheduler']})" if config.get("scheduler") else "")),
        ("timeout", f"{config['timeout']} s" if config.get("timeout") else "none"),
        ("BLAS threads per job", config.get("threads") or "library default"),
        ("started", info.get("started_at", "")),
        ("finished", info.get("finished_at", "")),
        ("machine", f"{machine.get('cpu', '?')}, {cores}"),
        ("platform", machine.get("platform", "")),
        ("GPUs", ", ".join(machine.get("gpus") or []) or "none"),
        ("Python", machine.get("python", "?")),
        ("libraries", versions),
        ("thread pools", threads),
        ("mlbench", ", commit ".join(str(part) for part in (
            info.get("mlbench"), machine.get("git_commit")) if part)),
        ("command", " ".join(str(part) for part in info.get("command") or [])),
    ]
    if dataset.get("requested") not in (None, dataset.get("name")):
        rows.insert(1, ("requested", dataset["requested"]))
    settings = pd.DataFrame([(name, str(value)) for name, value in rows if value != ""],
                            columns=["setting", "value"])
    blocks: list[Block] = [Table(settings)]
    if not frame.empty:
        blocks.append(Table(params_table(frame), "Hyperparameters each model ran with."))
    return Section("Setup", blocks)


def params_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per model: its plugin and params as NAME=VALUE (every distinct set, if its
    jobs differ)."""
    rows = []
    for model, jobs in frame.groupby("model", sort=True):
        sets = [", ".join(f"{name}={value}" for name, value in params_of(text).items())
                or "(none)" for text in dict.fromkeys(jobs["params"].dropna())]
        plugins = ", ".join(dict.fromkeys(jobs["plugin"].dropna()))
        rows.append((model, plugins, " / ".join(sets)))
    return pd.DataFrame(rows, columns=["model", "plugin", "params"])


# -- Results and failures -------------------------------------------------------------

def results_section(frame: pd.DataFrame) -> Section:
    if frame.empty:
        return Section("Results", [Text("No job finished.")])
    ok = charts.ok_rows(frame)
    blocks: list[Block] = []
    if not ok.empty:
        ok["label"] = charts.model_labels(ok)
        per_model = (ok.groupby("label")
                     .agg(**{"ok jobs": ("job_id", "count"),
                             "accuracy (mean)": ("accuracy", "mean"),
                             "accuracy (min)": ("accuracy", "min"),
                             "accuracy (max)": ("accuracy", "max"),
                             "F1 macro (mean)": ("f1_macro", "mean"),
                             "fit s (median)": ("fit_seconds", "median"),
                             "predict images/s (median)": ("predict_throughput", "median"),
                             "peak MiB (max)": ("peak_memory_mb", "max")})
                     .round({"peak MiB (max)": 0})
                     .reset_index().rename(columns={"label": "model"})
                     .sort_values(["accuracy (mean)", "model"], ascending=[False, True]))
        caption = "Per model, most accurate first (ok jobs only)."
        if ok.groupby("label").size().max() > 1:  # repeats: their spread and 95% intervals
            spread = stats.repeat_summary(ok, "label").rename(columns={"label": "model"})
            per_model = per_model.merge(
                spread.drop(columns=["repeats", "accuracy mean"]), on="model", how="left")
            caption += " Over repeats: sample standard deviation, 95% Student's t interval."
        blocks.append(Table(per_model, caption))
    jobs = frame[list(JOB_COLUMNS)].rename(columns=JOB_COLUMNS).round({"peak MiB": 0})
    blocks.append(Table(jobs, "Every job."))
    return Section("Results", blocks)


def grid_sections(frame: pd.DataFrame) -> list[Section]:
    """For a grid (--train-size list, --sweep): how each model scales with its training set,
    and each swept value's accuracy and fit time. None for a plain run."""
    blocks: list[Block] = []
    scaling = charts.scaling_data(frame)
    if scaling is not None:
        rows = []
        for label, curve in scaling.groupby("label", sort=True):
            first, last = curve.iloc[0], curve.iloc[-1]
            rows.append({
                "model": label,
                "training images": f"{number(first['train_size'])} to "
                                   f"{number(last['train_size'])}",
                "accuracy": f"{first['accuracy']:.4f} to {last['accuracy']:.4f}",
                "fit s": f"{seconds(first['fit_seconds'])} to {seconds(last['fit_seconds'])}",
                "predict s": f"{seconds(first['predict_seconds'])} to "
                             f"{seconds(last['predict_seconds'])}",
                "fit time grows as": _growth(curve, "fit_growth"),
                "predict time grows as": _growth(curve, "predict_growth"),
            })
        blocks.append(Table(pd.DataFrame(rows), "How each model scales with its training set, "
                            "smallest to largest. Time grows as n^k: k is the slope of log "
                            "time against log n, least squares over every size, then between "
                            "the two largest sizes (where fixed costs weigh least); flat: "
                            "|k| < 0.15, time does not depend on n."))
    swept = charts.sweep_data(frame)
    if swept is not None:
        table = swept.drop(columns="model").rename(columns={
            "label": "model", "train_size": "training images", "accuracy": "accuracy (mean)",
            "fit_seconds": "fit s (median)"})
        blocks.append(Table(table.round({"fit s (median)": 3}),
                            "Each swept value (ok jobs)."))
    return [Section("Grid", blocks)] if blocks else []


FLAT = 0.15  # a growth exponent this close to 0 is noise around a constant time


def _growth(curve: pd.DataFrame, column: str) -> str:
    """How one model's time grows, overall and at the top: "n^1.82; n^1.65 at the top"."""
    overall, top = (_exponent(curve[name].iloc[0]) for name in (column, f"{column}_top"))
    return overall if overall == top or len(curve) < 3 else f"{overall}; {top} at the top"


def _exponent(k: float) -> str:
    return "-" if pd.isna(k) else "flat" if abs(k) < FLAT else f"n^{k:.2f}"


def _sizes(value: Any) -> str:
    """A run's training-set size, or a grid's sizes."""
    return ", ".join(str(size) for size in value) if isinstance(value, list) else str(value)


def failures_section(frame: pd.DataFrame) -> Section:
    failed = frame[frame["status"] != "ok"]
    if frame.empty:
        return Section("Failures", [Text("No job finished.")])
    if failed.empty:
        return Section("Failures", [Text("None: every job ended ok.", "good")])
    return Section("Failures", [Table(failed[["job_id", "model", "status", "error"]])])


# -- Charts ---------------------------------------------------------------------------

ChartMaker = Callable[[Path], "pd.DataFrame | None"]


def chart_sections(frame: pd.DataFrame, folder: RunFolder) -> list[Section]:
    """Makes every chart the run has data for (deleting stale ones); returns the Charts and
    Galleries sections that show them."""
    palette = charts.model_palette(charts.ok_rows(frame)["model"])
    makers: dict[str, list[tuple[str, str, ChartMaker]]] = {
        "Charts": [
            ("accuracy.png", "Test accuracy per model: mean, with min-max over repeats.",
             lambda p: charts.accuracy_chart(frame, p, palette)),
            ("pareto.png", "Accuracy against fit time; the dashed line joins the models no "
                           "other beats on both.",
             lambda p: charts.pareto_chart(frame, p, palette)),
            ("speed.png", "Fit time and prediction throughput per model (medians, log scale).",
             lambda p: charts.speed_chart(frame, p, palette)),
            ("scaling.png", "Scaling: accuracy, fit time and predict time against the number "
                            "of training images (log-log for the times: a straight line of "
                            "slope k means the time grows as n^k).",
             lambda p: charts.scaling_chart(frame, p, palette)),
            ("sweep.png", "Sweep: accuracy and fit time at each swept value, per model.",
             lambda p: charts.sweep_chart(frame, p, palette)),
            ("per_class.png", "Accuracy per true digit (repeat 0 of each model, CPU "
                              "preferred).",
             lambda p: charts.per_class_chart(frame, folder, p)),
            ("confusion.png", "Confusion matrices: true digit (rows) against predicted "
                              "(columns).",
             lambda p: charts.confusion_chart(frame, folder, p)),
            ("learning_curves.png", "Learning curves: test accuracy and loss per epoch, and "
                                    "test accuracy against training time.",
             lambda p: charts.learning_curves_chart(frame, folder, p, palette)),
        ],
        "Galleries": [
            ("sample_predictions.png", "Sample test digits, each beside the probability every "
                                       "model gave each digit (repeat 0; models with "
                                       "predict_proba only); the true digit is shaded green.",
             lambda p: charts.sample_predictions_chart(frame, folder, p, palette)),
            ("most_wrong.png", "The test digits the most models got wrong: the true digit "
                               "above, each model's prediction below (wrong ones in the "
                               "model's colour, right ones grey).",
             lambda p: charts.most_wrong_chart(frame, folder, p, palette)),
        ],
    }
    sections = []
    for title, group in makers.items():
        figures: list[Block] = []
        for name, caption, make in group:
            path = folder.path / "charts" / name
            if make(path) is None:
                path.unlink(missing_ok=True)  # a stale chart from an earlier report
                continue
            figures.append(Figure(f"charts/{name}", caption))
        if figures:
            sections.append(Section(title, figures))
    if not sections:
        sections.append(Section("Charts", [Text("No chart: no job ended ok.")]))
    return sections
