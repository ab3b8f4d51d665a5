"""Published accuracy ranges of the built-in models, to catch a broken setup.

A built-in model far outside the range published for it on MNIST almost always means
something is wrong with the setup (pixels not scaled, labels shuffled, a changed default)
rather than a bad model. The ranges, with their sources, live in one data file,
``reference_accuracy.csv``: columns model, dataset, train_size (the training-set size the
figures hold for), low, high, source, note. They are generous on purpose: they flag setups
that are broken, not small deviations. Only a model and dataset listed there is judged, and
only when it trained on that many images.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import pandas as pd

from mlbench.reporting.document import Block, Section, Table, Text
from mlbench.reporting.tables import ok_rows
from mlbench.results.run_info import RunInfo

RANGES_FILE = "reference_accuracy.csv"
JUDGED_COLUMNS = ["model", "device", "accuracy", "repeats", "low", "high", "within", "source"]


@cache
def _ranges() -> pd.DataFrame:
    with files("mlbench.reporting").joinpath(RANGES_FILE).open() as stream:
        return pd.read_csv(stream, dtype={"model": str, "dataset": str, "source": str,
                                          "note": str})


def reference_ranges() -> pd.DataFrame:
    """The published ranges: one row per model and dataset."""
    return _ranges().copy()


def judged(frame: pd.DataFrame, dataset_name: str) -> pd.DataFrame:
    """Mean accuracy over ok repeats per model and device, beside its reference range: only
    the models with a range for ``dataset_name`` that trained on the range's training-set
    size. Column ``within`` says whether the mean lies in [low, high]."""
    ranges = _ranges()
    ranges = ranges[ranges["dataset"] == dataset_name]
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


def out_of_range(frame: pd.DataFrame, dataset_name: str) -> pd.DataFrame:
    """The models (per device) whose mean accuracy is outside their published range for
    ``dataset_name``; empty when all are inside or none is judged."""
    table = judged(frame, dataset_name)
    return table[~table["within"]].reset_index(drop=True)


def _range_text(low: float, high: float) -> str:
    return f"{low:.3f}-{high:.3f}"


RANGES_PATH = f"mlbench/reporting/{RANGES_FILE}"


def dataset_name(frame: pd.DataFrame, info: RunInfo) -> str:
    """The run's dataset; for a run.json without it, the one the results say was used."""
    if info.dataset.name:
        return str(info.dataset.name)
    used = frame["dataset"].dropna().unique()
    return str(used[0]) if len(used) else "unknown"


def reference_section(frame: pd.DataFrame, info: RunInfo) -> Section:
    """"Reference ranges": a warning per built-in model outside its published range, or one
    line that all are within, or why nothing was judged (with the published ranges of the
    run's models, where there are any, for orientation). Sources are links."""
    title = "Reference ranges"
    dataset = dataset_name(frame, info)
    ranges = _ranges()
    known = ranges[ranges["dataset"] == dataset]
    table = judged(frame, str(dataset)) if not known.empty else pd.DataFrame()
    if table.empty:
        ok = ok_rows(frame)
        if known.empty:
            listed = ", ".join(sorted(ranges["dataset"].unique()))
            text = (f"No published reference figures for dataset '{dataset}' (only for "
                    f"{listed}), so accuracies are not judged against them.")
        elif not ok["model"].isin(known["model"]).any():
            text = (f"No model of this run has a published range on {dataset}; the built-in "
                    f"ones do: {', '.join(known['model'])}.")
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
                        f"(from {RANGES_PATH}).", links=("source",)))
        return Section(title, blocks)
    blocks = []
    several_devices = table["device"].nunique() > 1
    for row in table[~table["within"]].to_dict("records"):
        label = f"{row['model']} ({row['device']})" if several_devices else row["model"]
        blocks.append(Text(
            f"{label}: mean accuracy {row['accuracy']:.4f} is outside its published range "
            f"{_range_text(row['low'], row['high'])} on {dataset} (source: {row['source']}). "
            "A built-in "
            "model this far off usually means a broken setup (pixel scaling, labels, data "
            "files, a changed default or param), not a bad model.", kind="warning"))
    if not blocks:
        blocks.append(Text(f"All {len(table)} built-in models with published figures are "
                           f"within their ranges on {dataset}.", kind="good"))
    shown = table.assign(within=table["within"].map({True: "yes", False: "NO"}))
    blocks.append(Table(shown, caption=f"Mean test accuracy against the published range on "
                                       f"{dataset} (ranges and sources: {RANGES_PATH}).",
                        links=("source",)))
    return Section(title, blocks)
