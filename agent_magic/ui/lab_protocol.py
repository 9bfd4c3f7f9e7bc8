"""The messages agent_magic exchanges with its JupyterLab companion over the `agent_magic` comm.

Version 1 of the schema (documented in docs/jupyterlab.md, mirrored in `labextension/src/protocol.ts`). Every
message is a JSON object with `"v": 1` and a `"type"`; a receiver ignores types it does not know, so
fields and types can be added without a version bump. A change that alters the meaning of an existing
field bumps `SCHEMA_VERSION`.

Kernel → frontend: `state` (a full snapshot, sent when the comm opens),
`turn_started`, `usage`, `approval_requested`, `approval_decided`, `turn_ended`, `insert_cells`.
Frontend → kernel: `stop` (stop the running turn).

This module only builds and reads plain dicts; `lab_comm.py` moves them over the wire.
"""

from __future__ import annotations

from typing import Any

from agent_magic.events import ApprovalDecided, ApprovalRequested, TurnEnded, TurnStarted

COMM_TARGET = "agent_magic"
SCHEMA_VERSION = 1

# The frontend → kernel message the kernel acts on.
STOP = "stop"


def message(kind: str, **fields: Any) -> dict[str, Any]:
    """One message of the current schema: `{"v": 1, "type": kind, **fields}`."""
    return {"v": SCHEMA_VERSION, "type": kind, **fields}


def state_message(
    running: dict[str, Any] | None, approvals: list[dict[str, Any]], usage: dict[str, Any]
) -> dict[str, Any]:
    """The snapshot a frontend needs after (re)connecting: the running turn, pending approvals, usage."""
    return message("state", running=running, approvals=approvals, usage=usage)


def usage_message(usage: dict[str, Any]) -> dict[str, Any]:
    """The session's usage changed; `usage` is shaped like `agent_magic.session_totals()`."""
    return message("usage", usage=usage)


def turn_started_message(event: TurnStarted) -> dict[str, Any]:
    """A `%%agent` cell began a turn; `cell_id` is the notebook cell's id (None outside notebooks)."""
    return message(
        "turn_started",
        session_id=event.session_id,
        turn_id=event.turn_id,
        cell_id=event.cell_id,
        execution_count=event.execution_count,
        model=event.model,
    )


def approval_requested_message(event: ApprovalRequested, cell_id: str | None) -> dict[str, Any]:
    """A tool call waits for Approve/Deny in the cell `cell_id`."""
    return message(
        "approval_requested",
        turn_id=event.turn_id,
        call_id=event.call.call_id,
        tool=event.call.name,
        cell_id=cell_id,
    )


def approval_decided_message(event: ApprovalDecided, cell_id: str | None) -> dict[str, Any]:
    """The approval `call_id` was decided (`decision`: approved, denied or stopped)."""
    return message(
        "approval_decided",
        turn_id=event.turn_id,
        call_id=event.call.call_id,
        decision=event.decision,
        cell_id=cell_id,
    )


def turn_ended_message(event: TurnEnded, cell_id: str | None) -> dict[str, Any]:
    """The turn reached a final state (`completed`, `cancelled`, `failed`, `limit_reached`)."""
    return message("turn_ended", turn_id=event.turn_id, cell_id=cell_id, state=event.state.value)


def insert_cells_message(turn_id: str, cell_id: str | None, cells: list[dict[str, Any]]) -> dict[str, Any]:
    """Insert `cells` (each `{"source", "metadata"}`) as code cells below the agent cell `cell_id`, in order,
    replacing those an earlier run of that cell inserted; the frontend never runs them."""
    return message("insert_cells", turn_id=turn_id, cell_id=cell_id, cells=cells)


def incoming_type(data: Any) -> str | None:
    """The type of a frontend message we understand, or None (wrong version, malformed, unknown)."""
    if not isinstance(data, dict) or data.get("v") != SCHEMA_VERSION:
        return None
    kind = data.get("type")
    return kind if kind == STOP else None
