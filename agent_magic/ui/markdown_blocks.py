"""Where streamed Markdown can be cut so that the pieces, shown as separate outputs, read like the whole.

The notebook renderer shows an answer as a run of outputs: each finished block (a paragraph, a list, a
table, a fenced code block, a heading) is settled into an output that is never sent again, and only the
open block at the end is redrawn as text arrives. That keeps the bytes sent on iopub proportional to the
answer instead of to its square (each redraw of a single display resends everything it holds).

A block is finished at a blank line followed by a line that starts at the margin (an indented line may
continue a list item, and four spaces would make it code if cut off), after an ATX heading, and after a
closing code fence at the margin. Blank lines inside fenced code or a `$$` math block cut nothing.

An open block longer than `SPLIT_AT` characters (a huge paragraph, a long code block) is cut anyway, so
a redraw never resends more than about that much: at the last line break where inline markup is
balanced (a code block is closed there and reopened with the same fence, a table's header is repeated),
else at the last such space. Such a cut shows as a paragraph break or a seam between two code boxes,
the price of never resending a long block.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SPLIT_AT = 2_000

_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})")
_MATH = re.compile(r"^ {0,3}\$\$\s*$")
_HEADING = re.compile(r"^ {0,3}#{1,6}(\s|$)")
_TABLE_DELIMITER = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")


@dataclass(frozen=True)
class _Block:
    """A fenced code or math block being read: its opening line and how a line closes it."""

    opening: str
    marker: str  # "```", "~~~~", "$$"…
    at_margin: bool
    body_start: int  # where the first line after the opening line starts

    def closed_by(self, line: str) -> bool:
        stripped = line.strip()
        if self.marker == "$$":
            return stripped == "$$"
        return stripped.startswith(self.marker) and set(stripped) == {self.marker[0]}

    @property
    def closing(self) -> str:
        return self.marker + "\n"


@dataclass(frozen=True)
class _LineEnd:
    """The end of a complete line: where it ends and the fenced block still open after it (if any)."""

    end: int
    inside: _Block | None


def _lines(text: str) -> list[str]:
    """The lines of `text`, each with its "\\n" (the last one may have none); only "\\n" ends a line,
    as in Markdown (`str.splitlines` would also cut at \\r, \\x0c, \\u2028…)."""
    lines = text.split("\n")
    last = lines.pop()
    return [line + "\n" for line in lines] + ([last] if last else [])


def _opening(line: str, body_start: int) -> _Block | None:
    """The block a line opens: a code fence (``` or ~~~) or a `$$` math block."""
    fence = _FENCE.match(line)
    if fence and not (fence.group(2)[0] == "`" and "`" in line[fence.end() :]):
        return _Block(line.rstrip("\r\n"), fence.group(2), not fence.group(1), body_start)
    if _MATH.match(line):
        return _Block(line.rstrip("\r\n"), "$$", True, body_start)
    return None


def _scan(text: str) -> tuple[int, list[_LineEnd]]:
    """The last clean boundary in `text`, and every complete line's end after it."""
    boundary, position = 0, 0
    inside: _Block | None = None
    blank_end: int | None = None  # a blank line ended here: a boundary if the next line starts at the margin
    ends: list[_LineEnd] = []
    for line in _lines(text):
        position += len(line)
        if blank_end is not None and not line[0].isspace():
            boundary, ends = blank_end, []
        blank_end = None
        if not line.endswith("\n"):
            break  # the unfinished last line: nothing is known about it yet
        if inside is not None:
            if inside.closed_by(line):
                closed, inside = inside, None
                if closed.at_margin:
                    boundary, ends = position, []
                    continue
        elif (opened := _opening(line, position)) is not None:
            inside = opened
        elif not line.strip():
            blank_end = position
        elif _HEADING.match(line):
            boundary, ends = position, []
            continue
        ends.append(_LineEnd(position, inside))
    return boundary, ends


def _balanced(text: str) -> bool:
    """True when no inline code span, bold run or link text is left open in `text`."""
    return text.count("`") % 2 == 0 and text.count("**") % 2 == 0 and text.count("[") == text.count("]")


def _table_header(block: str) -> str:
    """The header and delimiter rows when `block` is a table (to repeat over a cut), else ""."""
    lines = _lines(block)
    if len(lines) >= 2 and "|" in lines[0] and _TABLE_DELIMITER.match(lines[1]):
        return lines[0] + lines[1]
    return ""


def _cut_long_block(text: str, start: int, ends: list[_LineEnd]) -> tuple[int, str, str]:
    """Where to cut the open block `text[start:]`: (cut position, text closing the settled part, text
    reopening the open part); cut position `start` when there is no acceptable cut."""
    header = _table_header(text[start:])
    for line_end in reversed(ends):
        block = line_end.inside
        if line_end.end >= len(text) or line_end.end - start <= len(header):
            continue
        if block is not None:
            if line_end.end > block.body_start:  # never a cut leaving an empty code box
                return line_end.end, block.closing, block.opening + "\n"
            continue
        if not text[line_end.end].isspace() and _balanced(text[start : line_end.end]):
            return line_end.end, "", header
    if ends and ends[-1].inside is not None:
        return start, "", ""  # one enormous line of code: cutting it would change the code
    line_start = text.rfind("\n", start) + 1
    for index in range(len(text) - 1, line_start, -1):
        if text[index] == " " and text[index - 1] != " " and _balanced(text[start:index]):
            return index + 1, "", ""
    return start, "", ""


def split_settled(text: str, *, split_at: int = SPLIT_AT) -> tuple[str, str]:
    """Split streamed Markdown into (settled, open): `settled` ends at the last finished block and will
    read the same whatever follows; `open` is the block still being written, at most about `split_at`
    characters (see the module docstring). Join the outputs' texts to get a Markdown equivalent of `text`.

    Example:
        >>> split_settled("One paragraph.\\n\\nAnother, still being wri")
        ('One paragraph.\\n\\n', 'Another, still being wri')
        >>> split_settled("```python\\nx = 1\\n\\ny = 2\\n")
        ('', '```python\\nx = 1\\n\\ny = 2\\n')
    """
    boundary, ends = _scan(text)
    if len(text) - boundary <= split_at:
        return text[:boundary], text[boundary:]
    cut, closing, reopening = _cut_long_block(text, boundary, ends)
    if cut == boundary:
        return text[:boundary], text[boundary:]
    return text[:cut] + closing, reopening + text[cut:].lstrip(" ")
