"""Charts of a saved run: each function takes the results table (and, where it needs
predictions or history, the run folder), saves one PNG and returns the data it plotted.

Every chart that colours by model takes its colours from ``model_palette`` (sorted model
names to seaborn colours), so a model keeps one colour across all charts. A chart whose data
is absent (no ok job, no history, no saved test images) saves nothing and returns None.
Reads saved run folders through ``mlbench.results`` only, never the runner.
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

from mlbench.results.folder import RunFolder, write_atomic
from mlbench.results.table import grid_columns, grid_sort_key

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


def model_labels(frame: pd.DataFrame, leave_out: Iterable[str] = ()) -> pd.Series:
    """The series name: the model, with its device when the run used more than one, and in
    a grid its swept values and training-set size (except the grid columns in
    ``leave_out``, which a chart shows on an axis)."""
    labels = frame["model"].astype(str)
    if frame["device"].nunique() > 1:
        labels = labels + " (" + frame["device"].astype(str) + ")"
    grid = [column for column in grid_columns(frame) if column not in leave_out]
    if "sweep" in grid:
        labels = labels + frame["sweep"].map(lambda text: f" {text}" if isinstance(text, str)
                                             else "").astype(str)
    if "train_size" in grid:
        labels = labels + frame["train_size"].map(lambda size: f" n={size}").astype(str)
    return labels


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


def accuracy_chart(frame: pd.DataFrame, path: Path,
                   palette: Palette | None = None) -> pd.DataFrame | None:
    """Mean test accuracy per model (per device and grid point, where the run has several:
    never averaged across them) with min-max bars over repeats (ok jobs), best first."""
    ok = ok_rows(frame)
    if ok.empty:
        return None
    colours = _palette(frame, palette)
    ok["label"] = model_labels(ok)
    data = (ok.groupby(["label", "model"])["accuracy"]
            .agg(["mean", "std", "min", "max", "count"])
            .rename(columns={"count": "repeats"}).reset_index()
            .sort_values(["mean", "label"], ascending=[False, True], ignore_index=True))
    data["color"] = data["model"].map(colours)
    figure, axes = plt.subplots(figsize=(6, 0.5 * len(data) + 1.5))
    y = np.arange(len(data))
    # Clipped: the mean of equal values can round past them (0.1 * 3 / 3 > 0.1).
    errors = np.vstack([data["mean"] - data["min"], data["max"] - data["mean"]]).clip(0)
    axes.barh(y, data["mean"], xerr=errors, color=data["color"], capsize=3)
    axes.set_yticks(y, data["label"])
    axes.invert_yaxis()
    low = max(0.0, float(data["min"].min()) - 0.05)
    axes.set_xlim(low, 1.0)
    axes.set_xlabel("test accuracy (mean, min-max over repeats)")
    save_figure(figure, path)
    return data


def per_model_timing(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model (and device, if several, and grid point): mean accuracy, median fit time
    and throughput; ``series`` names the model without its training-set size."""
    ok = ok_rows(frame)
    ok["label"] = model_labels(ok)
    ok["series"] = model_labels(ok, leave_out=["train_size"])
    return (ok.groupby(["label", "series", "model", "device", "train_size"], dropna=False)
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
    if data["series"].nunique() < len(data):  # several sizes: one line and name per model
        for series, rows in data.sort_values("train_size").groupby("series"):
            axes.plot(rows["fit_seconds"], rows["accuracy"], "-", color=rows["color"].iloc[0],
                      alpha=0.5, linewidth=1, zorder=1)
            last = rows.iloc[-1]  # named at its largest training set
            axes.annotate(str(series), (last["fit_seconds"], last["accuracy"]), fontsize=8,
                          xytext=(4, 4), textcoords="offset points")
        sizes = data["train_size"]
        axes.plot([], [], "-", color="grey", alpha=0.5,
                  label=f"one model, n={_tick(sizes.min())} to {_tick(sizes.max())} training "
                        "images (named at the largest)")
    else:
        for row in data.itertuples():
            axes.annotate(str(row.label), (row.fit_seconds, row.accuracy), fontsize=8,
                          xytext=(4, 4), textcoords="offset points")
    _log_x(axes)
    axes.margins(x=0.12, y=0.08)
    axes.set_xlabel("fit time (s, median over repeats, log scale)")
    axes.set_ylabel("test accuracy (mean)")
    axes.legend(loc="best", fontsize=8)
    save_figure(figure, path)
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
    _log_x(left)
    left.set_xlabel("fit time (s, log)")
    left.set_yticks(y, data["label"])
    left.invert_yaxis()
    right.barh(y, data["predict_throughput"], color=data["color"])
    _log_x(right)
    right.set_xlabel("prediction throughput (images/s, log)")
    save_figure(figure, path)
    return data


SCALING_METRICS = {"accuracy": "test accuracy (mean)", "fit_seconds": "fit time (s, median)",
                   "predict_seconds": "predict time (s, median)"}
LINE_STYLES = ("-", "--", ":", "-.")


def growth_exponent(sizes: Iterable[float], seconds: Iterable[float]) -> float:
    """k in time ~ size^k: the slope of the least-squares line through the log-log points;
    NaN with fewer than two sizes or a time that is not positive."""
    x, y = np.log(np.asarray(list(sizes), float)), np.asarray(list(seconds), float)
    if len(x) < 2 or np.ptp(x) == 0 or not (y > 0).all():
        return float("nan")
    return float(np.polyfit(x, np.log(y), 1)[0])


def scaling_data(frame: pd.DataFrame) -> pd.DataFrame | None:
    """Per model (and swept value) and training-set size: mean accuracy, median fit and
    predict time, repeats; and per model how its times grow (``fit_growth``,
    ``predict_growth``: k in time ~ size^k, least squares over every size; and
    ``fit_growth_top``, ``predict_growth_top``: k between the two largest sizes, where fixed
    costs weigh least). None unless ok jobs ran on two sizes or more."""
    ok = ok_rows(frame)
    if ok.empty or ok["train_size"].nunique() < 2:
        return None
    ok["label"] = model_labels(ok, leave_out=["train_size"])
    data = (ok.groupby(["label", "model", "train_size"])
            .agg(accuracy=("accuracy", "mean"), fit_seconds=("fit_seconds", "median"),
                 predict_seconds=("predict_seconds", "median"), repeats=("job_id", "count"))
            .reset_index().sort_values(["label", "train_size"], ignore_index=True))
    curves = dict(list(data.groupby("label")))
    for column, growth in (("fit_seconds", "fit_growth"), ("predict_seconds", "predict_growth")):
        data[growth] = data["label"].map(
            {label: growth_exponent(rows["train_size"], rows[column])
             for label, rows in curves.items()})
        data[f"{growth}_top"] = data["label"].map(
            {label: growth_exponent(rows["train_size"].iloc[-2:], rows[column].iloc[-2:])
             for label, rows in curves.items()})
    return data


def _line_styles(labels: pd.DataFrame) -> dict[str, str]:
    """A line style per label, so the labels of one model (its swept values), drawn in the
    model's colour, stay apart."""
    styles = {}
    for _, rows in labels.drop_duplicates("label").groupby("model"):
        for number, label in enumerate(rows["label"]):
            styles[label] = LINE_STYLES[number % len(LINE_STYLES)]
    return styles


def scaling_chart(frame: pd.DataFrame, path: Path,
                  palette: Palette | None = None) -> pd.DataFrame | None:
    """Accuracy, fit time and predict time against training-set size, one line per model
    (and swept value): log x, and log-log for the times, where a straight line of slope k
    means time grows as size^k. Returns ``scaling_data``; None unless the run has more than
    one training-set size."""
    data = scaling_data(frame)
    if data is None:
        return None
    colours = _palette(frame, palette)
    data["color"] = data["model"].map(colours)
    styles = _line_styles(data)
    figure, panels = plt.subplots(1, 3, figsize=(14, 4.2))
    for label, curve in data.groupby("label"):
        for axes, column in zip(panels, SCALING_METRICS, strict=True):
            axes.plot(curve["train_size"], curve[column], marker="o", label=label,
                      color=curve["color"].iloc[0], linestyle=styles[str(label)])
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
    return data


def sweep_data(frame: pd.DataFrame) -> pd.DataFrame | None:
    """Per swept model, swept value (in numeric order) and training-set size: mean accuracy,
    median fit time, repeats. None unless ok jobs swept a param over two values or more."""
    ok = ok_rows(frame)
    if "sweep" not in ok:
        return None
    ok = ok[ok["sweep"].notna()].copy()
    if ok.empty or ok["sweep"].nunique() < 2:
        return None
    ok["label"] = model_labels(ok, leave_out=["sweep", "train_size"])
    return (ok.groupby(["label", "model", "sweep", "train_size"])
            .agg(accuracy=("accuracy", "mean"), fit_seconds=("fit_seconds", "median"),
                 repeats=("job_id", "count"))
            .reset_index().sort_values(["label", "sweep", "train_size"], key=grid_sort_key,
                                       ignore_index=True))


def sweep_chart(frame: pd.DataFrame, path: Path,
                palette: Palette | None = None) -> pd.DataFrame | None:
    """Per swept model: mean accuracy and median fit time (log) at each swept value, in
    numeric order, one line per training-set size. Returns ``sweep_data`` with each model's
    colour; None unless the run swept a param over two values or more."""
    data = sweep_data(frame)
    if data is None:
        return None
    data["color"] = data["model"].map(_palette(frame, palette))
    labels = list(dict.fromkeys(data["label"]))
    several_sizes = data["train_size"].nunique() > 1
    figure, grid = plt.subplots(len(labels), 2, figsize=(11, 3.3 * len(labels)), squeeze=False)
    for (accuracy_axes, time_axes), label in zip(grid, labels, strict=True):
        rows = data[data["label"] == label]
        values = list(dict.fromkeys(rows["sweep"]))
        position = {value: number for number, value in enumerate(values)}
        for number, (size, curve) in enumerate(rows.groupby("train_size")):
            style = {"marker": "o", "color": curve["color"].iloc[0],
                     "linestyle": LINE_STYLES[number % len(LINE_STYLES)],
                     "label": f"{size:,} training images" if several_sizes else None}
            accuracy_axes.plot(curve["sweep"].map(position), curve["accuracy"], **style)
            time_axes.plot(curve["sweep"].map(position), curve["fit_seconds"], **style)
        _log_axis(time_axes, "y")
        accuracy_axes.set(title=label, ylabel="test accuracy (mean)")
        time_axes.set(title=label, ylabel="fit time (s, median, log)")
        for axes in (accuracy_axes, time_axes):
            axes.set_xticks(range(len(values)), values, rotation=20 if len(values) > 4 else 0,
                            fontsize=8)
        if several_sizes:
            accuracy_axes.legend(fontsize=8)
    save_figure(figure, path)
    return data


def chosen_jobs(frame: pd.DataFrame) -> pd.DataFrame:
    """One ok job per model: the lowest repeat, on the CPU where the model ran there, on the
    largest training set (in a grid)."""
    ok = ok_rows(frame)
    ok["_gpu"] = ok["device"] != "cpu"
    ok["_smaller"] = -ok["train_size"].fillna(0)
    ok = ok.sort_values(["model", "_gpu", "_smaller", "repeat", "job_id"])
    return ok.drop_duplicates("model").drop(columns=["_gpu", "_smaller"]).reset_index(drop=True)


def _saved_arrays(frame: pd.DataFrame, folder: RunFolder) -> dict[str, dict[str, np.ndarray]]:
    """Each chosen job's saved arrays (predicted labels, probabilities), by model."""
    arrays = {}
    for row in chosen_jobs(frame).itertuples():
        path = folder.path / "predictions" / f"{row.job_id}.npz"
        if path.exists():
            with np.load(path, allow_pickle=False) as saved:
                arrays[str(row.model)] = {name: saved[name] for name in saved.files}
    return arrays


def _predictions(frame: pd.DataFrame, folder: RunFolder
                 ) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    labels = folder.test_labels()
    if labels is None:
        return None
    predicted = {model: saved["predicted"]
                 for model, saved in _saved_arrays(frame, folder).items()}
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
    save_figure(figure, path)
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
    save_figure(figure, path)
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
    save_figure(figure, path)
    return data


GALLERY_SEED = 0  # which test digits the sample gallery shows: the same ones every report


def _show_digit(axes: plt.Axes, image: np.ndarray, pixel_max: float, title: str) -> None:
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    axes.imshow(image, cmap="gray_r", vmin=0, vmax=pixel_max, interpolation="nearest")
    axes.set_title(title, fontsize=9)
    axes.set_xticks([])
    axes.set_yticks([])


def sample_predictions_chart(frame: pd.DataFrame, folder: RunFolder, path: Path,
                             palette: Palette | None = None,
                             count: int = 8) -> pd.DataFrame | None:
    """A gallery of test digits, each beside every model's ten predicted probabilities.

    The digits are drawn (with a fixed seed) from the test images that every chosen job with
    probabilities kept them for. Returns test_index, label, model, digit, probability. None
    when the run saved no test images or no model has ``predict_proba``."""
    labels, images = folder.test_labels(), folder.test_images()
    kept = {model: saved for model, saved in _saved_arrays(frame, folder).items()
            if "probabilities" in saved}
    if labels is None or images is None or not kept:
        return None
    pixels, pixel_max = images
    common = sorted(set.intersection(*(set(saved["probability_index"].tolist())
                                       for saved in kept.values())))
    if not common:
        return None
    rng = np.random.default_rng(GALLERY_SEED)
    chosen = np.sort(rng.choice(common, size=min(count, len(common)), replace=False))
    models = sorted(kept)
    colours = _palette(frame, palette)
    rows = []
    for model in models:
        position = {int(i): n for n, i in enumerate(kept[model]["probability_index"])}
        probabilities = kept[model]["probabilities"]
        # Columns are the classes in sorted order (scikit-learn's classes_), as in the labels.
        classes = np.unique(labels)
        if len(classes) != probabilities.shape[1]:
            classes = np.arange(probabilities.shape[1])
        for index in chosen:
            for digit, probability in zip(classes, probabilities[position[int(index)]],
                                          strict=True):
                rows.append((int(index), int(labels[index]), model, int(digit),
                             float(probability)))
    data = pd.DataFrame(rows, columns=["test_index", "label", "model", "digit", "probability"])

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
        label = int(labels[index])
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
    return data


def most_wrong_chart(frame: pd.DataFrame, folder: RunFolder, path: Path,
                     palette: Palette | None = None, count: int = 10) -> pd.DataFrame | None:
    """The test digits the most models got wrong (repeat 0 of each model, see
    ``chosen_jobs``), each with its true label and every model's prediction. Returns
    test_index, label, models_wrong, model, predicted. None when the run saved no test
    images or no model got any digit wrong."""
    loaded, images = _predictions(frame, folder), folder.test_images()
    if loaded is None or images is None:
        return None
    labels, predicted = loaded
    pixels, pixel_max = images
    models = sorted(predicted)
    wrong = np.sum([predicted[m] != labels for m in models], axis=0)
    order = np.lexsort((np.arange(len(labels)), -wrong))  # most wrong first, then test order
    chosen = [int(i) for i in order[:count] if wrong[i] > 0]
    if not chosen:
        return None
    data = pd.DataFrame(
        [(i, int(labels[i]), int(wrong[i]), m, int(predicted[m][i])) for i in chosen
         for m in models],
        columns=["test_index", "label", "models_wrong", "model", "predicted"])

    colours = _palette(frame, palette)
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
                    f"true: {labels[index]}  ({wrong[index]}/{len(models)} wrong)")
        for number, model in enumerate(models):
            guess = int(predicted[model][index])
            right = guess == labels[index]
            axes.annotate(f"{model}: {guess}" + ("" if right else "  \u2717"),
                          xy=(0.5, 0), xycoords="axes fraction", xytext=(0, -6 - line * number),
                          textcoords="offset points", ha="center", va="top", fontsize=8,
                          color="#8c959f" if right else colours.get(model, "black"),
                          fontweight="normal" if right else "bold")
    for axes in list(grid.flat)[len(chosen):]:
        axes.axis("off")
    save_figure(figure, path, layout=False)
    return data
