"""How a run reports what it is doing. The base class is quiet (the Python API's default);
the CLI's console display (mlbench.cli.live_progress) overrides each step."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pandas as pd

from mlbench.running.jobs import JobSpec, Phase


class Progress:
    show_downloads = False

    def warn(self, message: str) -> None:
        print(f"mlbench: warning: {message}", file=sys.stderr, flush=True)

    def begin(self, run_dir: Path, total: int, already_done: int) -> None:
        """The run folder is ready and ``total`` jobs are about to run."""

    def planned(self, specs: list[JobSpec], jobs_at_once: int) -> None:
        """The jobs about to run (after ``begin``), ``jobs_at_once`` at a time."""

    def started(self, spec: JobSpec) -> None:
        """A job was handed to a worker."""

    def epoch(self, spec: JobSpec, epochs: int) -> None:
        """A running job's model has ended ``epochs`` epochs (models that keep a history_,
        local executor only)."""

    def phase(self, spec: JobSpec, phase: Phase) -> None:
        """A running job began ``phase``: start-up as it is handed to a worker, then fit,
        predict and finishing (``jobs.PHASES``), each seen within half a second, so a shorter
        one may go untold (local executor only)."""

    def finished(self, record: dict[str, Any]) -> None:
        """A job ended (any status) and its record is saved."""

    def interrupted(self, run_dir: Path) -> None:
        """The run was stopped by the user; finished jobs are saved."""

    def end(self, results: pd.DataFrame) -> None:
        """Every job has a record."""
