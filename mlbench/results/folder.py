"""The run folder: atomic writes, and reading and writing one run's files.

A run folder holds run.json (settings, machine, dataset), jobs/<job>.json (one record per
finished job, written the moment it finishes), predictions/<job>.npz, test_labels.npy,
test_images.npz (for the reports' galleries), results.csv / results.parquet (and history.csv)
rebuilt from the job records after every job, and the report: report.md, report.html and
charts/. Every path of a run is named here, so no other module builds one by hand.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from mlbench.errors import UsageError
from mlbench.results.record import read_history
from mlbench.results.table import HISTORY_COLUMNS, to_frame

CHARTS = "charts"  # the charts' folder, beside the report that shows them
Warn = Callable[[str], None]  # where a reader of run folders sends a one-line warning


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _umask()


def write_atomic(path: Path, write: Callable[[Path], Any]) -> None:
    """Write through a temporary file in the same folder, then rename: readers (and a crash
    mid-write) only ever see the old file or the complete new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    os.chmod(temporary, 0o666 & ~UMASK)  # mkstemp's 0600 would hide shared reports
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def write_json(path: Path, data: Any) -> None:
    write_atomic(path, lambda p: p.write_text(json.dumps(data, indent=2, default=str) + "\n"))


class JobRecords(NamedTuple):
    """The job records of a run folder that parse, and the files that do not."""

    records: list[dict[str, Any]]
    damaged: list[Path]  # jobs/<job>.json cut short or overwritten: rerun by --resume


class DocumentFolder:
    """A folder that holds one document, written twice (NAME.md and NAME.html), and the
    charts it shows: a run's report, or a comparison."""

    document = ""  # the document's file name, without its suffix

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def charts_dir(self) -> Path:
        return self.path / CHARTS

    def chart(self, name: str) -> Path:
        return self.charts_dir / name

    @property
    def markdown(self) -> Path:
        return self.path / f"{self.document}.md"

    @property
    def html(self) -> Path:
        return self.path / f"{self.document}.html"

    def relative(self, path: Path) -> str:
        """A path inside the folder as its own documents name it: charts/x.png."""
        return path.relative_to(self.path).as_posix()

    def create(self, advice: str, what: str = "") -> None:
        """Make the folder and prove it writable (a hidden probe written and removed, the
        check the system itself applies), or a one-line UsageError: why not, and ``advice``
        (``what``: what would be written, "the report ")."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write-test"
            probe.touch()
            probe.unlink()
        except OSError as error:
            raise UsageError(f"cannot write {what}to {self.path}: "
                             f"{error.strerror or error}; {advice}") from error


class ReportFolder(DocumentFolder):
    """A folder that holds a run's report (report.md, report.html, charts/): the run's own
    folder, or one the user names (``mlbench report RUN --output-dir DIR``)."""

    document = "report"


class RunFolder(ReportFolder):
    """Reads and writes one run's folder; the one place that knows its layout."""

    @classmethod
    def existing(cls, path: str | os.PathLike[str]) -> RunFolder:
        """A folder that mlbench run made, or a one-line UsageError saying why it is not."""
        folder = cls(Path(path))
        if not folder.path.is_dir():
            raise UsageError(f"{path} is not a folder; give a run folder that mlbench run "
                             "made, e.g. results/<run>")
        if not folder.run_json.is_file():
            raise UsageError(f"{path} is not a run folder (no run.json); give a folder that "
                             "mlbench run made, e.g. results/<run>")
        return folder

    # -- the layout --------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def run_json(self) -> Path:
        return self.path / "run.json"

    @property
    def jobs_dir(self) -> Path:
        return self.path / "jobs"

    def job_record(self, job_id: str) -> Path:
        return self.jobs_dir / f"{job_id}.json"

    @property
    def predictions_dir(self) -> Path:
        return self.path / "predictions"

    def predictions(self, job_id: str) -> Path:
        return self.predictions_dir / f"{job_id}.npz"

    @property
    def test_labels_file(self) -> Path:
        return self.path / "test_labels.npy"

    @property
    def test_images_file(self) -> Path:
        return self.path / "test_images.npz"

    @property
    def results_csv(self) -> Path:
        return self.path / "results.csv"

    @property
    def results_parquet(self) -> Path:
        return self.path / "results.parquet"

    @property
    def history_csv(self) -> Path:
        return self.path / "history.csv"

    # -- run.json ----------------------------------------------------------------------

    def read_run(self) -> dict[str, Any]:
        return dict(json.loads(self.run_json.read_text()))

    def write_run(self, info: dict[str, Any]) -> None:
        write_json(self.run_json, info)

    # -- job records -------------------------------------------------------------------

    def read_jobs(self, warn: Warn | None = None) -> JobRecords:
        """Every job record, in job-id order; one that does not parse (a full disk or a
        crash outside mlbench cut it short) is named in ``damaged``, and through ``warn`` in
        one line, instead of raising."""
        records, damaged = [], []
        for path in sorted(self.jobs_dir.glob("*.json")):
            record = _read_record(path)
            if record is not None:
                records.append(record)
                continue
            damaged.append(path)
            if warn is not None:
                warn(self.damaged_warning(path))
        return JobRecords(records, damaged)

    def records(self) -> list[dict[str, Any]]:
        """The job records that parse (see ``read_jobs`` for the ones that do not)."""
        return self.read_jobs().records

    def finished_jobs(self) -> set[str]:
        """The jobs whose record parses: a damaged record's job is not done, so --resume
        runs it again."""
        damaged = {path.stem for path in self.read_jobs().damaged}
        return {path.stem for path in self.jobs_dir.glob("*.json")} - damaged

    def damaged_warning(self, path: Path) -> str:
        """One line on a damaged job record: which file, and how to get the job back."""
        return (f"skipped {self.relative(path)}: not a complete job record (truncated?); "
                f"mlbench run --resume {self.path} reruns it")

    def remove_temporaries(self) -> None:
        """Delete what write_atomic leaves behind when a run is killed mid-write: hidden
        files beside the real ones (the real ones are whole, old or new)."""
        for path in self.path.rglob(".*"):
            if path.is_file():
                path.unlink(missing_ok=True)

    def save_job(self, record: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Keep one finished job: predictions first, so a record never points at nothing."""
        if arrays:
            write_atomic(self.predictions(record["job_id"]),
                         lambda p: _save_arrays(p, np.savez_compressed, **arrays))
        write_json(self.job_record(record["job_id"]), record)
        self.write_table()

    # -- test set and predictions ------------------------------------------------------

    def save_test_labels(self, labels: np.ndarray) -> None:
        write_atomic(self.test_labels_file, lambda p: _save_arrays(p, np.save, labels))

    def save_test_images(self, images: np.ndarray, pixel_max: float) -> None:
        """The test images as stored (uint8 for the built-in datasets), in the order of
        test_labels.npy, so a report can show digits without the dataset. Not compressed:
        compressing MNIST's 10,000 test images takes a quarter of a second of the run, for
        6 MB of disk."""
        write_atomic(self.test_images_file, lambda p: _save_arrays(
            p, np.savez, images=np.asarray(images), pixel_max=np.float64(pixel_max)))

    def test_labels(self) -> np.ndarray | None:
        path = self.test_labels_file
        return np.load(path, allow_pickle=False) if path.exists() else None

    def test_images(self) -> tuple[np.ndarray, float] | None:
        """The saved test images and the pixel value that is full white; None for a run that
        saved none (made before mlbench kept them)."""
        path = self.test_images_file
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as saved:
            return saved["images"], float(saved["pixel_max"])

    def saved_arrays(self, job_id: str,
                     names: tuple[str, ...] | None = None) -> dict[str, np.ndarray] | None:
        """One job's saved arrays (all, or those of ``names`` it has), or None if not saved."""
        path = self.predictions(job_id)
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as saved:
            return {name: saved[name] for name in (names or saved.files) if name in saved}

    def predicted_labels(self, job_id: str) -> np.ndarray | None:
        """The saved predicted label of every test image for one job, or None if not saved."""
        arrays = self.saved_arrays(job_id, ("predicted",))  # not the probabilities too
        return None if not arrays else np.asarray(arrays["predicted"])

    # -- the results table -------------------------------------------------------------

    def table(self, records: list[dict[str, Any]] | None = None) -> pd.DataFrame:
        """The results table built from the job records (``records``: already read ones)."""
        chosen = self.records() if records is None else records
        return to_frame({**r, "run": self.name} for r in chosen)

    def history(self, records: list[dict[str, Any]] | None = None) -> pd.DataFrame:
        """Per-epoch training history of every job that kept one, in long form."""
        chosen = self.records() if records is None else records
        rows = [{"job_id": r["job_id"], "model": r["model"], "device": r["device"],
                 "repeat": r["repeat"], **epoch.to_json()}
                for r in chosen for epoch in read_history(r.get("history") or [])]
        return pd.DataFrame(rows, columns=HISTORY_COLUMNS)

    def write_table(self, records: list[dict[str, Any]] | None = None) -> pd.DataFrame:
        """Rewrite results.csv, results.parquet and history.csv from the job records
        (``records``: already read ones)."""
        records = self.records() if records is None else records
        frame = self.table(records)
        write_atomic(self.results_csv, lambda p: frame.to_csv(p, index=False))
        write_atomic(self.results_parquet, lambda p: frame.to_parquet(p, index=False))
        history = self.history(records)
        if not history.empty:
            write_atomic(self.history_csv, lambda p: history.to_csv(p, index=False))
        return frame


class ComparisonFolder(DocumentFolder):
    """The folder ``mlbench compare`` writes: compare.md, compare.html and charts/."""

    document = "compare"


def _read_record(path: Path) -> dict[str, Any] | None:
    """A job record, or None where the file is not a whole one."""
    try:
        record = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
        return None
    if not isinstance(record, dict) or not {"job_id", "model", "status"} <= record.keys():
        return None
    return record


def _save_arrays(path: Path, save: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    # Through a file object: given a path, numpy would append its own suffix to the name.
    with open(path, "wb") as stream:
        save(stream, *args, **kwargs)


