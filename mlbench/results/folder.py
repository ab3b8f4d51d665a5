"""The run folder: atomic writes, and reading and writing one run's files.

A run folder holds run.json (settings, machine, dataset), jobs/<job>.json (one record per
finished job, written the moment it finishes), predictions/<job>.npz, test_labels.npy,
test_images.npz (for the reports' galleries), and results.csv / results.parquet rebuilt from
the job records after every job.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlbench.errors import UsageError
from mlbench.results.table import HISTORY_COLUMNS, to_frame


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


class RunFolder:
    """Reads and writes one run's folder."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

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

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def run_json(self) -> Path:
        return self.path / "run.json"

    def read_run(self) -> dict[str, Any]:
        return dict(json.loads(self.run_json.read_text()))

    def write_run(self, info: dict[str, Any]) -> None:
        write_json(self.run_json, info)

    def records(self) -> list[dict[str, Any]]:
        folder = self.path / "jobs"
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]

    def remove_temporaries(self) -> None:
        """Delete what write_atomic leaves behind when a run is killed mid-write: hidden
        files beside the real ones (the real ones are whole, old or new)."""
        for path in self.path.rglob(".*"):
            if path.is_file():
                path.unlink(missing_ok=True)

    def finished_jobs(self) -> set[str]:
        return {p.stem for p in (self.path / "jobs").glob("*.json")}

    def save_job(self, record: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Keep one finished job: predictions first, so a record never points at nothing."""
        if arrays:
            path = self.path / "predictions" / f"{record['job_id']}.npz"
            write_atomic(path, lambda p: _save_arrays(p, np.savez_compressed, **arrays))
        write_json(self.path / "jobs" / f"{record['job_id']}.json", record)
        self.write_table()

    def save_test_labels(self, labels: np.ndarray) -> None:
        write_atomic(self.path / "test_labels.npy", lambda p: _save_arrays(p, np.save, labels))

    def save_test_images(self, images: np.ndarray, pixel_max: float) -> None:
        """The test images as stored (uint8 for the built-in datasets), in the order of
        test_labels.npy, so a report can show digits without the dataset."""
        write_atomic(self.path / "test_images.npz", lambda p: _save_arrays(
            p, np.savez_compressed, images=np.asarray(images), pixel_max=np.float64(pixel_max)))

    def test_labels(self) -> np.ndarray | None:
        path = self.path / "test_labels.npy"
        return np.load(path, allow_pickle=False) if path.exists() else None

    def test_images(self) -> tuple[np.ndarray, float] | None:
        """The saved test images and the pixel value that is full white; None for a run that
        saved none (made before mlbench kept them)."""
        path = self.path / "test_images.npz"
        if not path.exists():
            return None
        with np.load(path, allow_pickle=False) as saved:
            return saved["images"], float(saved["pixel_max"])

    def table(self) -> pd.DataFrame:
        return to_frame({**r, "run": self.name} for r in self.records())

    def history(self) -> pd.DataFrame:
        """Per-epoch training history of every job that kept one, in long form."""
        rows = [{"job_id": r["job_id"], "model": r["model"], "device": r["device"],
                 "repeat": r["repeat"], **epoch}
                for r in self.records() for epoch in r.get("history") or []]
        return pd.DataFrame(rows, columns=HISTORY_COLUMNS)

    def write_table(self) -> pd.DataFrame:
        frame = self.table()
        write_atomic(self.path / "results.csv", lambda p: frame.to_csv(p, index=False))
        write_atomic(self.path / "results.parquet", lambda p: frame.to_parquet(p, index=False))
        history = self.history()
        if not history.empty:
            write_atomic(self.path / "history.csv", lambda p: history.to_csv(p, index=False))
        return frame


def _save_arrays(path: Path, save: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    # Through a file object: given a path, numpy would append its own suffix to the name.
    with open(path, "wb") as stream:
        save(stream, *args, **kwargs)


