"""Project instructions: the workspace's AGENTS.md (the cross-tool convention) added to the system prompt.

The files named by `AgentMagic.instructions_files` are read from the workspace root, through the same
checks as the file tools (no link out of the workspace, regular files only), and re-read when they
change. Their text is the user's own instructions, so it goes into the system prompt after the built-in
prompt and before the rule about untrusted tool output; it is capped in size (with a notice saying so),
and it cannot change anything else: approvals, rules and budgets are enforced outside the model.
"""

from __future__ import annotations

import codecs
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agent_magic.policy.workspace import WorkspacePathError, open_in_workspace
from agent_magic.prompts import INSTRUCTIONS_HEADER


@dataclass(frozen=True)
class InstructionsFile:
    """One configured file: what was read of it (`chars`, `truncated`), or why nothing was (`problem`)."""

    name: str
    chars: int = 0
    total_chars: int = 0
    problem: str | None = None

    @property
    def truncated(self) -> bool:
        """True when only part of the file is sent."""
        return self.chars < self.total_chars

    def describe(self) -> str:
        """One line for `%agent config`."""
        if self.problem:
            return f"{self.name}: {self.problem}"
        cut = f" (cut from {self.total_chars:,}: AgentMagic.instructions_max_chars)" if self.truncated else ""
        return f"{self.name}: {self.chars:,} characters{cut}"


@dataclass(frozen=True)
class Instructions:
    """The system-prompt block built from the files (empty when none was found) and what each file gave."""

    text: str
    files: tuple[InstructionsFile, ...]


class ProjectInstructions:
    """Reads the instructions files, again only when one changed (by size, time or inode).

    Example:
        >>> loader = ProjectInstructions()
        >>> loader.load(Path("."), ["AGENTS.md"], max_chars=20_000).files[0].describe()  # doctest: +SKIP
        'AGENTS.md: 1,234 characters'
    """

    def __init__(self) -> None:
        self._cache: dict[tuple[Path, str, int], tuple[tuple[int, int, int], str, int]] = {}
        self._notices: list[str] = []

    def load(self, workspace: Path, names: Sequence[str], *, max_chars: int) -> Instructions:
        """The instructions of `workspace` from the files `names`, at most `max_chars` characters in all."""
        files: list[InstructionsFile] = []
        parts: list[str] = []
        room = max_chars
        for name in names:
            read = self._read(workspace, name, max_chars)
            if isinstance(read, str):
                files.append(InstructionsFile(name, problem=read))
                continue
            text, total, fresh = read
            kept = text[:room]
            files.append(InstructionsFile(name, chars=len(kept), total_chars=total))
            if len(kept) < total:
                kept += f"\n[… {name} cut here: the rest ({total - len(kept):,} characters) was not sent]"
                if fresh:
                    self._notices.append(
                        f"📄 {name} has {total:,} characters; only the first {len(text[:room]):,} are sent to the "
                        "model (AgentMagic.instructions_max_chars)"
                    )
            if text[:room]:
                parts.append(f'<instructions file="{name}">\n{kept}\n</instructions>')
            room -= len(text[:room])
        loaded = [f.name for f in files if f.problem is None]
        if not parts:
            return Instructions("", tuple(files))
        header = INSTRUCTIONS_HEADER.format(names=", ".join(loaded))
        return Instructions("\n".join([header, *parts]), tuple(files))

    def take_notices(self) -> list[str]:
        """One-line notices since the last call (a file cut to the cap when it was read), for the cell."""
        notices, self._notices = self._notices, []
        return notices

    def _read(self, workspace: Path, name: str, max_chars: int) -> tuple[str, int, bool] | str:
        """The file's text (at most `max_chars`), its length in characters and whether it was read anew
        (rather than from the cache); or why it was not read."""
        try:
            fd, _ = open_in_workspace(workspace, name, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            return "not found"
        except (WorkspacePathError, OSError) as exc:
            return f"not read ({exc})"
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                return "not read (not a regular file)"
            signature = (info.st_mtime_ns, info.st_size, info.st_ino)
            key = (workspace, name, max_chars)
            cached = self._cache.get(key)
            if cached is not None and cached[0] == signature:
                return cached[1], cached[2], False
            # A UTF-8 character is at most 4 bytes: more than this is never sent, so it is never read.
            limit = 4 * max_chars + 4
            data = handle.read(limit)
            whole = len(data) < limit
            try:
                text = codecs.getincrementaldecoder("utf-8")().decode(data, final=whole)
            except UnicodeDecodeError:
                return "not read (not UTF-8 text)"
        total = len(text) if whole else info.st_size  # bytes: as many characters for ASCII text
        self._cache[key] = (signature, text[:max_chars], total)
        return text[:max_chars], total, True
