"""A saved run as one object: ``Run`` reads a run folder's files once each, on first use.

The job records (jobs/*.json) are the source of truth; results.parquet, results.csv and
history.csv are derived from them, so a missing or damaged table is rebuilt, never trusted
over the records. Every reader of a saved run (the report, its verdicts and significance
tests, ``compare``, the terminal, the public ``mlbench.load``) takes a ``Run`` instead of
opening the folder's files itself, so each file is read at most once per process.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from mlbench.errors import UsageError
from mlbench.results.folder import RunFolder, Warn
from mlbench.results.run_info import RunInfo
from mlbench.results.table import read_table


class Run:
    """One saved run folder, each of its files read at most once (on first use)."""

    def __init__(self, folder: RunFolder, warn: Warn | None = None,
                 label: str | None = None) -> None:
        self.folder = folder
        self.label = label or folder.name  # how tables and comparisons name this run
        self._warn = warn
        self._arrays: dict[str, dict[str, np.ndarray] | None] = {}

    @classmethod
    def open(cls, path: str | os.PathLike[str], warn: Warn | None = None,
             label: str | None = None) -> Self:
        """A folder that ``mlbench run`` made, or a one-line UsageError saying why not.
        ``warn`` receives one line per damaged job record (left out, named)."""
        return cls(RunFolder.existing(path), warn, label)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    @property
    def path(self) -> Path:
        return self.folder.path

    @property
    def name(self) -> str:
        return self.folder.name

    # -- run.json and the job records ---------------------------------------------------

    @cached_property
    def raw_info(self) -> dict[str, Any]:
        """run.json as saved."""
        try:
            return self.folder.read_run()
        except (OSError, ValueError) as error:
            raise UsageError(f"{self.path} cannot be read as a run folder: its run.json "
                             f"is unreadable ({error})") from error

    @cached_property
    def info(self) -> RunInfo:
        """run.json, typed."""
        return RunInfo.from_json(self.raw_info)

    @cached_property
    def _jobs(self) -> tuple[list[dict[str, Any]], list[Path]]:
        jobs = self.folder.read_jobs(self._warn)
        return jobs.records, jobs.damaged

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every job record that parses, in job-id order."""
        return self._jobs[0]

    @property
    def damaged(self) -> list[Path]:
        """Job records that do not parse (already named through ``warn``)."""
        return self._jobs[1]

    # -- derived tables -----------------------------------------------------------------

    @cached_property
    def frame(self) -> pd.DataFrame:
        """The results table: every job, any status, built from the job records; its folder
        in ``attrs["run_dir"]``, as the table ``mlbench.run`` returned always had it."""
        frame = self.folder.table(self.records)
        frame.attrs["run_dir"] = str(self.path)
        return frame

    @cached_property
    def history(self) -> pd.DataFrame:
        """Per-epoch history of every job that kept one, in long form."""
        return self.folder.history(self.records)

    def stale_tables(self) -> list[Path]:
        """The derived tables (results.parquet, results.csv) that are missing, unreadable
        or hold other jobs (or statuses) than the records do."""
        ours = _jobs_and_statuses(self.frame)
        stale = []
        for path in (self.folder.results_parquet, self.folder.results_csv):
            try:
                saved = _jobs_and_statuses(read_table(path))
            except Exception:  # any file pandas or pyarrow cannot read is simply stale
                saved = None
            if saved != ours and (self.records or path.exists()):
                stale.append(path)
        return stale

    def rebuild_tables(self) -> list[Path]:
        """Rewrite stale derived tables from the job records; the ones rewritten. Nothing
        while a job record is damaged: the tables' row of that job is then its only copy
        (``--resume`` reruns the job and rewrites them). Raises OSError where the folder
        cannot be written."""
        stale = [] if self.damaged else self.stale_tables()
        if stale:
            self.folder.write_table(self.records)
        return stale

    def warn(self, line: str) -> None:
        """One line where this run's warnings go (given to ``open``; nowhere by default)."""
        if self._warn is not None:
            self._warn(line)

    # -- arrays -------------------------------------------------------------------------

    def arrays(self, job_id: str) -> dict[str, np.ndarray] | None:
        """One job's saved arrays (predicted labels, probabilities), read once; None if the
        job saved none."""
        if job_id not in self._arrays:
            self._arrays[job_id] = self.folder.saved_arrays(job_id)
        return self._arrays[job_id]

    def predicted_labels(self, job_id: str) -> np.ndarray | None:
        """The predicted label of every test image for one job, or None if not saved."""
        arrays = self.arrays(job_id)
        return None if not arrays or "predicted" not in arrays else arrays["predicted"]

    @cached_property
    def test_labels(self) -> np.ndarray | None:
        return self.folder.test_labels()

    @cached_property
    def test_images(self) -> tuple[np.ndarray, float] | None:
        """The saved test images and the pixel value of full white (None: none saved)."""
        return self.folder.test_images()


def _jobs_and_statuses(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """Which jobs a results table holds, and how each ended: what says it is up to date."""
    return sorted(zip(frame["job_id"].astype(str), frame["status"].astype(str), strict=True))
