"""The comparison in words: ``compare.Comparison`` as text tables and sentences (shared with
the terminal's table), and as one ``document.Document`` written twice, compare.md and the
self-contained compare.html, with two charts (``charts.grouped_bars``), beside the runs
(``default_output``) unless told where.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pandas as pd

from mlbench.reporting import stats
from mlbench.reporting.compare import Comparison, flagged
from mlbench.reporting.document import (
    Bullets,
    Document,
    Figure,
    Section,
    Table,
    Text,
    time_change,
    to_html,
    to_markdown,
)
from mlbench.reporting.run_setup import runs_row
from mlbench.results.folder import ComparisonFolder, write_atomic
from mlbench.results.run import Run

RULES = [
    "Accuracy, both runs with 2 or more repeats whose accuracies vary: Welch's t-test on the "
    f"repeats' accuracies (unequal variances), flagged when p < {stats.ALPHA}, and the "
    "difference's 95% interval on the same t. It allows for how little a few repeats say "
    "about the spread: with 3 repeats a side, |difference| > 2 standard errors would raise a "
    "false alarm about 1 time in 8, not 1 in 20.",
    "Accuracy, a run with a single repeat (or a model whose accuracy does not vary over "
    "either run's repeats), both runs on the identical test images (same dataset, test size "
    "and labels): McNemar's test on the two first repeats' saved predictions, flagged when "
    f"p < {stats.ALPHA}, and a paired bootstrap 95% interval of the difference (2,000 "
    "resamples of the test images). Otherwise the difference is not tested, and said so.",
    "Fit time and prediction time per image: {runs_rule}. A run's own figures (geometric "
    "mean and 95% interval) are the ones its report prints.",
    "Accuracy intervals: over seeds, Student's t on the repeats' accuracies (none for one "
    "repeat); over the test images, Wilson's interval for that many images, there even for "
    "one repeat.",
    "Every delta is against the first run given.",
]


def _pm(mean: float, std: float) -> str:
    if math.isnan(mean):
        return ""
    return f"{mean:.4f}" if math.isnan(std) else f"{mean:.4f} ± {std:.4f}"


def _interval(low: float, high: float) -> str:
    return "" if math.isnan(low) else f"{low:.4f}-{high:.4f}"


def _range(low: float, high: float, form: str | None = None) -> str:
    """" (low-high)", the 95% interval after a geometric mean, where the run knows its noise:
    the bars compare's chart draws."""
    if math.isnan(low):
        return ""
    text = _seconds if form is None else form.format
    return f" ({text(low)}-{text(high)})"


def _seconds(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.3g}" if value < 100 else f"{value:,.0f}"


def _name(model: str, device: str, several_devices: bool) -> str:
    return f"{model} ({device})" if several_devices else model


def display_table(comparison: Comparison) -> pd.DataFrame:
    """Each run's own figures as text cells, one row per model, device and run; the changes
    against the first run are ``change_table``'s."""
    order = {label: index for index, label in enumerate(comparison.labels)}
    summary = comparison.summary.assign(_order=comparison.summary["run"].map(order))
    rows = []
    for row in summary.sort_values(["model", "device", "_order"]).to_dict("records"):
        rows.append({
            "model": row["model"], "device": row["device"], "run": row["run"],
            "repeats": str(row["repeats"]),
            "accuracy": _pm(row["accuracy"], row["accuracy_std"]),
            "95% CI (seeds)": _interval(row["accuracy_low"], row["accuracy_high"]),
            "95% CI (test images)": _interval(row["images_low"], row["images_high"]),
            "fit s": _seconds(row["fit_seconds"]) + _range(row["fit_low"], row["fit_high"]),
            "predict images/s": "" if math.isnan(row["predict_throughput"])
            else f"{row['predict_throughput']:,.0f}" + _range(
                row["predict_low"], row["predict_high"], "{:,.0f}"),
            "disturbed": str(row["disturbed"]) if row["disturbed"] else "",
            "to target s": _seconds(row["time_to_target_seconds"]),
        })
    cells = pd.DataFrame(rows)
    for column in ("to target s", "disturbed"):  # no model kept a history; none disturbed
        if rows and not any(row[column] for row in rows):
            cells = cells.drop(columns=column)
    return cells


def _points(value: float) -> str:
    return f"{value * 100 + 0.0:+.2f}"  # + 0.0: never "-0.00"


def accuracy_change(row: dict[Any, Any]) -> str:
    """"-12.50 pts (-14.10 to -10.90)": the later run's accuracy minus the first's."""
    text = f"{_points(row['accuracy_delta'])} pts"
    if math.isnan(row["accuracy_low"]):
        return text
    return f"{text} ({_points(row['accuracy_low'])} to {_points(row['accuracy_high'])})"


def accuracy_judged(row: dict[Any, Any]) -> str:
    if math.isnan(row["accuracy_p"]):
        return str(row["accuracy_test"])
    return f"{row['accuracy_test']} {stats.p_text(row['accuracy_p'])}"


def _verdict(flag: Any, better: bool) -> str:
    """"better" or "worse" for a difference beyond chance or the noise, else ""."""
    return ("better" if better else "worse") if flagged(flag) else ""


def change_table(comparison: Comparison, label: str) -> tuple[pd.DataFrame, list[str]]:
    """Run ``label`` against the first: per model, a row per measure (each run's figure,
    the change with its 95% interval, how it was judged), and per row "better", "worse"
    or "" (within chance or the noise) for whoever colours it."""
    base = comparison.labels[0]
    figures = {(row["run"], row["model"], row["device"]): row
               for row in comparison.summary.to_dict("records")}
    deltas = comparison.deltas[comparison.deltas["run"] == label]
    several_devices = comparison.summary["device"].nunique() > 1
    rows, verdicts = [], []
    for row in deltas.sort_values(["model", "device"]).to_dict("records"):
        ours, theirs = (figures[(run, row["model"], row["device"])] for run in (base, label))
        name = _name(row["model"], row["device"], several_devices)
        rows.append({"model": name, "measure": "accuracy",
                     base: f"{ours['accuracy']:.4f}", label: f"{theirs['accuracy']:.4f}",
                     "change (95% CI)": accuracy_change(row),
                     "judged": accuracy_judged(row)})
        verdicts.append(_verdict(row["accuracy_flag"], row["accuracy_delta"] > 0))
        for short, measure, column, text in (
                ("fit", "fit s", "fit_seconds", _seconds),
                ("predict", "predict img/s", "predict_throughput", lambda v: f"{v:,.0f}")):
            ratio = row[f"{short}_ratio"]
            rows.append({"model": "", "measure": measure,
                         **{run: "" if math.isnan(value) else text(value) for run, value in
                            ((base, ours[column]), (label, theirs[column]))},
                         "change (95% CI)": time_change(ratio, row[f"{short}_low"],
                                                        row[f"{short}_high"]),
                         "judged": row[f"{short}_judged"]})
            verdicts.append(_verdict(row[f"{short}_flag"], ratio < 1))
    columns = ["model", "measure", base, label, "change (95% CI)", "judged"]
    return pd.DataFrame(rows, columns=columns), verdicts


def flag_sentences(comparison: Comparison) -> list[str]:
    """Every flagged difference in words."""
    base = comparison.labels[0]
    sentences = []
    for row in comparison.deltas.to_dict("records"):
        name = f"{row['model']} ({row['device']})"
        if flagged(row["accuracy_flag"]):
            direction = "higher" if row["accuracy_delta"] > 0 else "lower"
            interval = ("" if math.isnan(row["accuracy_low"]) else
                        f"95% CI {_points(row['accuracy_low'])} to "
                        f"{_points(row['accuracy_high'])}, ")
            sentences.append(
                f"{name}: accuracy {abs(row['accuracy_delta']) * 100:.2f} points {direction} "
                f"in {row['run']} than in {base} ({interval}{row['accuracy_test']}, "
                f"{stats.p_text(row['accuracy_p'])}).")
        for short, what in (("fit", "fit"), ("predict", "prediction")):
            if flagged(row[f"{short}_flag"]):
                change = time_change(row[f"{short}_ratio"], row[f"{short}_low"],
                                     row[f"{short}_high"])
                sentences.append(f"{name}: {what} {change} in {row['run']} than in {base}.")
    return sentences


# -- --fail-on ---------------------------------------------------------------------------


def runs_table(runs: list[Run]) -> pd.DataFrame:
    return pd.DataFrame([{"run": run.label, "folder": str(run.path), **runs_row(run.info)}
                         for run in runs])


def summary_lines(comparison: Comparison) -> list[str]:
    """The comparison's headline: per later run, how many models were compared with the
    first and which differences are beyond chance or the timing noise (``RULES``)."""
    base, lines = comparison.labels[0], []
    for label in comparison.labels[1:]:
        rows = comparison.deltas[comparison.deltas["run"] == label]
        count = sum(flagged(value) for column in ("accuracy_flag", "fit_flag", "predict_flag")
                    for value in rows[column])
        if rows.empty:
            lines.append(f"{label} against {base}: nothing in common to compare (no model "
                         "and device ended ok in both).")
            continue
        verdict = (f"{count} difference(s) beyond chance or the timing noise (below)"
                   if count else "no difference beyond chance or the timing noise")
        lines.append(f"{label} against {base}: {len(rows)} model(s) compared; {verdict}.")
    return lines


def unlike_line(comparison: Comparison) -> str | None:
    """The first line of a comparison whose runs are not like for like."""
    if not comparison.unlike:
        return None
    return ("Not like for like: " + "; ".join(comparison.unlike) + ". Times compared across "
            "machines or library versions measure those as much as the models.")


def comparison_document(comparison: Comparison, figures: list[Figure],
                        fail_on: Section | None = None) -> Document:
    """The comparison as a document; ``fail_on``: the section saying what the ``--fail-on``
    thresholds found (``compare_gate.fail_on_section``), after the Summary."""
    base = comparison.labels[0]
    document = Document(f"mlbench comparison: {' vs '.join(comparison.labels)}")
    flags = flag_sentences(comparison)
    warning = unlike_line(comparison)
    document.section("Summary", *([Text(warning, "warning")] if warning else []),
                     Bullets(summary_lines(comparison), "highlight"),
                     *([Bullets(flags)] if flags else []))
    if fail_on is not None:
        document.sections.append(fail_on)
    document.section("Runs", Table(runs_table(comparison.runs)))
    document.section("Differences", Bullets(comparison.differences))
    for label in comparison.labels[1:]:
        document.section(
            f"{label} against {base}",
            Text("Per model: each run's test accuracy (mean over repeats), fit time and "
                 "prediction throughput (geometric means over the undisturbed repeats); the "
                 "change in accuracy in points, in times as "
                 "a ratio (prediction: time per test image), each with its 95% interval, "
                 "and how it was judged (rules below)."),
            Table(change_table(comparison, label)[0]))
    document.section(
        "Each run",
        Text("Per model and device, each run's test accuracy (mean ± standard deviation over "
             "repeats; its 95% interval over the seeds, Student's t, and over the test "
             "images, Wilson), fit time and prediction throughput (geometric mean over the "
             "undisturbed repeats, with the 95% interval the run's own report gives it), how "
             "many jobs were disturbed (the machine did not give them their cores; left out "
             "of every time), and median time to target (where a model keeps a history)."),
        Table(display_table(comparison)))
    if comparison.missing:
        document.section("Models not in every run", Bullets(comparison.missing))
    document.section("How differences are judged", Bullets(
        [rule.format(runs_rule=stats.runs_rule(comparison.between)) for rule in RULES]))
    if figures:
        document.section("Charts", *figures)
    return document


# -- charts ------------------------------------------------------------------------------


def make_charts(comparison: Comparison, folder: ComparisonFolder) -> list[Figure]:
    """The comparison's two charts: accuracy and fit time per model, one bar per run."""
    from mlbench.reporting import charts  # matplotlib: only once a comparison is drawn

    made = []
    colours = {name: colour for run in comparison.runs  # each model's colour, as recorded
               for name, colour in run.info.model_colours().items()}
    for name, value, low, high, label, log, caption in [
        ("accuracy.png", "accuracy", "images_low", "images_high",
         "test accuracy (mean, 95% CI over test images)", False,
         "Test accuracy per model and run: one colour per model, one hatch per run, error "
         "bars the 95% interval over the test images that the table prints."),
        ("fit_time.png", "fit_seconds", "fit_low", "fit_high",
         "fit time (s, geometric mean, 95% CI; log scale)", True,
         "Fit time per model and run (geometric mean over repeats, bars its 95% interval as "
         "the table prints them, log scale)."),
    ]:
        path = folder.chart(name)
        if charts.grouped_bars(comparison.summary, comparison.labels, value, low, high, path,
                               label, log, colours) is not None:
            made.append(Figure(folder.relative(path), caption))
    return made


def default_output(comparison: Comparison) -> Path:
    """Beside the runs: in the last run's folder, ``compare-<the other runs>``; never the
    current folder's ./results."""
    name = "compare-" + "-".join(comparison.labels[:-1])
    return comparison.runs[-1].path / re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def write_report(comparison: Comparison, output: Path | str | None = None,
                 fail_on: Section | None = None) -> ComparisonFolder:
    """Write charts, compare.md and compare.html into ``output`` (by default
    ``default_output``); returns the folder. ``fail_on``: as ``comparison_document``."""
    folder = ComparisonFolder(Path(output) if output else default_output(comparison))
    folder.create("choose another --output-dir", "the comparison ")
    figures = make_charts(comparison, folder)
    document = comparison_document(comparison, figures, fail_on)
    write_atomic(folder.markdown, lambda p: p.write_text(to_markdown(document)))
    write_atomic(folder.html, lambda p: p.write_text(to_html(document, folder.path)))
    return folder
