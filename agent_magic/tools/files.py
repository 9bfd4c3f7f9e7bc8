"""File tools: list, read, search, write, edit and delete files, all inside the workspace.

Every path goes through `policy.workspace`: resolved (links, `..`, `~`, absolute paths) and refused when
it leaves the workspace, then opened from a descriptor of the root without following links, so a link
swapped in after the check is not followed either.

Only regular files are read or written: a FIFO would block the tool forever and a device node has no
end, so files are opened non-blocking and checked with `fstat` before any byte is read. Reads are
bounded in bytes (`MAX_SCANNED_BYTES`, and a page keeps at most `MAX_LINE_CHARS` of any one line, so a
gigabyte without a newline costs a bounded amount of memory). A file with more than one hard link is
never written or edited: another name for it may lie outside the workspace, where no path check can see.
Regular expressions from the model run on RE2 (linear time, no catastrophic backtracking).
"""

from __future__ import annotations

import bisect
import codecs
import errno
import fnmatch
import functools
import inspect
import itertools
import os
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
MAX_SCANNED_BYTES = 200_000_000  # read_file counts lines this far at most; past it the total is "at least"
MAX_EDITED_BYTES = 20_000_000  # edit_file holds old and new text in memory
READ_CHUNK = 1 << 20
BINARY_SNIFF_BYTES = 8_192


class NotRegularFileError(OSError):
    """The path is a FIFO, socket or device node: reading it could block forever or never end."""


class HardLinkedError(OSError):
    """The file has other names (hard links), perhaps outside the workspace: writing it would change them."""


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
        except NotRegularFileError:
            return ToolResult.failure("not_a_regular_file", f"{path} is a FIFO, socket or device, not a file")
        except HardLinkedError as exc:
            return ToolResult.failure("hard_linked", str(exc))
        except OSError as exc:
            if exc.errno == errno.ENXIO:  # a FIFO opened for writing with no reader
                return ToolResult.failure("not_a_regular_file", f"{path} is a FIFO, socket or device, not a file")
            raise

    return wrapper


def _open_regular(
    ctx: ToolContext, path: str, flags: int, mode: int = 0o666, *, create_parents: bool = False, writing: bool = False
) -> int:
    """Open `path` in the workspace as a regular file, without blocking on a FIFO; refuse a device,
    FIFO or socket, and for writing a file with more than one hard link. Returns a blocking descriptor."""
    fd, _ = open_in_workspace(ctx.workspace, path, flags | os.O_NONBLOCK, mode, create_parents=create_parents)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(path)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFileError(path)
        if writing and info.st_nlink > 1:
            raise HardLinkedError(
                f"{path} has {info.st_nlink} hard links; another name for it may be outside the workspace, so "
                "it is not changed in place. Delete it first (that removes only this name), then write it anew"
            )
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


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


def _short_line(line: str, more_bytes: int = 0) -> str:
    """The line cut to MAX_LINE_CHARS, saying how much more it holds."""
    if len(line) <= MAX_LINE_CHARS and not more_bytes:
        return line
    more = len(line[MAX_LINE_CHARS:].encode()) + more_bytes
    return line[:MAX_LINE_CHARS] + f" [… {more} more bytes on this line]"


def _line_text(head: bytes, length: int) -> str:
    """A line from its first bytes (`head`) and its full length; raises UnicodeDecodeError if not UTF-8."""
    if len(head) == length:  # the whole line: decoded strictly (an incremental decoder per line cost 10x)
        text = head.decode("utf-8")
        return _short_line(text[:-1] if text.endswith("\r") else text)
    text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)  # a cut may split a character
    return _short_line(text, length - len(head))


def _whole_lines(data: bytes, start: int, most: int, room: int) -> tuple[list[str], int]:
    """Up to `most` complete lines of `data` from `start` as the page shows them, as many as a page with
    `room` characters left takes, and the position after them; stops before a line longer than
    4 × MAX_LINE_CHARS bytes. Raises UnicodeDecodeError if they are not UTF-8.

    One split and one decode for the whole run of lines: line by line in Python they cost 10x as much.
    """
    keep = MAX_LINE_CHARS * 4
    # Bounded: `room` characters take at most 4 × room bytes, plus the newlines.
    pieces = data[start : start + min(most * (keep + 1), 4 * room + most)].split(b"\n", most)
    del pieces[-1]  # a partial line, or lines past `most`
    if pieces and max(map(len, pieces)) > keep:
        del pieces[next(n for n, piece in enumerate(pieces) if len(piece) > keep) :]
    if not pieces:
        return [], start
    text = b"\n".join(pieces).decode("utf-8")  # a newline byte is never inside a UTF-8 character
    lines = text.split("\n")
    if "\r" in text or max(map(len, lines)) > MAX_LINE_CHARS:
        lines = [_short_line(line[:-1] if line.endswith("\r") else line) for line in lines]
    taken = len(lines)
    if sum(map(len, lines)) + taken > room:
        # A line joins the page while the characters before it are fewer than `room` (as in _page_lines).
        used_after = list(itertools.accumulate(len(line) + 1 for line in lines))
        taken = min(taken, 1 + bisect.bisect_left(used_after, room))
    return lines[:taken], start + sum(map(len, pieces[:taken])) + taken


def _page_lines(handle: Any, offset: int, limit: int, budget: int) -> tuple[list[str], int, bool]:
    """Lines `offset` … `offset + limit` (fewer once `budget` characters are used), the number of lines
    counted, and whether the whole file was counted (it stops after MAX_SCANNED_BYTES).

    Lines off the page are only counted (in C, chunk by chunk); of a line on the page at most
    4 × MAX_LINE_CHARS bytes are kept, so memory stays bounded however long a line is.
    """
    keep = MAX_LINE_CHARS * 4
    page: list[str] = []
    used = line_no = length = scanned = 0
    head = bytearray()
    data = b"."
    while scanned < MAX_SCANNED_BYTES and (data := handle.read(READ_CHUNK)):
        scanned += len(data)
        start = 0
        while start < len(data):
            page_full = len(page) >= limit or used >= budget
            if page_full or line_no < offset:
                newlines = data.count(b"\n", start)
                if page_full or line_no + newlines < offset:
                    line_no += newlines
                    length = length + len(data) - start if not newlines else len(data) - data.rindex(b"\n") - 1
                    break
                while line_no < offset:  # the page starts in this chunk: skip to the end of line offset - 1
                    start = data.index(b"\n", start) + 1
                    line_no += 1
                length = 0
                continue
            if not length:
                lines, after = _whole_lines(data, start, limit - len(page), budget - used)
                if lines:
                    page += lines
                    used += sum(map(len, lines)) + len(lines)
                    line_no, start = line_no + len(lines), after
                    continue
            end = data.find(b"\n", start)
            if 0 <= end - start <= keep and not length:  # a whole line inside this chunk: no copy to `head`
                text = _line_text(data[start:end], end - start)
                page.append(text)
                used += len(text) + 1
                line_no, start = line_no + 1, end + 1
                continue
            stop = len(data) if end < 0 else end
            if len(head) < keep:
                head += data[start : min(stop, start + keep - len(head))]
            length += stop - start
            if end < 0:
                break
            text = _line_text(bytes(head), length)
            page.append(text)
            used += len(text) + 1
            head, length, line_no, start = bytearray(), 0, line_no + 1, end + 1
    if length:  # a last line without a newline
        if head:
            page.append(_line_text(bytes(head), length))
        line_no += 1
    return page, line_no, not data


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
    with os.fdopen(_open_regular(ctx, path, os.O_RDONLY), "rb") as handle:
        sniff = handle.read(BINARY_SNIFF_BYTES)
        if b"\0" in sniff:
            raise UnicodeDecodeError("utf-8", sniff, sniff.index(b"\0"), sniff.index(b"\0") + 1, "NUL byte")
        codecs.getincrementaldecoder("utf-8")().decode(sniff, final=False)  # not UTF-8: not_text
        handle.seek(0)
        chunk, total, complete = _page_lines(handle, offset, limit, budget)
    last = offset + len(chunk)
    of = f"{total}" if complete else f"at least {total} (only the first {MAX_SCANNED_BYTES:,} bytes were read)"
    data: dict[str, Any] = {
        "path": path,
        "range": f"lines {offset + 1}-{last} of {of}" if chunk else f"no lines (file has {of})",
        "total_lines": total,
        "next_offset": last if last < total else None,
        "text": "\n".join(chunk),
    }
    if not complete:
        data["total_lines_known"] = False
    return ToolResult.success(data)


def _searchable_text(full: str) -> str | None:
    """A searchable file's text; None for links (maybe pointing outside), FIFOs, devices, huge or binary files.

    Opened without following a link and without blocking, then checked with fstat: a file swapped for a
    FIFO after the walk listed it cannot hang the search.
    """
    try:
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_SEARCHED_FILE_BYTES:
            return None
        raw = handle.read(MAX_SEARCHED_FILE_BYTES + 1)
    if len(raw) > MAX_SEARCHED_FILE_BYTES or b"\0" in raw[:BINARY_SNIFF_BYTES]:
        return None
    return raw.decode("utf-8", errors="replace")


def _matcher(query: str, regex: bool, case_sensitive: bool) -> Callable[[str], bool]:
    """A line predicate: RE2 for regular expressions (linear time, so a hostile pattern cannot stall the
    kernel), plain substring search otherwise. Raises ValueError for an invalid or unsupported pattern."""
    if not regex:
        needle = query if case_sensitive else query.casefold()
        return (lambda line: needle in line) if case_sensitive else (lambda line: needle in line.casefold())
    import re2  # deferred: only regex searches need it

    options = re2.Options()
    options.case_sensitive = case_sensitive
    options.log_errors = False  # RE2 would print parse errors to the kernel's stderr
    try:
        pattern = re2.compile(query, options)
    except re2.error as exc:
        detail = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ValueError(f"{detail} (RE2 syntax: no look-around and no backreferences)") from None
    return lambda line: pattern.search(line) is not None


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
        query: the text to look for (or an RE2 regular expression when regex is true: no look-around or
            backreferences).
        path: folder (or one file) to search, relative to the workspace root.
        glob: only search files whose names match this glob pattern, e.g. "*.py".
        regex: treat query as a regular expression.
        case_sensitive: match upper/lower case exactly.
        max_results: stop after this many matching lines (at most 500).
    """
    if not query:
        return ToolResult.failure("invalid_arguments", "query is empty: say what to search for", retryable=True)
    try:
        matches_line = _matcher(query, regex, case_sensitive)
    except ValueError as exc:
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
        if not fnmatch.fnmatch(os.path.basename(full), glob):
            continue
        text = _searchable_text(full)
        if text is None:
            continue
        if ctx.denies_reading is not None and ctx.denies_reading(_relative(ctx, full)):
            continue
        searched += 1
        lines = text.removesuffix("\n").split("\n") if text else []
        for number, line in enumerate(lines, start=1):
            line = line.removesuffix("\r")
            if matches_line(line):
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
    # Not O_TRUNC: a hard-linked or special file is refused before anything in it changes.
    fd = _open_regular(ctx, path, os.O_WRONLY | os.O_CREAT, 0o644, create_parents=True, writing=True)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.truncate(0)
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
    fd = _open_regular(ctx, path, os.O_RDWR, writing=True)
    if os.fstat(fd).st_size > MAX_EDITED_BYTES:
        os.close(fd)
        return ToolResult.failure(
            "too_large", f"{path} is over {MAX_EDITED_BYTES:,} bytes; edit it with run_shell (sed) instead"
        )
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
