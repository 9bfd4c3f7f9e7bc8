"""Workspace scoping: every path a tool touches must resolve inside the workspace root.

Two steps, because a check alone is not enough:

1. `resolve_in_workspace` expands `~`, joins relative paths to the root, follows symbolic links and
   `..`, and refuses anything that ends up outside the root.
2. `open_in_workspace` / `unlink_in_workspace` then reach the *resolved* path again one component at a
   time from a file descriptor of the root, with `O_NOFOLLOW` on every step. If a folder or the file was
   swapped for a symbolic link between the check and the use, the open fails instead of following it
   (the time-of-check/time-of-use race). Linux's `openat2(RESOLVE_BENEATH)` would do this in one call,
   but the standard library does not expose it; the walk gives the same guarantee.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

# Opening a folder for the walk: never follow a link, fail if it is not a folder.
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class WorkspacePathError(PermissionError):
    """A path a tool was given cannot be used: outside the workspace, or not a valid path at all."""


class OutsideWorkspaceError(WorkspacePathError):
    """A path resolves (after `~`, `..` and symbolic links) to somewhere outside the workspace."""


def resolve_in_workspace(workspace: Path, path: str) -> Path:
    """Resolve `path` relative to `workspace`, following links, and refuse anything outside it.

    Example:
        >>> resolve_in_workspace(Path("/tmp"), "../etc/passwd")
        Traceback (most recent call last):
        OutsideWorkspaceError: ../etc/passwd is outside the workspace /tmp
    """
    return _resolve_beneath(workspace.resolve(), path)


def _resolve_beneath(root: Path, path: str) -> Path:
    """`resolve_in_workspace` for a root already resolved (each resolve reads every folder on the way)."""
    if "\0" in path:
        raise WorkspacePathError(f"{path!r} contains a NUL byte; pass a plain relative path")
    candidate = Path(os.path.expanduser(path))
    if not candidate.is_absolute():
        candidate = root / candidate
    resolved = candidate.resolve()
    if resolved != root and root not in resolved.parents:
        raise OutsideWorkspaceError(f"{path} is outside the workspace {root}")
    return resolved


@contextmanager
def _parent_fd(root: Path, parts: tuple[str, ...], *, create: bool) -> Iterator[int]:
    """A descriptor of the folder holding `parts[-1]`, reached from the (resolved) root without following
    links.

    With `create`, missing folders on the way are made (each one below the previous descriptor).
    """
    fd = os.open(root, _DIR_FLAGS)
    try:
        for name in parts[:-1]:
            try:
                next_fd = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(name, 0o777, dir_fd=fd)
                next_fd = os.open(name, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        yield fd
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            raise OutsideWorkspaceError(
                f"{'/'.join(parts)} changed into a symbolic link while it was being opened; refusing to follow it"
            ) from exc
        raise
    finally:
        os.close(fd)


def open_beneath(
    workspace: Path, resolved: Path, flags: int, mode: int = 0o666, *, create_parents: bool = False
) -> int:
    """Open a path that `resolve_in_workspace` returned, refusing any link met on the way.

    Returns an OS file descriptor (wrap it with `os.fdopen`). Raises `OutsideWorkspaceError` when a
    component turned into a symbolic link after the check.
    """
    return _open_beneath(workspace.resolve(), resolved, flags, mode, create_parents=create_parents)


def _open_beneath(root: Path, resolved: Path, flags: int, mode: int, *, create_parents: bool) -> int:
    """`open_beneath` for a root already resolved."""
    parts = resolved.relative_to(root).parts
    if not parts:
        raise IsADirectoryError(f"{resolved} is the workspace folder itself, not a file")
    with _parent_fd(root, parts, create=create_parents) as parent:
        try:
            return os.open(parts[-1], flags | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), mode, dir_fd=parent)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EMLINK):
                raise OutsideWorkspaceError(
                    f"{'/'.join(parts)} changed into a symbolic link while it was being opened; refusing to follow it"
                ) from exc
            raise


def open_in_workspace(
    workspace: Path, path: str, flags: int, mode: int = 0o666, *, create_parents: bool = False
) -> tuple[int, Path]:
    """Resolve `path` inside the workspace and open it race-safely; returns (descriptor, resolved path).

    Example:
        >>> fd, where = open_in_workspace(Path("."), "notes.txt", os.O_RDONLY)
        >>> with os.fdopen(fd, encoding="utf-8") as handle:
        ...     text = handle.read()
    """
    root = workspace.resolve()
    resolved = _resolve_beneath(root, path)
    return _open_beneath(root, resolved, flags, mode, create_parents=create_parents), resolved


def unlink_in_workspace(workspace: Path, path: str) -> Path:
    """Delete one file inside the workspace (never a folder), race-safely; returns the resolved path."""
    root = workspace.resolve()
    resolved = _resolve_beneath(root, path)
    parts = resolved.relative_to(root).parts
    if not parts:
        raise IsADirectoryError(f"{path} is the workspace folder itself")
    with _parent_fd(root, parts, create=False) as parent:
        # unlink(2) removes a directory entry without following it, so a link swapped in after the
        # check is removed itself; its target stays untouched.
        os.unlink(parts[-1], dir_fd=parent)
    return resolved
