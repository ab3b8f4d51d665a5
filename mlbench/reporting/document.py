"""A report as data, written out twice: Markdown (readable on GitHub, charts linked) and one
self-contained HTML file (charts embedded as data URIs, no script, no external request).

Reports (`report.py`) and comparisons (`compare.py`) build a `Document` of sections and
blocks; this module is the one place that knows how each block looks in either format and
that escapes every string, since many come from plugins, params and error messages.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass
class Text:
    """A paragraph of plain text; ``kind`` "warning" or "good" colours it in HTML and marks
    it in Markdown."""

    text: str
    kind: str = "text"


@dataclass
class Bullets:
    """A list; ``kind`` "highlight" boxes it in HTML (a report's key findings)."""

    items: list[str]
    kind: str = "text"


@dataclass
class Table:
    """A DataFrame; float cells are rounded, every cell is escaped."""

    frame: pd.DataFrame
    caption: str = ""


@dataclass
class Figure:
    """An image file, ``path`` relative to the document's folder."""

    path: str
    caption: str
    alt: str = ""


Block = Text | Bullets | Table | Figure


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    title: str
    sections: list[Section] = field(default_factory=list)

    def section(self, title: str, *blocks: Block) -> Section:
        part = Section(title, list(blocks))
        self.sections.append(part)
        return part


# -- cells ----------------------------------------------------------------------------

def is_missing(value: Any) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def significant(value: float) -> str:
    """Three significant digits, thousands separated: 0.0484, 12.3, 1,234."""
    return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"


def seconds(value: float) -> str:
    return f"{significant(value)} s"


def accuracy_text(low: float, high: float) -> str:
    """An accuracy interval as tables print it ("0.9660 to 0.9726"); empty where missing."""
    return "" if is_missing(low) or is_missing(high) else f"{low:.4f} to {high:.4f}"


def seconds_text(low: float, high: float) -> str:
    """A time interval as tables print it, three significant digits; empty where missing."""
    if is_missing(low) or is_missing(high):
        return ""
    return f"{significant(low)} to {significant(high)}"


def number(value: float) -> str:
    """Numbers as people read them: thousands separated, fractions to four places."""
    if is_missing(value):
        return ""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if 0 < abs(value) < 0.001:
        return f"{value:.2g}"  # not 0.0000: a tiny time is still a time
    return f"{value:.4f}" if abs(value) <= 1 else f"{value:.4g}"


def cell_texts(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as display text (not yet escaped): floats rounded, missing values empty."""
    cells = frame.astype(object).copy()
    for column in frame.columns:
        if pd.api.types.is_float_dtype(frame[column]):
            cells[column] = frame[column].map(number)
        else:
            cells[column] = frame[column].map(lambda v: "" if is_missing(v) else str(v))
    return cells


# -- Markdown -------------------------------------------------------------------------

def escape_markdown(value: Any) -> str:
    """Text safe inside Markdown (and a table cell): one line, no HTML tags, no pipes."""
    if is_missing(value):
        return ""
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for special in ("\\", "|", "`", "*", "_", "[", "]"):
        text = text.replace(special, "\\" + special)
    return text


def markdown_table(frame: pd.DataFrame) -> str:
    cells = cell_texts(frame).map(escape_markdown)
    cells.columns = [escape_markdown(column) for column in frame.columns]
    align = ["right" if pd.api.types.is_numeric_dtype(frame[c]) else "left"
             for c in frame.columns]
    return str(cells.to_markdown(index=False, missingval="", disable_numparse=True,
                                 colalign=align))


MARKDOWN_MARKS = {"text": "", "warning": "**Warning:** ", "good": ""}


def to_markdown(document: Document) -> str:
    lines = [f"# {escape_markdown(document.title)}", ""]
    for section in document.sections:
        lines += [f"## {escape_markdown(section.title)}", ""]
        for block in section.blocks:
            if isinstance(block, Text):
                lines += [MARKDOWN_MARKS.get(block.kind, "") + escape_markdown(block.text), ""]
            elif isinstance(block, Bullets):
                lines += [f"- {escape_markdown(item)}" for item in block.items] + [""]
            elif isinstance(block, Table):
                if block.caption:
                    lines += [f"*{escape_markdown(block.caption)}*", ""]
                lines += [markdown_table(block.frame), ""]
            elif isinstance(block, Figure):
                caption = escape_markdown(block.caption)
                lines += [f"![{escape_markdown(block.alt or block.caption)}]({block.path})", "",
                          f"*{caption}*", ""]
    return "\n".join(lines).rstrip() + "\n"


# -- HTML -----------------------------------------------------------------------------

STYLE = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
       max-width: 1100px; margin: 2em auto; padding: 0 1.5em; }
h1 { font-size: 1.7em; border-bottom: 1px solid #d0d7de; padding-bottom: .3em; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #eaeef2; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td:first-child { white-space: nowrap; }
div.table { overflow-x: auto; }
tr:nth-child(even) td { background: #fafbfc; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eaeef2; }
figcaption, .caption { color: #59636e; font-size: 13px; }
p.warning { background: #fff8c5; border-left: 4px solid #d4a72c; padding: .5em .8em; }
p.good { background: #dafbe1; border-left: 4px solid #2da44e; padding: .5em .8em; }
nav a { margin-right: 1em; }
ul.highlight { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px;
               padding: .7em 1em .7em 2.2em; }
"""

MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}


def html_table(frame: pd.DataFrame) -> str:
    texts = cell_texts(frame)
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for values in texts.itertuples(index=False):
        cells = "".join(f'<td class="num">{html.escape(v)}</td>' if is_number
                        else f"<td>{html.escape(v)}</td>"
                        for v, is_number in zip(values, numeric, strict=True))
        rows.append(f"<tr>{cells}</tr>")
    # In a scrolling box: a wide table scrolls by itself instead of widening the page.
    return (f'<div class="table"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def data_uri(path: Path) -> str:
    mime = MIME.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def to_html(document: Document, root: Path) -> str:
    """One self-contained page; ``root`` is the folder figure paths are relative to."""
    title = html.escape(document.title)
    anchors = [f"s{index}" for index in range(len(document.sections))]
    nav = " ".join(f'<a href="#{anchor}">{html.escape(section.title)}</a>'
                   for anchor, section in zip(anchors, document.sections, strict=True))
    body = [f"<h1>{title}</h1>", f"<nav>{nav}</nav>"]
    for anchor, section in zip(anchors, document.sections, strict=True):
        body.append(f'<h2 id="{anchor}">{html.escape(section.title)}</h2>')
        for block in section.blocks:
            if isinstance(block, Text):
                kind = block.kind if block.kind in MARKDOWN_MARKS else "text"
                body.append(f'<p class="{kind}">{html.escape(block.text)}</p>')
            elif isinstance(block, Bullets):
                items = "".join(f"<li>{html.escape(item)}</li>" for item in block.items)
                kind = "highlight" if block.kind == "highlight" else "text"
                body.append(f'<ul class="{kind}">{items}</ul>')
            elif isinstance(block, Table):
                if block.caption:
                    body.append(f'<p class="caption">{html.escape(block.caption)}</p>')
                body.append(html_table(block.frame))
            elif isinstance(block, Figure):
                source = data_uri(root / block.path)
                alt = html.escape(block.alt or block.caption, quote=True)
                body.append(f'<figure><img src="{source}" alt="{alt}">'
                            f"<figcaption>{html.escape(block.caption)}</figcaption></figure>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            # No network, no script: the page is complete offline and cannot be made to run
            # code by a plugin's strings.
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
            "img-src data:; style-src 'unsafe-inline'\">"
            # An empty icon: else a browser asks for /favicon.ico.
            "<link rel=\"icon\" href=\"data:,\">"
            f"<title>{title}</title><style>{STYLE}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")
