"""A session's totals as plain JSON-ready data (the JupyterLab status bar and `session_totals()`):
read from the ledger once, then kept current from the session's events.

Only SQL aggregates (portable: SQLite and PostgreSQL) and arithmetic, no pandas: cheap enough to send
after every model call.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from agent_magic.events import (
    ApprovalDecided,
    Decision,
    Event,
    ToolCallStarted,
    ToolFinished,
    Usage,
)

if TYPE_CHECKING:
    from agent_magic.ledger.store import LedgerStore

# The JupyterLab publisher reads these on the event loop: it waits this long at most for queued writes
# (a session's first read; its events are counted as they come anyway).
READ_WAIT_S = 0.5
# Tool calls that did not run because someone (or no one) refused them.
_REFUSALS = (Decision.DENIED, Decision.STOPPED)


def empty_totals(session_id: str | None, *, cost_known: bool = True) -> dict[str, Any]:
    """Totals with nothing spent; `cost_known=False` makes the cost unknown (None) rather than zero,
    for when the ledger could not be read."""
    return {
        "session": session_id,
        "model_calls": 0,
        "input_tokens": 0,
        "cached_tokens": 0,
        "output_tokens": 0,
        "reasoning_tokens": 0,
        "tokens": 0,
        "cost_usd": 0.0 if cost_known else None,
        "unpriced_models": [],
        "estimated_calls": 0,
        "tool_calls": 0,
        "by_model": [],
        "by_tool": [],
    }


def read_session_totals(store: LedgerStore, session_id: str | None) -> dict[str, Any]:
    """Totals of one session from the ledger.

    Keys: `session`, `model_calls`, `input_tokens`, `cached_tokens`, `output_tokens`, `reasoning_tokens`,
    `tokens` (input + output), `cost_usd` (priced calls only; None when no call was priced),
    `unpriced_models` (models without a price: their calls are not in `cost_usd`), `estimated_calls`,
    `tool_calls`, `by_model` [{model, calls, input_tokens, cached_tokens, output_tokens, cost_usd}] and
    `by_tool` [{tool, calls, denied, failed}].
    """
    by_model = [
        {"model": m, "calls": n, "input_tokens": i, "cached_tokens": c, "output_tokens": o, "cost_usd": cost}
        for m, n, i, c, o, cost in store.query(
            "SELECT model, count(*), sum(input_tokens), sum(cached_tokens), sum(output_tokens), sum(cost_usd) "
            "FROM model_calls WHERE session_id = ? GROUP BY model ORDER BY model",
            (session_id,),
            wait=READ_WAIT_S,
        )
    ]
    ((reasoning, estimated),) = store.query(
        "SELECT coalesce(sum(reasoning_tokens), 0), coalesce(sum(estimated), 0) FROM model_calls WHERE session_id = ?",
        (session_id,),
        wait=READ_WAIT_S,
    )
    by_tool = [
        {"tool": t, "calls": n, "denied": d, "failed": f}
        for t, n, d, f in store.query(
            "SELECT tool, count(*), sum(CASE WHEN decision IN ('denied', 'stopped') THEN 1 ELSE 0 END), "
            "sum(CASE WHEN ok = 0 AND coalesce(decision, '') NOT IN ('denied', 'stopped') THEN 1 ELSE 0 END) "
            "FROM tool_calls WHERE session_id = ? GROUP BY tool ORDER BY tool",
            (session_id,),
            wait=READ_WAIT_S,
        )
    ]
    totals = empty_totals(session_id)
    totals.update(reasoning_tokens=reasoning, estimated_calls=estimated, by_model=by_model, by_tool=by_tool)
    return _with_sums(totals)


def _with_sums(totals: dict[str, Any]) -> dict[str, Any]:
    """Fill the top-level sums from `by_model` and `by_tool`."""
    by_model = totals["by_model"]
    priced = [row["cost_usd"] for row in by_model if row["cost_usd"] is not None]
    totals["model_calls"] = sum(row["calls"] for row in by_model)
    for key in ("input_tokens", "cached_tokens", "output_tokens"):
        totals[key] = sum(row[key] for row in by_model)
    totals["tokens"] = totals["input_tokens"] + totals["output_tokens"]
    totals["cost_usd"] = sum(priced) if priced else None
    totals["unpriced_models"] = [row["model"] for row in by_model if row["cost_usd"] is None]
    totals["tool_calls"] = sum(row["calls"] for row in totals["by_tool"])
    return totals


class SessionTally:
    """One session's totals, read from the ledger once and then updated from its events, so a reader
    never depends on the ledger having written the latest rows (or on the order of subscribers).

    Example:
        >>> tally = SessionTally(read_session_totals(store, "3f2a…"))
        >>> if tally.apply(usage_event):
        ...     send(tally.totals())
    """

    def __init__(self, baseline: dict[str, Any]) -> None:
        self._totals = copy.deepcopy(baseline)
        self._models = {row["model"]: row for row in self._totals["by_model"]}
        self._tools = {row["tool"]: row for row in self._totals["by_tool"]}
        self._seen_calls: set[str] = set()
        self._refused_calls: set[str] = set()

    @property
    def session_id(self) -> str | None:
        """The session these totals belong to."""
        return self._totals["session"]

    def totals(self) -> dict[str, Any]:
        """The current totals (a copy, shaped like `read_session_totals`)."""
        return copy.deepcopy(self._totals)

    def apply(self, event: Event) -> bool:
        """Count one event of this session; True when the totals changed."""
        if event.session_id != self.session_id:
            return False
        if isinstance(event, Usage):
            self._add_usage(event)
            return True
        if isinstance(event, ApprovalDecided | ToolCallStarted | ToolFinished):
            return self._add_tool_event(event)
        return False

    def _add_usage(self, event: Usage) -> None:
        row = self._models.get(event.model)
        if row is None:
            row = self._models[event.model] = {
                "model": event.model,
                "calls": 0,
                "input_tokens": 0,
                "cached_tokens": 0,
                "output_tokens": 0,
                "cost_usd": None,
            }
            self._totals["by_model"] = sorted(self._models.values(), key=lambda r: r["model"])
        row["calls"] += 1
        row["input_tokens"] += event.input_tokens
        row["cached_tokens"] += event.cached_tokens
        row["output_tokens"] += event.output_tokens
        if event.cost_usd is not None:
            row["cost_usd"] = (row["cost_usd"] or 0.0) + event.cost_usd
        self._totals["reasoning_tokens"] += event.reasoning_tokens
        self._totals["estimated_calls"] += int(event.estimated)
        _with_sums(self._totals)

    def _add_tool_event(self, event: ApprovalDecided | ToolCallStarted | ToolFinished) -> bool:
        call = event.call
        row = self._tools.get(call.name)
        if row is None:
            row = self._tools[call.name] = {"tool": call.name, "calls": 0, "denied": 0, "failed": 0}
            self._totals["by_tool"] = sorted(self._tools.values(), key=lambda r: r["tool"])
        if call.call_id not in self._seen_calls:
            self._seen_calls.add(call.call_id)
            row["calls"] += 1
        refused = (isinstance(event, ApprovalDecided) and event.decision in _REFUSALS) or (
            isinstance(event, ToolFinished) and event.error_code == "approval_required"
        )
        if refused and call.call_id not in self._refused_calls:
            self._refused_calls.add(call.call_id)
            row["denied"] += 1
        elif isinstance(event, ToolFinished) and not event.ok and call.call_id not in self._refused_calls:
            row["failed"] += 1
        _with_sums(self._totals)
        return True
