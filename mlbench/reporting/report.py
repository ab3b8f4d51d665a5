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

from mlbench.reporting import charts, stats, tables
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
from mlbench.reporting.run_setup import setup_rows
from mlbench.results.folder import RunFolder, Warn, write_atomic
from mlbench.results.run_info import RunInfo
from mlbench.results.table import params_of

JOB_COLUMNS = {"job_id": "job_id", "model": "model", "device": "device", "repeat": "repeat",
               "status": "status", "validation_accuracy": "validation accuracy",
               "accuracy": "test accuracy", "f1_macro": "F1 macro",
               "fit_seconds": "fit s", "predict_throughput": "predict images/s",
               "peak_memory_mb": "peak MiB"}


class Report(NamedTuple):
    html: Path
    markdown: Path


def load_results(folder: RunFolder, warn: Warn | None = None) -> pd.DataFrame:
    """The run's results table, less the jobs whose record is damaged: each is named once
    through ``warn``, and the report goes on with the rest."""
    frame = folder.saved_table()
    damaged = folder.read_jobs(warn).damaged
    return frame[~frame["job_id"].isin([path.stem for path in damaged])]


def build_report(run_dir: Path | str, warn: Warn | None = None) -> Report:
    """Write RUN_DIR/charts/*.png, RUN_DIR/report.md and RUN_DIR/report.html; returns the
    paths of the two reports. A damaged job record is left out and named through ``warn``."""
    folder = RunFolder.existing(run_dir)
    info = folder.info()
    frame = load_results(folder, warn)
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
    markdown, page = folder.markdown, folder.html
    write_atomic(markdown, lambda p: p.write_text(to_markdown(document)))
    write_atomic(page, lambda p: p.write_text(to_html(document, folder.path)))
    return Report(page, markdown)


# -- Summary --------------------------------------------------------------------------

def summary_section(frame: pd.DataFrame, info: RunInfo) -> Section:
    """The answers a reader comes for, as sentences computed from the results table."""
    section = Section("Summary")
    warning = info.dataset.fallback_warning
    if warning:
        section.blocks.append(Text(warning, "warning"))
    ok = tables.ok_rows(frame)
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
    models = tables.per_model_timing(frame)
    repeats = ok.groupby(tables.model_labels(ok))["job_id"].count()  # per grid point
    runs = (f"mean of {repeats.iloc[0]} repeats" if repeats.nunique() == 1 and
            repeats.iloc[0] > 1 else "mean over repeats" if repeats.max() > 1 else "one run")
    accurate = _best(models, "accuracy", largest=True)
    trained = _best(models, "fit_seconds", largest=False)
    predicted = _best(models, "predict_throughput", largest=True)
    front = models[tables.pareto_front(models)].sort_values("fit_seconds")
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

def setup_section(frame: pd.DataFrame, info: RunInfo) -> Section:
    settings = pd.DataFrame(setup_rows(info, sorted(frame["model"].unique())),
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
    ok = tables.ok_rows(frame)
    blocks: list[Block] = []
    if not ok.empty:
        ok["label"] = tables.model_labels(ok)
        per_model = tables.results_per_model(ok)
        caption = "Per model, most accurate first (ok jobs only)."
        if ok.groupby("label").size().max() > 1:  # repeats: their spread and 95% intervals
            spread = stats.repeat_summary(ok, "label").rename(columns={"label": "model"})
            per_model = per_model.merge(
                spread.drop(columns=["repeats", "accuracy mean"]), on="model", how="left")
            caption += " Over repeats: sample standard deviation, 95% Student's t interval."
        blocks.append(Table(per_model, caption))
    # Validation accuracy only where the run held images out (and its table has the column).
    shown = [name for name in JOB_COLUMNS if name in frame and (
        name != "validation_accuracy" or frame[name].notna().any())]
    jobs = frame[shown].rename(columns=JOB_COLUMNS).round({"peak MiB": 0})
    blocks.append(Table(jobs, "Every job."))
    return Section("Results", blocks)


def grid_sections(frame: pd.DataFrame) -> list[Section]:
    """For a grid (--train-size list, --sweep): how each model scales with its training set,
    and each swept value's accuracy and fit time. None for a plain run."""
    blocks: list[Block] = []
    scaling = tables.scaling_data(frame)
    if scaling is not None:
        rows = []
        for label, curve in scaling.groupby("label", sort=True):
            first, last = curve.iloc[0], curve.iloc[-1]
            rows.append({
                "model": label,
                "training images": f"{number(first['train_size'])} to "
                                   f"{number(last['train_size'])}",
                "test accuracy": f"{first['accuracy']:.4f} to {last['accuracy']:.4f}",
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
    swept = tables.sweep_selection(frame)
    if swept is not None:
        blocks += sweep_blocks(swept)
    return [Section("Grid", blocks)] if blocks else []


def sweep_blocks(swept: pd.DataFrame) -> list[Block]:
    """Each swept value's validation and test accuracy, and the setting chosen on
    validation, in words."""
    table = swept.assign(chosen=swept["chosen"].map({True: "chosen", False: ""}))
    table = table[["label", "sweep", "train_size", "validation_accuracy", "accuracy",
                   "fit_seconds", "repeats", "validation_size", "chosen"]].rename(columns={
                       "label": "model", "train_size": "training images",
                       "validation_accuracy": "validation accuracy (mean)",
                       "accuracy": "test accuracy (mean)", "fit_seconds": "fit s (median)",
                       "validation_size": "validation images"})
    held_out = swept["validation_accuracy"].notna().any()
    if not held_out:
        table = table.drop(columns=["validation accuracy (mean)", "validation images",
                                    "chosen"])
    caption = ("Each swept value (ok jobs). The setting is chosen on validation accuracy: "
               "images held out of the training set, never trained on; the test set only "
               "reports the chosen setting's accuracy." if held_out else
               "Each swept value (ok jobs). The run held no validation images out "
               "(--validation 0), so no setting is chosen: picking the best test accuracy "
               "here would select on the test set, and overstate what it scores.")
    return [Table(table.round({"fit s (median)": 3}), caption),
            Bullets(tables.selection_lines(swept))]


FLAT = 0.15  # a growth exponent this close to 0 is noise around a constant time


def _growth(curve: pd.DataFrame, column: str) -> str:
    """How one model's time grows, overall and at the top: "n^1.82; n^1.65 at the top"."""
    overall, top = (_exponent(curve[name].iloc[0]) for name in (column, f"{column}_top"))
    return overall if overall == top or len(curve) < 3 else f"{overall}; {top} at the top"


def _exponent(k: float) -> str:
    return "-" if pd.isna(k) else "flat" if abs(k) < FLAT else f"n^{k:.2f}"


def failures_section(frame: pd.DataFrame) -> Section:
    failed = tables.not_ok_rows(frame)
    if frame.empty:
        return Section("Failures", [Text("No job finished.")])
    if failed.empty:
        return Section("Failures", [Text("None: every job ended ok.", "good")])
    return Section("Failures", [Table(failed[["job_id", "model", "status", "error"]])])


# -- Charts ---------------------------------------------------------------------------

Drawing = tuple[str, str, Any, Callable[[Any, Path], None]]  # file, caption, table, draw


def chart_sections(frame: pd.DataFrame, folder: RunFolder) -> list[Section]:
    """Draws every chart the run has a table for (deleting stale ones); returns the Charts
    and Galleries sections that show them."""
    palette = charts.model_palette(tables.ok_rows(frame)["model"])

    def coloured(draw: Callable[..., None]) -> Callable[[Any, Path], None]:
        return lambda table, path: draw(table, path, palette)

    drawings: dict[str, list[Drawing]] = {
        "Charts": [
            ("accuracy.png", "Test accuracy per model: mean, with min-max over repeats.",
             tables.accuracy_per_model(frame), coloured(charts.accuracy_chart)),
            ("pareto.png", "Accuracy against fit time; the dashed line joins the models no "
                           "other beats on both.",
             tables.pareto_table(frame), coloured(charts.pareto_chart)),
            ("speed.png", "Fit time and prediction throughput per model (medians, log scale).",
             tables.speed_table(frame), coloured(charts.speed_chart)),
            ("scaling.png", "Scaling: accuracy, fit time and predict time against the number "
                            "of training images (log-log for the times: a straight line of "
                            "slope k means the time grows as n^k).",
             tables.scaling_data(frame), coloured(charts.scaling_chart)),
            ("sweep.png", "Sweep: test accuracy (and, where the run held training images "
                          "out, the validation accuracy settings are chosen on) and fit time "
                          "at each swept value, per model.",
             tables.sweep_data(frame), coloured(charts.sweep_chart)),
            ("per_class.png", "Accuracy per true digit (repeat 0 of each model, CPU "
                              "preferred).",
             tables.per_class_accuracy(frame, folder), charts.per_class_chart),
            ("confusion.png", "Confusion matrices: true digit (rows) against predicted "
                              "(columns).",
             tables.confusion_counts(frame, folder), charts.confusion_chart),
            ("learning_curves.png", "Learning curves: test accuracy and loss per epoch, and "
                                    "test accuracy against training time.",
             tables.learning_curves(frame, folder), coloured(charts.learning_curves_chart)),
        ],
        "Galleries": [
            ("sample_predictions.png", "Sample test digits, each beside the probability every "
                                       "model gave each digit (repeat 0; models with "
                                       "predict_proba only); the true digit is shaded green.",
             tables.sample_probabilities(frame, folder),
             coloured(charts.sample_predictions_chart)),
            ("most_wrong.png", "The test digits the most models got wrong: the true digit "
                               "above, each model's prediction below (wrong ones in the "
                               "model's colour, right ones grey).",
             tables.most_wrong(frame, folder), coloured(charts.most_wrong_chart)),
        ],
    }
    sections = []
    for title, group in drawings.items():
        figures: list[Block] = []
        for name, caption, table, draw in group:
            path = folder.chart(name)
            if table is None:
                path.unlink(missing_ok=True)  # a stale chart from an earlier report
                continue
            draw(table, path)
            figures.append(Figure(folder.relative(path), caption))
        if figures:
            sections.append(Section(title, figures))
    if not sections:
        sections.append(Section("Charts", [Text("No chart: no job ended ok.")]))
    return sections
