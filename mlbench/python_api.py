"""The Python API of scripts and notebooks, exposed as ``mlbench.run``, ``mlbench.resume`` and
``mlbench.load``: each gives a saved run (``reporting.saved.SavedRun``).

Outside the layers because it joins two that may not import each other: the runner
(``running.api``) writes the run folder, and the reporting layer reads it back as the object
a notebook shows. ``progress=True`` is the command's own display (``cli.live_progress``).
"""

from __future__ import annotations

import os
from typing import Any

import pandas as pd

from mlbench.reporting.saved import SavedRun
from mlbench.running import api, settings
from mlbench.running.progress import Progress


def run(*args: Any, **kwargs: Any) -> SavedRun | pd.DataFrame:
    """Train and test each selected model on ``dataset`` and return the saved run:
    ``.frame`` is the results table (a DataFrame), ``.report()`` writes the report,
    ``.compare(other)`` sets it beside another run; a notebook shows its Summary and
    results. Bad inputs raise UsageError before anything runs.

    Takes the settings of ``mlbench run``, by the same names (``mlbench.running.settings``
    declares them): ``--train-size 1000,5000`` is ``train_size=[1000, 5000]``, a repeatable
    option a list (``--param``: ``params=["svm.C=10"]`` or ``{"svm": {"C": 10}}``; ``--sweep``:
    ``sweep={"svm": {"C": [1, 10]}}``; ``--plugin``: ``plugins=[...]``). ``estimate=True``
    runs nothing in full and writes nothing: it returns the table of estimated times instead.
    ``progress=True`` shows the command's progress and table (quiet by default)."""
    kwargs["progress"] = _progress(kwargs.get("progress"))
    frame = api.run(*args, **kwargs)
    if kwargs.get("estimate"):  # keyword-only: the estimate table, and no run folder
        return frame
    return load(frame.attrs["run_dir"])


run.__signature__ = settings.signature()  # type: ignore[attr-defined]


def resume(run_dir: str | os.PathLike[str], progress: bool | Progress | None = None
           ) -> SavedRun:
    """Finish a run that was interrupted (only the jobs that have no result yet); the saved
    run, as ``run`` returns it."""
    frame = api.resume(run_dir, _progress(progress))
    return load(frame.attrs["run_dir"])


def load(path: str | os.PathLike[str], label: str | None = None) -> SavedRun:
    """The run that ``mlbench run`` saved in ``path``, or a UsageError in one line saying why
    ``path`` is not one. ``label`` names it in comparisons (default: its folder's name); a
    damaged job record is named in one warning and left out."""
    saved = SavedRun.open(path, warn=Progress().warn, label=label)
    saved.info  # noqa: B018 - run.json read now: a folder that is no run fails here
    return saved


def _progress(value: bool | Progress | None) -> Progress | None:
    """``True``: the command's display; ``False`` or ``None``: quiet; else as given."""
    if value is True:
        from mlbench.cli.live_progress import ConsoleProgress

        return ConsoleProgress()
    return None if value is False else value
