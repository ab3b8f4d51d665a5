"""Fidelity: mlbench's figures against the same models written as plain library code.

    MLBENCH_DATA_DIR=../shared/data/mnist python tests/benchmarks/fidelity.py --out fidelity.csv
    python tests/benchmarks/fidelity.py --dataset mnist-5k --models knn,logistic  # a quick try

Every built-in scikit-learn model, and keras-cnn with recipe=reference, runs twice per round,
each time in a fresh process: as a bare script (this file with --bare: numpy and the library,
the dataset's cached arrays scaled to float32 as mlbench scales them, the plugin's own
hyperparameters and seed, then fit, predict, time) and as `mlbench run --models MODEL
--no-report --quiet`. The two alternate (bare first for the first model, mlbench first for
the next, ...), so a drift in the machine's speed falls on both.

Printed per model (medians over --rounds): accuracy of each and the difference in points;
fit seconds of each and their ratio (mlbench / bare); each command's wall time and its
overhead, wall - (fit + predict); then the harness's cost per job, mlbench's overhead minus
the bare script's (both pay interpreter start, imports and loading data) minus the extra
work mlbench chooses to do, which is timed and shown apart: probabilities for the report's
galleries (proba s; 0 for k-NN, which gives them with its labels), a short predict's or
predict_proba's repeated timing calls (repeat s), the CNN's test accuracy after each epoch
(eval s, taken out of its fit), and pickling the fitted model to record its size (pickle s,
timed on the bare script's identical model and left out of its wall time). mlbench's set-up
is shown as well: start-up timed apart from training (importing the scikit-learn estimator's
module; for keras-cnn TensorFlow's import, building the network and tracing it on two
batches, which the bare script does inside its first epoch), and part of the overhead on
both sides.
For keras-cnn both sides also time each epoch (the plugin's history; a callback in the
bare script), and the median epoch of each and their ratio are printed: this shared machine
has spells at half speed lasting about an epoch, which move a whole fit's time a lot and a
median epoch little. --out writes every figure of every round as CSV.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run as a script: `tests.benchmarks` importable

CNN = "keras-cnn"
CNN_PARAMS = {"recipe": "reference"}  # the notebook's settings
ESTIMATORS = {
    "linear": "sklearn.linear_model.LinearRegression",
    "logistic": "sklearn.linear_model.LogisticRegression",
    "perceptron": "sklearn.linear_model.Perceptron",
    "naive-bayes": "sklearn.naive_bayes.GaussianNB",
    "knn": "sklearn.neighbors.KNeighborsClassifier",
    "svm": "sklearn.svm.SVC",
    "random-forest": "sklearn.ensemble.RandomForestClassifier",
    "mlp": "sklearn.neural_network.MLPClassifier",
}
SEEDED = {"logistic", "perceptron", "svm", "random-forest", "mlp"}  # take random_state
SEED = 0  # what `mlbench run` gives repeat 0
SKLEARN = tuple(ESTIMATORS)


# --- the bare side: its own process, nothing of mlbench imported ---

def bare(model: str, job: dict[str, Any]) -> dict[str, float]:
    """Fit and predict ``model`` as plain library code; its timings and accuracy."""
    params = {name: tuple(value) if isinstance(value, list) else value
              for name, value in job["params"].items()}
    if model == CNN:
        return bare_keras(params, job)
    estimator = sklearn_estimator(model, params)
    x_train, y_train, x_test, y_test = load(job, flat=True)

    def as_used(x: np.ndarray) -> np.ndarray:  # naive Bayes works in float64, as the plugin
        return x.astype(np.float64) if model == "naive-bayes" else x  # does (float32 overflows)

    started = time.perf_counter()
    if model == "linear":  # least squares on one-hot targets, argmax: as the plugin does
        classes = np.unique(y_train)
        estimator.fit(x_train, (y_train[:, None] == classes[None, :]).astype(x_train.dtype))
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        predicted = classes[np.argmax(estimator.predict(x_test), axis=1)]
    else:
        estimator.fit(as_used(x_train), y_train)
        fit_seconds = time.perf_counter() - started
        started = time.perf_counter()
        predicted = estimator.predict(as_used(x_test))
    predict_seconds = time.perf_counter() - started
    # What mlbench does after predicting to record the model's size, timed here apart.
    started = time.perf_counter()
    pickle.dump(estimator, ByteCounter(), protocol=pickle.HIGHEST_PROTOCOL)
    return {"fit_seconds": fit_seconds, "predict_seconds": predict_seconds,
            "accuracy": float(np.mean(predicted == y_test)),
            "pickle_seconds": time.perf_counter() - started}


def sklearn_estimator(model: str, params: dict[str, Any]) -> Any:
    """The estimator, its module imported as a script would: only the one it needs."""
    import importlib

    module, name = ESTIMATORS[model].rsplit(".", 1)
    seeded = {"random_state": SEED} if model in SEEDED else {}
    if model == "mlp":
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        warnings.filterwarnings("ignore", category=ConvergenceWarning)  # max_iter is the budget
    return getattr(importlib.import_module(module), name)(**params, **seeded)


def bare_keras(params: dict[str, Any], job: dict[str, Any]) -> dict[str, float]:
    """The notebook's Keras code with the plugin's resolved settings."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    from tests.benchmarks.reference_notebook import notebook_model

    x_train, y_train, x_test, y_test = load(job, flat=False)
    keras.utils.set_random_seed(SEED)
    keras.mixed_precision.set_dtype_policy(params["precision"])  # float32 in the recipe
    model = notebook_model(keras, params["learning_rate"], jit_compile=bool(params["compile"]),
                           steps_per_execution=params["steps_per_execution"])
    epochs = EpochTimes(keras)
    started = time.perf_counter()
    model.fit(x_train, y_train, batch_size=params["batch_size"], epochs=params["epochs"],
              verbose=0, callbacks=[epochs])
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predicted = model.predict(x_test, batch_size=job["predict_batch"], verbose=0).argmax(axis=1)
    predict_seconds = time.perf_counter() - started
    return {"fit_seconds": fit_seconds, "predict_seconds": predict_seconds,
            "accuracy": float(np.mean(predicted == y_test)), "pickle_seconds": 0.0,
            "epoch_seconds": float(np.median(epochs.seconds))}


def EpochTimes(keras: Any) -> Any:
    """A callback that keeps each epoch's wall time, as the plugin's history does: the
    median epoch is the speed figure a passing slow spell of this shared machine (a whole
    epoch at half speed, seen on both sides) moves least."""

    class Callback(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.seconds.append(time.perf_counter() - self.started)

    return Callback()


def load(job: dict[str, Any], flat: bool) -> tuple[np.ndarray, ...]:
    """The dataset's cached arrays, scaled to float32 exactly as mlbench's workers scale them
    (a float32 multiply by 1 / pixel_max), images flat or with a channel axis."""
    folder = Path(job["folder"])

    def images(name: str) -> np.ndarray:
        x = np.load(folder / f"{name}.npy").astype(np.float32)
        x *= np.float32(1.0 / job["pixel_max"])
        return x.reshape(len(x), -1) if flat else x[..., None]

    def labels(name: str) -> np.ndarray:
        return np.load(folder / f"{name}.npy").astype(np.int64)

    return images("x_train"), labels("y_train"), images("x_test"), labels("y_test")


class ByteCounter:
    """A file that only counts what is written (as mlbench's Driver sizes a model)."""

    size = 0

    def write(self, data: bytes | memoryview) -> int:
        size = memoryview(data).nbytes
        self.size += size
        return size


# --- the parent: both sides in turn, the table ---

def jobs_for(models: list[str], dataset: str) -> dict[str, dict[str, Any]]:
    """What each bare run is told: the cached arrays' folder and the model's resolved params
    (read from the plugin, so the two sides cannot drift apart)."""
    from mlbench.contract.registry import load_registry
    from mlbench.datasets import LoadRequest, cache_dir
    from mlbench_plugins.keras_cnn import EVAL_BATCH

    registry = load_registry()
    data_dir = os.environ.get("MLBENCH_DATA_DIR")
    loaded = registry.dataset(dataset).loader(
        LoadRequest(cache_dir(), data_dir=Path(data_dir) if data_dir else None, progress=False))
    jobs = {}
    for model in models:
        extra = CNN_PARAMS if model == CNN else {}
        built = registry.models[model].cls(seed=SEED, device="cpu", **extra)
        jobs[model] = {"folder": str(loaded.folder), "pixel_max": loaded.pixel_max,
                       "params": built.get_params(), "predict_batch": EVAL_BATCH}
    return jobs


def run_bare(model: str, job: dict[str, Any]) -> dict[str, float]:
    import subprocess

    command = [sys.executable, __file__, "--bare", model, json.dumps(job)]
    started = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if finished.returncode != 0:
        raise RuntimeError(f"bare {model} failed:\n{finished.stderr.strip()}")
    measured = json.loads(finished.stdout.strip().splitlines()[-1])
    # Its pickling is mlbench's extra work, measured here: not the bare script's.
    return {**measured, "wall_seconds": wall - measured["pickle_seconds"]}


def run_mlbench(model: str, dataset: str, output: Path, name: str) -> dict[str, float]:
    import pandas as pd

    from tests.benchmarks.overhead import timed_run

    params = [f"{model}.{key}={value}" for key, value in (CNN_PARAMS if model == CNN else {})
              .items()]
    wall, folder = timed_run(["--models", model, "--dataset", dataset, "--no-report",
                              *(option for p in params for option in ("--param", p))],
                             output, name)
    row = pd.read_csv(folder / "results.csv").iloc[0]
    if row["status"] != "ok" or row["dataset"] != dataset or row["seed"] != SEED:
        raise RuntimeError(f"mlbench {model}: {row['status']} on {row['dataset']} "
                           f"(seed {row['seed']}): {row['error']}")
    eval_seconds, epoch = 0.0, {}
    if (folder / "history.csv").exists():  # written for models that keep a history
        history = pd.read_csv(folder / "history.csv")
        eval_seconds = float(history["eval_seconds"].sum())
        epoch = {"epoch_seconds": float(history["epoch_seconds"].median())}
    parts = {name: float(row[name]) if pd.notna(row[name]) else 0.0  # none: nothing done
             for name in ("setup_seconds", "proba_seconds", "job_seconds")}
    # A short predict or predict_proba is timed again over batches of calls (their first
    # call is the one in predict_seconds / proba_seconds): work mlbench adds, shown apart.
    parts["repeat_seconds"] = sum(
        float(row[f"{step}_seconds"]) * int(row[f"{step}_calls"])
        for step in ("predict", "proba")
        if pd.notna(row.get(f"{step}_calls")) and int(row[f"{step}_calls"]) > 1)
    return {"accuracy": float(row["accuracy"]), "wall_seconds": wall,
            "fit_seconds": float(row["fit_seconds"]) - eval_seconds,  # training alone
            "predict_seconds": float(row["predict_seconds"]), "eval_seconds": eval_seconds,
            **parts, **epoch}


def compare(bare_run: dict[str, float], ours: dict[str, float]) -> dict[str, float]:
    """One round of one model: both sides' figures and what follows from them."""
    row = {f"{key} bare": value for key, value in bare_run.items()}
    row.update({f"{key} mlbench": value for key, value in ours.items()})
    overhead_bare = bare_run["wall_seconds"] - bare_run["fit_seconds"] - bare_run["predict_seconds"]
    overhead = ours["wall_seconds"] - ours["fit_seconds"] - ours["predict_seconds"]
    extra = (ours["proba_seconds"] + ours["repeat_seconds"] + ours["eval_seconds"]
             + bare_run["pickle_seconds"])
    row.update({
        "accuracy difference points": 100 * (ours["accuracy"] - bare_run["accuracy"]),
        "fit ratio": ours["fit_seconds"] / bare_run["fit_seconds"],
        "epoch ratio": ours.get("epoch_seconds", np.nan) / bare_run.get("epoch_seconds", np.nan),
        "overhead bare": overhead_bare, "overhead mlbench": overhead, "extra work": extra,
        "harness cost": overhead - overhead_bare - extra,
    })
    return row


ACCURACY_AND_FIT = {
    "accuracy bare": ("acc bare", "{:.4f}"), "accuracy mlbench": ("acc mlbench", "{:.4f}"),
    "accuracy difference points": ("diff pts", "{:+.2f}"),
    "fit_seconds bare": ("fit bare s", "{:.2f}"),
    "fit_seconds mlbench": ("fit mlbench s", "{:.2f}"),
    "fit ratio": ("fit ratio", "{:.2f}"), "predict_seconds bare": ("predict bare s", "{:.2f}"),
    "predict_seconds mlbench": ("predict mlbench s", "{:.2f}"),
}
EPOCHS = {
    "epoch_seconds bare": ("median epoch bare s", "{:.2f}"),
    "epoch_seconds mlbench": ("median epoch mlbench s", "{:.2f}"),
    "epoch ratio": ("epoch ratio", "{:.2f}"),
}
WHOLE_COMMAND = {
    "wall_seconds bare": ("wall bare s", "{:.2f}"),
    "wall_seconds mlbench": ("wall mlbench s", "{:.2f}"),
    "overhead bare": ("overhead bare s", "{:.2f}"),
    "overhead mlbench": ("overhead mlbench s", "{:.2f}"),
    "setup_seconds mlbench": ("setup s", "{:.2f}"), "proba_seconds mlbench": ("proba s", "{:.2f}"),
    "repeat_seconds mlbench": ("repeat s", "{:.2f}"),
    "eval_seconds mlbench": ("eval s", "{:.2f}"), "pickle_seconds bare": ("pickle s", "{:.2f}"),
    "harness cost": ("harness cost s", "{:.2f}"),
}


def table(rows: list[dict[str, Any]], shown: dict[str, tuple[str, str]]) -> str:
    """Medians per model of the ``shown`` columns, as a Markdown table."""
    import pandas as pd

    frame = pd.DataFrame(rows).groupby("model", sort=False).median(numeric_only=True)
    text = pd.DataFrame({label: [form.format(value) for value in frame[column]]
                         for column, (label, form) in shown.items()}, index=frame.index)
    return text.to_markdown(disable_numparse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="mnist",
                        help="mnist (needs MLBENCH_DATA_DIR), or mnist-5k for a quick try")
    parser.add_argument("--models", default=",".join((*SKLEARN, CNN)),
                        help="comma-separated subset (default: every scikit-learn model and "
                             "keras-cnn)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="times to run each pair; the table shows medians")
    parser.add_argument("--out", type=Path, help="write every round's figures as CSV")
    parser.add_argument("--bare", metavar="MODEL", help=argparse.SUPPRESS)  # the bare side
    args, rest = parser.parse_known_args()
    if args.bare:
        print(json.dumps(bare(args.bare, json.loads(rest[0]))))
        return
    import tempfile

    import pandas as pd

    models = [model.strip() for model in args.models.split(",") if model.strip()]
    unknown = sorted(set(models) - {*SKLEARN, CNN})
    if unknown or rest or args.rounds < 1:
        parser.error(f"unknown models {', '.join(unknown)}" if unknown
                     else f"unrecognised arguments: {' '.join(rest)}" if rest
                     else "--rounds must be at least 1")
    from mlbench.errors import DatasetUnavailable, UsageError

    try:
        jobs = jobs_for(models, args.dataset)
    except (DatasetUnavailable, UsageError) as error:  # no MNIST files, an unknown dataset
        parser.error(str(error))
    rows = []
    with tempfile.TemporaryDirectory() as output:
        for round_ in range(args.rounds):
            for position, model in enumerate(models):
                name = f"{model}-{round_}"
                if (position + round_) % 2 == 0:
                    bare_run = run_bare(model, jobs[model])
                    ours = run_mlbench(model, args.dataset, Path(output), name)
                else:
                    ours = run_mlbench(model, args.dataset, Path(output), name)
                    bare_run = run_bare(model, jobs[model])
                rows.append({"model": model, "round": round_, **compare(bare_run, ours)})
                print(f"round {round_ + 1}/{args.rounds}: {model} done", file=sys.stderr)
    print(f"{args.dataset}, medians of {args.rounds} round(s), times in seconds\n")
    print(table(rows, ACCURACY_AND_FIT))
    cnn_rows = [row for row in rows if row["model"] == CNN]
    if cnn_rows:
        print("\nThe CNN's epochs: each side's median epoch, then the median over rounds\n")
        print(table(cnn_rows, EPOCHS))
    print("\nWhole commands: overhead = wall - (fit + predict); harness cost = overhead mlbench "
          "- overhead bare - (proba + eval + pickle)\n")
    print(table(rows, WHOLE_COMMAND))
    if args.out:
        pd.DataFrame(rows).to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
