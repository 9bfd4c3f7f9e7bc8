"""Plain-text pieces shared by the renderers: how a tool call and its outcome read in one line."""

from __future__ import annotations

import json
import reprlib

from agent_magic.events import ApprovalDecided, ToolCall, ToolFinished, TurnEnded, TurnState

MAX_ARGUMENT_CHARS = 200
MAX_PARSED_CHARS = 1_000_000  # longer arguments are shown raw (cut), not decoded just to print one line


# Values are shown through reprlib: bounded in size and depth, so a huge or deeply nested argument costs
# no more to show than a small one (a plain repr of 200,000 nested lists recurses until it fails).
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong = 3, MAX_ARGUMENT_CHARS, MAX_ARGUMENT_CHARS, 40
_SHORT.maxlist = _SHORT.maxdict = _SHORT.maxtuple = _SHORT.maxset = 8


def call_signature(call: ToolCall) -> str:
    """`name(key=value, …)` from the raw JSON arguments, shortened; raw text when they are not readable."""
    raw = call.arguments or "{}"
    try:
        arguments = json.loads(raw) if len(raw) <= MAX_PARSED_CHARS else None
    except (json.JSONDecodeError, RecursionError):
        arguments = None
    if not isinstance(arguments, dict):
        return f"{call.name}({raw[:MAX_ARGUMENT_CHARS]}{'…' if len(raw) > MAX_ARGUMENT_CHARS else ''})"
    text = ", ".join(f"{key}={_SHORT.repr(value)}" for key, value in list(arguments.items())[:20])
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
