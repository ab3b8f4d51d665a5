"""``mlbench leaderboard``'s output: the leaderboard (``reporting.leaderboard``) as rich
tables, one CSV table, Markdown or one JSON document on stdout."""

from __future__ import annotations

import sys

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mlbench.reporting import json_documents
from mlbench.reporting.document import to_markdown
from mlbench.reporting.leaderboard import (
    Leaderboard,
    display_table,
    how_to_read,
    leaderboard_document,
)

RIGHT = {"rank", "train size", "test accuracy", "95% CI (test images)", "repeats",
         "fit (geo. mean)", "predict (geo. mean)"}


def print_leaderboard(board: Leaderboard, output_format: str) -> None:
    if output_format == "json":
        click.echo(json_documents.dumps(json_documents.leaderboard_document(board)))
    elif output_format == "csv":
        click.echo(board.results.to_csv(index=False), nl=False)
    elif output_format == "markdown":
        click.echo(to_markdown(leaderboard_document(board)), nl=False)
    else:
        print_tables(board)


def print_tables(board: Leaderboard) -> None:
    """A rich table per group (dataset, test images, machine), headed by what it is."""
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 1000)
    for group in board.groups():
        cells = display_table(group.rows)
        table = Table(title=group.title, title_justify="left")
        for column in cells.columns:
            table.add_column(column, justify="right" if column in RIGHT else "left")
        for row, entry in zip(cells.itertuples(index=False), group.rows["entry"],
                              strict=True):
            # Text(), not markup: model names come from plugins and may hold brackets.
            table.add_row(*(Text(str(cell)) for cell in row),
                          style="dim" if entry == "latest" else "")
        out.print(table)
    out.print(Text(how_to_read(board)), soft_wrap=True)
