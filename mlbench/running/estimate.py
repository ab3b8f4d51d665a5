"""How long a run would take, before paying for it: ``mlbench run ... --estimate``.

Each distinct job (model, device, params; repeats cost the same) is fitted on three small
stratified subsets of the training set (twice each, keeping the faster: a busy machine only
adds time), in real worker processes through the same executor
and worker code as a run. A power law, time = a * n^b (least squares on log time against
log n), then extrapolates to the requested sizes:

- fit time against the training-set size;
- predict time per test image against the training-set size (k-NN and SVMs predict more
  slowly the more they were trained on), times the requested test-set size;
- the rest of the job (probabilities, sizing the model) against the training-set size;
- framework start-up (``setup_seconds``) as a constant;
- where the job's predict (or predict_proba) would take under 0.2 s, what timing it over
  repeated calls costs (``drive.repeat_seconds``): the small fits time one call each, so
  that the repeats neither slow the estimate nor blur the curves.

The exponent is kept in [0, 3] (times never shrink with more data; steeper than cubic is
noise in small timings). Where the small fits grow more slowly than the model's
``fit_growth`` (1 by default: a fit reads every training image) or ``predict_growth`` (per
test image, 0 by default) says they must, a fixed cost (thread start-up, input checks) is
flattening them: they are fitted as fixed + a * n^k instead, k the declared growth, and
that is extrapolated. A kernel SVM's fit declares 2 and brute-force k-NN's predict 1.
No run folder or results are written; each job's estimate is kept in the cache, where a
later run's progress finds it (``expected.remember_estimates``).

Each job's estimate comes with a range: every extrapolated part multiplied and divided by
r^m, r the extrapolation factor (training images / the largest small fit's) and m the error
in its exponent allowed for: ``MARGIN``, what real runs showed, or, where the small fits
stray further from the curve drawn through them (``instability``), that. A job is marked
shaky where r goes beyond what was checked against real runs, or where its fit or its
prediction strays from its curve by more than ``SHAKY_INSTABILITY``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from mlbench.contract.registry import ModelEntry, Registry
from mlbench.datasets import Dataset, stratified_indices
from mlbench.results.naming import sweep_text
from mlbench.results.record import JobRecord
from mlbench.results.run_config import RunConfig
from mlbench.running.drive import repeat_seconds
from mlbench.running.executors import Executor, make_executor
from mlbench.running.expected import remember_estimates
from mlbench.running.jobs import JobSpec
from mlbench.running.planning import job_data, plan, warn_and_load
from mlbench.running.progress import Progress

PROBES = 3  # subsets per job, each twice the size of the one before
TRIES = 2  # fits per subset; the fastest counts, since a busy machine only ever adds time
PROBE_MAX = 4000  # training images in the largest subset at most...
PROBE_SHARE = 4  # ...and at most a quarter of the requested training set...
PROBE_MIN = 500  # ...but at least this many (or half the set, if it is smaller)
PROBE_TEST = 1000  # test images each subset's model predicts (per-image time is fitted)
FLOOR_SECONDS = 1e-9  # keeps the logarithm of a zero time finite
MAX_GROWTH = 3.0
# The error in an exponent the range allows for. On full MNIST (small fits of at most 4,000
# images, jobs of up to 60,000: r = 15) every job's estimate came within 0.6x to 2.2x of the
# real median (tests/benchmarks/estimate_accuracy.py, BENCHMARKS.md): 15^0.3 = 2.25.
MARGIN = 0.3
RANGE_NOTE = (f"job range: each extrapolated time divided and multiplied by r^{MARGIN:g}, "
              "r = training images / the largest small fit's (wider where the small fits' "
              "growth was unstable); on full MNIST (r = 15) single jobs' estimates came within "
              "0.6x to 2.2x of the real times, the total within 5%")
SHAKY_FACTOR = 20  # extrapolated further than that check went (15x): shaky
SHAKY_INSTABILITY = 0.25  # small fits straying further from their curve: shaky...
SHAKY_SHARE = 0.2  # ...if that part is at least this share of the job...
SHAKY_SECONDS = 1.0  # ...and this long (a sub-second part is timing noise, and cheap)

COLUMNS = ["model", "variant", "device", "params", "sweep", "train_size", "test_size", "jobs",
           "setup_seconds", "fit_seconds", "predict_seconds", "repeat_seconds", "job_seconds",
           "job_low_seconds",
           "job_high_seconds", "total_seconds", "fit_growth", "predict_growth", "extrapolation",
           "shaky", "note"]


def probe_sizes(train_size: int, classes: int) -> list[int]:
    """The training-set sizes to fit on: ``PROBES`` sizes doubling up to the largest."""
    largest = min(PROBE_MAX, max(train_size // PROBE_SHARE, min(PROBE_MIN, train_size // 2)))
    smallest = 2 * classes  # a stratified subset needs every class, twice for a fair fit
    sizes = {max(smallest, largest // 2**k) for k in range(PROBES)}
    return sorted(size for size in sizes if size <= train_size)


def power_law(sizes: Sequence[float], seconds: Sequence[float]) -> tuple[float, float]:
    """(a, b) of seconds = a * size^b, least squares on the logs; b kept in [0, 3]."""
    x = np.log(np.asarray(sizes, dtype=float))
    y = np.log(np.maximum(np.asarray(seconds, dtype=float), FLOOR_SECONDS))
    slope = float(np.polyfit(x, y, 1)[0]) if len(set(x.tolist())) > 1 else 1.0
    growth = min(max(slope, 0.0), MAX_GROWTH)
    return float(np.exp(np.mean(y - growth * x))), growth


def fixed_plus_growth(sizes: Sequence[float], seconds: Sequence[float], growth: float
                      ) -> tuple[float, float] | None:
    """(c, a) of seconds = c + a * size^growth, both at least 0, least squares on the
    relative error (small times count as much as large ones); None where the times do not
    grow at all."""
    n = np.asarray(sizes, dtype=float) ** growth
    t = np.maximum(np.asarray(seconds, dtype=float), FLOOR_SECONDS)
    (fixed, rate), *_ = np.linalg.lstsq(np.column_stack([1 / t, n / t]), np.ones_like(t),
                                        rcond=None)
    if fixed < 0:  # no fixed cost: the best curve through the origin
        fixed, rate = 0.0, float(np.sum(n / t) / np.sum((n / t) ** 2))
    return (float(fixed), float(rate)) if rate > 0 else None


def extrapolate(sizes: Sequence[float], seconds: Sequence[float], size: float,
                least_growth: float = 0.0) -> tuple[float, float]:
    """Seconds at ``size``, and the exponent of their growth: the power law of the small
    fits, or, where they grow more slowly than ``least_growth`` (a fixed cost weighs on
    them), a fixed cost plus a term growing as size^least_growth."""
    scale, growth = power_law(sizes, seconds)
    if growth >= least_growth:
        return scale * size**growth, growth
    curve = fixed_plus_growth(sizes, seconds, least_growth)
    if curve is None:  # flat with noise: at least the known growth from the largest fit
        largest = int(np.argmax(sizes))
        return float(seconds[largest]) * (size / sizes[largest]) ** least_growth, least_growth
    fixed, rate = curve
    return fixed + rate * size**least_growth, least_growth


def local_growths(sizes: Sequence[float], seconds: Sequence[float]) -> list[float]:
    """The exponent between each two consecutive small fits (by size), each in [0, 3]."""
    order = np.argsort(sizes)
    x = np.log(np.asarray(sizes, dtype=float)[order])
    y = np.log(np.maximum(np.asarray(seconds, dtype=float)[order], FLOOR_SECONDS))
    return [min(max(float(slope), 0.0), MAX_GROWTH) for slope in np.diff(y) / np.diff(x)]


def instability(sizes: Sequence[float], seconds: Sequence[float],
                least_growth: float = 0.0) -> float:
    """How far the small fits stray from the curve ``extrapolate`` draws through them, as an
    error in its exponent: the largest change of log(time / curve) per unit of log size
    between two consecutive small fits. 0 where they lie on the curve."""
    curve = [extrapolate(sizes, seconds, size, least_growth)[0] for size in sizes]
    order = np.argsort(sizes)
    x = np.log(np.asarray(sizes, dtype=float)[order])
    off = np.log(np.maximum(np.asarray(seconds, dtype=float), FLOOR_SECONDS)
                 / np.maximum(np.asarray(curve), FLOOR_SECONDS))[order]
    return float(np.max(np.abs(np.diff(off) / np.diff(x)))) if len(x) > 1 else 0.0


def time_range(seconds: float, extrapolation: float, unstable: float = 0.0
               ) -> tuple[float, float]:
    """The range allowed for a time extrapolated ``extrapolation`` times beyond the largest
    small fit: divided and multiplied by extrapolation^m, m the larger of ``MARGIN`` and the
    small fits' ``instability``."""
    factor = max(extrapolation, 1.0) ** max(MARGIN, unstable)
    return seconds / factor, seconds * factor


def shaky_reasons(extrapolation: float, parts: dict[str, Part], job_seconds: float) -> list[str]:
    """Why an estimate is shakier than the range that real runs showed: extrapolated beyond
    what was checked against them, or a large part whose small fits stray from its curve."""
    reasons = []
    if extrapolation > SHAKY_FACTOR:
        reasons.append(f"extrapolated {extrapolation:.0f}x beyond its largest small fit")
    for name, part in parts.items():
        if (part.unstable > SHAKY_INSTABILITY
                and part.seconds >= max(SHAKY_SHARE * job_seconds, SHAKY_SECONDS)):
            steps = " then ".join(f"n^{growth:.1f}" for growth in part.growths)
            reasons.append(f"{name} grew as {steps} between small fits, off its "
                           f"n^{part.growth:.1f} curve")
    return reasons


@dataclass(frozen=True)
class Part:
    """One extrapolated part of a job: its seconds, the exponent it was extrapolated with,
    the exponents between its small fits and how far they stray from its curve."""

    seconds: float
    growth: float
    growths: list[float]
    unstable: float

    @classmethod
    def of(cls, sizes: Sequence[float], seconds: Sequence[float], size: float,
           least_growth: float = 0.0, per: float = 1.0) -> Part:
        """The part at ``size`` (times ``per``: test images, for a time per image)."""
        value, growth = extrapolate(sizes, seconds, size, least_growth)
        return cls(value * per, growth, local_growths(sizes, seconds),
                   instability(sizes, seconds, least_growth))


def estimate_run(config: RunConfig, registry: Registry, progress: Progress) -> pd.DataFrame:
    """One row per distinct job (the repeats of a job share it): estimated seconds of setup,
    fit, predict and the whole job, times its repeats; ``attrs`` holds the total, the
    wall time at ``config.jobs`` at once, and what the estimate itself took."""
    began = time.perf_counter()
    runner = make_executor(config)  # the run's own executor: the same workers, the same code
    try:
        runner.start()
        return _estimate(config, registry, progress, runner, began)
    finally:
        runner.close()


def _estimate(config: RunConfig, registry: Registry, progress: Progress, runner: Executor,
              began: float) -> pd.DataFrame:
    dataset, _ = warn_and_load(config, registry, progress)
    specs, _ = plan(config, registry, job_data(config, dataset))  # skipped jobs take no time

    groups: dict[str, list[JobSpec]] = {}  # the repeats of each job
    alike: dict[str, list[JobSpec]] = {}  # jobs that differ only in size share small fits
    for spec in specs:
        groups.setdefault(_key(spec, sizes=True), []).append(spec)
        alike.setdefault(_key(spec, sizes=False), []).append(spec)
    probes = {key: _probes(members, dataset) for key, members in alike.items()}

    records: dict[str, dict[str, Any]] = {}

    def keep(spec: JobSpec, record: JobRecord, arrays: dict[str, Any]) -> None:
        records[spec.job_id] = record.to_json()

    runner.execute([probe for group in probes.values() for probe in group],
                   on_start=lambda spec: None, on_finish=keep)
    rows = [_row(members, _fastest([records[p.job_id]
                                    for p in probes[_key(members[0], sizes=False)]]),
                 dataset, registry.models[members[0].model])
            for members in groups.values()]
    frame = pd.DataFrame(rows, columns=COLUMNS).astype(
        {column: float for column in COLUMNS
         if column.endswith(("_seconds", "_growth")) or column == "extrapolation"})
    total = float(frame["total_seconds"].sum()) if len(frame) else 0.0
    # The total's range: every job at the low (high) end of its own at once, so wider than
    # it needs to be where the jobs' errors are independent.
    low, high = ((float((frame[f"job_{end}_seconds"] * frame["jobs"]).sum(min_count=1))
                  if len(frame) else 0.0) for end in ("low", "high"))
    frame.attrs.update(total_seconds=total, total_low_seconds=low, total_high_seconds=high,
                       wall_seconds=total / config.jobs,
                       jobs_at_once=config.jobs, timeout=config.timeout,
                       estimate_seconds=time.perf_counter() - began,
                       dataset=dataset.name)
    remember_estimates(dataset.name, [(members[0], row["job_seconds"]) for members, row in
                                      zip(groups.values(), rows, strict=True)
                                      if pd.notna(row.get("job_seconds"))])
    for row in frame.to_dict("records"):
        if config.timeout is not None and row["job_seconds"] > config.timeout:
            progress.warn(f"{row['model']} on {row['device']}: estimated "
                          f"{row['job_seconds']:.0f} s per job, beyond --timeout "
                          f"{config.timeout:g} s")
    return frame


def _key(spec: JobSpec, sizes: bool) -> str:
    """What decides a job's cost: everything but its repeat and seed (and, with ``sizes``
    False, the sizes of its data)."""
    identity: list[Any] = [spec.model, spec.plugin, spec.device, spec.params]
    if sizes:
        identity += [_indices(spec.data.train_indices), _indices(spec.data.test_indices)]
    return json.dumps(identity, sort_keys=True, default=str)


def _indices(indices: np.ndarray | None) -> int | None:
    return None if indices is None else len(indices)


def _size(indices: np.ndarray | None, labels: np.ndarray) -> int:
    return len(labels) if indices is None else len(indices)


def _probes(alike: list[JobSpec], dataset: Dataset) -> list[JobSpec]:
    """The small fits of jobs alike but for their sizes: the first job, on stratified
    subsets sized for the largest training set asked for."""
    largest = max(_size(spec.data.train_indices, dataset.y_train) for spec in alike)
    tests = min(PROBE_TEST, max(_size(spec.data.test_indices, dataset.y_test) for spec in alike))
    test_indices = stratified_indices(np.asarray(dataset.y_test), tests)
    return [replace(alike[0], job_id=f"{alike[0].job_id}-probe{size}-try{attempt}",
                    time_short_calls=False,  # one call each: _row adds what repeats cost
                    # Without the validation split: the small fits time predict on the
                    # test subset, and _row scales it to the validation images as well.
                    data=replace(alike[0].data, test_indices=test_indices,
                                 validation_indices=None,
                                 train_indices=stratified_indices(
                                     np.asarray(dataset.y_train), size)))
            for size in probe_sizes(largest, len(dataset.classes))
            for attempt in range(TRIES)]


def _fastest(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per subset size: the fastest ok try, or a failed one if any failed (so
    that the estimate reports the failure)."""
    by_size: dict[Any, dict[str, Any]] = {}
    for record in records:
        size = record.get("train_size")
        best = by_size.get(size)
        if (best is None or record["status"] != "ok"
                or (best["status"] == "ok" and record["job_seconds"] < best["job_seconds"])):
            by_size[size] = record
    return list(by_size.values())


def _row(members: list[JobSpec], probes: list[dict[str, Any]], dataset: Dataset,
         entry: ModelEntry) -> dict[str, Any]:
    spec = members[0]
    train = _size(spec.data.train_indices, dataset.y_train)
    test = _size(spec.data.test_indices, dataset.y_test)
    row: dict[str, Any] = {"model": spec.model, "variant": spec.variant, "device": spec.device,
                           "params": json.dumps(spec.params, sort_keys=True, default=str),
                           "sweep": sweep_text(spec.sweep),
                           "train_size": train, "test_size": test, "jobs": len(members),
                           "shaky": "", "note": ""}
    bad = next((p for p in probes if p["status"] != "ok"), None)
    if bad is not None:
        error = str(bad.get("error") or "").strip().splitlines()[0:1]
        row["note"] = (f"{bad['status']} on {bad.get('train_size') or 'a subset of'} "
                       f"training images: {error[0] if error else ''}").strip()
        if bad["status"] == "timeout":
            row["note"] = "timed out on a small subset: the full job will too"
        return row
    sizes = [float(p["train_size"]) for p in probes]
    setup = float(np.median([p.get("setup_seconds") or 0.0 for p in probes]))
    validation = _indices(spec.data.validation_indices) or 0  # predicted as well, apart
    parts = {
        "fit": Part.of(sizes, [p["fit_seconds"] for p in probes], train, entry.fit_growth),
        # The test images and the validation images a grid holds out: both are predicted.
        "prediction": Part.of(sizes, [p["predict_seconds"] / p["test_size"] for p in probes],
                              train, entry.predict_growth, per=test + validation),
        "rest": Part.of(sizes, [p["job_seconds"] - (p.get("setup_seconds") or 0.0)
                                - p["fit_seconds"] - p["predict_seconds"] for p in probes],
                        train),
    }
    # A short predict (and predict_proba, timed alike) is called again to be timed: a cost
    # the small fits left out (they time one call), at the full job's one-call times.
    predict = parts["prediction"].seconds * test / (test + validation)
    largest = max(probes, key=lambda p: p["train_size"])
    proba = predict * (largest.get("proba_seconds") or 0.0) / max(largest["predict_seconds"],
                                                                  FLOOR_SECONDS)
    repeats = repeat_seconds(predict) + (repeat_seconds(proba) if proba > 0 else 0.0)
    job = setup + repeats + sum(part.seconds for part in parts.values())
    extrapolation = train / max(sizes)
    ranges = [time_range(part.seconds, extrapolation, part.unstable) for part in parts.values()]
    # Start-up does not grow with the data; the repeats fill a time, whatever the calls take.
    low = setup + repeats + sum(low for low, _ in ranges)
    high = setup + repeats + sum(high for _, high in ranges)
    del parts["rest"]  # probabilities and sizing: never the bulk of a job worth estimating
    row.update(setup_seconds=setup, fit_seconds=parts["fit"].seconds,
               predict_seconds=predict, repeat_seconds=repeats,
               job_seconds=job, job_low_seconds=low, job_high_seconds=high,
               total_seconds=job * len(members), fit_growth=parts["fit"].growth,
               predict_growth=parts["prediction"].growth, extrapolation=extrapolation,
               shaky="; ".join(shaky_reasons(extrapolation, parts, job)))
    return row

