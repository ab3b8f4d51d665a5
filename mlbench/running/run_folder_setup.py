"""A new run's folder: named, checked writable, and never one that already holds something."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from mlbench.errors import UsageError
from mlbench.results.folder import RunFolder


def new_run_folder(output_dir: Path, name: str | None) -> RunFolder:
    """A fresh, writable run folder; an existing non-empty one is never reused silently."""
    if output_dir.exists() and not output_dir.is_dir():
        raise UsageError(f"output folder {output_dir} is a file; give a folder")
    if name is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        name, count = stamp, 1
        while (output_dir / name).exists():
            count += 1
            name = f"{stamp}-{count}"
    elif not name or "/" in name or name in (".", ".."):
        raise UsageError(f"run name {name!r} must be a plain folder name")
    path = output_dir / name
    folder = RunFolder(path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{path} is a file; choose another --name")
    if folder.run_json.exists():
        raise UsageError(f"{path} already holds a run; choose another --name or use "
                         f"--resume {path}")
    # Hidden names are mlbench's own temporary files, left by a run killed as it started.
    if path.exists() and any(not p.name.startswith(".") for p in path.iterdir()):
        raise UsageError(f"{path} is not empty and holds no mlbench run; choose another "
                         "--name or --output-dir")
    folder.create("choose another --output-dir")
    folder.remove_temporaries()
    return folder
