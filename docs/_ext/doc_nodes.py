"""Docutils building blocks the generated reference pages share: tables and inline code.

Generated pages build document nodes directly rather than Markdown text, so help strings full of
quotes, pipes and backticks need no escaping.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from docutils import nodes

Cell = str | nodes.Node | Sequence[nodes.Node]

_CODE = re.compile(r"`([^`]+)`")


def inline(text: str) -> list[nodes.Node]:
    """`text` as inline nodes, with `backticked` parts as code (the only markup our notes use)."""
    parts: list[nodes.Node] = []
    position = 0
    for match in _CODE.finditer(text):
        if match.start() > position:
            parts.append(nodes.Text(text[position : match.start()]))
        parts.append(nodes.literal(match.group(1), match.group(1)))
        position = match.end()
    if position < len(text):
        parts.append(nodes.Text(text[position:]))
    return parts


def code(text: str) -> nodes.literal:
    """`text` as inline code, taken literally."""
    return nodes.literal(text, text)


def _entry(cell: Cell) -> nodes.entry:
    entry = nodes.entry()
    if isinstance(cell, str):
        children: Sequence[nodes.Node] = [nodes.Text(cell)] if cell else []
    elif isinstance(cell, nodes.Node):
        children = [cell]
    else:
        children = cell
    if children and all(isinstance(child, nodes.paragraph) for child in children):
        entry += list(children)  # a cell of several paragraphs, as given
    else:
        entry += nodes.paragraph("", "", *children)
    return entry


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Cell]], *, widths: Sequence[int] = (), ids: Sequence[str] = ()
) -> nodes.table:
    """A table with a header row. `widths` are relative column widths (default: equal); `ids` (one per
    row, optional) become link targets on the rows."""
    given = bool(widths)
    widths = list(widths) or [1] * len(headers)
    group = nodes.tgroup(cols=len(headers))
    group += [nodes.colspec(colwidth=width) for width in widths]
    head = nodes.thead()
    head += nodes.row("", *(_entry(header) for header in headers))
    body = nodes.tbody()
    for index, cells in enumerate(rows):
        row = nodes.row("", *(_entry(cell) for cell in cells))
        if index < len(ids):
            row["ids"].append(nodes.make_id(ids[index]))
        body += row
    group += head
    group += body
    # "colwidths-given" makes Sphinx write the widths into the page instead of leaving them to the browser.
    result = nodes.table(classes=["colwidths-given"] if given else [])
    result += group
    return result


def literal_block(text: str, language: str = "text") -> nodes.literal_block:
    """A code block."""
    block = nodes.literal_block(text, text)
    block["language"] = language
    return block
