"""The --estimate table on stdout: each job's expected time, its range, and the total."""

from __future__ import annotations

import sys

import pandas as pd
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mlbench.cli.cells import duration, duration_range, number


def print_estimate(estimate: pd.DataFrame) -> None:
    """The --estimate table on stdout, what its ranges mean, then the total (one line)."""
    from mlbench.running.estimate import RANGE_NOTE

    out = Console(highlight=False, width=None if sys.stdout.isatty() else 1000)
    attrs = estimate.attrs
    table = Table(title=f"mlbench estimate: {attrs.get('dataset', '')} (per job; from three "
                        "small fits each, extrapolated as a power law)", title_justify="left")
    show_sweep = (estimate["sweep"] != "").any()  # the swept values tell a grid's jobs apart
    for name in ("model", "device", *(("sweep",) if show_sweep else ()), "train", "test",
                 "jobs", "fit", "predict", "job", "job range", "all its jobs", "fit grows as",
                 "note"):
        table.add_column(name, justify="left" if name in (
            "model", "device", "sweep", "note") else "right")
    for row in estimate.to_dict("records"):
        name = f"{row['model']} {row['variant']}" if row["variant"] else str(row["model"])
        cells: list[str | Text] = [Text(name), Text(str(row["device"]))]
        if show_sweep:
            cells.append(Text(str(row["sweep"])))
        note = "; ".join(text for text in (row["note"], row["shaky"] and
                                          f"shaky: {row['shaky']}") if text)
        cells += [f"{row['train_size']:,}", f"{row['test_size']:,}", str(row["jobs"]),
                  duration(row["fit_seconds"]), duration(row["predict_seconds"]),
                  duration(row["job_seconds"]),
                  duration_range(row["job_low_seconds"], row["job_high_seconds"]),
                  duration(row["total_seconds"]), number(row["fit_growth"], "n^{:.1f}"),
                  Text(note)]
        table.add_row(*cells)
    out.print(table)
    out.print(RANGE_NOTE, soft_wrap=True)
    at_once = attrs.get("jobs_at_once", 1)
    wall = f"; about {duration(attrs['wall_seconds'])} with --jobs {at_once}" if (
        at_once > 1) else ""
    low, high = attrs.get("total_low_seconds"), attrs.get("total_high_seconds")
    bounds = f" ({duration_range(low, high)})" if low is not None and high is not None else ""
    out.print(f"total: about {duration(attrs['total_seconds'])}{bounds} of job time for "
              f"{int(estimate['jobs'].sum())} jobs{wall} (this estimate took "
              f"{duration(attrs['estimate_seconds'])}; no run folder was written, the "
              "estimate is kept for the progress of the run)", soft_wrap=True)
