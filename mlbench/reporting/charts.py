"""Charts of a saved run, and of runs compared (``grouped_bars``): each function takes one
table of ``tables`` (or ``compare``'s summary) and draws it into one PNG, and returns the
figure (closed; its artists still readable, which the tests use). Nothing here computes:
which jobs count, and every number drawn, come from ``tables`` and ``compare``.

Every chart that colours by model takes its colours from ``model_colour`` (through
``model_palette``), so a model keeps one colour in every chart, report, comparison and run,
whatever other models are beside it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import LogNorm
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator

from mlbench.reporting.tables import Gallery
from mlbench.results.folder import write_atomic

DPI = 100
Palette = dict[str, str]

# A model whose plugin gives it no colour (``Model.colour``) hashes into these: tab20's light
# shades and Dark2, none of them a colour the built-in plugins give their models.
HASHED_COLOURS = sns.color_palette("tab20", 20).as_hex()[1::2] + sns.color_palette(
    "Dark2", 8).as_hex()


def model_colour(name: str, colours: Mapping[str, str] | None = None) -> str:
    """The colour (hex) of model ``name``, the same in every chart of every run: the one its
    plugin gave it (``colours``, as the run recorded them: ``RunInfo.model_colours``), else
    a stable hash of the name (not Python's ``hash``, which changes between processes) into
    ``HASHED_COLOURS``."""
    if colours and name in colours:
        return colours[name]
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big")
    return HASHED_COLOURS[digest % len(HASHED_COLOURS)]


def model_palette(models: Iterable[str], colours: Mapping[str, str] | None = None) -> Palette:
    """``model_colour`` of each model: the palette every chart here and in compare uses."""
    return {str(name): model_colour(str(name), colours) for name in models}


def _colours(data: pd.DataFrame, palette: Palette | None) -> Palette:
    return palette if palette is not None else model_palette(data["model"].unique())


def _tick(value: float) -> str:
    return f"{value:,.0f}" if value >= 1000 else f"{value:g}"


def _percent(value: float) -> str:
    return f"{100 * value:.2g}%" if value < 0.1 else f"{100 * value:.0f}%"


def _log_x(axes: plt.Axes) -> None:
    _log_axis(axes, "x")


def _log_axis(axes: plt.Axes, which: str, tick: Callable[[float], str] = _tick) -> None:
    """A log axis (``which``: x or y) labelled in plain numbers (0.05, 0.1, 1,000; or
    ``tick``'s text, such as percentages); where it spans two and a half decades or less, the
    2s and 5s between the powers of ten are labelled too, and within one decade (which may
    hold no power of ten, nor a 2 or a 5) every tick."""
    axis = axes.xaxis if which == "x" else axes.yaxis
    (axes.set_xscale if which == "x" else axes.set_yscale)("log")

    def minor(value: float, _: object) -> str:
        low, high = axes.get_xlim() if which == "x" else axes.get_ylim()
        span = np.log10(abs(high / low))
        mantissa = round(value / 10 ** np.floor(np.log10(value)))
        return tick(value) if span <= 1 or (mantissa in (2, 5) and span <= 2.5) else ""

    axis.set_major_formatter(FuncFormatter(lambda value, _: tick(value)))
    axis.set_minor_formatter(FuncFormatter(minor))


def save_figure(figure: plt.Figure, path: Path, layout: bool = True, dpi: int = DPI) -> None:
    """Save a PNG atomically (a crash mid-write keeps the previous chart) and close it."""
    if layout:
        figure.tight_layout()
    write_atomic(path, lambda p: figure.savefig(p, format="png", dpi=dpi,
                                                metadata={"Software": None}))
    plt.close(figure)


def _sizes(data: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """A grid's facets: one (title, rows) per training-set size where the table has several,
    else one untitled facet of every row."""
    if "train_size" not in data or data["train_size"].nunique() < 2:
        return [("", data)]
    return [(f"{_tick(float(size))} training images", rows)  # type: ignore[arg-type]
            for size, rows in data.groupby("train_size", sort=True)]


def _runs(repeats: pd.Series) -> str:
    low, high = int(repeats.min()), int(repeats.max())
    count = f"{low}" if low == high else f"{low}-{high}"
    return f"{count} run{'s' if high > 1 else ''}" + (" each" if high > 1 else "")


def _test_images(data: pd.DataFrame) -> float | None:
    """How many test images the table's accuracies were measured on (None: not recorded)."""
    size = data["test_size"].max() if "test_size" in data else None
    return None if size is None or pd.isna(size) else float(size)


def _error_floor(data: pd.DataFrame) -> float:
    """Where a log axis of error rates starts: half a test image, so a model with no error
    still gets a dot (0.01% where the test set's size is not recorded)."""
    images = _test_images(data)
    return 0.5 / images if images else 1e-4


def accuracy_chart(data: pd.DataFrame, path: Path,
                   palette: Palette | None = None) -> plt.Figure:
    """``tables.accuracy_per_model`` as error rates (1 - mean test accuracy): a dot per model
    (and grid point), lowest error first, on a log axis so 1% and 2% stand apart, its value
    beside it, with the intervals the tables print: the 95% Wilson interval over the test
    images (thin, capped) and, with repeats, over the seeds (thick). One facet per
    training-set size in a grid."""
    colours = _colours(data, palette)
    floor = _error_floor(data)
    facets = _sizes(data)
    heights = [len(rows) for _, rows in facets]
    figure, panels = plt.subplots(len(facets), 1, sharex=True, squeeze=False,
                                  figsize=(7.5, 0.38 * sum(heights) + 1.2 + 0.5 * len(facets)),
                                  gridspec_kw={"height_ratios": heights})
    repeated = bool(data["seeds_low"].notna().any())
    for axes, (title, rows) in zip(panels[:, 0], facets, strict=True):
        rows = rows.assign(error=1 - rows["mean"]).sort_values(["error", "series"])
        y = np.arange(len(rows))
        error = rows["error"].clip(lower=floor).to_numpy()
        # Clipped: a Wilson interval contains its mean, but rounding can put it a hair outside.
        low = (1 - rows["test_high"]).clip(lower=floor).to_numpy()
        high = (1 - rows["test_low"]).clip(lower=floor).to_numpy()
        axes.errorbar(error, y, xerr=np.vstack([error - low, high - error]).clip(0),
                      fmt="none", ecolor="#57606a", elinewidth=1, capsize=3, zorder=2)
        right = high  # where the value is printed: beyond the widest interval
        if repeated:
            seeds = rows["seeds_low"].notna().to_numpy()
            s_low = (1 - rows["seeds_high"]).clip(lower=floor).to_numpy()
            s_high = (1 - rows["seeds_low"]).clip(lower=floor).to_numpy()
            axes.errorbar(error[seeds], y[seeds], xerr=np.vstack(
                [error - s_low, s_high - error])[:, seeds].clip(0), fmt="none",
                ecolor="black", elinewidth=5, alpha=0.35, capsize=0, zorder=2)
            right = np.fmax(high, s_high)
        axes.scatter(error, y, c=[colours[str(m)] for m in rows["model"]], s=60, zorder=3,
                     edgecolors="black", linewidths=0.5)
        for number, (value, x) in enumerate(zip(rows["error"], right, strict=True)):
            axes.annotate(f"{100 * value:.2f}%", (x, number), xytext=(6, 0),
                          textcoords="offset points", va="center", fontsize=8)
        axes.set_yticks(y, rows["series"])
        axes.set_ylim(len(rows) - 0.5, -0.5)  # lowest error on top
        axes.grid(axis="x", which="both", alpha=0.3)
        if title:
            axes.set_title(title, fontsize=9, loc="left")
    bottom = panels[-1, 0]
    _log_axis(bottom, "x", _percent)
    bounds = 1 - data[["test_low", "test_high", "seeds_low", "seeds_high"]].to_numpy(float)
    bottom.set_xlim(max(np.nanmin(bounds), floor) / 1.3,
                    max(np.nanmax(bounds), floor) * 2.5)  # room for the values
    intervals = "95% interval over the test images (thin)" + (
        ", over the seeds (thick)" if repeated else "")
    images = _test_images(data)
    bottom.set_xlabel(f"test error rate, log scale ({_tick(images) + ' ' if images else ''}"
                      f"test images, {_runs(data['repeats'])})\n{intervals}")
    save_figure(figure, path)
    return figure


def pareto_chart(data: pd.DataFrame, path: Path, palette: Palette | None = None) -> plt.Figure:
    """``tables.pareto_table``: test error rate (log) against the cost of getting predictions
    (fit plus predict of the test set, log x), the Pareto frontier drawn as a line; in a
    grid, one line per model through its training-set sizes. A hollow ring marks fit time
    alone, so a model that defers its work to prediction (k-NN) shows it. Labels are moved
    apart by adjustText (a solved problem: labels that never overprint), with a leader line
    where they moved."""
    from adjustText import adjust_text  # imported here: only this chart needs it

    colours = _colours(data, palette)
    colour = list(data["model"].map(colours))
    error = 1 - data["accuracy"]
    error = error.clip(lower=_error_floor(data))
    figure, axes = plt.subplots(figsize=(7.5, 5))
    axes.scatter(data["cost_seconds"], error, c=colour, s=50, zorder=3,
                 edgecolors="black", linewidths=0.5)
    axes.scatter(data["fit_seconds"], error, facecolors="none", edgecolors=colour,
                 s=50, zorder=3)
    # The legend's markers grey: the colours name models, not the kind of point.
    axes.scatter([], [], c="grey", s=50, edgecolors="black", linewidths=0.5,
                 label="fit + predict")
    axes.scatter([], [], facecolors="none", edgecolors="grey", s=50, label="fit alone")
    front = data[data["pareto"]].assign(error=error).sort_values("cost_seconds")
    axes.plot(front["cost_seconds"], front["error"], "--", color="grey", zorder=2,
              label="Pareto frontier (fit + predict)")
    # Each ring joined to its model's dot, at the same error rate: the pair is one model.
    for cost, fit, value, shade in zip(data["cost_seconds"], data["fit_seconds"], error,
                                       colour, strict=True):
        axes.plot([fit, cost], [value, value], ":", color=shade, linewidth=0.8, zorder=1)
    several = data["series"].nunique() < len(data)
    if several:  # several sizes: one line per model through them
        for _, rows in data.assign(error=error).sort_values("train_size").groupby("series"):
            axes.plot(rows["cost_seconds"], rows["error"], "-",
                      color=colours[str(rows["model"].iloc[0])], alpha=0.5, linewidth=1,
                      zorder=1)
        sizes = data["train_size"]
        axes.plot([], [], "-", color="grey", alpha=0.5,
                  label=f"one model, n={_tick(sizes.min())} to {_tick(sizes.max())} training "
                        "images")
    # Every point named: the dot by its model (and size), the ring joined to it by a dotted
    # line and named in grey.
    names = [f"{series}, n={_tick(size)}" if several else str(label) for series, size, label
             in zip(data["series"], data["train_size"], data["label"], strict=True)]
    texts = [axes.text(cost, value, name, fontsize=8) for cost, value, name
             in zip(data["cost_seconds"], error, names, strict=True)]
    texts += [axes.text(fit, value, f"{name} (fit)", fontsize=7, color="#57606a")
              for fit, value, name in zip(data["fit_seconds"], error, names, strict=True)]
    _log_x(axes)
    _log_axis(axes, "y", _percent)
    axes.margins(x=0.2, y=0.12)  # room for the labels at the ends
    axes.set_xlabel("seconds to fit and predict the test set (geometric mean over repeats, log)")
    axes.set_ylabel("test error rate (1 - mean accuracy, log)")
    axes.grid(which="both", alpha=0.2)
    # Below the plot, where it hides no point or label.
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8,
                frameon=False)
    figure.tight_layout()
    adjust_text(texts, x=list(data["cost_seconds"]) + list(data["fit_seconds"]),
                y=list(error) * 2, ax=axes, ensure_inside_axes=True,
                arrowprops={"arrowstyle": "-", "color": "grey", "linewidth": 0.5})
    save_figure(figure, path, layout=False)
    return figure


def speed_chart(data: pd.DataFrame, path: Path, palette: Palette | None = None) -> plt.Figure:
    """``tables.speed_table``, two panels, log scale: fit time and predict time per model,
    each a dot at its geometric mean over repeats with the 95% interval the report's table
    prints (with repeats); one row of panels per training-set size in a grid."""
    colours = _colours(data, palette)
    facets = _sizes(data)
    heights = [len(rows) for _, rows in facets]
    figure, grid = plt.subplots(len(facets), 2, squeeze=False, sharex="col", sharey="row",
                                figsize=(10, 0.4 * sum(heights) + 1.2 + 0.5 * len(facets)),
                                gridspec_kw={"height_ratios": heights})
    for panels, (title, rows) in zip(grid, facets, strict=True):
        y = np.arange(len(rows))
        for axes, short, label in zip(panels, ("fit", "predict"),
                                      ("fit", "predict the test set"), strict=True):
            center = rows[f"{short}_center"].to_numpy(dtype=float)
            bounds = rows[[f"{short}_low", f"{short}_high"]].to_numpy(dtype=float)
            errors = np.nan_to_num(np.vstack([center - bounds[:, 0], bounds[:, 1] - center]))
            axes.errorbar(center, y, xerr=errors.clip(0), fmt="none", ecolor="grey",
                          capsize=3)
            axes.scatter(center, y, c=[colours[str(m)] for m in rows["model"]], s=60,
                         zorder=3, edgecolors="black", linewidths=0.5)
            axes.set_yticks(y, rows["series"] if title else rows["label"])
            axes.set_ylim(len(rows) - 0.5, -0.5)
            axes.grid(axis="x", which="both", alpha=0.3)
            if title:
                axes.set_title(f"{label}, {title}", fontsize=9, loc="left")
        panels[1].tick_params(labelleft=False)
    for axes, label in zip(grid[-1], ("fit", "predict the test set"), strict=True):
        _log_x(axes)
        axes.set_xlabel(f"seconds to {label} (geometric mean, 95% CI; log)")
    save_figure(figure, path)
    return figure


SCALING_METRICS = {"accuracy": "test accuracy (mean)",
                   "fit_seconds": "fit time (s, geometric mean)",
                   "predict_seconds": "predict time (s, geometric mean)"}
LINE_STYLES = ("-", "--", ":", "-.")


def _line_styles(labels: pd.DataFrame) -> dict[str, str]:
    """A line style per label, so the labels of one model (its swept values), drawn in the
    model's colour, stay apart."""
    styles = {}
    for _, rows in labels.drop_duplicates("label").groupby("model"):
        for number, label in enumerate(rows["label"]):
            styles[label] = LINE_STYLES[number % len(LINE_STYLES)]
    return styles


def scaling_chart(data: pd.DataFrame, path: Path, palette: Palette | None = None) -> plt.Figure:
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
    return figure


def sweep_chart(data: pd.DataFrame, path: Path, palette: Palette | None = None) -> plt.Figure:
    """``tables.sweep_selection``, per swept model: validation accuracy at every swept value
    and test accuracy at the one chosen on it (each with its 95% interval over the images it
    was measured on), and fit time (geometric mean, log), in numeric order, one line per
    training-set size. Test accuracy at every value is shown only where the run held no
    validation images out (nothing is chosen then, and the title says so)."""
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
            images = f", {size:,} training images" if several_sizes else ""
            style = {"color": colours[str(curve["model"].iloc[0])],
                     "linestyle": LINE_STYLES[number % len(LINE_STYLES)]}
            x = curve["sweep"].map(position).to_numpy(dtype=float)
            if validation:
                _accuracy_points(accuracy_axes, x, curve, "validation", style, "s",
                                 f"validation{images}")
                # Test: the chosen setting alone, beside its validation point, not on it.
                chosen = curve[curve["chosen"]]
                _accuracy_points(accuracy_axes, chosen["sweep"].map(position).to_numpy(
                    dtype=float) + 0.06, chosen, "test", {**style, "linestyle": "none"}, "o",
                    f"test, the setting chosen on validation{images}")
            else:
                _accuracy_points(accuracy_axes, x, curve, "test", style, "o", f"test{images}")
            time_axes.plot(x, curve["fit_seconds"], marker="o", **style,
                           label=images.removeprefix(", ") or None)
        _log_axis(time_axes, "y")
        accuracy_axes.set(title=label if validation else f"{label} (no validation images: "
                          "no setting chosen)", ylabel="accuracy (mean, 95% interval)")
        time_axes.set(title=label, ylabel="fit time (s, geometric mean, log)")
        for axes in (accuracy_axes, time_axes):
            axes.set_xticks(range(len(values)), values, rotation=20 if len(values) > 4 else 0,
                            fontsize=8)
            axes.set_xlim(-0.4, len(values) - 0.6)
        accuracy_axes.legend(fontsize=8)
        if several_sizes:
            time_axes.legend(fontsize=8)
    save_figure(figure, path)
    return figure


def _accuracy_points(axes: plt.Axes, x: np.ndarray, rows: pd.DataFrame, kind: str,
                     style: dict[str, Any], marker: str, label: str) -> None:
    """One line of accuracies (``kind``: test or validation) with their 95% intervals."""
    column = "accuracy" if kind == "test" else "validation_accuracy"
    value = rows[column].to_numpy(dtype=float)
    bounds = rows[[f"{kind}_low", f"{kind}_high"]].to_numpy(dtype=float)
    errors = np.nan_to_num(np.vstack([value - bounds[:, 0], bounds[:, 1] - value])).clip(0)
    axes.errorbar(x, value, yerr=errors, marker=marker, capsize=4, label=label,
                  alpha=0.6 if kind == "validation" else 1.0, **style)


def _label_colour_bar(axes: plt.Axes, tick: Callable[[float], str]) -> None:
    """The heatmap's log colour bar labelled in plain numbers (``tick``) at the powers of ten
    and the 2s and 5s between, not in matplotlib's 6x10^0."""
    bar = axes.collections[0].colorbar
    if bar is not None:
        def minor(value: float, _: object) -> str:
            return tick(value) if round(value / 10 ** np.floor(np.log10(value))) in (2, 5) else ""

        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: tick(value)))
        bar.ax.yaxis.set_minor_formatter(FuncFormatter(minor))


def per_class_chart(data: pd.DataFrame, path: Path) -> plt.Figure:
    """``tables.per_class_accuracy`` as error rates: a heatmap of the error per model (rows,
    most accurate first) and true digit (columns), each cell's value in percent, on a log
    colour scale (with its bar) so that 0.5% and 2% differ among the good models however
    badly a weak model does."""
    error = 1 - data
    positive = error.to_numpy(dtype=float)
    positive = positive[positive > 0]
    low = float(positive.min()) if positive.size else 1e-3
    high = max(float(error.max().max()), low * 10)
    figure, axes = plt.subplots(figsize=(0.6 * len(data.columns) + 3.5,
                                         0.45 * len(data) + 1.5))
    labels = error.map(lambda value: f"{100 * value:.1f}")
    # No error sits at the scale's low end: a log scale has no place for 0.
    sns.heatmap(error.clip(lower=low), annot=labels, fmt="", cmap="rocket_r",
                norm=LogNorm(vmin=low, vmax=high), annot_kws={"fontsize": 7}, ax=axes,
                cbar_kws={"label": "test error rate per true digit (log)"})
    _label_colour_bar(axes, _percent)
    axes.set_xlabel("true digit (cells: error in %)")
    axes.set_ylabel("")
    axes.tick_params(axis="y", rotation=0)
    save_figure(figure, path)
    return figure


def confusion_chart(data: pd.DataFrame, path: Path) -> plt.Figure:
    """``tables.top_confusions``: the most frequent mistakes (true digit predicted as
    another, rows) and how many test images each model (columns, fewest mistakes first) got
    wrong that way, the count in each cell, with a colour bar (log: a few and a few hundred
    both show). The diagonal (right answers) is not in the table."""
    figure, axes = plt.subplots(figsize=(0.75 * len(data.columns) + 3.5,
                                         0.34 * len(data) + 1.8))
    sns.heatmap(data.where(data > 0), annot=data, fmt="d", cmap="Reds",
                norm=LogNorm(vmin=1, vmax=max(2, int(data.max().max()))),
                annot_kws={"fontsize": 7}, linewidths=0.5, linecolor="#eaeef2", ax=axes,
                cbar_kws={"label": "test images misclassified (log)"})
    _label_colour_bar(axes, lambda value: f"{value:.0f}")
    axes.set_xlabel("")
    axes.set_ylabel("true \u2192 predicted digit")
    axes.tick_params(axis="x", rotation=30)
    axes.tick_params(axis="y", rotation=0)
    save_figure(figure, path)
    return figure


def learning_curves_chart(data: pd.DataFrame, path: Path,
                          palette: Palette | None = None) -> plt.Figure:
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
    for axes in panels[:2]:  # whole epochs (points within one still sit at 2.25, ...)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    panels[2].set(xlabel="cumulative training time (s)", ylabel="test accuracy")
    panels[0].legend(fontsize=8)
    save_figure(figure, path)
    return figure


def target_chart(data: pd.DataFrame, path: Path, palette: Palette | None = None) -> plt.Figure:
    """``tables.target_curves``: test accuracy against cumulative training time, one thin
    line per run (seed), the model's colour (a second setting of the same model dashed), the
    target as a grey line and a cross where each run first reached it."""
    colours = _colours(data, palette)
    figure, axes = plt.subplots(figsize=(9, 4))
    styles: dict[str, list[str]] = {}  # each model's settings, in order: solid, dashed, ...
    for (label, _), run in data.groupby(["label", "repeat"], sort=True):
        model = str(run["model"].iloc[0])
        settings = styles.setdefault(model, [])
        if label not in settings:
            settings.append(str(label))
        style = ("-", "--", ":", "-.")[settings.index(str(label)) % 4]
        first = run["repeat"].iloc[0] == data.loc[data["label"] == label, "repeat"].min()
        axes.plot(run["cumulative_train_seconds"], run["test_accuracy"], style, marker=".",
                  linewidth=1, markersize=4, color=colours.get(model), alpha=0.85,
                  label=label if first else None)
        reached = run["time_to_target_seconds"].iloc[0]
        if pd.notna(reached):
            axes.plot([reached], [run["target_accuracy"].iloc[0]], "x", markersize=7,
                      color=colours.get(model))
    for target in sorted(data["target_accuracy"].unique()):
        axes.axhline(target, color="#59636e", linestyle="--", linewidth=1)
        # At the left, where the runs are still below it: no line crosses the label.
        axes.annotate(f"target {target:g}", (0, target), xycoords=("axes fraction", "data"),
                      xytext=(4, 3), textcoords="offset points", ha="left", fontsize=8,
                      color="#59636e")
    # The view around the target: where the runs cross it, not their first steep climb;
    # the target always in view, and the runs' best stretch even where they fall short.
    best, worst = float(data["test_accuracy"].max()), float(data["test_accuracy"].min())
    targets = data["target_accuracy"]
    axes.set_ylim(min(max(float(targets.min()) - 0.03, worst - 0.002), best - 0.02),
                  min(1.0, max(best + 0.003, float(targets.max()) + 0.005)))
    axes.set_xlim(left=0)
    axes.set(xlabel="cumulative training time (s; evaluation left out)",
             ylabel="test accuracy")
    axes.legend(fontsize=8, loc="lower right")
    save_figure(figure, path)
    return figure


def _show_digit(axes: plt.Axes, image: np.ndarray, pixel_max: float, title: str) -> None:
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    axes.imshow(image, cmap="gray_r", vmin=0, vmax=pixel_max, interpolation="nearest")
    axes.set_title(title, fontsize=9)
    axes.set_xticks([])
    axes.set_yticks([])


def sample_predictions_chart(gallery: Gallery, path: Path,
                             palette: Palette | None = None) -> plt.Figure:
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
    return figure


def most_wrong_chart(gallery: Gallery, path: Path, palette: Palette | None = None) -> plt.Figure:
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
    return figure


# One hatch per run in a comparison's bars.
HATCHES = ["", "//", "..", "xx", "\\\\", "++", "oo", "--"]


def grouped_bars(summary: pd.DataFrame, runs: list[str], value: str, low: str, high: str,
                 path: Path, label: str, log: bool = False,
                 colours: Mapping[str, str] | None = None) -> pd.DataFrame | None:
    """A comparison's chart (``compare.Comparison.summary``): bars per model (its one
    colour: ``colours``, as the runs recorded them, else hashed), one per run (its hatch),
    error bars from ``low`` to ``high``; saves a PNG and returns the data plotted (None:
    nothing to plot)."""
    data = summary.dropna(subset=[value]).copy()
    if data.empty:
        return None
    several_devices = data["device"].nunique() > 1
    data["label"] = data["model"] + (" (" + data["device"] + ")" if several_devices else "")
    labels = sorted(data["label"].unique())
    palette = model_palette(data["model"], colours)
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
                 color=[palette[m] for m in part["model"]], edgecolor="black", linewidth=0.5)
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
