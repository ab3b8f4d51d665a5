"""The report of a saved run: charts in RUN_DIR/charts/, then one `Document` written twice,
as RUN_DIR/report.md and as the self-contained RUN_DIR/report.html (or all of it into a
folder the user names, where the run's own cannot be written).

Reads the run through ``results.Run`` only (each file once; the job records, never a stale
results.parquet), never the runner, so it works on any finished (or interrupted) run and
gives the same text every time. The report answers, in
this order: which model is most accurate and which is fastest (Summary), the numbers
(Results), the same algorithm on other engines (Engines, where the run has them), the
pictures (Charts, as ``chart_sections`` orders them), how each model scales
(Grid); then, folded (closed ``<details>`` in HTML, so the first screen is the Summary and
the results table): how the run was made (Setup), which differences are real, the
published reference ranges, what went wrong (Failures).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from mlbench.reporting import charts, reference, significance, stats, tables, verdicts
from mlbench.reporting.document import (
    Block,
    Bullets,
    Details,
    Document,
    Figure,
    Section,
    Table,
    Text,
    accuracy_text,
    is_missing,
    number,
    seconds,
    time_change,
    to_html,
    to_markdown,
)
from mlbench.reporting.run_setup import setup_rows
from mlbench.reporting.significance import ACCURACY_IMAGES
from mlbench.reporting.verdicts import runs_text
from mlbench.results.folder import ReportFolder, write_atomic
from mlbench.results.run import Run
from mlbench.results.run_info import RunInfo
from mlbench.results.table import params_of

JOB_COLUMNS = {"job_id": "job_id", "model": "model", "device": "device", "repeat": "repeat",
               "status": "status", "validation_accuracy": "validation accuracy",
               "accuracy": "test accuracy", ACCURACY_IMAGES: ACCURACY_IMAGES,
               "f1_macro": "F1 macro",
               "fit_seconds": "fit s", "predict_throughput": "predict images/s",
               "time_to_target_seconds": "to target s", "peak_memory_mb": "peak MiB",
               "model_memory_mb": "model MiB", "model_size_mib": "size MiB",
               # Where the results table has them (a model with probabilities).
               "balanced_accuracy": "balanced accuracy", "log_loss": "log-loss"}
FOLD_ROWS = 12  # a table longer than this is folded under a line that says what it holds


class Report(NamedTuple):
    html: Path
    markdown: Path


def build_report(run: Run, output_dir: str | os.PathLike[str] | None = None) -> Report:
    """Write charts/*.png, report.md and report.html into the run's folder (or
    ``output_dir``); returns the paths of the two reports. Works from the job records: a
    results table that is missing, damaged or out of date is rewritten from them, said in
    one line through the run's ``warn``, as is a damaged job record (left out). A folder
    that cannot be written is a one-line UsageError saying what to do."""
    if output_dir is None:
        folder: ReportFolder = run.folder
        folder.create(f"write it elsewhere with: mlbench report {run.path} --output-dir "
                      "DIR", "the report ")
    else:
        folder = ReportFolder(Path(output_dir))
        folder.create("choose another --output-dir", "the report ")
    refresh_tables(run, rewrite=output_dir is None)
    info = run.info
    frame = in_report_order(run.frame)

    document = Document(f"mlbench report: {run.name}")
    folded = [setup_section(frame, info),
              # Sections other modules compute from the same run: which differences are
              # real, and the reference ranges.
              *significance.extra_sections(run),
              failures_section(frame)]
    for section in folded:
        section.folded = True
    document.sections += [
        *first_screen(frame, run),
        *engines_sections(frame),
        *chart_sections(frame, run, folder),
        *grid_sections(frame),
        *folded,
    ]
    markdown, page = folder.markdown, folder.html
    write_atomic(markdown, lambda p: p.write_text(to_markdown(document)))
    write_atomic(page, lambda p: p.write_text(to_html(document, folder.path)))
    return Report(page, markdown)


def in_report_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Grid points in numeric order (n1000 before n20000), repeats together."""
    order = [c for c in ("model", "device", "train_size", "sweep", "repeat", "job_id")
             if c in frame]
    return frame.sort_values(order, ignore_index=True, key=lambda column: (
        tables.grid_sort_key(column.astype(object)) if column.name == "sweep" else column))


def first_screen(frame: pd.DataFrame, run: Run) -> list[Section]:
    """What the report opens on, the Summary and the Results (``frame`` in report order);
    also a saved run's notebook display (``saved.SavedRun``)."""
    return [summary_section(frame, run), results_section(frame)]


def refresh_tables(run: Run, rewrite: bool = True) -> None:
    """Where results.parquet or results.csv is missing, damaged or out of date: rewritten
    from the job records (``Run.rebuild_tables``) unless ``rewrite`` is False (the report
    goes elsewhere), and said in one line either way."""
    why = "; the report is made from the job records"
    try:
        rebuilt = run.rebuild_tables() if rewrite else []
    except OSError as error:
        why += f" (they cannot be rewritten: {error.strerror or error})"
        rebuilt = []
    stale = [] if rebuilt or run.damaged else run.stale_tables()
    if rebuilt:
        names = " and ".join(path.name for path in rebuilt)
        run.warn(f"rebuilt {names} of {run.path} from the job records (missing, damaged or "
                 "out of date)")
    elif stale:
        names = " and ".join(path.name for path in stale)
        run.warn(f"{names} of {run.path} missing, damaged or out of date{why}")


# -- Summary --------------------------------------------------------------------------

def summary_section(frame: pd.DataFrame, run: Run) -> Section:
    """The answers a reader comes for, as sentences computed from the results table
    (``frame``: the run's, in the report's order)."""
    section = Section("Summary")
    info = run.info
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
    section.blocks.append(Bullets([*verdicts.summary_lines(run), f"{tally}."],
                                  "highlight"))
    outside = reference.out_of_range(frame, info)
    if not outside.empty:
        # The Reference ranges section is folded: the warning must not be.
        names = ", ".join(dict.fromkeys(outside["model"]))
        section.blocks.append(Text(
            f"Outside the published accuracy range: {names} (see Reference ranges). A "
            "model this far off its published figures usually means a broken setup, not a "
            "bad model.",
            "warning"))
    section.blocks.append(Text(verdicts.time_rule(), "note"))
    return section


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
    """Per model, most accurate first; in a grid, each model at its chosen point (largest
    training set, setting chosen on validation), every grid point folded below; every job
    folded."""
    if frame.empty:
        return Section("Results", [Text("No job finished.")])
    ok = tables.ok_rows(frame)
    blocks: list[Block] = []
    disturbed = tables.disturbed_note(frame)
    if disturbed is not None:  # above the tables, never folded
        blocks.append(Text(disturbed[0].upper() + disturbed[1:], "warning"))
    if not ok.empty:
        ok["label"] = tables.model_labels(ok)
        headline = verdicts.headline_jobs(frame)
        if len(headline) < len(ok):  # a grid
            which = "each model at its largest training set" + (
                ", with the setting chosen on validation" if "sweep" in tables.grid_columns(ok)
                else "")
            blocks += per_model_table(headline, which)
            every_point = ok.groupby("label").ngroups
            blocks.append(Details(f"Every grid point ({every_point} rows)",
                                  per_model_table(ok)))
        else:
            blocks += per_model_table(ok)
    jobs = frame.assign(**{ACCURACY_IMAGES: [
        accuracy_text(*stats.accuracy_interval(accuracy, size))
        for accuracy, size in zip(frame["accuracy"], frame["test_size"], strict=True)]},
        model_size_mib=tables.size_mib(frame), model=tables.model_names(frame),
        status=frame["status"].where(~tables.disturbed_jobs(frame),
                                     frame["status"] + f" {tables.DISTURBED_MARK}"))
    # Validation accuracy only where the run held images out; time to target only where a
    # job kept a history with test accuracy.
    shown = [name for name in JOB_COLUMNS if name in jobs and (
        name not in ("validation_accuracy", "time_to_target_seconds")
        or jobs[name].notna().any())]
    jobs = jobs[shown].rename(columns=JOB_COLUMNS).round({"peak MiB": 0, "model MiB": 0})
    blocks.append(Details(f"Every job ({len(jobs)} rows)", [
        Table(jobs, "Every job, one run each: test accuracy with its 95% interval over the "
                    "test images.")]))
    return Section("Results", blocks)


def engines_sections(frame: pd.DataFrame) -> list[Section]:
    """The same algorithm on several engines (``tables.engine_table``): per algorithm, the
    scikit-learn model and each engine, their accuracy and times, the engine's speed-up and
    the accuracy check. None unless the run has a model that mirrors another."""
    data = tables.engine_table(frame)
    if data is None:
        return []
    rows = []
    for row in data.to_dict("records"):
        compared = not row["baseline"] and not is_missing(row.get("accuracy_delta"))
        versus = "baseline" if row["baseline"] else f"no {row['algorithm']} in this run"
        rows.append({
            "algorithm": row["algorithm"], "model": row["label"], "engine": row["framework"],
            "runs": row["runs"], "test accuracy": f"{row['accuracy']:.4f}",
            "accuracy check": _accuracy_check(row) if compared else versus,
            "fit s": seconds(row["fit_center"]),
            "fit vs baseline": (time_change(row["fit_ratio"], row["fit_low"], row["fit_high"])
                                if compared else versus),
            "predict s": seconds(row["predict_center"]),
            "predict vs baseline": (time_change(row["predict_ratio"], row["predict_low"],
                                                row["predict_high"]) if compared else versus),
        })
    caption = ("The same algorithm with the same hyperparameters on other engines, each "
               "against the model it mirrors (its baseline, first in each group; ok jobs only).")
    note = ("Accuracy check: exact k-NN must match to the last digit (the same neighbours, "
            f"the same votes); other engines must stay within {ENGINE_POINTS} points, since "
            "their arithmetic, solver or random numbers differ. Times are geometric means "
            "over runs; each speed-up is the ratio of the geometric means, with its 95% "
            "interval from Welch's t on the log times, or \"one run\" where either side ran "
            "once, which says nothing of its noise.")
    blocks: list[Block] = [Table(pd.DataFrame(rows), caption), Text(note, "note")]
    failed = data[data["matches"].eq(False)] if "matches" in data else data.iloc[:0]
    if not failed.empty:
        blocks.insert(0, Text("Accuracy check failed: " + ", ".join(
            f"{row['label']} against {row['algorithm']}" for row in failed.to_dict("records"))
            + ". Same hyperparameters should give the same accuracy; see the table.",
            "warning"))
    return [Section("Engines", blocks)]


ENGINE_POINTS = f"{tables.ENGINE_TOLERANCE * 100:g}"


def _accuracy_check(row: dict[Any, Any]) -> str:
    """"identical", "within 0.2 points (+0.05)", or what failed: an engine's accuracy against
    its baseline's."""
    delta, tolerance = row["accuracy_delta"], row["tolerance"]
    points = f"{delta * 100:+.2f} points"
    if tolerance == 0:
        return "identical" if row["matches"] else f"NOT identical ({points})"
    limit = f"within {tolerance * 100:g} points"
    return f"{limit} ({points})" if row["matches"] else f"NOT {limit} ({points})"


def per_model_table(ok: pd.DataFrame, which: str = "") -> list[Block]:
    """Per model (``label``), most accurate first: test accuracy with its interval over the
    test images, and with repeats its spread over seeds; times as geometric means with
    their log-scale intervals; time to target, memory and size. A short caption above (what
    the rows are), how to read the columns in small print below."""
    repeated = ok.groupby("label").size().max() > 1
    # The seeds' spread as its interval alone: a standard deviation beside it would be one
    # more column on a first screen that must hold every column (the terminal prints both).
    spread = significance.repeat_summary(ok, "label").rename(columns={"label": "model"})
    per_model = tables.results_per_model(ok).merge(spread.drop(columns=[
        "repeats", "accuracy mean", "accuracy std"]), on="model", how="left")
    times = [f"{label} {part}" for label in significance.REPEATED_TIMES.values()
             for part in ("geo. mean", "95% CI")]
    flagged = f"disturbed {tables.DISTURBED_MARK}"  # only where a run was disturbed
    columns = ["model", "runs", *([flagged] if flagged in per_model else []),
               "test accuracy (mean)", ACCURACY_IMAGES,
               *([significance.ACCURACY_SEEDS] if repeated else []), "F1 macro (mean)",
               *[name for name in ("balanced accuracy (mean)", "log-loss (mean)")
                 if name in per_model],
               *(times if repeated else times[::2]), "predict images/s (geo. mean)",
               *(["to target s (geo. mean)"] if "to target s (geo. mean)" in per_model
                 else []),
               "peak MiB (max)", "model MiB (max)", "size MiB (median)"]
    images = int(ok["test_size"].max())
    runs = ok.groupby("label").size()
    behind = (f"{runs_text(int(runs.iloc[0]))} per model" if runs.nunique() == 1
              else f"{runs.min()} to {runs.max()} runs per model (column runs)")
    caption = (f"Per model, most accurate first ({which + '; ' if which else ''}ok jobs only; "
               f"{behind}; accuracy on the {images:,} test images).")
    note = (f"Accuracy's 95% interval over the {images:,} test images (Wilson) is the test "
            "set's own sampling error, there even for a single run. Fit time is training on "
            "the training images, predict time predicting the test images. Balanced accuracy: "
            "the mean of the per-class recalls; log-loss: cross-entropy of the predicted "
            "probabilities over all test images (natural log; lower is better; empty for a "
            "model without probabilities).")
    if flagged in per_model:
        note += (f" Column {flagged}: how many of those runs were timed while other processes "
                 "took the cores they were given (see the warning above).")
    if repeated:
        note += (" Over repeats: the 95% Student's t interval of the accuracy over seeds; "
                 "times are geometric means with 95% intervals on the log scale (never below "
                 "zero).")
    table = per_model[columns].rename(columns={"fit s geo. mean": "fit s",
                                               "predict s geo. mean": "predict s"})
    return [Table(table, caption), Text(note + _memory_note(ok), "note")]


def _memory_note(ok: pd.DataFrame) -> str:
    """What the time-to-target and memory columns mean, in the per-model table's caption."""
    targets = sorted(ok["target_accuracy"].dropna().unique())
    note = ""
    if targets:
        note = (f" To target s: training seconds until test accuracy first reached "
                f"{' / '.join(f'{t:g}' for t in targets)} (measured during training, "
                "evaluation time left out: test_evaluations in results.csv says how often), "
                "the geometric mean over the runs that reached it (\"never\" where none "
                "did); then how many runs reached it, and how many ended at or above it.")
    return note + (" Peak MiB: the worker process's peak; model MiB: the part above its level "
                   "once the data were loaded; size MiB: the fitted model's size.")


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
        scaling_table = Table(pd.DataFrame(rows), (
            "How each model scales with its training set, smallest to largest. Time grows as "
            "n^k: k is the slope of log time against log n, least squares over every size, "
            "then between the two largest sizes (where fixed costs weigh least); flat: "
            "|k| < 0.15, time does not depend on n."))
        blocks.append(fold_if_long(scaling_table, f"How each model scales ({len(rows)} models)"))
    swept = tables.sweep_selection(frame)
    if swept is not None:
        blocks += sweep_blocks(swept)
    return [Section("Grid", blocks)] if blocks else []


def sweep_blocks(swept: pd.DataFrame) -> list[Block]:
    """Each swept value's validation and test accuracy, and the setting chosen on
    validation, in words."""
    # Test accuracy only for the setting chosen: shown for every setting, it invites the
    # very selection on the test set that choosing on validation avoids.
    held_out = swept["validation_accuracy"].notna().any()
    table = swept.assign(chosen=swept["chosen"].map({True: "chosen", False: ""}),
                         accuracy=swept["accuracy"].where(swept["chosen"] | (not held_out)))
    table = table[["label", "sweep", "train_size", "validation_accuracy", "accuracy",
                   "fit_seconds", "repeats", "validation_size", "chosen"]].rename(columns={
                       "label": "model", "train_size": "training images",
                       "validation_accuracy": "validation accuracy (mean)",
                       "accuracy": "test accuracy (mean)", "fit_seconds": "fit s (geo. mean)",
                       "validation_size": "validation images"})
    if not held_out:
        table = table.drop(columns=["validation accuracy (mean)", "validation images",
                                    "chosen"])
    caption = ("Each swept value (ok jobs). The setting is chosen on validation accuracy: "
               "images held out of the training set, never trained on; test accuracy is shown "
               "for the chosen setting only." if held_out else
               "Each swept value (ok jobs). The run held no validation images out "
               "(--validation 0), so no setting is chosen: picking the best test accuracy "
               "here would select on the test set, and overstate what it scores.")
    return [Bullets(tables.selection_lines(swept)),
            fold_if_long(Table(table.round({"fit s (geo. mean)": 3}), caption),
                         f"Every swept value ({len(table)} rows)")]


def fold_if_long(table: Table, summary: str) -> Block:
    """A table longer than FOLD_ROWS rows, folded under ``summary``; a short one as it is."""
    return Details(summary, [table]) if len(table.frame) > FOLD_ROWS else table


FLAT = 0.15  # a growth exponent this close to 0 is noise around a constant time


def _growth(curve: pd.DataFrame, column: str) -> str:
    """How one model's time grows, overall and at the top: "n^1.82; n^1.65 at the top"."""
    overall, top = (_exponent(curve[name].iloc[0]) for name in (column, f"{column}_top"))
    return overall if overall == top or len(curve) < 3 else f"{overall}; {top} at the top"


def _exponent(k: float) -> str:
    return "-" if pd.isna(k) else "flat" if abs(k) < FLAT else f"n^{k:.2f}"


def failures_section(frame: pd.DataFrame) -> Section:
    """The jobs that did not end ok, and the warnings any job raised (a model that did not
    converge still ends ok, and its accuracy is worth less for it)."""
    failed = tables.not_ok_rows(frame)
    if frame.empty:
        return Section("Failures", [Text("No job finished.")])
    raised = tables.warning_lines(frame)
    notes: list[Block] = [Text("Warnings the models raised:"), Bullets(raised)] if raised else []
    if failed.empty:
        return Section("Failures", [Text("None: every job ended ok.", "good"), *notes],
                       open=bool(raised))
    # Folded like the other reference sections, but open: a failure is news.
    failed = failed.assign(model=tables.model_names(failed))
    return Section("Failures", [Table(failed[["job_id", "model", "status", "error"]]), *notes],
                   open=True)


# -- Charts ---------------------------------------------------------------------------

Drawing = tuple[str, str, Any, Callable[[Any, Path], object]]  # file, caption, table, draw


def chart_sections(frame: pd.DataFrame, run: Run, folder: ReportFolder) -> list[Section]:
    """Draws every chart the run has a table for (deleting stale ones); returns the Charts
    and Galleries sections that show them, each chart in the order a reader asks its
    question: which model is most accurate, which is cheapest for it, how fast, where models
    err, how cost grows with data. Colours: ``charts.model_colour``, one per model in every
    run (its plugins' own, as the run recorded them). ``frame``: the run's results in the
    report's order; drawn into ``folder``, the run's own or the one the report is written
    to."""
    palette = charts.model_palette(tables.ok_rows(frame)["model"].unique(),
                                   run.info.model_colours())

    def coloured(draw: Callable[..., object]) -> Callable[[Any, Path], object]:
        return lambda table, path: draw(table, path, palette)

    confusions = tables.confusion_counts(run)
    drawings: dict[str, list[Drawing]] = {
        "Charts": [
            ("accuracy.png", "Which model is most accurate: test error rate (1 - mean test "
                             "accuracy, log scale, lowest first) with its 95% interval over "
                             "the test images (thin) and, with repeats, over the seeds "
                             "(thick); one panel per training-set size in a grid.",
             tables.accuracy_per_model(frame), coloured(charts.accuracy_chart)),
            ("pareto.png", "Which is cheapest for its accuracy: test error rate against the "
                           "seconds to fit and predict the test set (filled; rings: fit "
                           "alone), both log; the dashed line joins the models no other "
                           "beats on both error and that cost (lower left is better).",
             tables.pareto_table(frame), coloured(charts.pareto_chart)),
            ("speed.png", "Fit and predict time per model: geometric mean over repeats with "
                          "its 95% interval on the log scale (with repeats), log axes.",
             tables.speed_table(frame), coloured(charts.speed_chart)),
            ("per_class.png", "Where models err: test error rate per true digit (repeat 0 of "
                              "each model, CPU preferred), most accurate model on top; a log "
                              "colour scale, so differences among good models show.",
             tables.per_class_accuracy(run), charts.per_class_chart),
            ("confusion.png", "The most frequent mistakes (true digit predicted as another) "
                              "over all models, and how many test images each model got "
                              "wrong that way (repeat 0 of each model).",
             None if confusions is None else tables.top_confusions(confusions),
             charts.confusion_chart),
            ("scaling.png", "How cost grows with data: accuracy, fit time and predict time "
                            "against the number of training images (log-log for the times: "
                            "a straight line of slope k means the time grows as n^k).",
             tables.scaling_data(frame), coloured(charts.scaling_chart)),
            ("sweep.png", "Sweep: validation accuracy at each swept value (images held "
                          "out of the training set, what the setting is chosen on), test "
                          "accuracy at the setting chosen only, each with its 95% interval; "
                          "and fit time at each swept value, per model.",
             tables.sweep_selection(frame), coloured(charts.sweep_chart)),
            ("learning_curves.png", "Learning curves: test accuracy and loss per epoch, and "
                                    "test accuracy against training time.",
             tables.learning_curves(run), coloured(charts.learning_curves_chart)),
            ("to_target.png", "Time to target: test accuracy against training time for every "
                              "run (seed) of each model with a per-epoch history, the target "
                              "as a dashed line, a cross where each run first reached it "
                              "(evaluation time left out).",
             tables.target_curves(run), coloured(charts.target_chart)),
        ],
        "Galleries": [
            ("sample_predictions.png", "Sample test digits, each beside the probability every "
                                       "model gave each digit (repeat 0; models with "
                                       "predict_proba only); the true digit is shaded green.",
             tables.sample_probabilities(run),
             coloured(charts.sample_predictions_chart)),
            ("most_wrong.png", "The test digits the most models got wrong: the true digit "
                               "above, each model's prediction below (wrong ones in the "
                               "model's colour, right ones grey).",
             tables.most_wrong(run), coloured(charts.most_wrong_chart)),
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
