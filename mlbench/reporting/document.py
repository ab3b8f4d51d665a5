"""A report as data, written out twice: Markdown (readable on GitHub, charts linked) and one
self-contained HTML file (charts embedded as data URIs, no script, no external request).

Reports (`report.py`) and comparisons (`compare.py`) build a `Document` of sections and
blocks; this module is the one place that knows how each block looks in either format and
that escapes every string, since many come from plugins, params and error messages.

Folding: a ``folded`` section is a closed ``<details>`` in HTML, so the first screen holds
what a reader came for; in Markdown it stays a plain ``##`` heading (GitHub's outline and
anchors keep working, and the file reads as plain text in a terminal or a diff). A
``Details`` block (a long table) is ``<details>`` in both: GitHub renders it folded too.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass
class Text:
    """A paragraph of plain text; ``kind`` "warning" or "good" colours it in HTML and marks
    it in Markdown; "note" is small print (how to read what is above it)."""

    text: str
    kind: str = "text"


@dataclass
class Bullets:
    """A list; ``kind`` "highlight" boxes it in HTML (a report's key findings)."""

    items: list[str]
    kind: str = "text"


@dataclass
class Table:
    """A DataFrame; float cells are rounded, every cell is escaped. The web addresses in the
    ``links`` columns become links (only columns of our own data: never a plugin's text)."""

    frame: pd.DataFrame
    caption: str = ""
    links: tuple[str, ...] = ()


@dataclass
class Figure:
    """An image file, ``path`` relative to the document's folder."""

    path: str
    caption: str
    alt: str = ""


@dataclass
class Details:
    """Blocks folded under a one-line ``summary`` (``<details>`` in HTML and Markdown)."""

    summary: str
    blocks: list[Block] = field(default_factory=list)


Block = Text | Bullets | Table | Figure | Details


@dataclass
class Section:
    """``folded``: closed in HTML, opened by a click (``open``: folded but shown open)."""

    title: str
    blocks: list[Block] = field(default_factory=list)
    folded: bool = False
    open: bool = False


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


def time_change(ratio: float, low: float, high: float) -> str:
    """"2.90x slower (2.60-3.20)", "1.25x faster (one run)": a time ratio in words; a
    ratio below 1 is turned over, its interval with it."""
    if is_missing(ratio):
        return ""
    if ratio >= 1:
        text, bounds = f"{ratio:.2f}x slower", (low, high)
    else:
        text, bounds = f"{1 / ratio:.2f}x faster", (1 / high, 1 / low)
    return f"{text} (one run)" if is_missing(low) else f"{text} ({bounds[0]:.2f}-{bounds[1]:.2f})"


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


# -- links --------------------------------------------------------------------------

# Our own data (the reference ranges' sources) writes web addresses inside prose; a short
# pattern finds them (no library: the text is ours, not arbitrary input). Trailing
# punctuation and a closing bracket belong to the sentence, not the address.
URL = re.compile(r"https?://[^\s<>\"'()\[\]]+[^\s<>\"'()\[\].,;:!?]")


def link_parts(text: str) -> list[tuple[str, str]]:
    """``text`` split into (text, "") and (label, address) parts, in order."""
    parts, start = [], 0
    for match in URL.finditer(text):
        if match.start() > start:
            parts.append((text[start:match.start()], ""))
        parts.append((link_label(match.group()), match.group()))
        start = match.end()
    if start < len(text):
        parts.append((text[start:], ""))
    return parts


def link_label(address: str) -> str:
    """What a link shows: the address without its scheme, and where long, its host and last
    part (``github.com/…/mnist_cnn.py``), so a table column stays narrow."""
    bare = address.split("://", 1)[1].rstrip("/")
    if len(bare) <= 40:
        return bare
    host, *_, last = bare.split("/")
    return f"{host}/…/{last}"


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


def markdown_links(text: str) -> str:
    """Escaped text with its web addresses as ``[label](address)``."""
    return "".join(_escape_between(part) if not address else
                   f"[{escape_markdown(part)}]({_markdown_address(address)})"
                   for part, address in link_parts(" ".join(text.split())))


def _escape_between(part: str) -> str:
    """Text between links, escaped, keeping the space that separates it from a link."""
    if not part.strip():
        return " " if part else ""
    return ((" " if part[0] == " " else "") + escape_markdown(part)
            + (" " if part[-1] == " " else ""))


def _markdown_address(address: str) -> str:
    # Characters that would end the link or split a table cell, percent-encoded.
    return address.replace("(", "%28").replace(")", "%29").replace("|", "%7C")


def markdown_table(frame: pd.DataFrame, links: tuple[str, ...] = ()) -> str:
    cells = cell_texts(frame)
    for column in frame.columns:
        cells[column] = cells[column].map(markdown_links if column in links
                                          else escape_markdown)
    cells.columns = [escape_markdown(column) for column in frame.columns]
    align = ["right" if pd.api.types.is_numeric_dtype(frame[c]) else "left"
             for c in frame.columns]
    return str(cells.to_markdown(index=False, missingval="", disable_numparse=True,
                                 colalign=align))


MARKDOWN_MARKS = {"text": "", "warning": "**Warning:** ", "good": "", "note": ""}


def to_markdown(document: Document) -> str:
    lines = [f"# {escape_markdown(document.title)}", ""]
    for section in document.sections:
        lines += [f"## {escape_markdown(section.title)}", ""]
        lines += markdown_blocks(section.blocks)
    return "\n".join(lines).rstrip() + "\n"


def markdown_blocks(blocks: list[Block]) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, Text):
            text = MARKDOWN_MARKS.get(block.kind, "") + escape_markdown(block.text)
            lines += [f"*{text}*" if block.kind == "note" else text, ""]
        elif isinstance(block, Bullets):
            lines += [f"- {escape_markdown(item)}" for item in block.items] + [""]
        elif isinstance(block, Table):
            if block.caption:
                lines += [f"*{escape_markdown(block.caption)}*", ""]
            lines += [markdown_table(block.frame, block.links), ""]
        elif isinstance(block, Figure):
            caption = escape_markdown(block.caption)
            lines += [f"![{escape_markdown(block.alt or block.caption)}]({block.path})", "",
                      f"*{caption}*", ""]
        elif isinstance(block, Details):
            # GitHub renders Markdown inside <details> only after a blank line.
            lines += [f"<details><summary>{html.escape(block.summary)}</summary>", "",
                      *markdown_blocks(block.blocks), "</details>", ""]
    return lines


# -- HTML -----------------------------------------------------------------------------

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2328;
       max-width: 1240px; margin: .8em auto; padding: 0 1em; }
h1 { font-size: 1.5em; margin: 0 0 .2em; border-bottom: 1px solid #d0d7de; padding-bottom: .2em; }
h2 { font-size: 1.2em; margin: 1em 0 .4em; border-bottom: 1px solid #eaeef2; }
p, ul { margin: .4em 0; }
table { border-collapse: collapse; margin: .4em 0 .8em; font-size: 12.5px; }
th, td { border: 1px solid #d0d7de; padding: 2px 5px; text-align: left; vertical-align: top;
         overflow-wrap: break-word; }
th { background: #f6f8fa; font-weight: 600; overflow-wrap: normal; }
td.num { text-align: right; font-variant-numeric: tabular-nums; overflow-wrap: normal; }
td:first-child { white-space: nowrap; }
div.table { overflow-x: auto; }
tr:nth-child(even) td { background: #fafbfc; }
figure { margin: .8em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eaeef2; }
figcaption, .caption, p.note { color: #59636e; font-size: 12.5px; }
p.warning { background: #fff8c5; border-left: 4px solid #d4a72c; padding: .4em .8em; }
p.good { background: #dafbe1; border-left: 4px solid #2da44e; padding: .4em .8em; }
nav { font-size: 13px; }
nav a { margin-right: 1em; }
ul.highlight { background: #f6f8fa; border: 1px solid #d0d7de; border-radius: 6px;
               padding: .5em 1em .5em 2.2em; }
details { margin: .4em 0; }
details > summary { cursor: pointer; color: #0550ae; }
details.section { border-top: 1px solid #eaeef2; margin: .3em 0; }
details.section > summary { color: inherit; }
details.section > summary h2 { display: inline; border: none; margin: 0; }
details[open] > summary { margin-bottom: .4em; }
"""

MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}


def html_links(text: str) -> str:
    """Escaped text with its web addresses as links."""
    return "".join(html.escape(part) if not address else
                   f'<a href="{html.escape(address, quote=True)}">{html.escape(part)}</a>'
                   for part, address in link_parts(text))


def html_table(frame: pd.DataFrame, links: tuple[str, ...] = ()) -> str:
    texts = cell_texts(frame)
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    escape = [html_links if c in links else html.escape for c in frame.columns]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for values in texts.itertuples(index=False):
        cells = "".join(f'<td class="num">{show(v)}</td>' if is_number
                        else f"<td>{show(v)}</td>"
                        for v, is_number, show in zip(values, numeric, escape, strict=True))
        rows.append(f"<tr>{cells}</tr>")
    # In a scrolling box: a wide table scrolls by itself instead of widening the page.
    return (f'<div class="table"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def data_uri(path: Path) -> str:
    mime = MIME.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def html_blocks(blocks: list[Block], root: Path) -> list[str]:
    body = []
    for block in blocks:
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
            body.append(html_table(block.frame, block.links))
        elif isinstance(block, Figure):
            source = data_uri(root / block.path)
            alt = html.escape(block.alt or block.caption, quote=True)
            body.append(f'<figure><img src="{source}" alt="{alt}">'
                        f"<figcaption>{html.escape(block.caption)}</figcaption></figure>")
        elif isinstance(block, Details):
            body += [f"<details><summary>{html.escape(block.summary)}</summary>",
                     *html_blocks(block.blocks, root), "</details>"]
    return body


def html_sections(sections: list[Section], root: Path, anchors: list[str]) -> list[str]:
    body = []
    for anchor, section in zip(anchors, sections, strict=True):
        heading = f"<h2>{html.escape(section.title)}</h2>"
        if section.folded:
            body.append(f'<details class="section" id="{anchor}"'
                        f'{" open" if section.open else ""}><summary>{heading}</summary>')
        else:
            body.append(f'<h2 id="{anchor}">{html.escape(section.title)}</h2>')
        body += html_blocks(section.blocks, root)
        if section.folded:
            body.append("</details>")
    return body


def html_fragment(document: Document, root: Path, prefix: str) -> str:
    """The document's sections as a fragment to embed in another page (a notebook cell's
    output): no page, style, script or navigation; ``prefix`` keeps its anchors apart from
    those of the page's other fragments."""
    anchors = [f"{prefix}-s{index}" for index in range(len(document.sections))]
    return "\n".join([f"<h3>{html.escape(document.title)}</h3>",
                      *html_sections(document.sections, root, anchors)])


def to_html(document: Document, root: Path) -> str:
    """One self-contained page; ``root`` is the folder figure paths are relative to."""
    title = html.escape(document.title)
    anchors = [f"s{index}" for index in range(len(document.sections))]
    nav = " ".join(f'<a href="#{anchor}">{html.escape(section.title)}</a>'
                   for anchor, section in zip(anchors, document.sections, strict=True))
    body = [f"<h1>{title}</h1>", f"<nav>{nav}</nav>",
            *html_sections(document.sections, root, anchors)]
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
