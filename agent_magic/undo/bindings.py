"""Namespace bindings for undo: which names a `run_python` call bound, rebound or deleted, with the
objects themselves (references, not copies, so nothing is duplicated in memory), and putting them back.

Only bindings are tracked. An object changed in place (`df.drop(columns=..., inplace=True)`,
`rows.append(x)`) is the same object before and after, so undo cannot restore it, and says so.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from agent_magic.events import Bindings, NamespaceChange

if TYPE_CHECKING:
    from agent_magic.tools.context import ToolContext
    from agent_magic.tools.result import ToolResult

_ABSENT = object()
# exec() adds __builtins__ to a namespace that lacks it: that is the interpreter's, never the code's doing.
_NOT_BINDINGS = frozenset({"__builtins__"})
# Marks a tool whose calls report the bindings they change (read by the undo report).
COVERS_BINDINGS = "bindings"


class NamespaceSnapshot:
    """The bindings of a namespace at one moment: a shallow copy of the dict (references only)."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self._namespace = namespace
        self._before = dict(namespace)

    def change(self) -> NamespaceChange | None:
        """What changed in the namespace since the snapshot, or None when nothing did."""
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        now = dict(self._namespace)
        for name in (self._before.keys() | now.keys()) - _NOT_BINDINGS:
            old, new = self._before.get(name, _ABSENT), now.get(name, _ABSENT)
            if old is new:
                continue
            if old is not _ABSENT:
                before[name] = old
            if new is not _ABSENT:
                after[name] = new
        return NamespaceChange(Bindings(before), Bindings(after)) if before or after else None


def restore_bindings(changes: Sequence[NamespaceChange], namespace: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Give every name the turn changed its object from before the turn; names the turn created are removed.

    A name bound to something else since the turn (by a later cell) is left alone. Returns one line per
    name restored and per name left as it is.
    """
    first: dict[str, Any] = {}
    last: dict[str, Any] = {}
    for change in changes:
        for name in change.before.objects.keys() | change.after.objects.keys():
            first.setdefault(name, change.before.objects.get(name, _ABSENT))
            last[name] = change.after.objects.get(name, _ABSENT)
    restored: list[str] = []
    refused: list[str] = []
    for name in sorted(first):
        old, new = first[name], last[name]
        if namespace.get(name, _ABSENT) is not new:
            refused.append(f"`{name}`: not restored, it was bound again after the turn (its current value is kept)")
        elif old is _ABSENT:
            del namespace[name]
            restored.append(f"`{name}`: removed (the turn created it)")
        else:
            namespace[name] = old
            restored.append(
                f"`{name}`: " + ("back (the turn deleted it)" if new is _ABSENT else "its previous value is back")
            )
    return restored, refused


def records_namespace_change(tool: Callable[..., Awaitable[ToolResult]]) -> Callable[..., Awaitable[ToolResult]]:
    """Decorate an async tool `tool(ctx, ...)` that runs code in `ctx.namespace`: its result reports the
    bindings the call changed. Without `ctx.snapshots` (undo switched off) the tool runs as it is."""

    @functools.wraps(tool)
    async def recorded(ctx: ToolContext, *args: Any, **kwargs: Any) -> ToolResult:
        snapshot = NamespaceSnapshot(ctx.namespace) if ctx.snapshots is not None else None
        result = await tool(ctx, *args, **kwargs)
        change = snapshot.change() if snapshot is not None else None
        return result if change is None else dataclasses.replace(result, changes=(*result.changes, change))

    recorded.undo_coverage = COVERS_BINDINGS  # type: ignore[attr-defined]
    return recorded
