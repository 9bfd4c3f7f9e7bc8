"""File snapshots for undo: a copy of a workspace file taken just before a tool changes it, kept in the agent
home, and the restore that puts it back byte for byte.

`records_file_change` wraps the file tools (write, edit, delete): before the call it copies the file (if
it exists and is not larger than the cap: above it, no copy is kept and the change is marked with the
refusal), after the call it fingerprints the file again, and a real change joins the tool's result as an
`events.FileChange`. Files are read and written through `policy.workspace`, so a link can never lead a
snapshot or a restore out of the workspace. Copies live in `<home>/undo/` (private to the user); each
belongs to one change and is deleted when its turn is undone or falls out of reach. Copies left by a
kernel that died are deleted after a week.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import stat
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_magic.events import FileChange
from agent_magic.policy.workspace import (
    WorkspacePathError,
    open_in_workspace,
    resolve_in_workspace,
    unlink_in_workspace,
)

if TYPE_CHECKING:
    from agent_magic.tools.context import ToolContext
    from agent_magic.tools.result import ToolResult

SNAPSHOT_FOLDER = "undo"
ORPHAN_AGE_S = 7 * 24 * 3600
CHUNK = 1 << 20
# Marks a tool whose calls report their file changes (read by the undo report to tell what it covers).
COVERS_FILES = "files"


@dataclass(frozen=True)
class _Before:
    """A file's state just before a tool call."""

    path: str  # workspace-relative, normalised
    existed: bool
    snapshot: str | None = None
    digest: str | None = None
    mode: int | None = None
    refusal: str | None = None


def _mib(size: int) -> str:
    return f"{size / (1 << 20):.1f} MB"


def _chunks(fd: int) -> Iterator[bytes]:
    while chunk := os.read(fd, CHUNK):
        yield chunk


def _fingerprint(workspace: Path, path: str) -> tuple[str, int] | None:
    """SHA-256 and size of the regular file at `path`, or None when there is none."""
    try:
        fd, _ = open_in_workspace(workspace, path, os.O_RDONLY | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return ("", info.st_size)  # not a file we could have written: differs from any digest
        digest = hashlib.sha256()
        for chunk in _chunks(fd):
            digest.update(chunk)
        return digest.hexdigest(), info.st_size
    finally:
        os.close(fd)


class FileSnapshots:
    """Where file copies for undo are kept, and how large a file may be to be copied.

    Example:
        >>> snapshots = FileSnapshots(Path(".agent"), max_file_bytes=20_000_000)
        >>> before = snapshots.before(Path("."), "notes.txt")
        >>> # … the tool writes notes.txt …
        >>> change = snapshots.after(before, Path("."))   # a FileChange, or None if nothing changed
    """

    def __init__(self, home: Path, *, max_file_bytes: int) -> None:
        self.folder = home / SNAPSHOT_FOLDER
        self.max_file_bytes = max_file_bytes
        self._ready = False

    def _prepare(self) -> None:
        if self._ready:
            return
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        cutoff = time.time() - ORPHAN_AGE_S
        for old in self.folder.glob("*.bin"):
            try:
                if old.stat().st_mtime < cutoff:
                    old.unlink()
            except OSError:
                pass  # another kernel removed it first
        self._ready = True

    def before(self, workspace: Path, path: str) -> _Before | None:
        """The file's state before a change, its bytes copied when it is small enough; None when the path
        cannot be used at all (the tool will say why). Never raises."""
        try:
            relative = os.path.relpath(resolve_in_workspace(workspace, path), workspace.resolve())
            fd, _ = open_in_workspace(workspace, relative, os.O_RDONLY | os.O_NONBLOCK)
        except (FileNotFoundError, NotADirectoryError):
            return _Before(relative, existed=False)
        except (WorkspacePathError, OSError, ValueError):
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                return _Before(relative, existed=True, refusal="it is not a regular file")
            if info.st_size > self.max_file_bytes:
                return _Before(
                    relative,
                    existed=True,
                    mode=stat.S_IMODE(info.st_mode),
                    refusal=f"it was {_mib(info.st_size)}, above the undo copy limit of {_mib(self.max_file_bytes)} "
                    "(AgentMagic.undo_max_file_bytes), so no copy was kept",
                )
            return self._copy(fd, relative, stat.S_IMODE(info.st_mode))
        except OSError as exc:
            return _Before(relative, existed=True, refusal=f"it could not be copied ({exc.strerror or exc})")
        finally:
            os.close(fd)

    def _copy(self, fd: int, relative: str, mode: int) -> _Before:
        self._prepare()
        target = self.folder / f"{uuid.uuid4().hex}.bin"
        digest = hashlib.sha256()
        out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            for chunk in _chunks(fd):
                digest.update(chunk)
                os.write(out, chunk)
        finally:
            os.close(out)
        return _Before(relative, existed=True, snapshot=str(target), digest=digest.hexdigest(), mode=mode)

    def after(self, before: _Before, workspace: Path) -> FileChange | None:
        """The change a call made to the file `before` describes, or None when it made none (its copy is
        then deleted). Never raises."""
        try:
            now = _fingerprint(workspace, before.path)
        except (WorkspacePathError, OSError):
            now = ("", -1)  # unreadable now: treat as changed, a restore will say why it cannot
        unchanged = now is None if not before.existed else now is not None and now[0] == before.digest
        if unchanged:
            self.discard_copy(before.snapshot)
            return None
        return FileChange(
            workspace=str(workspace.resolve()),
            path=before.path,
            existed=before.existed,
            snapshot=before.snapshot,
            digest_before=before.digest,
            mode_before=before.mode,
            digest_after=now[0] if now else None,
            size_after=now[1] if now else None,
            refusal=before.refusal,
        )

    @staticmethod
    def discard_copy(snapshot: str | None) -> None:
        """Delete a kept copy (its change was undone or fell out of reach)."""
        if snapshot:
            try:
                os.unlink(snapshot)
            except FileNotFoundError:
                pass


class _NotWritable(Exception):
    """The path now holds something a restore must not write through."""


def _write_back(workspace: Path, path: str, data: bytes, mode: int) -> None:
    """Write `data` to `path` with permission bits `mode`; refuses a hard link (another name, maybe outside
    the workspace, would change too) and anything but a regular file."""
    fd, _ = open_in_workspace(workspace, path, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK, mode, create_parents=True)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
            raise _NotWritable("it is now a hard link or not a regular file")
        os.set_blocking(fd, True)
        os.ftruncate(fd, 0)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)
    finally:
        os.close(fd)


def restore_file(first: FileChange, last: FileChange) -> tuple[bool, str]:
    """Put a file back as it was before `first`, if it is still as `last` left it.

    Returns whether it was restored and one line saying what happened (or why not).
    """
    workspace, path = Path(first.workspace), first.path
    try:
        now = _fingerprint(workspace, path)
    except (WorkspacePathError, OSError) as exc:
        return False, f"`{path}`: not restored, it cannot be read now ({exc})"
    left = None if last.digest_after is None else (last.digest_after, last.size_after)
    if now != left:
        return False, f"`{path}`: not restored, it changed after the turn (your newer version is kept)"
    if not first.existed:
        if now is not None:
            unlink_in_workspace(workspace, path)
        return True, f"`{path}`: removed (the turn created it)"
    if first.snapshot is None:
        return False, f"`{path}`: not restored, {first.refusal or 'no copy was kept'}"
    try:
        with open(first.snapshot, "rb") as kept:
            data = kept.read()
    except OSError:
        return False, f"`{path}`: not restored, its copy in the agent home is gone"
    if hashlib.sha256(data).hexdigest() != first.digest_before:
        return False, f"`{path}`: not restored, its copy in the agent home was changed"
    mode = first.mode_before if first.mode_before is not None else 0o644
    try:
        _write_back(workspace, path, data, mode)
    except _NotWritable as exc:
        return False, f"`{path}`: not restored, {exc}"
    except (WorkspacePathError, OSError) as exc:
        return False, f"`{path}`: not restored, it could not be written ({exc})"
    what = "restored" if last.digest_after is not None else "restored (the turn deleted it)"
    return True, f"`{path}`: {what}, {len(data):,} bytes as before the turn"


def records_file_change(tool: Callable[..., ToolResult]) -> Callable[..., ToolResult]:
    """Decorate a file tool `tool(ctx, path, ...)`: its result reports the change it made to `path` (see
    the module docstring). Without `ctx.snapshots` (undo switched off) the tool runs as it is."""

    @functools.wraps(tool)
    def recorded(ctx: ToolContext, path: str, *args: Any, **kwargs: Any) -> ToolResult:
        snapshots = ctx.snapshots
        before = snapshots.before(ctx.workspace, path) if snapshots is not None else None
        result = tool(ctx, path, *args, **kwargs)
        change = snapshots.after(before, ctx.workspace) if snapshots is not None and before is not None else None
        return result if change is None else dataclasses.replace(result, changes=(*result.changes, change))

    recorded.undo_coverage = COVERS_FILES  # type: ignore[attr-defined]
    return recorded
