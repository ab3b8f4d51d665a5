"""``mlbench compare`` in the terminal: the comparison's tables and sentences
(``reporting.compare_report``), coloured with rich where a difference is beyond chance or the
noise."""

from __future__ import annotations

import shutil
import sys
import textwrap

from rich import box
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text as RichText

from mlbench.reporting.compare import Comparison
from mlbench.reporting.compare_report import (
    change_table,
    flag_sentences,
    summary_lines,
    unlike_line,
)

# Rich styles of a difference beyond chance or the noise; anything else stays plain.
STYLES = {"better": "bold green", "worse": "bold red", "": ""}
WIDTH = 100  # the columns compare's terminal output is laid out for (a CI log, a terminal)


def print_comparison(comparison: Comparison) -> None:
    """The comparison on stdout, within ``WIDTH`` columns (or a narrower terminal): per
    later run a table of changes against the first run, improvements green and regressions
    red where beyond chance or the noise; then the summary, flags and differences."""
    width = min(WIDTH, shutil.get_terminal_size((WIDTH, 24)).columns) if sys.stdout.isatty() \
        else WIDTH
    console = Console(highlight=False, width=width)

    def say(text: str, indent: str = "") -> None:
        # Wrapped here, with a hanging indent; soft_wrap: rich adds no breaks of its own.
        for line in textwrap.wrap(text, width, initial_indent=indent,
                                  subsequent_indent=" " * len(indent),
                                  break_on_hyphens=False) or [""]:
            console.print(RichText(line), soft_wrap=True)

    # Runs as "run 1", "run 2" in the tables' headers (a folder name is as wide as two
    # columns); not letters, which read as run names when runs are called A, B, C.
    letters = {label: f"run {index + 1}" for index, label in enumerate(comparison.labels)}
    warning = unlike_line(comparison)
    if warning:
        console.print(RichText("Not like for like:", style="bold red"))
        say(warning.removeprefix("Not like for like: "), "  ")
    for label in comparison.labels:  # how many runs stand behind each figure
        repeats = comparison.summary.loc[comparison.summary["run"] == label, "repeats"]
        count = ("no ok job" if repeats.empty else
                 f"{repeats.min()} repeat(s) per model" if repeats.min() == repeats.max()
                 else f"{repeats.min()}-{repeats.max()} repeats per model")
        role = " (base)" if label == comparison.labels[0] else ""
        say(f"{letters[label]} = {label}{role}: {count}")
    for label in comparison.labels[1:]:
        cells, verdicts = change_table(comparison, label)
        table = RichTable(title=f"{letters[label]} against {letters[comparison.labels[0]]}",
                          title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                          pad_edge=False)
        # The model's name on a row of its own, its measures indented below: no column is
        # spent on names. Names and changes stay whole while the judgement wraps; fold,
        # never cut, where even that is not enough.
        table.add_column("model, measure", overflow="fold", no_wrap=True)
        for column in cells.columns[2:]:
            table.add_column(letters.get(column, column), overflow="fold",
                             justify="left" if column == "judged" else "right",
                             no_wrap=column == "change (95% CI)")
        for row, verdict in zip(cells.to_dict("records"), verdicts, strict=True):
            if row["model"]:
                table.add_row(RichText(row["model"], style="bold"))
            style = STYLES[verdict]
            # Text(), not markup: model names come from plugins and may hold brackets.
            table.add_row(RichText(f"  {row['measure']}"),
                          *(RichText(str(row[column]), style=style if column in
                                     ("change (95% CI)", "judged") else "")
                            for column in cells.columns[2:]),
                          end_section=row["measure"] == "predict img/s")
        console.print(table)
    for title, lines in (("Summary", summary_lines(comparison)),
                         ("Beyond chance or the timing noise", flag_sentences(comparison)),
                         ("Differences", comparison.differences),
                         ("Not in every run", comparison.missing)):
        if lines:
            console.print(RichText(f"{title}:", style="bold"))
            for line in lines:
                say(line, "  - ")
    say("Each run's own figures and intervals, the rules and the charts are in compare.html "
        "and compare.md.")
