"""Short operations timed over batches of calls (``drive.timed_calls``), fit never repeated,
and only the first call's output scored; the columns that say how a time was taken."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlbench
from mlbench.results.table import COLUMNS
from mlbench.running.drive import (
    BATCH_SECONDS,
    BATCHES,
    SHORT_SECONDS,
    batch_size,
    next_size,
    timed_calls,
)


def test_batch_sizes_follow_1_2_5_from_what_the_first_call_suggests() -> None:
    sizes = [1]
    while len(sizes) < 10:
        sizes.append(next_size(sizes[-1]))
    assert sizes == [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
    assert batch_size(1.0) == 1 and batch_size(0.15) == 1
    # 20 calls of 3 ms: 0.06 s, the last size under a batch's share of 0.2 s (0.067 s)
    assert batch_size(0.003) == 20
    assert pytest.approx(SHORT_SECONDS) == BATCH_SECONDS * BATCHES
    assert batch_size(0.0) == batch_size(1e-6) <= 200_000  # no call is free: 1 us at least


def test_a_long_call_is_timed_once_and_a_short_one_over_batches() -> None:
    calls: list[int] = []

    def call() -> int:
        calls.append(len(calls))
        return len(calls)

    result, timing = timed_calls(call, repeat=False)
    assert result == 1 and timing.calls == 1 and timing.spread is None and len(calls) == 1

    calls.clear()
    result, timing = timed_calls(call)
    assert result == 1  # the first call's output, whatever later calls return
    assert timing.calls > 1 and timing.calls % BATCHES == 0
    # Calibration calls are not among those timed; every call was made.
    assert len(calls) >= 1 + timing.calls
    assert timing.spread is not None and timing.spread >= 0
    assert timing.seconds * timing.calls >= BATCH_SECONDS  # at least one full batch

    slow = timed_calls(lambda: time.sleep(SHORT_SECONDS + 0.05) or "slow")
    assert slow[0] == "slow" and slow[1].calls == 1 and slow[1].spread is None


def test_a_call_that_fails_when_repeated_keeps_its_first_answer_timed_once() -> None:
    answers = iter(["first"])

    def once() -> str:
        return next(answers)  # StopIteration on any call after the first

    with pytest.warns(UserWarning, match=r"predict\(\) raised StopIteration when called "
                                         r"again to time it .*: timed once"):
        result, timing = timed_calls(once, what="predict()")
    assert result == "first" and timing.calls == 1 and timing.spread is None


def test_the_columns_document_the_threshold_and_batches() -> None:
    meanings = {name: meaning for name, _, _, meaning in COLUMNS}
    assert f"{SHORT_SECONDS:g} s" in meanings["predict_calls"]
    assert f"its {BATCHES} timed batches" in meanings["predict_calls"]
    statistics = (Path(__file__).resolve().parents[1] / "docs" / "statistics.md").read_text()
    assert f"under **{SHORT_SECONDS:g} s**" in statistics and f"then **{BATCHES}** batches" in (
        statistics)


# A model that keeps state between calls: its first prediction is right, every later one
# wrong; and fit counts itself, so a repeated fit would show.
STATEFUL = '''
import numpy as np
import mlbench


class Forgetful(mlbench.Model):
    name = "forgetful"

    def fit(self, X, y):
        self.fits_ = getattr(self, "fits_", 0) + 1
        self.classes_ = np.unique(y)
        self.means_ = np.stack([X[y == label].mean(axis=0) for label in self.classes_])
        self.predictions_ = 0
        return self

    def predict(self, X):
        self.predictions_ += 1
        nearest = self.classes_[((X[:, None, :] - self.means_[None]) ** 2).sum(2).argmin(1)]
        return nearest if self.predictions_ == 1 else (nearest + 1) % 10

    def predict_proba(self, X):
        rows = np.zeros((len(X), len(self.classes_)))
        rows[:, 0] = 1.0
        return rows

    def runtime_info(self):
        return {"fits": self.fits_, "predictions": self.predictions_}


@mlbench.hookimpl
def mlbench_register_models(register):
    register(Forgetful)
'''


def test_a_job_scores_the_first_call_times_the_rest_and_fits_once(tmp_path: Path) -> None:
    plugin = tmp_path / "forgetful.py"
    plugin.write_text(textwrap.dedent(STATEFUL))
    frame = mlbench.run(models=["forgetful"], dataset="digits", plugins=[str(plugin)],
                        output_dir=str(tmp_path / "results"), validation=0.2).frame
    row = frame.iloc[0]
    assert row["status"] == "ok", row["error"]
    extra = pd.Series(__import__("json").loads(row["extra"]))
    assert extra["fits"] == 1
    # Nearest class mean on digits: about 0.9 if the first call is scored, about 0 if any later.
    assert row["accuracy"] > 0.8
    # A centroid predict on 360 digits is far under 0.2 s: timed over batches, and the
    # validation images predicted once more, untimed.
    assert row["predict_calls"] > 1 and row["predict_calls"] % BATCHES == 0
    assert extra["predictions"] > row["predict_calls"]
    assert row["predict_spread"] >= 0 and row["predict_seconds"] > 0
    assert row["proba_calls"] > 1 and row["proba_spread"] >= 0 and row["proba_seconds"] > 0
    assert np.isfinite(row["log_loss"])
    # validation_accuracy is the one call after the repeats: the forgetful model's wrong
    # answer, showing that validation is predicted once more after the timed batches.
    assert row["validation_accuracy"] < 0.2
