"""``mlbench compare --fail-on``: thresholds that turn a comparison's flagged regressions into
a failing exit for CI (``gate``), and what they cannot judge (disturbed jobs, nothing in
common, runs not like for like) into an inconclusive one; the comparison document's
Fail-on section (``fail_on_section``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from mlbench.errors import UsageError
from mlbench.reporting.compare import Comparison, flagged
from mlbench.reporting.compare_report import accuracy_change, accuracy_judged
from mlbench.reporting.document import Bullets, Section, Text, time_change

FAIL_ON_FORMS = ("accuracy:POINTS (e.g. accuracy:0.5), fit:PERCENT% or predict:PERCENT% "
                 "(e.g. fit:10%)")


@dataclass(frozen=True)
class Threshold:
    """One ``--fail-on``: ``accuracy`` (a drop, in points) or ``fit`` / ``predict`` (a
    slow-down, in percent), breached only by a difference also beyond chance or the noise."""

    measure: str
    limit: float

    def __str__(self) -> str:
        return (f"accuracy:{self.limit:g}" if self.measure == "accuracy"
                else f"{self.measure}:{self.limit:g}%")


def parse_fail_on(texts: tuple[str, ...] | list[str]) -> list[Threshold]:
    """``--fail-on`` values (repeatable, or comma-separated) as thresholds; a UsageError
    saying the accepted forms for any other."""
    thresholds = []
    for text in (part.strip() for given in texts for part in given.split(",")):
        match = re.fullmatch(r"(accuracy):(\d+(?:\.\d*)?)|(fit|predict):(\d+(?:\.\d*)?)%",
                             text)
        if not match:
            raise UsageError(f"--fail-on {text!r} is not a threshold; use {FAIL_ON_FORMS}")
        measure = match.group(1) or match.group(3)
        thresholds.append(Threshold(measure, float(match.group(2) or match.group(4))))
    return thresholds


class Gate(NamedTuple):
    """What ``--fail-on`` found: ``broken``, a line per breach (exit 5); ``undecided``, a line
    per threshold that could not be judged either way (exit 6 where nothing broke)."""

    broken: list[str]
    undecided: list[str]


def gate(comparison: Comparison, thresholds: list[Threshold],
         allow_unlike: bool = False) -> Gate:
    """Each threshold against each later run: broken by a model's accuracy lower than the
    first run's beyond chance and by more than the points given, or a time longer beyond
    the noise between runs (``stats.runs_rule``) and by more than the percent given.
    Undecided: a later run with no model in common with the first; a time whose jobs were
    all disturbed on a side; any time, where the runs are not like for like (``unlike``)
    and ``allow_unlike`` is not given."""
    base, broken, undecided = comparison.labels[0], [], []
    times_gated = any(threshold.measure != "accuracy" for threshold in thresholds)
    if comparison.unlike and times_gated and not allow_unlike:
        undecided.append("times not gated: the runs are not like for like ("
                         + "; ".join(comparison.unlike) + "); --allow-unlike gates them anyway")
    for label in comparison.labels[1:]:
        if thresholds and (comparison.deltas["run"] == label).sum() == 0:
            undecided.append(f"nothing in common to compare: no model and device ended ok in "
                             f"both {base} and {label}")
    for row in comparison.deltas.to_dict("records"):
        name = f"{row['model']} ({row['device']}) in {row['run']} against {base}"
        for threshold in thresholds:
            if threshold.measure == "accuracy":
                drop = -row["accuracy_delta"] * 100
                if flagged(row["accuracy_flag"]) and drop > threshold.limit:
                    broken.append(f"{name}: accuracy {accuracy_change(row)}, "
                                  f"{accuracy_judged(row)} (--fail-on {threshold})")
                continue
            short = threshold.measure
            if comparison.unlike and not allow_unlike:
                continue
            if str(row[f"{short}_judged"]).startswith("not judged"):
                undecided.append(f"{name}: {short} {row[f'{short}_judged']}")
            ratio = row[f"{short}_ratio"]
            if flagged(row[f"{short}_flag"]) and ratio > 1 + threshold.limit / 100:
                change = time_change(ratio, row[f"{short}_low"], row[f"{short}_high"])
                broken.append(f"{name}: {short} {change}, beyond the noise within and "
                              f"between runs (--fail-on {threshold})")
    return Gate(broken, list(dict.fromkeys(undecided)))




def fail_on_section(thresholds: list[Threshold], found: Gate) -> Section:
    """The thresholds given and what they found, for the comparison document."""
    given = ", ".join(f"--fail-on {threshold}" for threshold in thresholds)
    blocks: list[Text | Bullets] = (
        [Text(f"{given}: {len(found.broken)} breach(es).", "warning"),
         Bullets(found.broken)] if found.broken else
        [Text(f"{given}: inconclusive.", "warning")] if found.undecided else
        [Text(f"{given}: no breach.", "good")])
    if found.undecided:
        blocks.append(Bullets([f"Inconclusive: {line}" for line in found.undecided]))
    return Section("Fail-on", list(blocks))
