"""Plain-text pieces shared by the renderers: how a tool call and its outcome read in one line."""

from __future__ import annotations

import json

from agent_magic.events import ApprovalDecided, ToolCall, ToolFinished, TurnEnded, TurnState

MAX_ARGUMENT_CHARS = 200


def call_signature(call: ToolCall) -> str:
    """`name(key=value, …)` from the raw JSON arguments, shortened; raw text when they are not JSON."""
    try:
        arguments = json.loads(call.arguments or "{}")
    except json.JSONDecodeError:
        return f"{call.name}({call.arguments[:MAX_ARGUMENT_CHARS]})"
    if not isinstance(arguments, dict):
        return f"{call.name}({call.arguments[:MAX_ARGUMENT_CHARS]})"
    text = ", ".join(f"{key}={value!r}" for key, value in arguments.items())
    if len(text) > MAX_ARGUMENT_CHARS:
        text = text[:MAX_ARGUMENT_CHARS] + "…"
    return f"{call.name}({text})"


def outcome_line(event: ToolFinished) -> str:
    """`ok in 0.12 s` or `error not_found in 0.01 s`, with a truncation note."""
    status = "ok" if event.ok else f"error {event.error_code}"
    note = ", output truncated" if event.truncated else ""
    return f"{status} in {event.duration_s:.2f} s{note}"


def decision_line(event: ApprovalDecided) -> str:
    """`write_file: denied by user click — not that file` (Markdown), the record a saved notebook keeps."""
    mark = {"approved": "✅", "denied": "🚫", "stopped": "⏹"}.get(event.decision, "")
    reason = f" — {event.reason}" if event.reason else ""
    return f"{mark} `{event.call.name}`: **{event.decision}** by {event.decided_by}{reason}".strip()


def ending_line(event: TurnEnded) -> str:
    """The one line shown when a turn ends other than by completing."""
    prefix = {
        TurnState.CANCELLED: "⏹",
        TurnState.FAILED: "❌",
        TurnState.LIMIT_REACHED: "⛔",
    }.get(event.state, "")
    return f"{prefix} {event.message}".strip()
