"""What permission rules match a call on: its *subject*, one argument of the call (the path for file
tools, the command for `run_shell`, the code for `run_python`; a tool may declare its own with
`make_tool(..., subject_argument=...)`). Paths are made comparable with the workspace's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agent_magic.events import ToolCall
from agent_magic.tools.registry import Tool

# Without a declared subject argument, the first of these the tool takes is its subject.
CONVENTIONAL_SUBJECTS = ("path", "command", "code")


def subject_argument(tool: Tool | None, arguments: dict[str, Any]) -> str | None:
    """Which argument of `tool` is its subject: the declared one, else the first conventional one."""
    declared = getattr(tool, "subject_argument", None) if tool is not None else None
    if declared:
        return declared
    fields = tool.argument_names if tool is not None else arguments
    return next((name for name in CONVENTIONAL_SUBJECTS if name in fields), None)


def call_subject(tool: Tool | None, call: ToolCall, workspace: Path) -> str | None:
    """The subject rules match for one call, or None when it cannot be read from the arguments.

    Paths are made comparable: relative to the workspace (posix separators) when inside it, absolute
    otherwise, so `./data/x.csv`, `data//x.csv` and `/ws/data/x.csv` all read `data/x.csv`.
    """
    arguments = call.decoded.values
    if arguments is None:
        return None
    name = subject_argument(tool, arguments)
    value = arguments.get(name) if name else None
    if not isinstance(value, str):
        return None
    if name == "path":
        return _comparable_path(value, workspace)
    return value.strip()


def _comparable_path(path: str, workspace: Path) -> str:
    root = workspace.resolve()
    candidate = Path(os.path.expanduser(path))
    resolved = (candidate if candidate.is_absolute() else root / candidate).resolve()
    try:
        return resolved.relative_to(root).as_posix()
    except ValueError:
        return resolved.as_posix()
