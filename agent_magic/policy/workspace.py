"""Workspace scoping: every path a tool touches must resolve inside the workspace root."""

from __future__ import annotations

import os
from pathlib import Path


class OutsideWorkspaceError(PermissionError):
    """A path resolves (after `~`, `..` and symbolic links) to somewhere outside the workspace."""


def resolve_in_workspace(workspace: Path, path: str) -> Path:
    """Resolve `path` relative to `workspace`, following links, and refuse anything outside it.

    Example:
        >>> resolve_in_workspace(Path("/tmp"), "../etc/passwd")
        Traceback (most recent call last):
        OutsideWorkspaceError: ../etc/passwd is outside the workspace /tmp
    """
    root = workspace.resolve()
    candidate = Path(os.path.expanduser(path))
    if not candidate.is_absolute():
        candidate = root / candidate
    resolved = candidate.resolve()
    if resolved != root and root not in resolved.parents:
        raise OutsideWorkspaceError(f"{path} is outside the workspace {root}")
    return resolved
