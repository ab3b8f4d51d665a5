"""Charts of a saved run: each function takes the results table (and, where it needs
predictions or history, the run folder), saves one PNG and returns the data it plotted.

Every chart that colours by model takes its colours from ``model_palette`` (sorted model
names to seaborn colours), so a model keeps one colour across all charts. A chart whose data
is absent (no ok job, no history) saves nothing and returns None. Reads saved run folders
through ``mlbench.results`` only, never the runner.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import to_hex

from mlbench.results import RunFolder

DPI = 100
Palette = dict[str, str]


def model_palette(models: Iterable[str]) -> Palette:
    """One colour (hex) per model: sorted names to seaborn's tab10, or tab20 past ten."""
    names = sorted({str(name) for name in models})
    colours = sns.color_palette("tab10" if len(names) <= 10 else "tab20", len(names))
    return {name: to_hex(colour) for name, colour in zip(names, colours, strict=True)}


def ok_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"] == "ok"].copy()


def _palette(frame: pd.DataFrame, palette: Palette | None) -> Palette:
    return palette if palette is not None else model_palette(ok_rows(frame)["model"])


def _label(frame: pd.DataFrame) -> pd.Series:
    """The series name: the model, with its device when the run used more than one."""
    if frame["device"].nunique() > 1:
        return frame["model"].astype(str) + " (" + frame["device"].astype(str) + ")"
    return frame["model"].astype(str)


def _save(figure: plt.Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI, metadata={"Software": None})
    plt.close(figure)


def accuracy_chart(frame: pd.DataFrame, path: Path,
                   palette: Palette | None = None) -> pd.DataFrame | None:
    """Mean test accuracy per model with min-max bars over repeats (ok jobs), best first."""
    ok = ok_rows(frame)
    if ok.empty:
        return None
    colours = _palette(frame, palette)
    data = (ok.groupby("model")["accuracy"].agg(["mean", "std", "min", "max", "count"])
            .rename(columns={"count": "repeats"}).reset_index()
            .sort_values(["mean", "model"], ascending=[False, True], ignore_index=True))
    data["color"] = data["model"].map(colours)
    figure, axes = plt.subplots(figsize=(6, 0.5 * len(data) + 1.5))
    y = np.arange(len(data))
    errors = np.vstack([data["mean"] - data["min"], data["max"] - data["mean"]])
    axes.barh(y, data["mean"], xerr=errors, color=data["color"], capsize=3)
    axes.set_yticks(y, data["model"])
    axes.invert_yaxis()
    low = max(0.0, float(data["min"].min()) - 0.05)
    axes.set_xlim(low, 1.0)
    axes.set_xlabel("test accuracy (mean, min-max over repeats)")
    _save(figure, path)
    return data


def per_model_timing(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model (and device, if several): mean accuracy, median fit time and throughput."""
    ok = ok_rows(frame)
    ok["label"] = _label(ok)
    return (ok.groupby(["label", "model", "device"])
            .agg(accuracy=("accuracy", "mean"), fit_seconds=("fit_seconds", "median"),
                 predict_throughput=("predict_throughput", "median"))
            .reset_index().sort_values("label", ignore_index=True))


def pareto_front(data: pd.DataFrame) -> pd.Series:
    """True where no other row is at least as accurate and as fast to fit, and better in one."""
    accuracy, seconds = data["accuracy"].to_numpy(), data["fit_seconds"].to_numpy()
    front = []
    for a, s in zip(accuracy, seconds, strict=True):
        beaten = (accuracy >= a) & (seconds <= s) & ((accuracy > a) | (seconds < s))
        front.append(not beaten.any())
    return pd.Series(front, index=data.index)


def pareto_chart(frame: pd.DataFrame, path: Path,
                 palette: Palette | None = None) -> pd.DataFrame | None:
    """Accuracy against fit time (log x), the Pareto frontier drawn as a line."""
    if ok_rows(frame).empty:
        return None
    colours = _palette(frame, palette)
    data = per_model_timing(frame)
    data["color"] = data["model"].map(colours)
    data["pareto"] = pareto_front(data)
    figure, axes = plt.subplots(figsize=(6.5, 4.5))
    axes.scatter(data["fit_seconds"], data["accuracy"], c=data["color"], s=50, zorder=3)
    front = data[data["pareto"]].sort_values("fit_seconds")
    axes.plot(front["fit_seconds"], front["accuracy"], "--", color="grey", zorder=2,
              label="Pareto frontier")
    for row in data.itertuples():
        axes.annotate(str(row.label), (row.fit_seconds, row.accuracy), fontsize=8,
                      xytext=(4, 4), textcoords="offset points")
    axes.set_xscale("log")
    axes.set_xlabel("fit time (s, median over repeats, log scale)")
    axes.set_ylabel("test accuracy (mean)")
    axes.legend(loc="lower right", fontsize=8)
    _save(figure, path)
    return data


def speed_chart(frame: pd.DataFrame, path: Path,
                palette: Palette | None = None) -> pd.DataFrame | None:
    """Two panels, log scale: median fit time and median prediction throughput per model."""
    if ok_rows(frame).empty:
        return None
    colours = _palette(frame, palette)
    data = per_model_timing(frame).sort_values("fit_seconds", ignore_index=True)
    data["color"] = data["model"].map(colours)
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 0.5 * len(data) + 1.5), sharey=True)
    y = np.arange(len(data))
    left.barh(y, data["fit_seconds"], color=data["color"])
    left.set_xscale("log")
    left.set_xlabel("fit time (s, log)")
    left.set_yticks(y, data["label"])
    left.invert_yaxis()
    right.barh(y, data["predict_throughput"], color=data["color"])
    right.set_xscale("log")
    right.set_xlabel("prediction throughput (images/s, log)")
    _save(figure, path)
    return data


def chosen_jobs(frame: pd.DataFrame) -> pd.DataFrame:
    """One ok job per model: the lowest repeat, on the CPU where the model ran there."""
    ok = ok_rows(frame)
    ok["_gpu"] = ok["device"] != "cpu"
    ok = ok.sort_values(["model", "_gpu", "repeat", "job_id"])
    return ok.drop_duplicates("model").drop(columns="_gpu").reset_index(drop=True)


def _predictions(frame: pd.DataFrame, folder: RunFolder
                 ) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    labels_path = folder.path / "test_labels.npy"
    if not labels_path.exists():
        return None
    labels = np.load(labels_path)
    predicted = {}
    for row in chosen_jobs(frame).itertuples():
        path = folder.path / "predictions" / f"{row.job_id}.npz"
        if path.exists():
            with np.load(path) as saved:
                predicted[str(row.model)] = saved["predicted"]
    return (labels, predicted) if predicted else None


def per_class_chart(frame: pd.DataFrame, folder: RunFolder, path: Path) -> pd.DataFrame | None:
    """Heatmap of accuracy per model (rows) and true digit (columns), from saved predictions."""
    loaded = _predictions(frame, folder)
    if loaded is None:
        return None
    labels, predicted = loaded
    classes = np.unique(labels)
    data = pd.DataFrame(
        {int(c): [float(np.mean(predicted[m][labels == c] == c)) for m in sorted(predicted)]
         for c in classes}, index=pd.Index(sorted(predicted), name="model"))
    data.columns.name = "digit"
    figure, axes = plt.subplots(figsize=(0.6 * len(classes) + 2.5, 0.45 * len(data) + 1.5))
    sns.heatmap(data, annot=True, fmt=".2f", cmap="viridis", vmin=max(0.0, data.min().min()),
                vmax=1.0, annot_kws={"fontsize": 7}, ax=axes)
    axes.set_xlabel("true digit")
    axes.set_ylabel("")
    _save(figure, path)
    return data


def confusion_chart(frame: pd.DataFrame, folder: RunFolder, path: Path) -> pd.DataFrame | None:
    """One small confusion matrix per model in a grid; returns model, true, predicted, count."""
    loaded = _predictions(frame, folder)
    if loaded is None:
        return None
    labels, predicted = loaded
    classes = np.unique(labels)
    models = sorted(predicted)
    columns = min(3, len(models))
    rows = -(-len(models) // columns)
    figure, grid = plt.subplots(rows, columns, figsize=(3.2 * columns, 3 * rows), squeeze=False)
    long = []
    for axes, model in zip(grid.flat, models, strict=False):
        matrix = pd.crosstab(pd.Series(labels, name="true"),
                             pd.Series(predicted[model], name="predicted"))
        matrix = matrix.reindex(index=classes, columns=classes, fill_value=0)
        sns.heatmap(matrix, cmap="Blues", cbar=False, square=True, ax=axes,
                    xticklabels=True, yticklabels=True)
        axes.set_title(model, fontsize=9)
        axes.tick_params(labelsize=6)
        matrix.index.name, matrix.columns.name = "true", "predicted"
        stacked = matrix.reset_index().melt(id_vars="true", value_name="count")
        stacked.insert(0, "model", model)
        long.append(stacked)
    for axes in list(grid.flat)[len(models):]:
        axes.axis("off")
    _save(figure, path)
    return pd.concat(long, ignore_index=True)


def learning_curves_chart(frame: pd.DataFrame, folder: RunFolder, path: Path,
                          palette: Palette | None = None) -> pd.DataFrame | None:
    """Test accuracy and loss per epoch, and test accuracy against cumulative training time,
    for one job per model (see ``chosen_jobs``). None when no job kept a history."""
    history = folder.history()
    jobs = chosen_jobs(frame)
    history = history[history["job_id"].isin(jobs["job_id"])]
    if history.empty:
        return None
    colours = _palette(frame, palette)
    data = history.sort_values(["model", "epoch"], ignore_index=True)
    data["cumulative_train_seconds"] = data.groupby("model")["train_seconds"].cumsum()
    data["color"] = data["model"].map(colours)
    data = data[["model", "job_id", "epoch", "test_accuracy", "loss",
                 "cumulative_train_seconds", "color"]]
    figure, panels = plt.subplots(1, 3, figsize=(12, 3.5))
    for model, curve in data.groupby("model"):
        colour = colours.get(str(model))
        panels[0].plot(curve["epoch"], curve["test_accuracy"], "o-", color=colour, label=model)
        panels[1].plot(curve["epoch"], curve["loss"], "o-", color=colour)
        panels[2].plot(curve["cumulative_train_seconds"], curve["test_accuracy"], "o-",
                       color=colour)
    panels[0].set(xlabel="epoch", ylabel="test accuracy")
    panels[1].set(xlabel="epoch", ylabel="training loss")
    panels[2].set(xlabel="cumulative training time (s)", ylabel="test accuracy")
    panels[0].legend(fontsize=8)
    _save(figure, path)
    return data
