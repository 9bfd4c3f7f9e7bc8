"""How an approval request reads: the tool and its arguments, rendered for a person to judge.

A write or edit over an existing file is shown as a unified diff, a shell command as the command, Python
code as code; anything else as its arguments. Every rendering has a Markdown and a plain-text form, so a
notebook saved by any frontend (or a headless run) shows what was asked.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path

from agent_magic.policy.approval import ApprovalRequest
from agent_magic.policy.workspace import OutsideWorkspaceError, resolve_in_workspace
from agent_magic.ui.format import call_signature

MAX_SHOWN_LINES = 60
MAX_READ_BYTES = 1_000_000


@dataclass(frozen=True)
class RequestView:
    """A request rendered: a one-line title, a body (code block) and the body's language for Markdown."""

    title: str
    body: str
    language: str = ""

    def markdown(self) -> str:
        """Title and fenced body, for the notebook."""
        fence = "````" if "```" in self.body else "```"
        return f"{self.title}\n\n{fence}{self.language}\n{self.body}\n{fence}" if self.body else self.title

    def plain(self) -> str:
        """Title and indented body, for text/plain and terminals."""
        body = "\n".join("    " + line for line in self.body.splitlines())
        return f"{self.title}\n{body}" if body else self.title


def _shorten(text: str) -> str:
    lines = text.splitlines()
    if len(lines) <= MAX_SHOWN_LINES:
        return text.rstrip("\n")
    return "\n".join(lines[:MAX_SHOWN_LINES]) + f"\n… ({len(lines) - MAX_SHOWN_LINES} more lines)"


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
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines) or "(no change)"


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
        return RequestView(f"`{name}` wants to change `{path}` ({note}):", _shorten(_diff(path, current, new)), "diff")
    if isinstance(content, str):
        return RequestView(f"`{name}` wants to write `{path}` ({note}):", _shorten(content))
    shown = {k: v for k, v in arguments.items() if k != "path"}
    body = json.dumps(shown, indent=2, ensure_ascii=False) if shown else ""
    return RequestView(f"`{name}` wants to act on `{path}` ({note})", _shorten(body), "json" if body else "")


def describe_request(request: ApprovalRequest) -> RequestView:
    """Render the request readably: a diff, a command, code, or the arguments.

    Example:
        >>> describe_request(request_for_run_shell).markdown()
        '`run_shell` wants to run:\\n\\n```bash\\nls -la\\n```'
    """
    arguments = request.arguments
    name = request.call.name
    if arguments is None:
        return RequestView(f"`{name}` with arguments that are not valid JSON:", _shorten(request.call.arguments))
    if isinstance(arguments.get("command"), str):
        return RequestView(f"`{name}` wants to run:", _shorten(arguments["command"]), "bash")
    if isinstance(arguments.get("code"), str):
        return RequestView(f"`{name}` wants to run Python code:", _shorten(arguments["code"]), "python")
    if isinstance(arguments.get("path"), str):
        return _file_view(request, arguments["path"])
    body = json.dumps(arguments, indent=2, ensure_ascii=False) if arguments else ""
    return RequestView(f"`{call_signature(request.call)}` needs approval", _shorten(body), "json" if body else "")
