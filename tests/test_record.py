"""The typed job record: its constructors, its JSON both ways, the table's columns read from
it, a plugin's extra runtime fields, text no plugin can make invalid, and epoch entries."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import Result

from mlbench.datasets import DataRef
from mlbench.results.record import (
    OLD_EPOCH_NAMES,
    EpochRecord,
    JobRecord,
    completed_epochs,
    read_history,
    time_to_target,
)
from mlbench.results.table import COLUMN_NAMES, COLUMNS, HISTORY_COLUMNS, to_frame
from mlbench.running.drive import ContractError, Driver
from mlbench.running.jobs import JobSpec

Cli = Callable[..., Result]
REFERENCE_JOBS = Path(__file__).resolve().parents[1] / "results" / "reference-mnist" / "jobs"


def spec(train_size: int | None = None) -> JobSpec:
    return JobSpec("svm-cpu-r0", "svm", "scikit-learn", "cpu", 0, 7, {"C": 5.0},
                   DataRef(Path("unused"), 255.0, None, None), sweep={"C": 5.0},
                   train_size=train_size)


def test_each_outcome_has_its_constructor_and_every_record_starts_as_its_job() -> None:
    failure = ValueError("no convergence")
    records = {
        "ok": JobRecord.ok(spec()),
        "failed": JobRecord.failed(spec(), failure, "Traceback ..."),
        "skipped": JobRecord.skipped(spec(), "no gpu path"),
        "crashed": JobRecord.crashed(spec(), "worker process died from SIGKILL"),
        "timeout": JobRecord.timeout(spec(), 2.5),
    }
    for status, record in records.items():
        assert record.status == status
        assert (record.job_id, record.model, record.plugin, record.device, record.repeat,
                record.seed, record.params, record.sweep) == (
            "svm-cpu-r0", "svm", "scikit-learn", "cpu", 0, 7, {"C": 5.0}, {"C": 5.0})
    assert records["ok"].error is None
    assert records["failed"].error == "ValueError: no convergence"
    assert records["timeout"].error == "exceeded the 2.5 s timeout and was stopped"
    # What the worker measured before the outcome is kept by it.
    measured = JobRecord.of(spec())
    measured.fit_seconds = 1.5
    assert JobRecord.failed(measured, failure, "").fit_seconds == 1.5
    assert measured.status is None  # the constructors copy
    assert JobRecord.of(spec(train_size=1000)).train_size == 1000  # a grid's size


def test_the_run_adds_its_context_only_where_the_job_left_it_open() -> None:
    skipped = JobRecord.skipped(spec(), "no gpu path").in_run(
        dataset="digits", executor="local", train_size=1797, test_size=300)
    assert (skipped.dataset, skipped.executor, skipped.train_size, skipped.test_size) == (
        "digits", "local", 1797, 300)
    lost = JobRecord.crashed(spec(), "lost", executor="dask", worker="tcp://w:1")
    ran = JobRecord.ok(spec()).ran_on("local", "host")
    ran.train_size = 500
    assert lost.in_run(dataset="d", executor="local", train_size=1, test_size=1).executor == "dask"
    assert ran.in_run(dataset="d", executor="dask", train_size=1, test_size=1).train_size == 500


def test_a_record_round_trips_through_its_json() -> None:
    record = JobRecord.ok(spec())
    record.fit_seconds, record.warnings, record.log = 2.0, ["UserWarning: w"], "printed"
    record.keep_history([EpochRecord(1, 0.5, 0.8, 0.9, 1.0, 1.0, 0.1),
                         EpochRecord(2, 0.3, 0.9, 0.95, 1.0, 2.0, 0.1)])
    record.keep_runtime_info({"framework": "torch 2", "cudnn": "9.1"})
    saved = json.loads(json.dumps(record.to_json()))
    assert "run" not in saved and "accuracy" not in saved  # what has no value is not written
    assert saved["extra"] == {"cudnn": "9.1"}
    assert saved["history"][1]["cumulative_train_seconds"] == 2.0
    assert JobRecord.from_json(saved) == record


@pytest.mark.parametrize("path", sorted(REFERENCE_JOBS.glob("*.json")), ids=lambda p: p.stem)
def test_records_of_the_committed_runs_read_and_write_back_unchanged(path: Path) -> None:
    old = json.loads(path.read_text())
    again = JobRecord.from_json(old).to_json()
    written_before = {key: value for key, value in old.items() if value is not None}
    if "history" in written_before:  # an epoch's running total under its older name
        written_before["history"] = [{OLD_EPOCH_NAMES.get(key, key): value
                                      for key, value in epoch.items()}
                                     for epoch in written_before["history"]]
    # Kept beside the history they come from; a record written before them gains them.
    derived = {"epochs", "final_test_accuracy", "test_evaluations"} - set(written_before)
    assert {key: value for key, value in again.items() if key not in derived} == written_before


def test_the_columns_are_the_record_fields_that_declare_one() -> None:
    declared = [item.name for item in fields(JobRecord) if "column" in item.metadata]
    assert declared == COLUMN_NAMES
    assert COLUMN_NAMES[:3] == ["run", "job_id", "model"] and COLUMN_NAMES[-1] == "extra"
    assert HISTORY_COLUMNS[4:] == [item.name for item in fields(EpochRecord)]
    frame = to_frame([JobRecord.ok(spec())])
    assert list(frame.columns) == COLUMN_NAMES
    assert [str(dtype) for dtype in frame.dtypes] == [dtype for _, dtype, *_ in COLUMNS]


def test_runtime_fields_without_a_column_are_kept_in_extra() -> None:
    record = JobRecord.ok(spec())
    record.keep_runtime_info({"framework": "jax 0.4", "precision": "bfloat16",
                              "xla_flags": "--fast", "cores": 8})
    row = to_frame([record]).iloc[0]
    assert (row["framework"], row["precision"]) == ("jax 0.4", "bfloat16")
    assert json.loads(row["extra"]) == {"cores": 8, "xla_flags": "--fast"}
    # A key an older mlbench wrote beside the columns is not lost either.
    old = {**JobRecord.ok(spec()).to_json(), "cudnn": "8.9"}
    assert json.loads(to_frame([old]).iloc[0]["extra"]) == {"cudnn": "8.9"}


def test_no_string_a_plugin_gives_can_break_the_table(tmp_path: Path) -> None:
    record = JobRecord.failed(spec(), ValueError("bad \udcff"), "raise ValueError('\udcff')")
    record.keep_runtime_info({"framework": "name\ud800", "path\udcfe": ["x\udcff"]})
    record.warnings = ["UserWarning: \udcff"]
    assert record.error == "ValueError: bad \ufffd" and record.framework == "name\ufffd"
    assert record.extra == {"path\ufffd": ["x\ufffd"]}
    # A record an older mlbench saved with the surrogate still in it (json escapes it).
    poisoned = json.loads(json.dumps({**JobRecord.ok(spec()).to_json(), "error": "x \udcff"}))
    frame = to_frame([record, poisoned])
    frame.to_parquet(tmp_path / "results.parquet")
    assert pd.read_parquet(tmp_path / "results.parquet")["error"].tolist() == [
        "ValueError: bad \ufffd", "x \ufffd"]


def test_plugin_history_entries_become_epoch_records() -> None:
    entry = {"epoch": 2, "loss": np.float32(0.25), "train_accuracy": 0.9, "test_accuracy": None,
             "epoch_seconds": 1.5, "cumulative_train_seconds": 3, "eval_seconds": 0.1}
    epoch = EpochRecord.from_plugin(entry, 2)
    assert epoch == EpochRecord(2, 0.25, 0.9, None, 1.5, 3.0, 0.1)
    assert isinstance(epoch.cumulative_train_seconds, float)
    assert EpochRecord.from_plugin({"loss": 1.0}, 3).epoch == 3  # its place, if not given
    with pytest.raises(ValueError, match="history_ entry 1 has loss='low', not a number"):
        EpochRecord.from_plugin({"loss": "low"}, 1)
    with pytest.raises(ValueError, match="history_ entry 4 is list, not a dict"):
        EpochRecord.from_plugin([1, 2], 4)


def test_a_history_gets_its_running_total_once_under_one_name() -> None:
    # An older mlbench (and its plugins) wrote the running total as train_seconds.
    old = [{"epoch": 1, "epoch_seconds": 2.0, "train_seconds": 2.0},
           {"epoch": 2, "epoch_seconds": 3.0, "train_seconds": 5.0}]
    assert [e.cumulative_train_seconds for e in read_history(old)] == [2.0, 5.0]
    assert EpochRecord.unknown_keys(old[0]) == []
    both = {"epoch": 1, "train_seconds": 9.0, "cumulative_train_seconds": 2.0}
    assert read_history([both])[0].cumulative_train_seconds == 2.0  # the new name wins
    # Epoch times alone: the running total is added up here, and nowhere else.
    own = [{"epoch_seconds": s} for s in (2.0, 3.0, 4.0)]
    assert [e.cumulative_train_seconds for e in read_history(own)] == [2.0, 5.0, 9.0]
    # Once an epoch has no time the total is unknown, not a smaller sum.
    gap = [{"epoch_seconds": 2.0}, {"loss": 1.0}, {"epoch_seconds": 4.0}]
    assert [e.cumulative_train_seconds for e in read_history(gap)] == [2.0, None, None]
    # A saved record reads the same way.
    record = JobRecord.from_json({**JobRecord.ok(spec()).to_json(), "history": old})
    assert record.history is not None
    assert [e.cumulative_train_seconds for e in record.history] == [2.0, 5.0]


def test_rows_within_an_epoch_keep_their_fraction_and_are_not_counted_as_epochs() -> None:
    """evals_per_epoch=2: a row half-way through each epoch. The epochs column, the throughput
    and the live progress count whole epochs; time to target can fall within one."""
    from mlbench.running.worker import epochs_ended

    plugin_rows = [{"epoch": e, "test_accuracy": a, "epoch_seconds": 1.0}
                   for e, a in ((0.5, 0.97), (1.0, 0.98), (1.5, 0.991), (2.0, 0.992))]
    history = read_history(plugin_rows)
    assert [e.epoch for e in history] == [0.5, 1, 1.5, 2]
    assert [type(e.epoch) for e in history] == [float, int, float, int]  # history.csv: "1"
    assert completed_epochs(history) == 2 == epochs_ended(plugin_rows)
    assert epochs_ended(plugin_rows[:3]) == 1
    assert epochs_ended([{"epoch": "one"}, {}]) == 2  # malformed: a row each, never a crash
    record = JobRecord.ok(spec())
    record.keep_history(history, 0.99)
    assert record.epochs == 2 and record.time_to_target_seconds == 3.0  # at epoch 1.5


def test_time_to_target_is_the_running_total_at_the_first_epoch_reaching_it() -> None:
    history = [EpochRecord(n, test_accuracy=accuracy, epoch_seconds=2.0,
                           cumulative_train_seconds=2.0 * n)
               for n, accuracy in enumerate((0.9, 0.991, 0.98, 0.995), start=1)]
    assert time_to_target(history, 0.99) == 4.0  # epoch 2, not the later dip or epoch 4
    assert time_to_target(history, 0.9) == 2.0
    assert time_to_target(history, 0.999) is None  # never reached: empty, not 0
    assert time_to_target([EpochRecord(1, test_accuracy=0.995)], 0.99) is None  # no times
    record = JobRecord.ok(spec())
    record.keep_history(history, 0.999)
    assert (record.target_accuracy, record.time_to_target_seconds) == (0.999, None)
    record.keep_history([EpochRecord(1, loss=0.5, cumulative_train_seconds=1.0)], 0.99)
    assert (record.target_accuracy, record.time_to_target_seconds) == (None, None)  # no test
    record.keep_history(history, 0.99)
    assert JobRecord.from_json(json.loads(json.dumps(record.to_json()))) == record


class Learner:
    """A model that keeps a training history, as the CNN plugins do."""

    name = "learner"

    def __init__(self, *, seed: int = 0, device: str = "cpu", **params: object) -> None:
        self.history_: list[object] = []

    def fit(self, X: np.ndarray, y: np.ndarray) -> Learner:
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.zeros(len(X), dtype=int)


def test_the_driver_reads_a_models_history_and_names_what_is_wrong() -> None:
    driver = Driver(Learner(), where="plugin 'p': model 'learner' ")
    driver.model.history_ = [{"epoch": 1, "loss": 0.5, "cumulative_train_seconds": 1.0,
                              "lr": 0.1}]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert driver.history() == [EpochRecord(1, loss=0.5, cumulative_train_seconds=1.0)]
    assert [str(w.message) for w in caught] == [
        "plugin 'p': model 'learner' history_ has keys mlbench does not keep: lr"]
    driver.model.history_ = [{"epoch": 1, "loss": float("nan")}, {"loss": "n/a"}]
    with pytest.raises(ContractError, match="model 'learner' history_ entry 2 has loss='n/a'"):
        driver.history()


UNRULY_PLUGIN = '''
import numpy as np
import mlbench

class BadText(mlbench.Model):
    """Fails with a message holding a lone surrogate, as os.fsdecode makes of a bad name."""
    name = "bad-text"

    def fit(self, X, y):
        raise ValueError("bad \\udcff")

    def predict(self, X):
        return np.zeros(len(X), dtype=int)

class Chatty(mlbench.Model):
    """Reports runtime fields that match no column of the table."""
    name = "chatty"

    def fit(self, X, y):
        self.majority_ = int(np.bincount(y).argmax())
        return self

    def predict(self, X):
        return np.full(len(X), self.majority_)

    def runtime_info(self):
        return {"framework": "chatty 1.0", "accelerator_count": 0, "build": "caf\\udcff"}

@mlbench.hookimpl
def mlbench_register_models(register):
    register(BadText)
    register(Chatty)
'''


def test_a_plugin_error_with_an_unencodable_character_fails_one_job_only(
    cli: Cli, tmp_path: Path, write_plugin: Callable[[str, str], Path]
) -> None:
    plugin = write_plugin("unruly", UNRULY_PLUGIN)
    result = cli("run", "--plugin", str(plugin), "-m", "bad-text,chatty,linear", "-d", "digits",
                 "--name", "t", "--train-size", "400", "--test-size", "200", "--no-report")
    assert result.exit_code == 1, result.output  # a failed job, not an aborted run
    run_dir = tmp_path / "results" / "t"
    frame = pd.read_parquet(run_dir / "results.parquet").set_index("model")
    assert frame.loc["bad-text", "status"] == "failed"
    assert frame.loc["bad-text", "error"] == "ValueError: bad \ufffd"
    assert frame.loc["chatty", "status"] == "ok" and frame.loc["linear", "status"] == "ok"
    assert frame.loc["chatty", "framework"] == "chatty 1.0"
    assert json.loads(frame.loc["chatty", "extra"]) == {"accelerator_count": 0,
                                                        "build": "caf\ufffd"}
    assert pd.isna(frame.loc["linear", "extra"])

    (run_dir / "jobs" / "chatty-cpu-r0.json").unlink()  # as if the run had stopped there
    resumed = cli("run", "--resume", str(run_dir), "--no-report")
    assert resumed.exit_code == 1, resumed.output
    again = pd.read_parquet(run_dir / "results.parquet").set_index("model")
    assert again.loc["chatty", "status"] == "ok" and len(again) == 3
