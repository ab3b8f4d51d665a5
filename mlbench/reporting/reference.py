"""Published accuracy ranges of a run's models, to catch a broken setup.

A model far outside the range published for it almost always means something is wrong with
the setup (pixels not scaled, labels shuffled, a changed default) rather than a bad model.
Each model's plugin declares its ranges with their sources (``Model.reference_accuracy``,
``mlbench.ReferenceAccuracy``); the run records them in run.json as it starts
(``RunInfo.models``), so this module never sees a plugin. They are generous on purpose:
they flag setups that are broken, not small deviations. A model is judged only on a dataset
it has a range for, and only when it trained on that many images. A run made before the
ranges were recorded has none: nothing is judged.
"""

from __future__ import annotations

from dataclasses import asdict

import pandas as pd

from mlbench.reporting.document import Block, Section, Table, Text
from mlbench.reporting.tables import ok_rows
from mlbench.results.run_info import RunInfo

RANGE_COLUMNS = ["model", "dataset", "train_size", "low", "high", "source", "note"]
JUDGED_COLUMNS = ["model", "device", "accuracy", "repeats", "low", "high", "within", "source"]
WHERE = "declared by each model's plugin (reference_accuracy), recorded in run.json"


def reference_ranges(info: RunInfo) -> pd.DataFrame:
    """The published ranges the run recorded: one row per model and range."""
    return pd.DataFrame([{"model": name, **asdict(item)} for name, model in info.models.items()
                         for item in model.reference_accuracy], columns=RANGE_COLUMNS)


def judged(frame: pd.DataFrame, info: RunInfo) -> pd.DataFrame:
    """Mean accuracy over ok repeats per model and device, beside its reference range on the
    run's dataset: only the models with such a range that trained on the range's
    training-set size. Column ``within`` says whether the mean lies in [low, high]."""
    ranges = reference_ranges(info)
    ranges = ranges[ranges["dataset"] == dataset_name(frame, info)]
    ok = ok_rows(frame)
    ok = ok[ok["model"].isin(ranges["model"])]
    if ok.empty:
        return pd.DataFrame(columns=JUDGED_COLUMNS)
    means = (ok.groupby(["model", "device", "train_size"])["accuracy"]
             .agg(accuracy="mean", repeats="count").reset_index())
    table = means.merge(ranges, on="model", suffixes=("", "_reference"))
    table = table[table["train_size"] == table["train_size_reference"]]
    table["within"] = table["accuracy"].between(table["low"], table["high"])
    return table[JUDGED_COLUMNS].sort_values(["model", "device"], ignore_index=True)


def out_of_range(frame: pd.DataFrame, info: RunInfo) -> pd.DataFrame:
    """The models (per device) whose mean accuracy is outside their published range on the
    run's dataset; empty when all are inside or none is judged."""
    table = judged(frame, info)
    return table[~table["within"]].reset_index(drop=True)


def _range_text(low: float, high: float) -> str:
    return f"{low:.3f}-{high:.3f}"


def dataset_name(frame: pd.DataFrame, info: RunInfo) -> str:
    """The run's dataset; for a run.json without it, the one the results say was used."""
    if info.dataset.name:
        return str(info.dataset.name)
    used = frame["dataset"].dropna().unique()
    return str(used[0]) if len(used) else "unknown"


def reference_section(frame: pd.DataFrame, info: RunInfo) -> Section:
    """"Reference ranges": a warning per model outside its published range, or one line that
    all are within, or why nothing was judged (with the published ranges of the run's
    models, where there are any, for orientation). Sources are links."""
    title = "Reference ranges"
    dataset = dataset_name(frame, info)
    ranges = reference_ranges(info)
    known = ranges[ranges["dataset"] == dataset]
    table = judged(frame, info)
    if table.empty:
        ok = ok_rows(frame)
        if ranges.empty:
            text = ("No model of this run has published accuracy figures recorded (a plugin "
                    "declares them as reference_accuracy; runs made before mlbench recorded "
                    "them have none), so accuracies are not judged against them.")
        elif known.empty:
            listed = ", ".join(sorted(ranges["dataset"].unique()))
            text = (f"No published reference figures for dataset '{dataset}' (this run's "
                    f"models have them for {listed}), so accuracies are not judged against "
                    "them.")
        elif not ok["model"].isin(known["model"]).any():
            text = (f"No model with a published range on {dataset} "
                    f"({', '.join(known['model'])}) ended ok, so nothing is judged.")
        else:
            sizes = ", ".join(sorted({f"{int(n):,}" for n in known["train_size"]}))
            trained = ok[ok["model"].isin(known["model"])]["train_size"]
            text = (f"The published ranges on {dataset} are for a training set of {sizes} "
                    "images; this run trained on "
                    f"{', '.join(sorted({f'{int(n):,}' for n in trained}))}, so its "
                    "accuracies are not judged against them.")
        blocks: list[Block] = [Text(text)]
        published = ranges[ranges["model"].isin(ok["model"])]
        if not published.empty:
            blocks.append(Table(
                published[["model", "dataset", "train_size", "low", "high", "source"]]
                .rename(columns={"train_size": "training images"}),
                caption=f"The published ranges of this run's models, for orientation only "
                        f"({WHERE}).", links=("source",)))
        return Section(title, blocks)
    blocks = []
    several_devices = table["device"].nunique() > 1
    for row in table[~table["within"]].to_dict("records"):
        label = f"{row['model']} ({row['device']})" if several_devices else row["model"]
        blocks.append(Text(
            f"{label}: mean accuracy {row['accuracy']:.4f} is outside its published range "
            f"{_range_text(row['low'], row['high'])} on {dataset} (source: {row['source']}). "
            "A model this far off its published figures usually means a broken setup (pixel "
            "scaling, labels, data files, a changed default or param), not a bad model.",
            kind="warning"))
    if not blocks:
        blocks.append(Text(f"All {len(table)} models with published figures are within "
                           f"their ranges on {dataset}.", kind="good"))
    shown = table.assign(within=table["within"].map({True: "yes", False: "NO"}))
    blocks.append(Table(shown, caption=f"Mean test accuracy against the published range on "
                                       f"{dataset} (ranges and sources {WHERE}).",
                        links=("source",)))
    return Section(title, blocks)
