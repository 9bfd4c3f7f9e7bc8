"""The built-in tools: reading the workspace and the user's namespace."""

from __future__ import annotations

import fnmatch
import os
from typing import Any

from agent_magic.policy.workspace import OutsideWorkspaceError, resolve_in_workspace
from agent_magic.tools.context import ToolContext
from agent_magic.tools.registry import Tool, make_tool
from agent_magic.tools.result import ToolResult

MAX_LISTED_ENTRIES = 500
MAX_REPR_CHARS = 2_000
HEAD_ROWS = 5


def list_files(ctx: ToolContext, path: str = ".", pattern: str = "*", depth: int = 1) -> ToolResult:
    """List files and folders under a workspace folder, with sizes in bytes.

    Args:
        path: folder relative to the workspace root.
        pattern: glob pattern the names must match, e.g. "*.csv".
        depth: how many folder levels to descend (1 = only this folder).
    """
    try:
        root = resolve_in_workspace(ctx.workspace, path)
    except OutsideWorkspaceError as exc:
        return ToolResult.failure("outside_workspace", str(exc))
    if not root.is_dir():
        return ToolResult.failure("not_found", f"{path} is not a folder in the workspace", retryable=True)
    depth = max(1, depth)
    entries: list[dict[str, Any]] = []
    base_depth = len(root.parts)
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        level = len(os.path.normpath(folder).split(os.sep)) - base_depth
        if level >= depth - 1:
            dirnames_to_list, dirnames[:] = list(dirnames), []
        else:
            dirnames_to_list = list(dirnames)
        for name in dirnames_to_list:
            if fnmatch.fnmatch(name, pattern):
                rel = os.path.relpath(os.path.join(folder, name), ctx.workspace.resolve())
                entries.append({"path": rel + "/", "type": "dir"})
        for name in sorted(filenames):
            if name.startswith(".") or not fnmatch.fnmatch(name, pattern):
                continue
            full = os.path.join(folder, name)
            rel = os.path.relpath(full, ctx.workspace.resolve())
            entries.append({"path": rel, "type": "file", "size": os.path.getsize(full)})
        if len(entries) >= MAX_LISTED_ENTRIES:
            break
    more = len(entries) > MAX_LISTED_ENTRIES
    return ToolResult.success({"entries": entries[:MAX_LISTED_ENTRIES], "more_not_listed": more})


def read_file(ctx: ToolContext, path: str, offset: int = 0, limit: int = 200) -> ToolResult:
    """Read lines of a text file in the workspace; page through long files with offset and limit.

    Args:
        path: file path relative to the workspace root.
        offset: index of the first line to return (0-based).
        limit: how many lines to return at most.
    """
    try:
        target = resolve_in_workspace(ctx.workspace, path)
    except OutsideWorkspaceError as exc:
        return ToolResult.failure("outside_workspace", str(exc))
    if not target.is_file():
        return ToolResult.failure("not_found", f"no file {path} in the workspace", retryable=True)
    try:
        lines = target.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        return ToolResult.failure("not_text", f"{path} is not UTF-8 text")
    offset, limit = max(0, offset), max(1, limit)
    chunk = lines[offset : offset + limit]
    last = offset + len(chunk)
    return ToolResult.success(
        {
            "path": path,
            "range": f"lines {offset + 1}-{last} of {len(lines)}" if chunk else f"no lines (file has {len(lines)})",
            "total_lines": len(lines),
            "next_offset": last if last < len(lines) else None,
            "text": "\n".join(chunk),
        }
    )


def _capped_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= MAX_REPR_CHARS else text[:MAX_REPR_CHARS] + f"… [{len(text)} characters]"


def _describe_dataframe(frame: Any) -> dict[str, Any]:
    nulls = frame.isna().sum()
    return {
        "shape": list(frame.shape),
        "columns": [str(c) for c in frame.columns],
        "dtypes": {str(c): str(t) for c, t in frame.dtypes.items()},
        "null_counts": {str(c): int(n) for c, n in nulls.items()},
        "head": frame.head(HEAD_ROWS).to_string(max_colwidth=40),
    }


def inspect_variable(ctx: ToolContext, name: str) -> ToolResult:
    """Summarise a variable of the user's notebook: type, size, and for DataFrames dtypes, nulls and head.

    Args:
        name: the variable's name in the notebook namespace.
    """
    if name not in ctx.namespace or name.startswith("_"):
        visible = sorted(k for k in ctx.namespace if not k.startswith("_"))[:50]
        return ToolResult.failure("not_found", f"no variable {name!r}; some names: {visible}", retryable=True)
    value = ctx.namespace[name]
    summary: dict[str, Any] = {"name": name, "type": f"{type(value).__module__}.{type(value).__qualname__}"}
    if hasattr(value, "isna") and hasattr(value, "dtypes") and hasattr(value, "columns"):
        summary.update(_describe_dataframe(value))
        return ToolResult.success(summary)
    if hasattr(value, "shape"):
        summary["shape"] = list(getattr(value, "shape", ()))
    if hasattr(value, "__len__"):
        try:
            summary["length"] = len(value)
        except TypeError:
            pass
    summary["repr"] = _capped_repr(value)
    return ToolResult.success(summary)


def builtin_tools() -> list[Tool]:
    """The built-in tools, in the order they are offered to the model."""
    return [make_tool(list_files), make_tool(read_file), make_tool(inspect_variable)]
