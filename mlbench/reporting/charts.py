"""Charts of a saved run: each function takes one table of ``tables`` and draws it into one
PNG. Nothing here computes: which jobs count, and every number drawn, come from ``tables``.

Every chart that colours by model takes its colours from ``model_palette`` (sorted model
names to seaborn colours), so a model keeps one colour across all charts.
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
from matplotlib.ticker import FuncFormatter, NullLocator

from mlbench.reporting.tables import Gallery
from mlbench.results.folder import write_atomic

DPI = 100
Palette = dict[str, str]


def model_palette(models: Iterable[str]) -> Palette:
    """One colour (hex) per model: sorted names to seaborn's tab10, or tab20 past ten."""
    names = sorted({str(name) for name in models})
    colours = sns.color_palette("tab10" if len(names) <= 10 else "tab20", len(names))
    return {name: to_hex(colour) for name, colour in zip(names, colours, strict=True)}


def _colours(data: pd.DataFrame, palette: Palette | None) -> Palette:
    return palette if palette is not None else model_palette(data["model"])


def _tick(value: float) -> str:
    return f"{value:,.0f}" if value >= 1000 else f"{value:g}"


def _log_x(axes: plt.Axes) -> None:
    _log_axis(axes, "x")


def _log_axis(axes: plt.Axes, which: str) -> None:
    """A log axis (``which``: x or y) labelled in plain numbers (0.05, 0.1, 1,000); where it
    spans two and a half decades or less, the 2s and 5s between the powers of ten are
    labelled too."""
    axis = axes.xaxis if which == "x" else axes.yaxis
    (axes.set_xscale if which == "x" else axes.set_yscale)("log")

    def minor(value: float, _: object) -> str:
        low, high = axes.get_xlim() if which == "x" else axes.get_ylim()
        mantissa = round(value / 10 ** np.floor(np.log10(value)))
        return _tick(value) if mantissa in (2, 5) and np.log10(high / low) <= 2.5 else ""

    axis.set_major_formatter(FuncFormatter(lambda value, _: _tick(value)))
    axis.set_minor_formatter(FuncFormatter(minor))


def save_figure(figure: plt.Figure, path: Path, layout: bool = True, dpi: int = DPI) -> None:
    """Save a PNG atomically (a crash mid-write keeps the previous chart) and close it."""
    if layout:
        figure.tight_layout()
    write_atomic(path, lambda p: figure.savefig(p, format="png", dpi=dpi,
                                                metadata={"Software": None}))
    plt.close(figure)


def accuracy_chart(data: pd.DataFrame, path: Path, palette: Palette | None = None) -> None:
    """``tables.accuracy_per_model``: a bar per model (and grid point) at its mean test
    accuracy, best first, with the intervals the tables print: the 95% interval over the test
    images (thin, capped) and, with repeats, over the seeds (thick)."""
    colours = data["model"].map(_colours(data, palette))
    figure, axes = plt.subplots(figsize=(6, 0.5 * len(data) + 1.5))
    y = np.arange(len(data))
    # Clipped: a Wilson interval contains its mean, but rounding can put it a hair outside.
    images = np.vstack([data["mean"] - data["test_low"], data["test_high"] - data["mean"]])
    axes.barh(y, data["mean"], xerr=images.clip(0), color=colours, capsize=3,
              error_kw={"linewidth": 1})
    repeated = data["seeds_low"].notna()
    if repeated.any():
        seeds = np.vstack([data["mean"] - data["seeds_low"], data["seeds_high"] - data["mean"]])
        axes.errorbar(data["mean"][repeated], y[repeated], xerr=seeds[:, repeated].clip(0),
                      fmt="none", ecolor="black", elinewidth=4, alpha=0.5, capsize=0)
    axes.set_yticks(y, data["label"])
    axes.invert_yaxis()
    low = max(0.0, float(np.nanmin(data[["test_low", "seeds_low"]].to_numpy())) - 0.05)
    axes.set_xlim(low, 1.0)
    axes.set_xlabel("test accuracy (mean): 95% CI over test images (thin)"
                    + (", over seeds (thick)" if repeated.any() else ""))
    save_figure(figure, path)


def pareto_chart(data: pd.DataFrame, path: Path, palette: Palette | None = None) -> None:
    """``tables.pareto_table``: accuracy against the cost of getting predictions (fit plus
    predict of the test set, log x), the Pareto frontier drawn as a line; in a grid, one
    line per model through its training-set sizes. A hollow ring marks fit time alone, so a
    model that defers its work to prediction (k-NN) shows it."""
    colours = _colours(data, palette)
    colour = data["model"].map(colours)
    figure, axes = plt.subplots(figsize=(6.5, 4.5))
    axes.scatter(data["cost_seconds"], data["accuracy"], c=colour, s=50, zorder=3,
                 label="fit + predict")
    axes.scatter(data["fit_seconds"], data["accuracy"], facecolors="none",
                 edgecolors=list(colour),
                 s=50, zorder=3, label="fit alone")
    front = data[data["pareto"]].sort_values("cost_seconds")
    axes.plot(front["cost_seconds"], front["accuracy"], "--", color="grey", zorder=2,
              label="Pareto frontier (fit + predict)")
    if data["series"].nunique() < len(data):  # several sizes: one line and name per model
        for series, rows in data.sort_values("train_size").groupby("series"):
            axes.plot(rows["cost_seconds"], rows["accuracy"], "-",
                      color=colours[str(rows["model"].iloc[0])], alpha=0.5, linewidth=1,
                      zorder=1)
            last = rows.iloc[-1]  # named at its largest training set
            axes.annotate(str(series), (last["cost_seconds"], last["accuracy"]), fontsize=8,
                          xytext=(4, 4), textcoords="offset points")
        sizes = data["train_size"]
        axes.plot([], [], "-", color="grey", alpha=0.5,
                  label=f"one model, n={_tick(sizes.min())} to {_tick(sizes.max())} training "
                        "images (named at the largest)")
    else:
        for row in data.itertuples():
            axes.annotate(str(row.label), (row.cost_seconds, row.accuracy), fontsize=8,
                          xytext=(4, 4), textcoords="offset points")
    _log_x(axes)
    axes.margins(x=0.12, y=0.08)
    axes.set_xlabel("seconds to fit and predict the test set (median over repeats, log)")
    axes.set_ylabel("test accuracy (mean)")
    axes.legend(loc="best", fontsize=8)
    save_figure(figure, path)


def speed_chart(data: pd.DataFrame, path: Path, palette: Palette | None = None) -> None:
    """``tables.speed_table``, two panels, log scale: fit time and predict time per model,
    each a dot at its geometric mean over repeats with the 95% interval the report's table
    prints (with repeats)."""
    colours = list(data["model"].map(_colours(data, palette)))
    figure, panels = plt.subplots(1, 2, figsize=(9, 0.5 * len(data) + 1.5), sharey=True)
    y = np.arange(len(data))
    for axes, short, label in zip(panels, ("fit", "predict"), ("fit", "predict the test set"),
                                  strict=True):
        center = data[f"{short}_center"].to_numpy(dtype=float)
        bounds = data[[f"{short}_low", f"{short}_high"]].to_numpy(dtype=float)
        errors = np.nan_to_num(np.vstack([center - bounds[:, 0], bounds[:, 1] - center]))
        axes.errorbar(center, y, xerr=errors.clip(0), fmt="none", ecolor="grey", capsize=3)
        axes.scatter(center, y, c=colours, s=60, zorder=3)
        _log_x(axes)
        axes.set_xlabel(f"seconds to {label} (geometric mean, 95% CI; log)")
        axes.grid(axis="x", alpha=0.3)
    panels[0].set_yticks(y, data["label"])
    panels[0].invert_yaxis()
    save_figure(figure, path)


SCALING_METRICS = {"accuracy": "test accuracy (mean)", "fit_seconds": "fit time (s, median)",
                   "predict_seconds": "predict time (s, median)"}
LINE_STYLES = ("-", "--", ":", "-.")


def _line_styles(labels: pd.DataFrame) -> dict[str, str]:
    """A line style per label, so the labels of one model (its swept values), drawn in the
    model's colour, stay apart."""
    styles = {}
    for _, rows in labels.drop_duplicates("label").groupby("model"):
        for number, label in enumerate(rows["label"]):
            styles[label] = LINE_STYLES[number % len(LINE_STYLES)]
    return styles


def scaling_chart(data: pd.DataFrame, path: Path, palette: Palette | None = None) -> None:
    """``tables.scaling_data``: accuracy, fit time and predict time against training-set
    size, one line per model (and swept value): log x, and log-log for the times, where a
    straight line of slope k means time grows as size^k."""
    colours = _colours(data, palette)
    styles = _line_styles(data)
    figure, panels = plt.subplots(1, 3, figsize=(14, 4.2))
    for label, curve in data.groupby("label"):
        for axes, column in zip(panels, SCALING_METRICS, strict=True):
            axes.plot(curve["train_size"], curve[column], marker="o", label=label,
                      color=colours[str(curve["model"].iloc[0])], linestyle=styles[str(label)])
    sizes = sorted(int(size) for size in data["train_size"].unique())
    for axes, (column, title) in zip(panels, SCALING_METRICS.items(), strict=True):
        axes.set_xscale("log")
        axes.set_xticks(sizes, [_tick(size) for size in sizes])  # the grid's own sizes
        axes.xaxis.set_minor_locator(NullLocator())
        if column != "accuracy":
            _log_axis(axes, "y")
            title += ", log"
        axes.set(xlabel="training images (log)", ylabel=title)
    panels[-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=8)
    save_figure(figure, path)


def sweep_chart(data: pd.DataFrame, path: Path, palette: Palette | None = None) -> None:
    """``tables.sweep_data``, per swept model: mean test accuracy (and validation accuracy,
    where the run held images out) and median fit time (log) at each swept value, in numeric
    order, one line per training-set size."""
    colours = _colours(data, palette)
    labels = list(dict.fromkeys(data["label"]))
    several_sizes = data["train_size"].nunique() > 1
    validation = "validation_accuracy" in data and data["validation_accuracy"].notna().any()
    figure, grid = plt.subplots(len(labels), 2, figsize=(11, 3.3 * len(labels)), squeeze=False)
    for (accuracy_axes, time_axes), label in zip(grid, labels, strict=True):
        rows = data[data["label"] == label]
        values = list(dict.fromkeys(rows["sweep"]))
        position = {value: number for number, value in enumerate(values)}
        for number, (size, curve) in enumerate(rows.groupby("train_size")):
            images = f"{size:,} training images" if several_sizes else ""
            style = {"marker": "o", "color": colours[str(curve["model"].iloc[0])],
                     "linestyle": LINE_STYLES[number % len(LINE_STYLES)]}
            x = curve["sweep"].map(position)
            accuracy_axes.plot(x, curve["accuracy"], **style, label=", ".join(
                part for part in ("test" if validation else "", images) if part) or None)
            if validation:
                accuracy_axes.plot(x, curve["validation_accuracy"], **{
                    **style, "marker": "s", "alpha": 0.5},
                    label=", ".join(part for part in ("validation", images) if part))
            time_axes.plot(x, curve["fit_seconds"], **style, label=images or None)
        _log_axis(time_axes, "y")
        accuracy_axes.set(title=label, ylabel="accuracy (mean)" if validation
                          else "test accuracy (mean)")
        time_axes.set(title=label, ylabel="fit time (s, median, log)")
        for axes in (accuracy_axes, time_axes):
            axes.set_xticks(range(len(values)), values, rotation=20 if len(values) > 4 else 0,
                            fontsize=8)
        if several_sizes or validation:
            accuracy_axes.legend(fontsize=8)
    save_figure(figure, path)


def per_class_chart(data: pd.DataFrame, path: Path) -> None:
    """``tables.per_class_accuracy``: a heatmap of accuracy per model (rows) and true digit
    (columns)."""
    figure, axes = plt.subplots(figsize=(0.6 * len(data.columns) + 2.5,
                                         0.45 * len(data) + 1.5))
    sns.heatmap(data, annot=True, fmt=".2f", cmap="viridis", vmin=max(0.0, data.min().min()),
                vmax=1.0, annot_kws={"fontsize": 7}, ax=axes)
    axes.set_xlabel("true digit")
    axes.set_ylabel("")
    save_figure(figure, path)


def confusion_chart(data: pd.DataFrame, path: Path) -> None:
    """``tables.confusion_counts``: one small confusion matrix per model, in a grid."""
    models = sorted(data["model"].unique())
    columns = min(3, len(models))
    rows = -(-len(models) // columns)
    figure, grid = plt.subplots(rows, columns, figsize=(3.2 * columns, 3 * rows), squeeze=False)
    for axes, model in zip(grid.flat, models, strict=False):
        matrix = data[data["model"] == model].pivot(index="true", columns="predicted",
                                                    values="count")
        sns.heatmap(matrix, cmap="Blues", cbar=False, square=True, ax=axes,
                    xticklabels=True, yticklabels=True)
        axes.set_title(model, fontsize=9)
        axes.tick_params(labelsize=6)
    for axes in list(grid.flat)[len(models):]:
        axes.axis("off")
    save_figure(figure, path)


def learning_curves_chart(data: pd.DataFrame, path: Path, palette: Palette | None = None) -> None:
    """``tables.learning_curves``: test accuracy and loss per epoch, and test accuracy
    against cumulative training time, one line per model."""
    colours = _colours(data, palette)
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
    save_figure(figure, path)


def _show_digit(axes: plt.Axes, image: np.ndarray, pixel_max: float, title: str) -> None:
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    axes.imshow(image, cmap="gray_r", vmin=0, vmax=pixel_max, interpolation="nearest")
    axes.set_title(title, fontsize=9)
    axes.set_xticks([])
    axes.set_yticks([])


def sample_predictions_chart(gallery: Gallery, path: Path,
                             palette: Palette | None = None) -> None:
    """``tables.sample_probabilities``: a gallery of test digits, each beside every model's
    predicted probability of each digit; the true digit's column is shaded green."""
    data, pixels, pixel_max = gallery
    chosen = sorted(data["test_index"].unique())
    label_of = dict(zip(data["test_index"], data["label"], strict=True))
    models = sorted(data["model"].unique())
    colours = _colours(data, palette)
    pairs = 2  # digit-and-bars pairs per row
    grid_rows = -(-len(chosen) // pairs)
    height = 1.8 * grid_rows + 0.5
    # Fixed margins, not tight_layout: as good here, and several times faster.
    figure, grid = plt.subplots(grid_rows, 2 * pairs, squeeze=False, figsize=(11, height),
                                gridspec_kw={"width_ratios": [1, 3] * pairs,
                                             "left": 0.01, "right": 0.99, "bottom": 0.2 / height,
                                             "top": 1 - 0.75 / height, "wspace": 0.25,
                                             "hspace": 0.45})
    width = 0.8 / len(models)
    for number, index in enumerate(chosen):
        image_axes, bars = grid.flat[2 * number], grid.flat[2 * number + 1]
        label = int(label_of[index])
        _show_digit(image_axes, pixels[index], pixel_max, f"true: {label}")
        shown = data[data["test_index"] == index]
        for offset, model in enumerate(models):
            values = shown[shown["model"] == model]
            bars.bar(values["digit"] + (offset - (len(models) - 1) / 2) * width,
                     values["probability"], width=width, color=colours.get(model))
        digits = shown["digit"].unique()
        bars.axvspan(label - 0.5, label + 0.5, color="#2da44e", alpha=0.12, zorder=0)
        bars.set_xticks(digits)
        bars.set_xlim(digits.min() - 0.6, digits.max() + 0.6)
        bars.set_ylim(0, 1.02)
        bars.set_yticks([0, 0.5, 1])
        bars.tick_params(labelsize=8)
        bars.spines[["top", "right"]].set_visible(False)
    for axes in list(grid.flat)[2 * len(chosen):]:
        axes.axis("off")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours.get(m)) for m in models]
    figure.legend(handles, models, loc="upper center", ncol=min(len(models), 6), fontsize=9,
                  frameon=False)
    save_figure(figure, path, layout=False)


def most_wrong_chart(gallery: Gallery, path: Path, palette: Palette | None = None) -> None:
    """``tables.most_wrong``: each test digit with its true label, how many models got it
    wrong, and every model's prediction below (wrong ones in the model's colour)."""
    data, pixels, pixel_max = gallery
    first = data.drop_duplicates("test_index")  # in the table's order: most wrong first
    chosen = list(first["test_index"])
    label_of = dict(zip(first["test_index"], first["label"], strict=True))
    wrong = dict(zip(first["test_index"], first["models_wrong"], strict=True))
    guesses = dict(zip(zip(data["test_index"], data["model"], strict=True),
                       data["predicted"].tolist(), strict=True))
    models = sorted(data["model"].unique())
    colours = _colours(data, palette)
    columns = min(5, len(chosen))
    grid_rows = -(-len(chosen) // columns)
    line = 11  # points per line of predictions under a digit
    text_inches = (len(models) * line + 8) / 72
    height = (1.75 + text_inches) * grid_rows
    figure, grid = plt.subplots(grid_rows, columns, squeeze=False,
                                figsize=(2.1 * columns, height),
                                gridspec_kw={"left": 0.02, "right": 0.98, "top": 1 - 0.3 / height,
                                             "bottom": text_inches / height,
                                             "hspace": (text_inches + 0.35) / 1.4,
                                             "wspace": 0.3})
    for axes, index in zip(grid.flat, chosen, strict=False):
        _show_digit(axes, pixels[index], pixel_max,
                    f"true: {label_of[index]}  ({wrong[index]}/{len(models)} wrong)")
        for number, model in enumerate(models):
            guess = int(guesses[(index, model)])
            right = guess == label_of[index]
            axes.annotate(f"{model}: {guess}" + ("" if right else "  \u2717"),
                          xy=(0.5, 0), xycoords="axes fraction", xytext=(0, -6 - line * number),
                          textcoords="offset points", ha="center", va="top", fontsize=8,
                          color="#8c959f" if right else colours.get(model, "black"),
                          fontweight="normal" if right else "bold")
    for axes in list(grid.flat)[len(chosen):]:
        axes.axis("off")
    save_figure(figure, path, layout=False)
