"""Taking a turn back: files restored from their copies, bindings given their previous objects, and a plain
account of what undo cannot take back (in-place mutation, shell side effects, anything outside the
workspace, the effects of tools that report no changes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agent_magic.events import FileChange, NamespaceChange, ToolCall
from agent_magic.tools.registry import ToolRegistry
from agent_magic.ui.format import call_signature
from agent_magic.undo.bindings import COVERS_BINDINGS, restore_bindings
from agent_magic.undo.files import COVERS_FILES, restore_file
from agent_magic.undo.journal import Checkpoint

IN_PLACE_CAVEAT = (
    "objects that run_python changed in place (e.g. df.drop(..., inplace=True), list.append) and files its code "
    "wrote are not restored: undo puts back bindings, not object contents"
)


@dataclass(frozen=True)
class UndoReport:
    """What an undo did: one line per thing restored, per thing left as it is (and why), and per effect
    it cannot take back."""

    restored: tuple[str, ...]
    refused: tuple[str, ...]
    not_undone: tuple[str, ...]


def _file_lines(changes: Sequence[FileChange]) -> tuple[list[str], list[str]]:
    """Restore each changed file to its state before its first change in the turn."""
    by_path: dict[tuple[str, str], list[FileChange]] = {}
    for change in changes:
        by_path.setdefault((change.workspace, change.path), []).append(change)
    restored: list[str] = []
    refused: list[str] = []
    for history in by_path.values():
        try:
            done, line = restore_file(history[0], history[-1])
        except OSError as exc:
            done, line = False, f"`{history[0].path}`: not restored ({exc})"
        (restored if done else refused).append(line)
    return restored, refused


def _not_undone(calls: Sequence[ToolCall], tools: ToolRegistry) -> list[str]:
    """The effects of the turn's calls that no change report covers."""
    lines: list[str] = []
    for call in calls:
        tool = tools.get(call.name)
        if tool is None or not tool.destructive:
            continue
        coverage = getattr(tool.function, "undo_coverage", None)
        if coverage == COVERS_FILES:
            continue
        if coverage == COVERS_BINDINGS:
            if IN_PLACE_CAVEAT not in lines:
                lines.append(IN_PLACE_CAVEAT)
            continue
        lines.append(
            f"`{call_signature(call)}`: not undone; what it did (files, processes, anything outside the "
            "workspace) stays as it is"
        )
    return lines


def undo_checkpoint(checkpoint: Checkpoint, namespace: dict[str, Any], tools: ToolRegistry) -> UndoReport:
    """Put back what the checkpoint's turn changed and describe the rest."""
    files = [c for c in checkpoint.changes if isinstance(c, FileChange)]
    bindings = [c for c in checkpoint.changes if isinstance(c, NamespaceChange)]
    restored, refused = _file_lines(files)
    names_restored, names_refused = restore_bindings(bindings, namespace)
    return UndoReport(
        tuple(restored + names_restored), tuple(refused + names_refused), tuple(_not_undone(checkpoint.calls, tools))
    )
