"""A saved run exported to an MLflow tracking server or store, read from the run alone.

One MLflow run stands for the mlbench run (the parent) and, nested under it (MLflow's
``mlflow.parentRunId`` tag), one for each job:

- parent: the run's settings (run.json's config) as params; dataset, commit and machine as
  tags; the report (report.html, report.md, charts/) as artifacts.
- job: the model's params under their own names, the job's settings (seed, sizes, variant,
  ...) as ``mlbench.<column>`` params, so no model param can collide with one; every numeric
  column of the results table as a metric, with the accuracy's 95% interval over the test
  images; the per-epoch history as step metrics (step k is the k-th row of history.csv: the
  epoch number for whole epochs, the ``epoch`` metric says which fraction otherwise); the
  other columns (model, device, status, framework, ...) as tags.

Exporting a run again does not duplicate it: the parent carries the run's identity (its name
and start time, not its path, so a copied folder is the same run), a second export finds it
and adds only the jobs it lacks (a resumed run's new ones). A job whose MLflow run was left
unfinished by an export cut short is exported again; the parent is finished last.

Nothing here imports MLflow until an export starts (the ``mlflow`` extra).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pandas as pd

from mlbench.errors import UsageError
from mlbench.reporting.stats import accuracy_interval
from mlbench.results.record import EPOCH_FIELDS
from mlbench.results.run import Run
from mlbench.results.table import COLUMNS, params_of

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

EXPERIMENT = "mlbench"  # the default experiment: every exported run side by side
INSTALL = "pip install 'mlbench[mlflow]'"
RUN_ID_TAG = "mlbench.run_id"  # the parent's: which saved run it is
JOB_ID_TAG = "mlbench.job_id"  # a child's: which job it is
PARENT_TAG = "mlflow.parentRunId"  # MLflow's own nesting, as mlflow.start_run(nested=True)
SERVER_TIMEOUT = 10  # seconds a tracking server has to answer the first request

# Results-table columns that say how a job was set up, not what it measured: params.
SETTING_COLUMNS = ("repeat", "seed", "train_size", "test_size", "validation_size", "threads",
                   "framework_threads", "usable_cores", "target_accuracy", "variant", "sweep")
# Columns the MLflow run holds otherwise (its name, start time, the params one by one), or
# that mean nothing outside the machine (a process id).
LEFT_OUT = ("run", "job_id", "started_at", "params", "worker_pid")
METRIC_COLUMNS = [name for name, dtype, *_ in COLUMNS if dtype in ("float64", "Int64")
                  and name not in SETTING_COLUMNS + LEFT_OUT]
TAG_COLUMNS = [name for name, dtype, *_ in COLUMNS if name not in
               (*METRIC_COLUMNS, *SETTING_COLUMNS, *LEFT_OUT)]
JOB_STATUS = {"ok": "FINISHED", "skipped": "FINISHED"}  # else FAILED: failed, timeout, crashed


class ExportFailed(Exception):
    """The tracker could not be reached, or refused the export; the run folder is untouched."""


@dataclass(frozen=True)
class Exported:
    """What one export did."""

    run: str  # the run folder's name
    tracking_uri: str
    experiment: str
    experiment_id: str
    parent_id: str
    added: tuple[str, ...]  # jobs exported now
    kept: int  # jobs found exported before
    artifacts: tuple[str, ...]  # the report's files attached to the parent now
    report_missing: bool  # the run folder has no report to attach

    @property
    def already(self) -> bool:
        """Exported before, whole: nothing was added."""
        return not self.added and not self.artifacts

    @property
    def where(self) -> str:
        """The parent's page where the tracker is a server, else the tracking URI."""
        if urlsplit(self.tracking_uri).scheme in ("http", "https"):
            return (f"{self.tracking_uri.rstrip('/')}/#/experiments/{self.experiment_id}"
                    f"/runs/{self.parent_id}")
        return self.tracking_uri

    def message(self) -> str:
        """One line on what was done, for the command to print."""
        place = f"MLflow run {self.parent_id} (experiment {self.experiment!r}, {self.where})"
        if self.already:
            return f"{self.run} is already in {place} with its {_jobs(self.kept)}; nothing exported"
        if not self.added:  # only the report was missing there
            return (f"attached the report of {self.run} to {place}; its {_jobs(self.kept)} "
                    "were there already")
        before = f", beside {self.kept} exported before" if self.kept else ""
        return f"exported {self.run} to {place}: {_jobs(len(self.added))}{before}"


def check_tracker(tracking_uri: str | None) -> str:
    """The tracking URI an export will use (``None``: MLflow's own default, from
    MLFLOW_TRACKING_URI or its local store in the current folder), once MLflow is installed
    and a tracking server there answers; a one-line UsageError or ExportFailed if not."""
    try:
        import mlflow
    except ImportError:
        raise UsageError(f"exporting to MLflow needs MLflow: {INSTALL}") from None
    uri = tracking_uri or mlflow.get_tracking_uri()
    if urlsplit(uri).scheme in ("http", "https"):
        import requests

        # Any answer will do: MLflow's own client would retry a dead server for minutes.
        try:
            requests.get(f"{uri.rstrip('/')}/health", timeout=SERVER_TIMEOUT)
        except requests.RequestException as error:
            raise ExportFailed(f"no MLflow tracking server answers at {uri} "
                               f"({_reason(error)}); start one (mlflow server) or give "
                               "another tracking URI") from None
    return uri


def export_run(run: Run, tracking_uri: str | None = None,
               experiment: str | None = None) -> Exported:
    """Export a saved run to MLflow at ``tracking_uri`` (None: MLflow's default), in
    ``experiment`` (None: "mlbench", made if missing). Raises UsageError (MLflow not
    installed) or ExportFailed (the tracker unreachable or refusing), each one line."""
    uri = check_tracker(tracking_uri)
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from requests import RequestException

    try:
        with _quiet_mlflow():
            return _Export(MlflowClient(tracking_uri=uri), uri, run).to(experiment or EXPERIMENT)
    except (MlflowException, OSError, RequestException) as error:
        raise ExportFailed(f"MLflow at {uri} did not take {run.name}: "
                           f"{_first_line(error)}") from error


def run_identity(run: Run) -> str:
    """What names a saved run wherever its folder is: its name and start time."""
    started = run.raw_info.get("started_at") or ""
    return hashlib.sha256(f"{run.name}\0{started}".encode()).hexdigest()[:24]


class _Export:
    """One export of ``run`` through ``client``."""

    def __init__(self, client: MlflowClient, uri: str, run: Run) -> None:
        self.client, self.uri, self.run = client, uri, run
        machine, info = run.info.machine, run.info
        self.tags = _texts({"dataset": info.dataset.name, "commit": machine.git_commit,
                            "mlflow.source.git.commit": machine.git_commit,
                            "cpu": machine.cpu, "machine": machine.platform,
                            "gpus": ", ".join(machine.gpus), "mlbench_version": info.mlbench})

    def to(self, experiment: str) -> Exported:
        experiment_id = self._experiment(experiment)
        parent, fresh = self._parent(experiment_id)
        parent_id = parent.info.run_id
        kept = self._exported_jobs(experiment_id, parent_id)
        histories = {job: rows for job, rows in self.run.history.groupby("job_id")}
        added = []
        for row in self.run.frame.to_dict("records"):
            if row["job_id"] not in kept:
                self._job(experiment_id, parent_id, row, histories.get(row["job_id"]))
                added.append(str(row["job_id"]))
        # The report as it is now: the first time, after new jobs, or where it was missing.
        unfinished = fresh or parent.info.status == "RUNNING"
        artifacts = self._report(parent_id, everything=bool(added) or unfinished)
        if added or unfinished:
            self.client.set_terminated(
                parent_id, "KILLED" if self.run.info.complete is False else "FINISHED",
                end_time=_ms(self.run.info.finished_at))
        return Exported(self.run.name, self.uri, experiment, experiment_id, parent_id,
                        tuple(added), len(kept), artifacts, not self._report_files())

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is None:
            return str(self.client.create_experiment(name))
        if found.lifecycle_stage == "deleted":
            raise ExportFailed(f"experiment {name!r} at {self.uri} is deleted; restore it "
                               "(mlflow experiments restore) or give another experiment")
        return str(found.experiment_id)

    def _parent(self, experiment_id: str) -> tuple[Any, bool]:
        """The run's parent in MLflow, found or made, and whether it was made now."""
        identity = run_identity(self.run)
        found = [parent for parent in
                 self._search(experiment_id, f"tags.`{RUN_ID_TAG}` = '{identity}'")
                 if PARENT_TAG not in parent.data.tags]
        if found:
            return found[0], False
        parent = self.client.create_run(
            experiment_id, start_time=_ms(self.run.info.started_at), run_name=self.run.name,
            tags={**self.tags, RUN_ID_TAG: identity,
                  "mlbench.run_dir": str(self.run.path.resolve())})
        config = self.run.raw_info.get("config")
        settings = config if isinstance(config, Mapping) else {}
        self.client.log_batch(parent.info.run_id, params=_params(settings))
        return parent, True

    def _exported_jobs(self, experiment_id: str, parent_id: str) -> set[str]:
        """The jobs already under the parent; one an earlier export left unfinished is
        deleted, to be exported again."""
        kept = set()
        for child in self._search(experiment_id, f"tags.`{PARENT_TAG}` = '{parent_id}'"):
            job = child.data.tags.get(JOB_ID_TAG)
            if child.info.status in ("FINISHED", "FAILED", "KILLED") and job:
                kept.add(job)
            else:
                self.client.delete_run(child.info.run_id)
        return kept

    def _job(self, experiment_id: str, parent_id: str, row: Mapping[Any, Any],
             history: pd.DataFrame | None) -> None:
        # A job that never started (skipped) is dated by its run, else by the export.
        started = (_ms(_value(row["started_at"])) or _ms(self.run.info.started_at)
                   or round(time.time() * 1000))
        tags = {**self.tags, **_texts({name: row[name] for name in TAG_COLUMNS}),
                PARENT_TAG: parent_id, JOB_ID_TAG: str(row["job_id"])}
        child = self.client.create_run(experiment_id, start_time=started, tags=tags,
                                       run_name=str(row["job_id"]))
        params = {**params_of(row["params"]),
                  **{f"mlbench.{name}": row[name] for name in SETTING_COLUMNS}}
        self.client.log_batch(child.info.run_id, params=_params(params),
                              metrics=_metrics(row, history, started))
        seconds = _value(row["job_seconds"])
        self.client.set_terminated(
            child.info.run_id, JOB_STATUS.get(str(row["status"]), "FAILED"),
            end_time=started + round(seconds * 1000) if seconds else None)

    def _report_files(self) -> list[tuple[str, str]]:
        """The report's files in the run folder: (local path, name in MLflow)."""
        folder = self.run.folder
        files = [(str(path), path.name) for path in (folder.html, folder.markdown)
                 if path.is_file()]
        return files + [(str(path), folder.relative(path))
                        for path in sorted(folder.charts_dir.glob("*")) if path.is_file()]

    def _report(self, parent_id: str, everything: bool) -> tuple[str, ...]:
        """Attach the report to the parent: all of it, or the files it lacks."""
        have = set() if everything else self._artifact_names(parent_id)
        attached = []
        for path, name in self._report_files():
            if name not in have:
                folder, _, _ = name.rpartition("/")
                self.client.log_artifact(parent_id, path, folder or None)
                attached.append(name)
        return tuple(attached)

    def _artifact_names(self, run_id: str, folder: str | None = None) -> set[str]:
        names: set[str] = set()
        for item in self.client.list_artifacts(run_id, folder):
            names |= self._artifact_names(run_id, item.path) if item.is_dir else {item.path}
        return names

    def _search(self, experiment_id: str, where: str) -> list[Any]:
        """Every active MLflow run that matches, oldest first, across pages."""
        runs: list[Any] = []
        token = None
        while True:
            page = self.client.search_runs([experiment_id], where, max_results=1000,
                                           order_by=["attributes.start_time ASC"],
                                           page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                return runs


def _metrics(row: Mapping[Any, Any], history: pd.DataFrame | None, at: int) -> list[Metric]:
    """One job's metrics: its numeric columns, the accuracy's interval, its history by step."""
    from mlflow.entities import Metric

    values = {name: _value(row[name]) for name in METRIC_COLUMNS}
    accuracy, images = values.get("accuracy"), _value(row["test_size"])
    if accuracy is not None and images:
        low, high = accuracy_interval(accuracy, images)
        values |= {"accuracy_ci_low": low, "accuracy_ci_high": high}
    metrics = [Metric(name, float(value), at, 0) for name, value in values.items()
               if value is not None]
    for step, epoch in enumerate((history if history is not None else pd.DataFrame())
                                 .to_dict("records"), start=1):
        metrics += [Metric(name, float(value), at, step) for name in EPOCH_FIELDS
                    if (value := _value(epoch.get(name))) is not None]
    return metrics


def _params(values: Mapping[str, Any]) -> list[Param]:
    from mlflow.entities import Param
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

    return [Param(key, text[:MAX_PARAM_VAL_LENGTH]) for key, text in _texts(values).items()]


def _texts(values: Mapping[str, Any]) -> dict[str, str]:
    """The values that are there, as MLflow's text: strings as they are, booleans
    true/false, anything else as JSON; an empty list or dict is left out, as None is."""
    from mlflow.utils.validation import MAX_TAG_VAL_LENGTH

    texts = {}
    for key, raw in values.items():
        value = _value(raw)
        if value is None or value in ("", [], {}):
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
        texts[str(key)] = text[:MAX_TAG_VAL_LENGTH]
    return texts


def _value(value: Any) -> Any:
    """A table cell as a plain Python value, None where it is empty (None, NaN, pd.NA)."""
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") and not isinstance(value, str) else value


def _ms(timestamp: str | None) -> int | None:
    """An ISO 8601 time as MLflow's milliseconds since the epoch (None if not one)."""
    try:
        return round(datetime.fromisoformat(timestamp).timestamp() * 1000) if timestamp else None
    except ValueError:
        return None


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """While exporting, MLflow's INFO lines off stderr, and off stdout the two links it
    prints for every run it ends on a server (fetching the run again for them): the command
    says in one line what it did, with the link that matters."""
    from mlflow.environment_variables import MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT as links

    loggers = [logging.getLogger(name) for name in ("mlflow", "alembic")]
    levels = [logger.level for logger in loggers]
    before = os.environ.get(links.name)
    for logger in loggers:
        logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
    os.environ[links.name] = "true"
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        if before is None:
            del os.environ[links.name]
        else:
            os.environ[links.name] = before


def _reason(error: Exception) -> str:
    """Why a connection failed, in a few words (requests' message is a paragraph)."""
    found = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(error))
    if found:
        return found.group(1).strip().lower()
    return "no answer in time" if "timeout" in type(error).__name__.lower() else \
        type(error).__name__


def _jobs(count: int) -> str:
    return f"{count} job{'s' * (count != 1)}"


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
