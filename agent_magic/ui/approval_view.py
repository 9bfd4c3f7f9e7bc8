"""How an approval request reads: the tool and its arguments, shown exactly, for a person to judge.

A write or edit over an existing file is shown as a unified diff, a shell command as the command, Python
code as code; anything else as its arguments. What the model sent is never interpreted: the notebook
form is escaped HTML inside `<pre>` (never Markdown, where a line of four backticks ends a fence and an
HTML comment hides the rest), control and invisible characters (escape sequences, carriage returns,
bidirectional overrides, zero-width spaces) are shown as visible marks, long lines wrap instead of being
clipped, and every line is there, in a scrollable box. Only a body over `MAX_SHOWN_CHARS` is cut, and
then the title says so in words. Every rendering also has a plain-text form (stdin, terminals, saved
notebooks), built the same way.
"""

from __future__ import annotations

import difflib
import html
import json
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from agent_magic.policy.approval import ApprovalRequest
from agent_magic.policy.workspace import OutsideWorkspaceError, resolve_in_workspace
from agent_magic.ui.format import call_signature

MAX_READ_BYTES = 1_000_000
# Beyond this a body is shown as head and tail with a warning in the title: a notebook output of many
# megabytes would not render, and no one reviews it line by line anyway.
MAX_SHOWN_CHARS = 400_000
# Control characters get a short name; every other invisible character shows as ⟨U+XXXX⟩.
CONTROL_NAMES = {"\0": "NUL", "\a": "BEL", "\b": "BS", "\r": "CR", "\x0b": "VT", "\x0c": "FF", "\x1b": "ESC"}
KEPT = frozenset("\n\t ")
INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"})
PRE_STYLE = (
    "white-space:pre-wrap;overflow-wrap:anywhere;max-height:32em;overflow:auto;margin:4px 0;padding:6px;"
    "border:1px solid var(--jp-border-color1,#ccc);background:var(--jp-layout-color1,#fafafa)"
)
MARK_STYLE = "background:#b00;color:#fff;border-radius:2px;padding:0 1px"


def _is_invisible(char: str) -> bool:
    return char not in KEPT and unicodedata.category(char) in INVISIBLE_CATEGORIES


def _mark(char: str) -> str:
    return f"⟨{CONTROL_NAMES.get(char) or f'U+{ord(char):04X}'}⟩"


def _segments(text: str) -> Iterator[tuple[str, bool]]:
    """`text` as runs of (ordinary text, False) and (one visible mark, True)."""
    start = 0
    for index, char in enumerate(text):
        if _is_invisible(char):
            if start < index:
                yield text[start:index], False
            yield _mark(char), True
            start = index + 1
    if start < len(text):
        yield text[start:], False


def visible_text(text: str) -> str:
    """`text` with control and invisible characters replaced by marks such as ⟨ESC⟩ or ⟨U+202E⟩.

    Example:
        >>> visible_text("ls\\rrm -rf ~")
        'ls⟨CR⟩rm -rf ~'
    """
    return "".join(piece for piece, _ in _segments(text))


def visible_html(text: str) -> str:
    """`text` escaped for HTML, with the marks of `visible_text` highlighted."""
    return "".join(
        f"<span style='{MARK_STYLE}'>{html.escape(piece)}</span>" if marked else html.escape(piece)
        for piece, marked in _segments(text)
    )


def _cut(body: str) -> tuple[str, int]:
    """The body to show and how many characters of it were left out (0: all of it)."""
    if len(body) <= MAX_SHOWN_CHARS:
        return body, 0
    half = MAX_SHOWN_CHARS // 2
    left_out = len(body) - 2 * half
    return f"{body[:half]}\n[… {left_out:,} characters NOT SHOWN …]\n{body[-half:]}", left_out


@dataclass(frozen=True)
class RequestView:
    """A request rendered: a one-line title (plain text), the body exactly as it will run, its language."""

    title: str
    body: str
    language: str = ""

    def _size_note(self) -> tuple[str, str]:
        """(note on the body's size, warning when part of it is not shown)."""
        if not self.body:
            return "", ""
        lines = self.body.count("\n") + 1
        _, left_out = _cut(self.body)
        note = f"{lines:,} line{'s' * (lines != 1)}, {len(self.body):,} characters"
        warning = (
            f"⚠️ too long to show in full: {left_out:,} characters in the middle are NOT shown; deny unless you "
            "have reviewed it another way"
            if left_out
            else ""
        )
        return note, warning

    def html(self) -> str:
        """Title, size, and the body escaped in a scrollable, wrapping `<pre>` (nothing is interpreted)."""
        note, warning = self._size_note()
        parts = [f"<div><b>Approval needed:</b> {visible_html(self.title)}"]
        if note:
            parts.append(f" <span style='opacity:.7'>({note})</span>")
        parts.append("</div>")
        if warning:
            parts.append(f"<div style='color:#b00;font-weight:bold'>{html.escape(warning)}</div>")
        if self.body:
            shown, _ = _cut(self.body)
            parts.append(f"<pre class='agent-magic-approval' style=\"{PRE_STYLE}\">{visible_html(shown)}</pre>")
        return "".join(parts)

    def plain(self) -> str:
        """Title and indented body, for text/plain, stdin prompts and terminals (no line left out)."""
        note, warning = self._size_note()
        head = f"Approval needed: {visible_text(self.title)}" + (f" ({note})" if note else "")
        if warning:
            head += "\n" + warning
        if not self.body:
            return head
        shown, _ = _cut(self.body)
        body = "\n".join("    " + line for line in visible_text(shown).split("\n"))
        return f"{head}\n{body}"

    def bundle(self) -> dict[str, str]:
        """The display bundle for a notebook cell: HTML and its plain-text twin."""
        return {"text/html": self.html(), "text/plain": self.plain()}


def _existing_text(workspace: Path, path: str) -> tuple[str | None, str]:
    """The file's current text (None if absent or unreadable) and a note on where it is."""
    try:
        target = resolve_in_workspace(workspace, path)
    except OutsideWorkspaceError:
        return None, "outside the workspace: the tool will refuse it"
    if not target.is_file():
        return None, "new file"
    if target.stat().st_size > MAX_READ_BYTES:
        return None, f"existing file, {target.stat().st_size:,} bytes"
    try:
        return target.read_text(encoding="utf-8"), "existing file"
    except (UnicodeDecodeError, OSError):
        return None, "existing file, not UTF-8 text"


def _diff(path: str, old: str, new: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}", n=2
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines).rstrip("\n") or "(no change)"


def _edited(old: str, arguments: dict) -> str | None:
    """The text after an edit_file-style replacement (arguments old_*/new_*), or None if not applicable."""
    olds = [v for k, v in arguments.items() if k.startswith("old") and isinstance(v, str)]
    news = [v for k, v in arguments.items() if k.startswith("new") and isinstance(v, str)]
    if len(olds) != 1 or len(news) != 1 or olds[0] not in old:
        return None
    return old.replace(olds[0], news[0], 1)


def _file_view(request: ApprovalRequest, path: str) -> RequestView:
    arguments = request.arguments or {}
    name = request.call.name
    current, note = _existing_text(request.workspace, path)
    content = arguments.get("content")
    new = content if isinstance(content, str) else (_edited(current, arguments) if current is not None else None)
    if current is not None and new is not None:
        return RequestView(f"{name} wants to change {path} ({note}):", _diff(path, current, new), "diff")
    if isinstance(content, str):
        return RequestView(f"{name} wants to write {path} ({note}):", content)
    shown = {k: v for k, v in arguments.items() if k != "path"}
    body = json.dumps(shown, indent=2, ensure_ascii=False) if shown else ""
    return RequestView(f"{name} wants to act on {path} ({note})", body, "json" if body else "")


def describe_request(request: ApprovalRequest) -> RequestView:
    """Render the request readably: a diff, a command, code, or the arguments; a review note first."""
    view = _describe(request)
    if request.review:
        return RequestView(f"⚠️ {request.review}. {view.title}", view.body, view.language)
    return view


def _describe(request: ApprovalRequest) -> RequestView:
    """Render the request readably: a diff, a command, code, or the arguments.

    Example:
        >>> describe_request(request_for_run_shell).plain()
        'Approval needed: run_shell wants to run: (1 line, 6 characters)\\n    ls -la'
    """
    arguments = request.arguments
    name = request.call.name
    if arguments is None:
        return RequestView(f"{name} with arguments that are not valid JSON:", request.call.arguments)
    if isinstance(arguments.get("command"), str):
        return RequestView(f"{name} wants to run:", arguments["command"], "bash")
    if isinstance(arguments.get("code"), str):
        return RequestView(f"{name} wants to run Python code:", arguments["code"], "python")
    if isinstance(arguments.get("path"), str):
        return _file_view(request, arguments["path"])
    body = json.dumps(arguments, indent=2, ensure_ascii=False) if arguments else ""
    return RequestView(f"{call_signature(request.call)} needs approval", body, "json" if body else "")
