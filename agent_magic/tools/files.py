"""File tools: list, read, search, write, edit and delete files, all inside the workspace.

Every path goes through `policy.workspace`: resolved (links, `..`, `~`, absolute paths) and refused when
it leaves the workspace, then opened from a descriptor of the root without following links, so a link
swapped in after the check is not followed either.
"""

from __future__ import annotations

import fnmatch
import functools
import inspect
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from agent_magic.policy.workspace import (
    WorkspacePathError,
    open_in_workspace,
    resolve_in_workspace,
    unlink_in_workspace,
)
from agent_magic.tools.context import ToolContext
from agent_magic.tools.result import ToolResult
from agent_magic.undo.files import records_file_change

MAX_LISTED_ENTRIES = 500
MAX_LINE_CHARS = 2_000  # one very long line (minified JSON) must not fill a whole page
MAX_SEARCH_RESULTS = 500
MAX_SEARCHED_FILE_BYTES = 5_000_000
BINARY_SNIFF_BYTES = 8_192


def _file_errors(function: Callable[..., ToolResult]) -> Callable[..., ToolResult]:
    """Turn the OS errors a file tool can meet into results the model can act on."""

    signature = inspect.signature(function)

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> ToolResult:
        path = signature.bind(*args, **kwargs).arguments.get("path", ".")
        try:
            return function(*args, **kwargs)
        except WorkspacePathError as exc:
            return ToolResult.failure("outside_workspace", str(exc))
        except FileNotFoundError:
            return ToolResult.failure("not_found", f"no file {path} in the workspace", retryable=True)
        except IsADirectoryError:
            return ToolResult.failure("is_a_folder", f"{path} is a folder, not a file", retryable=True)
        except NotADirectoryError:
            return ToolResult.failure("not_found", f"a part of {path} is a file, not a folder", retryable=True)
        except UnicodeDecodeError:
            return ToolResult.failure("not_text", f"{path} is not UTF-8 text")
        except PermissionError as exc:
            return ToolResult.failure("permission_denied", f"{path}: {exc.strerror or exc}")

    return wrapper


def _relative(ctx: ToolContext, full: str | Path) -> str:
    return os.path.relpath(full, ctx.workspace.resolve())


def _walk(root: Path) -> Iterator[tuple[str, list[str], list[str]]]:
    """`os.walk` without hidden folders, in sorted order, never following links to folders."""
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        yield folder, dirnames, sorted(f for f in filenames if not f.startswith("."))


@_file_errors
def list_files(ctx: ToolContext, path: str = ".", pattern: str = "*", depth: int = 1) -> ToolResult:
    """List files and folders under a workspace folder, with sizes in bytes.

    Args:
        path: folder relative to the workspace root.
        pattern: glob pattern the names must match, e.g. "*.csv".
        depth: how many folder levels to descend (1 = only this folder).
    """
    root = resolve_in_workspace(ctx.workspace, path)
    if not root.is_dir():
        return ToolResult.failure("not_found", f"{path} is not a folder in the workspace", retryable=True)
    depth = max(1, depth)
    entries: list[dict[str, Any]] = []
    base_depth = len(root.parts)
    for folder, dirnames, filenames in _walk(root):
        level = len(Path(folder).parts) - base_depth
        listed_dirs = list(dirnames)
        if level >= depth - 1:
            dirnames[:] = []  # list these folders, but do not descend into them
        entries += [
            {"path": _relative(ctx, os.path.join(folder, d)) + "/", "type": "dir"}
            for d in listed_dirs
            if fnmatch.fnmatch(d, pattern)
        ]
        for name in filenames:
            if not fnmatch.fnmatch(name, pattern):
                continue
            full = os.path.join(folder, name)
            info = os.lstat(full)  # lstat: a link's target (maybe outside) is neither sized nor followed
            kind = "link" if stat.S_ISLNK(info.st_mode) else "file"
            entry: dict[str, Any] = {"path": _relative(ctx, full), "type": kind}
            if kind == "file":
                entry["size"] = info.st_size
            entries.append(entry)
        if len(entries) > MAX_LISTED_ENTRIES:
            break
    more = len(entries) > MAX_LISTED_ENTRIES
    return ToolResult.success({"entries": entries[:MAX_LISTED_ENTRIES], "more_not_listed": more})


def _short_line(line: str) -> str:
    if len(line) <= MAX_LINE_CHARS:
        return line
    return line[:MAX_LINE_CHARS] + f" [… {len(line) - MAX_LINE_CHARS} more characters on this line]"


@_file_errors
def read_file(ctx: ToolContext, path: str, offset: int = 0, limit: int = 200) -> ToolResult:
    """Read lines of a text file in the workspace; page through long files with offset and limit.

    The answer says which lines it holds ("lines 1-200 of 5000") and the offset of the next page.

    Args:
        path: file path relative to the workspace root.
        offset: index of the first line to return (0-based).
        limit: how many lines to return at most.
    """
    offset, limit = max(0, offset), max(1, limit)
    # A page stays well below the output cap, so read_file pages instead of being truncated.
    budget = max(1_000, ctx.max_output_chars // 2)
    fd, _ = open_in_workspace(ctx.workspace, path, os.O_RDONLY)
    chunk: list[str] = []
    used = 0
    total = 0
    with os.fdopen(fd, encoding="utf-8", newline=None) as handle:
        for index, line in enumerate(handle):
            total = index + 1
            if offset <= index and len(chunk) < limit and used < budget:
                text = _short_line(line.rstrip("\n"))
                chunk.append(text)
                used += len(text) + 1
    last = offset + len(chunk)
    return ToolResult.success(
        {
            "path": path,
            "range": f"lines {offset + 1}-{last} of {total}" if chunk else f"no lines (file has {total})",
            "total_lines": total,
            "next_offset": last if last < total else None,
            "text": "\n".join(chunk),
        }
    )


def _is_searchable(full: str) -> bool:
    info = os.lstat(full)
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_SEARCHED_FILE_BYTES:
        return False  # links (maybe pointing outside), devices and huge files are skipped
    with open(full, "rb") as handle:
        return b"\0" not in handle.read(BINARY_SNIFF_BYTES)


@_file_errors
def search_files(
    ctx: ToolContext,
    query: str,
    path: str = ".",
    glob: str = "*",
    regex: bool = False,
    case_sensitive: bool = False,
    max_results: int = 100,
) -> ToolResult:
    """Search the text files of a workspace folder for lines containing a string or matching a regex.

    Hidden folders, links, binary files, files over 5 MB and files a deny rule protects are skipped.

    Args:
        query: the text to look for (or a Python regular expression when regex is true).
        path: folder (or one file) to search, relative to the workspace root.
        glob: only search files whose names match this glob pattern, e.g. "*.py".
        regex: treat query as a regular expression.
        case_sensitive: match upper/lower case exactly.
        max_results: stop after this many matching lines (at most 500).
    """
    if not query:
        return ToolResult.failure("invalid_arguments", "query is empty: say what to search for", retryable=True)
    flags = 0 if case_sensitive else re.IGNORECASE
    try:
        matcher = re.compile(query if regex else re.escape(query), flags)
    except re.error as exc:
        return ToolResult.failure(
            "invalid_arguments", f"query is not a valid regular expression: {exc}", retryable=True
        )
    root = resolve_in_workspace(ctx.workspace, path)
    if root.is_file():
        candidates: Iterator[str] = iter([str(root)])
    else:
        candidates = (os.path.join(folder, name) for folder, _, names in _walk(root) for name in names)
    cap = max(1, min(max_results, MAX_SEARCH_RESULTS))
    matches: list[dict[str, Any]] = []
    searched = 0
    for full in candidates:
        if not fnmatch.fnmatch(os.path.basename(full), glob) or not _is_searchable(full):
            continue
        if ctx.denies_reading is not None and ctx.denies_reading(_relative(ctx, full)):
            continue
        searched += 1
        with open(full, encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, start=1):
                if matcher.search(line):
                    matches.append({"path": _relative(ctx, full), "line": number, "text": _short_line(line.rstrip())})
                    if len(matches) > cap:
                        break
        if len(matches) > cap:
            break
    return ToolResult.success(
        {"matches": matches[:cap], "files_searched": searched, "more_not_shown": len(matches) > cap}
    )


@records_file_change
@_file_errors
def write_file(ctx: ToolContext, path: str, content: str) -> ToolResult:
    """Create or overwrite a UTF-8 text file in the workspace; missing parent folders are created.

    Args:
        path: file path relative to the workspace root.
        content: the complete new text of the file.
    """
    existed = resolve_in_workspace(ctx.workspace, path).exists()
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd, _ = open_in_workspace(ctx.workspace, path, flags, 0o644, create_parents=True)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
    return ToolResult.success(
        {"path": path, "characters": len(content), "lines": content.count("\n"), "created": not existed}
    )


@records_file_change
@_file_errors
def edit_file(ctx: ToolContext, path: str, old_text: str, new_text: str) -> ToolResult:
    """Replace one exact, unique piece of text in a workspace file.

    Fails without changing anything when old_text does not occur, or occurs more than once (then
    include more of the surrounding text so it is unique).

    Args:
        path: file path relative to the workspace root.
        old_text: the exact text to replace, including whitespace and line breaks.
        new_text: the text to put in its place.
    """
    if not old_text:
        return ToolResult.failure(
            "invalid_arguments", "old_text is empty: copy the exact text to replace", retryable=True
        )
    fd, _ = open_in_workspace(ctx.workspace, path, os.O_RDWR)
    # One descriptor for reading and writing: the file edited is the file that was read.
    with os.fdopen(fd, "r+", encoding="utf-8", newline="") as handle:
        text = handle.read()
        count = text.count(old_text)
        if count == 0:
            return ToolResult.failure(
                "text_not_found",
                f"old_text does not occur in {path}; read the file and copy the text exactly",
                retryable=True,
            )
        if count > 1:
            return ToolResult.failure(
                "ambiguous_edit",
                f"old_text occurs {count} times in {path}; include more context so it is unique",
                retryable=True,
            )
        line = text[: text.index(old_text)].count("\n") + 1
        handle.seek(0)
        handle.write(text.replace(old_text, new_text, 1))
        handle.truncate()
    return ToolResult.success(
        {"path": path, "line": line, "removed_chars": len(old_text), "added_chars": len(new_text)}
    )


@records_file_change
@_file_errors
def delete_file(ctx: ToolContext, path: str) -> ToolResult:
    """Delete one file in the workspace (folders are never deleted).

    Args:
        path: file path relative to the workspace root.
    """
    unlink_in_workspace(ctx.workspace, path)
    return ToolResult.success({"path": path, "deleted": True})
