"""The messages agent_magic exchanges with its JupyterLab companion over the `agent_magic` comm.

Version 1 of the schema (documented in docs/jupyterlab.md, mirrored in `labextension/src/protocol.ts`). Every
message is a JSON object with `"v": 1` and a `"type"`; a receiver ignores types it does not know, so
fields and types can be added without a version bump. A change that alters the meaning of an existing
field bumps `SCHEMA_VERSION`.

Kernel → frontend: `state` (a full snapshot, sent when the comm opens),
`turn_started`, `usage`, `approval_requested`, `approval_decided`, `turn_ended`, `insert_cells`; for the
usage & audit panel, `model_call` and `tool_call` as they happen and `panel` (the answer to a
`panel_request`). Frontend → kernel: `stop` (stop the running turn), `panel_request` (the panel's data for
this notebook or all notebooks), `decide` (approve or deny a pending request from the keyboard).

This module only builds and reads plain dicts; `lab_comm.py` moves them over the wire.
"""

from __future__ import annotations

from typing import Any

from agent_magic.events import (
    ApprovalDecided,
    ApprovalRequested,
    DecidedBy,
    Decision,
    ToolCall,
    ToolFinished,
    TurnEnded,
    TurnStarted,
    Usage,
)
from agent_magic.policy.secrets import mask_secrets
from agent_magic.ui.format import call_signature

COMM_TARGET = "agent_magic"
SCHEMA_VERSION = 1

# The frontend → kernel messages the kernel acts on.
STOP = "stop"
PANEL_REQUEST = "panel_request"
DECIDE = "decide"
_INCOMING = (STOP, PANEL_REQUEST, DECIDE)
# What a panel can show: the running notebook's records, or the whole ledger's.
PANEL_SCOPES = ("notebook", "all")
DECISIONS = ("approve", "deny")


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


def _audit_fields(call: ToolCall, at: float, decided_by: str, reason: str) -> dict[str, Any]:
    """What the panel's approval audit shows of a decision: the tool, a one-line summary of its
    arguments (secrets masked, as in the ledger), who decided, why, and when (Unix seconds)."""
    return {
        "tool": call.name,
        "arguments": mask_secrets(call_signature(call)),
        "decided_by": decided_by,
        "reason": mask_secrets(reason),
        "at": at,
    }


def approval_decided_message(event: ApprovalDecided, cell_id: str | None) -> dict[str, Any]:
    """The approval `call_id` was decided (`decision`: approved, denied or stopped), by whom and why."""
    return message(
        "approval_decided",
        turn_id=event.turn_id,
        call_id=event.call.call_id,
        decision=event.decision,
        cell_id=cell_id,
        **_audit_fields(event.call, event.at, event.decided_by, event.reason),
    )


def refusal_message(event: ToolFinished, cell_id: str | None) -> dict[str, Any]:
    """A call refused because no one could approve it (no approver), as an `approval_decided`."""
    return message(
        "approval_decided",
        turn_id=event.turn_id,
        call_id=event.call.call_id,
        decision=Decision.DENIED,
        cell_id=cell_id,
        **_audit_fields(event.call, event.at, DecidedBy.NOBODY, event.content),
    )


def model_call_message(event: Usage) -> dict[str, Any]:
    """One model call's tokens and dollars (`cost_usd` null when the model has no price)."""
    return message(
        "model_call",
        turn_id=event.turn_id,
        at=event.at,
        model=event.model,
        input_tokens=event.input_tokens,
        cached_tokens=event.cached_tokens,
        output_tokens=event.output_tokens,
        reasoning_tokens=event.reasoning_tokens,
        cost_usd=event.cost_usd,
    )


def tool_call_message(turn_id: str, call: ToolCall, at: float, *, ok: bool | None, refused: bool) -> dict[str, Any]:
    """A tool call is over: it ran (`ok`), or was refused (denied, stopped, nobody to approve it)."""
    return message("tool_call", turn_id=turn_id, call_id=call.call_id, tool=call.name, at=at, ok=ok, refused=refused)


def panel_message(
    request_id: str, scope: str, data: dict[str, Any], live: list[dict[str, Any]], error: str | None = None
) -> dict[str, Any]:
    """The answer to a `panel_request`: the ledger's records in `scope` (`data`: `points`, `by_model`,
    `by_tool`, `approvals`), without the turns that `live` tells message by message."""
    return message("panel", request_id=request_id, scope=scope, live=live, error=error, **data)


def turn_ended_message(event: TurnEnded, cell_id: str | None) -> dict[str, Any]:
    """The turn reached a final state (`completed`, `cancelled`, `failed`, `limit_reached`)."""
    return message("turn_ended", turn_id=event.turn_id, cell_id=cell_id, state=event.state.value)


def insert_cells_message(turn_id: str, cell_id: str | None, cells: list[dict[str, Any]]) -> dict[str, Any]:
    """Insert `cells` (each `{"source", "metadata"}`) as code cells below the agent cell `cell_id`, in order,
    replacing those an earlier run of that cell inserted; the frontend never runs them."""
    return message("insert_cells", turn_id=turn_id, cell_id=cell_id, cells=cells)


def incoming_type(data: Any) -> str | None:
    """The type of a frontend message we understand, with its fields well-formed; None otherwise (wrong
    version, malformed, unknown)."""
    if not isinstance(data, dict) or data.get("v") != SCHEMA_VERSION:
        return None
    kind = data.get("type")
    if kind == PANEL_REQUEST and not (isinstance(data.get("request_id"), str) and data.get("scope") in PANEL_SCOPES):
        return None
    if kind == DECIDE and not (isinstance(data.get("call_id"), str) and data.get("decision") in DECISIONS):
        return None
    return kind if kind in _INCOMING else None
