"""Saved runs side by side: ``mlbench compare RUN_A RUN_B [...]``.

Per model and device, per run: accuracy (mean, std and 95% interval over repeats), median fit
time and prediction throughput; each later run's deltas against the first, flagged where a
difference is larger than the spread (the rules are in ``RULES``, and in every output); and
what differs between the runs (dataset, settings, machine, versions, params). Runs on
different machines or datasets are still compared, with the difference stated.

Reads saved run folders through ``mlbench.results`` only, never the runner; writes
``compare.md`` and ``compare.html`` from one ``document.Document``, and two charts.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlbench.errors import UsageError
from mlbench.reporting import stats, tables
from mlbench.reporting.document import Bullets, Document, Figure, Table, Text, to_html, to_markdown
from mlbench.reporting.run_setup import FACETS, runs_row
from mlbench.results.folder import ComparisonFolder, RunFolder, Warn, write_atomic
from mlbench.results.run_info import RunInfo
from mlbench.results.table import params_of

RULES = [
    "Accuracy, both runs with 2 or more repeats: Welch's t-test on the repeats' accuracies "
    f"(unequal variances), flagged when p < {stats.ALPHA}. It allows for how little a few "
    "repeats say about the spread: with 3 repeats a side, |difference| > 2 standard errors "
    "would raise a false alarm about 1 time in 8, not 1 in 20.",
    "Accuracy, a run with a single repeat, both runs on the identical test images (same "
    "dataset, test size and labels): McNemar's test on the two jobs' saved predictions, "
    f"flagged when p < {stats.ALPHA}. Otherwise the difference is not tested, and said so.",
    f"Fit time and prediction throughput: {stats.TIME_RULE} (as the run's own report judges "
    "its models).",
    "Accuracy intervals: over seeds, Student's t on the repeats' accuracies (none for one "
    "repeat); over the test images, Wilson's interval for that many images, there even for "
    "one repeat.",
    "Every delta is against the first run given.",
]
SUMMARY_COLUMNS = ["run", "model", "device", "repeats", "accuracy", "accuracy_std",
                   "accuracy_low", "accuracy_high", "images_low", "images_high",
                   "accuracy_min", "accuracy_max",
                   "fit_seconds", "fit_min", "fit_max", "predict_throughput", "predict_min",
                   "predict_max", "time_to_target_seconds"]
DELTA_COLUMNS = ["run", "model", "device", "accuracy_delta", "accuracy_test", "accuracy_p",
                 "accuracy_flag", "fit_ratio", "fit_flag", "predict_ratio", "predict_flag"]
# Short name: (column, the wall time it comes from).
TIMES = {"fit": ("fit_seconds", "fit_seconds"),
         "predict": ("predict_throughput", "predict_seconds")}


@dataclass
class Run:
    """One saved run folder, read once."""

    label: str
    folder: RunFolder
    info: RunInfo
    frame: pd.DataFrame  # every job, any status

    @property
    def ok(self) -> pd.DataFrame:
        return tables.ok_rows(self.frame)


@dataclass
class Comparison:
    runs: list[Run]
    summary: pd.DataFrame  # SUMMARY_COLUMNS: one row per run, model and device
    deltas: pd.DataFrame  # DELTA_COLUMNS: each later run against the first
    differences: list[str]
    missing: list[str] = field(default_factory=list)  # models not in every run, in words

    @property
    def labels(self) -> list[str]:
        return [run.label for run in self.runs]


# -- reading -----------------------------------------------------------------------------

def load_run(path: Path | str, label: str | None = None, warn: Warn | None = None) -> Run:
    """A saved run folder, or a UsageError in one line saying why it is not one. A damaged
    job record is left out and named through ``warn``."""
    folder = RunFolder.existing(path)
    try:
        info = folder.info()
        frame = folder.table(folder.read_jobs(warn).records)
    except (OSError, ValueError) as error:
        raise UsageError(f"{path} cannot be read as a run folder: {error}") from error
    if frame.empty:
        raise UsageError(f"{path} has no finished job to compare; finish it first with "
                         f"mlbench run --resume {path}")
    return Run(label or folder.name, folder, info, frame)


def _labels(paths: list[Path]) -> list[str]:
    """Folder names, or the paths as given where two runs share a name."""
    names = [path.name for path in paths]
    if len(set(names)) == len(names):
        return names
    return [str(path) for path in paths]


def compare_runs(paths: list[Path | str] | tuple[str, ...],
                 warn: Warn | None = None) -> Comparison:
    """Read two or more run folders and compare each later one with the first; a damaged
    job record is left out and named through ``warn``."""
    given = [Path(path) for path in paths]
    if len(given) < 2:
        raise UsageError("compare needs at least two run folders, e.g. "
                         "mlbench compare results/<run-a> results/<run-b>")
    resolved = [path.resolve() for path in given]
    if len(set(resolved)) < len(resolved):
        raise UsageError("the same run folder is given twice; compare different runs")
    runs = [load_run(path, label, warn)
            for path, label in zip(given, _labels(given), strict=True)]
    summary = pd.concat([summarise(run) for run in runs], ignore_index=True)
    deltas = pd.DataFrame([judge(runs[0], other, key) for other in runs[1:]
                           for key in shared_keys(runs[0], other)], columns=DELTA_COLUMNS)
    return Comparison(runs, summary, deltas, differences(runs), missing_models(runs))


# -- numbers -----------------------------------------------------------------------------

def summarise(run: Run) -> pd.DataFrame:
    """Per model and device: repeats, accuracy (mean, std, 95% interval, min, max), fit time
    and prediction throughput (median, min, max) over the ok jobs."""
    rows = []
    for (model, device), jobs in run.ok.groupby(["model", "device"], sort=True):
        accuracy = stats.mean_interval(jobs["accuracy"].to_numpy(dtype=float))
        row: dict[str, Any] = {
            "run": run.label, "model": model, "device": device, "repeats": accuracy.n,
            "accuracy": accuracy.mean, "accuracy_std": accuracy.std,
            "accuracy_low": accuracy.low, "accuracy_high": accuracy.high,
            **dict(zip(("images_low", "images_high"), stats.accuracy_interval(
                accuracy.mean, jobs["test_size"].max()), strict=True)),
            "accuracy_min": jobs["accuracy"].min(), "accuracy_max": jobs["accuracy"].max()}
        for short, (column, _) in TIMES.items():
            row[column] = jobs[column].median()
            row[f"{short}_min"], row[f"{short}_max"] = jobs[column].min(), jobs[column].max()
        row["time_to_target_seconds"] = jobs["time_to_target_seconds"].median()  # NaN: none
        rows.append(row)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS).astype({"repeats": "Int64"})


Key = tuple[str, str]


def _keys(run: Run) -> list[Key]:
    return sorted({(str(m), str(d)) for m, d in zip(run.ok["model"], run.ok["device"],
                                                     strict=True)})


def shared_keys(base: Run, other: Run) -> list[Key]:
    return sorted(set(_keys(base)) & set(_keys(other)))


def _jobs(run: Run, key: Key) -> pd.DataFrame:
    ok = run.ok
    return ok[(ok["model"] == key[0]) & (ok["device"] == key[1])].sort_values(
        ["repeat", "job_id"])


def same_test_set(base: Run, other: Run) -> bool:
    """Both runs scored the same test images: same dataset, same test subset, same labels."""
    def described(run: Run) -> tuple[Any, Any]:
        return run.info.dataset.name, run.info.settings.test_size

    if described(base) != described(other):
        return False
    ours, theirs = base.folder.test_labels(), other.folder.test_labels()
    return ours is not None and theirs is not None and np.array_equal(ours, theirs)


def _correct(run: Run, key: Key) -> np.ndarray | None:
    """Per test image, whether the model's lowest-repeat job got it right."""
    labels = run.folder.test_labels()
    predicted = run.folder.predicted_labels(str(_jobs(run, key)["job_id"].iloc[0]))
    if labels is None or predicted is None or predicted.shape != labels.shape:
        return None
    return predicted == labels


def judge_accuracy(base: Run, other: Run, key: Key) -> tuple[str, float, bool]:
    """(which test, its p, flagged) for one model's accuracy in two runs; see RULES."""
    a = _jobs(base, key)["accuracy"].to_numpy(dtype=float)
    b = _jobs(other, key)["accuracy"].to_numpy(dtype=float)
    if a.size >= 2 and b.size >= 2:
        p = stats.welch_p(a, b)
        return "Welch t-test", p, p < stats.ALPHA
    if not same_test_set(base, other):
        return "not tested: a single repeat, and different test sets", math.nan, False
    correct_a, correct_b = _correct(base, key), _correct(other, key)
    if correct_a is None or correct_b is None:
        return "not tested: a single repeat, and predictions not saved", math.nan, False
    p = stats.mcnemar(correct_a, correct_b).p_value
    return "McNemar", p, p < stats.ALPHA


def judge_time(base: pd.DataFrame, other: pd.DataFrame, column: str,
               seconds: str) -> tuple[float, bool]:
    """(ratio of medians other / base, flagged) for one timing column of two runs' jobs;
    ``seconds`` is the wall time the column comes from. See RULES."""
    a = base[column].to_numpy(dtype=float)
    b = other[column].to_numpy(dtype=float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if a.size == 0 or b.size == 0 or np.median(a) == 0:
        return math.nan, False
    ratio = float(np.median(b) / np.median(a))
    return ratio, stats.time_differs(base[seconds].to_numpy(dtype=float),
                                     other[seconds].to_numpy(dtype=float))


def judge(base: Run, other: Run, key: Key) -> dict[str, Any]:
    """One model and device of ``other`` against ``base``: deltas, tests and flags."""
    a, b = _jobs(base, key), _jobs(other, key)
    test, p, flagged = judge_accuracy(base, other, key)
    row: dict[str, Any] = {
        "run": other.label, "model": key[0], "device": key[1],
        "accuracy_delta": float(b["accuracy"].mean() - a["accuracy"].mean()),
        "accuracy_test": test, "accuracy_p": p, "accuracy_flag": flagged}
    for short, (column, seconds) in TIMES.items():
        row[f"{short}_ratio"], row[f"{short}_flag"] = judge_time(a, b, column, seconds)
    return row


# -- what differs ------------------------------------------------------------------------

def _params(run: Run) -> dict[str, dict[str, Any]]:
    """Each model's params as the results record them (the first job's)."""
    params: dict[str, dict[str, Any]] = {}
    for model, text in zip(run.frame["model"], run.frame["params"], strict=True):
        if str(model) not in params and isinstance(text, str):
            params[str(model)] = params_of(text)
    return params


def differences(runs: list[Run]) -> list[str]:
    """What differs between the first run and each later one, a sentence per item."""
    base = runs[0]
    items = []
    for other in runs[1:]:
        def say(what: str, ours: Any, theirs: Any, other: Run = other) -> None:
            if ours != theirs:
                items.append(f"{what}: {ours} in {base.label}; {theirs} in {other.label}")

        for what, read in FACETS:
            say(what, read(base.info), read(other.info))
        libraries = [run.info.machine.libraries for run in (base, other)]
        for name in sorted(set(libraries[0]) | set(libraries[1])):
            say(name, libraries[0].get(name, "not installed"),
                libraries[1].get(name, "not installed"))
        ours, theirs = _params(base), _params(other)
        for model in sorted(set(ours) & set(theirs)):
            changed = sorted(name for name in set(ours[model]) | set(theirs[model])
                             if ours[model].get(name) != theirs[model].get(name))
            if changed:
                say(f"params of {model}",
                    ", ".join(f"{n}={ours[model].get(n, 'unset')!r}" for n in changed),
                    ", ".join(f"{n}={theirs[model].get(n, 'unset')!r}" for n in changed))
    return items or ["Nothing differs in dataset, settings, machine, versions or params."]


def missing_models(runs: list[Run]) -> list[str]:
    """Each model and device that did not end ok in every run, and why."""
    keys = sorted(set().union(*(_keys(run) for run in runs)))
    lines = []
    for model, device in keys:
        absent = [run for run in runs if (model, device) not in _keys(run)]
        if not absent:
            continue
        present = [run.label for run in runs if run not in absent]
        reasons = []
        for run in absent:
            jobs = run.frame[(run.frame["model"] == model) & (run.frame["device"] == device)]
            statuses = ", ".join(sorted(set(jobs["status"].astype(str))))
            reasons.append(f"no ok job in {run.label} ({statuses})" if statuses
                           else f"not in {run.label}")
        lines.append(f"{model} ({device}): only in {', '.join(present)}; "
                     + "; ".join(reasons))
    return lines


# -- presenting --------------------------------------------------------------------------

def _pm(mean: float, std: float) -> str:
    if math.isnan(mean):
        return ""
    return f"{mean:.4f}" if math.isnan(std) else f"{mean:.4f} ± {std:.4f}"


def _interval(low: float, high: float) -> str:
    return "" if math.isnan(low) else f"{low:.4f}-{high:.4f}"


def _range(low: float, high: float, repeats: Any) -> str:
    """" (min-max)" after a median over 2 or more repeats: the bars compare's chart draws."""
    return "" if repeats < 2 else f" ({_seconds(low)}-{_seconds(high)})"


def _ratio(ratio: float) -> str:
    return "" if math.isnan(ratio) else f"{ratio:.2f}x"


def _seconds(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.3g}" if value < 100 else f"{value:,.0f}"


def _flagged(value: Any) -> bool:
    """True only for a true flag: a run without deltas (the first) has NaN, which is truthy."""
    return isinstance(value, bool | np.bool_) and bool(value)


def display_table(comparison: Comparison) -> pd.DataFrame:
    """The comparison as text cells, one row per model, device and run: the same cells in
    the terminal, Markdown and HTML."""
    merged = comparison.summary.merge(comparison.deltas, on=["run", "model", "device"],
                                      how="left")
    order = {label: index for index, label in enumerate(comparison.labels)}
    merged = merged.assign(_order=merged["run"].map(order)).sort_values(
        ["model", "device", "_order"], ignore_index=True)
    rows = []
    for row in merged.to_dict("records"):
        first = row["run"] == comparison.labels[0]
        flags = [name for name, column in (("accuracy", "accuracy_flag"), ("fit time",
                 "fit_flag"), ("throughput", "predict_flag")) if _flagged(row.get(column))]
        test = ""
        if not first and isinstance(row.get("accuracy_test"), str):
            test = row["accuracy_test"]
            if not math.isnan(row["accuracy_p"]):
                test = f"{test} {stats.p_text(row['accuracy_p'])}"
        delta = row.get("accuracy_delta")
        rows.append({
            "model": row["model"], "device": row["device"], "run": row["run"],
            "repeats": str(row["repeats"]),
            "accuracy": _pm(row["accuracy"], row["accuracy_std"]),
            "95% CI (seeds)": _interval(row["accuracy_low"], row["accuracy_high"]),
            "95% CI (test images)": _interval(row["images_low"], row["images_high"]),
            "Δ accuracy (points)": "" if first or delta is None or math.isnan(delta)
            else f"{delta * 100:+.2f}",
            "test": test,
            "fit s": _seconds(row["fit_seconds"]) + _range(row["fit_min"], row["fit_max"],
                                                           row["repeats"]),
            "fit vs first": "" if first else _ratio(row.get("fit_ratio", math.nan)),
            "predict images/s": "" if math.isnan(row["predict_throughput"])
            else f"{row['predict_throughput']:,.0f}",
            "predict vs first": "" if first else _ratio(row.get("predict_ratio", math.nan)),
            "to target s": _seconds(row["time_to_target_seconds"]),
            "beyond the spread": ", ".join(flags),
        })
    cells = pd.DataFrame(rows)
    if rows and not any(row["to target s"] for row in rows):  # no model kept a history
        cells = cells.drop(columns="to target s")
    return cells


def flag_sentences(comparison: Comparison) -> list[str]:
    """Every flagged difference in words."""
    base = comparison.labels[0]
    sentences = []
    for row in comparison.deltas.to_dict("records"):
        name = f"{row['model']} ({row['device']})"
        if row["accuracy_flag"]:
            direction = "higher" if row["accuracy_delta"] > 0 else "lower"
            sentences.append(
                f"{name}: accuracy {abs(row['accuracy_delta']) * 100:.2f} points {direction} "
                f"in {row['run']} than in {base} ({row['accuracy_test']}, "
                f"{stats.p_text(row['accuracy_p'])}).")
        for short, what in (("fit", "fit time"), ("predict", "prediction throughput")):
            if row[f"{short}_flag"]:
                sentences.append(f"{name}: {what} in {row['run']} is "
                                 f"{row[f'{short}_ratio']:.2f}x that of {base}.")
    return sentences


def runs_table(runs: list[Run]) -> pd.DataFrame:
    return pd.DataFrame([{"run": run.label, "folder": str(run.folder.path), **runs_row(run.info)}
                         for run in runs])


def summary_lines(comparison: Comparison) -> list[str]:
    """The comparison's headline: per later run, how many models were compared with the
    first and which differences are beyond chance or the timing noise (``RULES``)."""
    base, lines = comparison.labels[0], []
    for label in comparison.labels[1:]:
        rows = comparison.deltas[comparison.deltas["run"] == label]
        flagged = sum(_flagged(value) for column in ("accuracy_flag", "fit_flag", "predict_flag")
                      for value in rows[column])
        verdict = (f"{flagged} difference(s) beyond chance or the timing noise (below)"
                   if flagged else "no difference beyond chance or the timing noise")
        lines.append(f"{label} against {base}: {len(rows)} model(s) compared; {verdict}.")
    return lines


def comparison_document(comparison: Comparison, figures: list[Figure]) -> Document:
    document = Document(f"mlbench comparison: {' vs '.join(comparison.labels)}")
    flags = flag_sentences(comparison)
    document.section("Summary", Bullets(summary_lines(comparison), "highlight"),
                     *([Bullets(flags)] if flags else []))
    document.section("Runs", Table(runs_table(comparison.runs)))
    document.section("Differences", Bullets(comparison.differences))
    document.section(
        "Results per model",
        Text(f"Per model and device, each run's test accuracy (mean ± standard deviation over "
             f"repeats; its 95% interval over the seeds, Student's t, and over the test "
             f"images, Wilson), median fit time (with its min-max over repeats) and "
             f"prediction throughput; deltas and ratios are against {comparison.labels[0]}."),
        Table(display_table(comparison)),
        *([Text("Larger than the spread:", kind="warning"), Bullets(flags)] if flags
          else [Text("No difference is larger than the spread.", kind="good")]))
    if comparison.missing:
        document.section("Models not in every run", Bullets(comparison.missing))
    document.section("How differences are judged", Bullets(RULES))
    if figures:
        document.section("Charts", *figures)
    return document


# -- charts ------------------------------------------------------------------------------

HATCHES = ["", "//", "..", "xx", "\\\\", "++", "oo", "--"]


def grouped_bars(summary: pd.DataFrame, runs: list[str], value: str, low: str, high: str,
                 path: Path, label: str, log: bool = False) -> pd.DataFrame | None:
    """Bars per model (its one colour), one per run (its hatch), error bars from ``low`` to
    ``high``; saves a PNG and returns the data plotted."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display: as the run's charts
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from mlbench.reporting.charts import model_palette, save_figure

    data = summary.dropna(subset=[value]).copy()
    if data.empty:
        return None
    several_devices = data["device"].nunique() > 1
    data["label"] = data["model"] + (" (" + data["device"] + ")" if several_devices else "")
    labels = sorted(data["label"].unique())
    colours = model_palette(data["model"])
    width = 0.8 / len(runs)
    figure, axes = plt.subplots(figsize=(max(5.0, 0.35 * len(labels) * len(runs) + 2), 4))
    for index, run in enumerate(runs):
        part = data[data["run"] == run].set_index("label").reindex(labels).dropna(subset=[value])
        x = np.array([labels.index(name) for name in part.index]) + (
            index - (len(runs) - 1) / 2) * width
        # Clipped at 0: a mean can sit a rounding error outside its own interval.
        errors = np.clip(np.vstack([part[value] - part[low], part[high] - part[value]]), 0,
                         None)
        axes.bar(x, part[value], width, yerr=errors, capsize=2, hatch=HATCHES[index % 8],
                 color=[colours[m] for m in part["model"]], edgecolor="black", linewidth=0.5)
    axes.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 4 else 0,
                    ha="right" if len(labels) > 4 else "center")
    axes.set_ylabel(label)
    if log:
        axes.set_yscale("log")
    else:
        axes.set_ylim(max(0.0, float(data[low].min()) - 0.05), 1.0)
    axes.legend(handles=[Patch(facecolor="white", edgecolor="black", hatch=HATCHES[i % 8],
                               label=run) for i, run in enumerate(runs)], fontsize=8,
                loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(len(runs), 4),
                frameon=False)
    save_figure(figure, path, dpi=100)
    return data


def make_charts(comparison: Comparison, folder: ComparisonFolder) -> list[Figure]:
    made = []
    for name, value, low, high, label, log, caption in [
        ("accuracy.png", "accuracy", "images_low", "images_high",
         "test accuracy (mean, 95% CI over test images)", False,
         "Test accuracy per model and run: one colour per model, one hatch per run, error "
         "bars the 95% interval over the test images that the table prints."),
        ("fit_time.png", "fit_seconds", "fit_min", "fit_max",
         "fit time (s, median, min-max; log scale)", True,
         "Fit time per model and run (median over repeats, min-max bars as the table prints "
         "them, log scale)."),
    ]:
        path = folder.chart(name)
        if grouped_bars(comparison.summary, comparison.labels, value, low, high, path, label,
                        log) is not None:
            made.append(Figure(folder.relative(path), caption))
    return made


def default_output(comparison: Comparison) -> Path:
    name = "compare-" + "-vs-".join(comparison.labels)
    return Path("results") / re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def write_report(comparison: Comparison, output: Path | str | None = None) -> list[Path]:
    """Write charts, compare.md and compare.html into ``output``; returns the paths."""
    folder = ComparisonFolder(Path(output) if output else default_output(comparison))
    try:
        folder.path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot write the comparison to {folder.path}: "
                         f"{error.strerror or error}") from error
    figures = make_charts(comparison, folder)
    document = comparison_document(comparison, figures)
    markdown, page = folder.markdown, folder.html
    write_atomic(markdown, lambda p: p.write_text(to_markdown(document)))
    write_atomic(page, lambda p: p.write_text(to_html(document, folder.path)))
    return [markdown, page, *(folder.chart(Path(figure.path).name) for figure in figures)]


def print_comparison(comparison: Comparison) -> None:
    """The comparison on stdout: a rich table, then the differences and the rules."""
    import sys

    from rich.console import Console
    from rich.table import Table as RichTable
    from rich.text import Text as RichText

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 1000)
    cells = display_table(comparison)
    table = RichTable(title=f"mlbench compare: {' vs '.join(comparison.labels)} "
                            f"(deltas against {comparison.labels[0]})", title_justify="left")
    numeric = {"repeats", "accuracy", "95% CI (seeds)", "95% CI (test images)",
               "Δ accuracy (points)", "fit s", "fit vs first",
               "predict images/s", "predict vs first"}
    for column in cells.columns:
        table.add_column(column, justify="right" if column in numeric else "left")
    for row in cells.itertuples(index=False):
        style = "bold yellow" if row[-1] else ""
        # Text(), not markup: model names come from plugins and may hold brackets.
        table.add_row(*(RichText(str(value), style=style) for value in row))
    console.print(table)
    for title, lines in (("Summary", summary_lines(comparison)),
                         ("Differences", comparison.differences),
                         ("Larger than the spread", flag_sentences(comparison)),
                         ("Not in every run", comparison.missing),
                         ("Rules", RULES)):
        if lines:
            console.print(RichText(f"{title}:", style="bold"))
            for line in lines:
                console.print(RichText(f"  - {line}"), soft_wrap=True)
