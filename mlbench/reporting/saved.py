"""A saved run as Python and notebooks use it (``mlbench.load``, ``mlbench.run``): the
results layer's ``Run`` with what reporting adds, its report, a comparison with other runs
and a notebook display that is the report's first screen (its Summary and Results, drawn by
the report's own code, never a second version of it).

The report and the comparison are reached through ``_report``, ``_first_screen`` and
``_comparison`` below only, so a change to their signatures is adapted in one place.
"""

from __future__ import annotations

import copy
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mlbench.errors import UsageError
from mlbench.reporting import compare, compare_report, report
from mlbench.reporting.document import Document, Section, html_fragment
from mlbench.reporting.report import Report
from mlbench.results.run import Run


class SavedRun(Run):
    """One saved run folder: ``frame`` is its results table (a DataFrame, one row per job),
    ``info`` its run.json; ``report()`` writes its report, ``compare(other)`` sets it beside
    other runs, and a notebook shows it as its report's Summary and Results."""

    def report(self) -> Report:
        """Write report.html, report.md and the charts into the run folder; their paths."""
        return _report(self)

    def compare(self, *others: Run | str | os.PathLike[str]) -> SavedComparison:
        """This run against each of ``others`` (saved runs or their folders), as
        ``mlbench compare`` judges them; nothing is written until ``.write()``."""
        if not others:
            raise UsageError("compare needs another run, e.g. run.compare(mlbench.load("
                             "'results/<other-run>'))")
        return SavedComparison(_comparison([self, *(
            other if isinstance(other, Run) else SavedRun.open(other, self._warn)
            for other in others)]))

    def _repr_html_(self) -> str:
        document = Document(f"mlbench run: {self.name} ({self.path})", _first_screen(self))
        return html_fragment(document, self.path, _anchor(self.name))

    # -- what mlbench.run returned before: its results table -------------------------------

    def __getitem__(self, key: Any) -> Any:
        _table_asked("[...]")
        return self.frame[key]

    def __len__(self) -> int:
        _table_asked("len()")
        return len(self.frame)

    def __bool__(self) -> bool:  # a run with no job yet is still a run (not len() == 0)
        return True

    def __getattr__(self, name: str) -> Any:
        # Only the table's own public names, so nothing of this object's (or of pickle's
        # and IPython's underscore probes) ever reaches the table.
        if name.startswith("_") or not hasattr(pd.DataFrame, name):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        _table_asked(f".{name}")
        return getattr(self.frame, name)


def _table_asked(how: str) -> None:
    warnings.warn(f"mlbench.run returns a saved run now, not its table: use run.frame{how} "
                  f"instead of run{how}", DeprecationWarning, stacklevel=3)


@dataclass
class SavedComparison:
    """Saved runs side by side (``SavedRun.compare``): ``summary`` (per run, model and
    device), ``deltas`` (each later run against the first), ``lines`` (the headline);
    ``write()`` writes compare.html and compare.md with their charts."""

    comparison: compare.Comparison

    @property
    def summary(self) -> pd.DataFrame:
        return self.comparison.summary

    @property
    def deltas(self) -> pd.DataFrame:
        return self.comparison.deltas

    @property
    def lines(self) -> list[str]:
        return compare_report.summary_lines(self.comparison)

    def write(self, output: Path | str | None = None) -> Path:
        """Write the comparison into ``output`` (by default beside the last run, as
        ``mlbench compare`` does); the folder written."""
        return compare_report.write_report(self.comparison, output).path

    def __repr__(self) -> str:
        return f"SavedComparison({' vs '.join(self.comparison.labels)}: {'; '.join(self.lines)})"

    def _repr_html_(self) -> str:
        document = compare_report.comparison_document(self.comparison, figures=[])
        later = {f"{label} against {self.comparison.labels[0]}"
                 for label in self.comparison.labels[1:]}
        for section in document.sections:  # as a report: what was found open, the rest folded
            section.folded = section.title not in {"Summary", "Fail-on", *later}
        root = self.comparison.runs[-1].folder.path
        return html_fragment(document, root, _anchor("-".join(self.comparison.labels)))


def _anchor(name: str) -> str:
    return "mlbench-" + re.sub(r"[^A-Za-z0-9_-]+", "-", name)


# -- the reporting functions a saved run calls (adapt here when their signatures change) ---

def _report(run: Run) -> Report:
    return report.build_report(run)


def _first_screen(run: Run) -> list[Section]:
    return report.first_screen(report.in_report_order(run.frame), run)


def _comparison(runs: list[Run]) -> compare.Comparison:
    # Each run under its label; where two share one (folders of the same name), its path.
    labels = [run.label for run in runs]
    if len(set(labels)) < len(labels):
        labels = [str(run.path) for run in runs]
    labelled = []
    for run, label in zip(runs, labels, strict=True):
        twin = copy.copy(run)  # the same files already read, under the label given here
        twin.label = label
        labelled.append(twin)
    return compare.compare_runs(labelled)
