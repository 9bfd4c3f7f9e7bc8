"""The ledger subscriber: turns each event of a turn into rows, as it happens.

Sessions and turns on `TurnStarted`, one model-call row per `Usage` (with the cost the event carries),
tool-call rows created at the decision or start and completed at `ToolFinished`, approval decisions,
and one message row per `MessageAdded` (so messages the loop adds when it repairs a cancelled turn are
recorded too). Every row carries the user and host. Arguments and message text are secret-masked.

The recorder runs on the ledger's writer thread (`KernelLedger` queues each event), so its statements
join that burst's transaction; statements are idempotent where a row may be written twice (sessions
and turns by their ids, tool calls by `(turn_id, call_id)`). When a turn ends, its budget hold is
released in the same transaction as its last rows.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from agent_magic.events import (
    ApprovalDecided,
    DecidedBy,
    Decision,
    Event,
    MessageAdded,
    ModelCallStarted,
    ToolCall,
    ToolCallStarted,
    ToolFinished,
    TurnEnded,
    TurnStarted,
    Usage,
)
from agent_magic.ledger.identity import current_host, current_user
from agent_magic.ledger.store import LedgerStore
from agent_magic.policy.secrets import mask_secrets

log = logging.getLogger("agent_magic.ledger")


@dataclass
class _Turn:
    trace_id: str
    cell_id: str | None
    execution_count: int | None
    step: int = 0


def decision_label(decision: Decision, decided_by: DecidedBy) -> str:
    """The `decision` column: how a tool call came to run, or that it did not.

    approved (a person said yes), rule (an approval rule allowed it), headless (the headless policy
    allowed it), denied / stopped (refused; `decided_by` says by whom). Calls needing no approval are
    `auto`.
    """
    if decision is not Decision.APPROVED:
        return decision.value
    if decided_by is DecidedBy.HEADLESS:
        return "headless"
    if decided_by is DecidedBy.RULE:
        return "rule"
    return "approved"


class LedgerRecorder:
    """An `EventSubscriber` that writes every turn into the ledger.

    Example:
        >>> recorder = LedgerRecorder(LedgerStore(resolve_home()), notebook="analysis.ipynb")
        >>> for event in events:
        ...     recorder.handle(event)
    """

    def __init__(self, store: LedgerStore, *, notebook: str, user: str | None = None, host: str | None = None) -> None:
        self.store = store
        self.notebook = notebook
        self.user = user or current_user()
        self.host = host or current_host()
        self._turns: dict[str, _Turn] = {}
        self._unpriced_warned: set[str] = set()
        self._failed = False

    def handle(self, event: Event) -> None:
        """Record one event (never raises: the ledger must not break a turn)."""
        try:
            self._record(event)
            if isinstance(event, TurnEnded):
                self._turns.pop(event.turn_id, None)
        except Exception:
            if not self._failed:  # say it once per kernel; the traceback goes to the log
                log.exception("the usage ledger at %s could not be recorded", self.store.location)
            self._failed = True

    # -- per event ------------------------------------------------------------------------------------

    def _record(self, event: Event) -> None:
        if isinstance(event, TurnStarted):
            self._turn_started(event)
        elif isinstance(event, ModelCallStarted):
            self._turn(event).step = event.step
        elif isinstance(event, Usage):
            self._usage(event)
        elif isinstance(event, MessageAdded):
            self._message(event)
        elif isinstance(event, ApprovalDecided):
            self._approval(event)
        elif isinstance(event, ToolCallStarted):
            self._tool_started(event)
        elif isinstance(event, ToolFinished):
            self._tool_finished(event)
        elif isinstance(event, TurnEnded):
            self.store.write(
                "UPDATE turns SET ended_at = ?, state = ?, message = ? WHERE turn_id = ?",
                (event.at, event.state.value, mask_secrets(event.message), event.turn_id),
            )
            # The turn's rows are all written now: its budget hold would count them twice.
            self.store.write("DELETE FROM budget_holds WHERE turn_id = ?", (event.turn_id,))

    def _turn(self, event: Event) -> _Turn:
        # A subscriber attached mid-turn never saw TurnStarted: record what it can, with an empty trace id.
        return self._turns.setdefault(event.turn_id, _Turn(trace_id="", cell_id=None, execution_count=None))

    def _ids(self, event: Event) -> tuple[str, str, str]:
        return event.session_id, event.turn_id, self._turn(event).trace_id

    def _turn_started(self, event: TurnStarted) -> None:
        self._turns[event.turn_id] = _Turn(event.trace_id, event.cell_id, event.execution_count)
        self.store.write(
            "INSERT INTO sessions (session_id, started_at, notebook, kernel_pid, host, user_name) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (session_id) DO NOTHING",
            (event.session_id, event.at, self.notebook, os.getpid(), self.host, self.user),
        )
        self.store.write(
            "INSERT INTO turns (turn_id, session_id, trace_id, started_at, prompt, model, cell_id, execution_count, "
            "user_name, host) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (turn_id) DO NOTHING",
            (
                event.turn_id,
                event.session_id,
                event.trace_id,
                event.at,
                mask_secrets(event.prompt),
                event.model,
                event.cell_id,
                event.execution_count,
                self.user,
                self.host,
            ),
        )

    def _usage(self, event: Usage) -> None:
        cost = event.cost_usd
        if cost is None and event.model not in self._unpriced_warned:
            self._unpriced_warned.add(event.model)
            log.warning("no price for model %r: its cost is recorded as missing (NaN)", event.model)
        turn = self._turn(event)
        self.store.write(
            "INSERT INTO model_calls (session_id, turn_id, trace_id, at, step, model, input_tokens, cached_tokens, "
            "output_tokens, reasoning_tokens, cost_usd, latency_s, ttft_s, retries, estimated, status, cell_id, "
            "execution_count, user_name, host, replayed) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                *self._ids(event),
                event.at,
                turn.step or None,
                event.model,
                event.input_tokens,
                event.cached_tokens,
                event.output_tokens,
                event.reasoning_tokens,
                cost,
                event.latency_s,
                event.ttft_s,
                event.retries,
                int(event.estimated),
                event.status,
                turn.cell_id,
                turn.execution_count,
                self.user,
                self.host,
                int(event.replayed),
            ),
        )

    def _tool_row(self, event: Event, call: ToolCall) -> tuple[Any, ...]:
        return (
            *self._ids(event),
            call.call_id,
            self._turn(event).step or None,
            event.at,
            call.name,
            call.server,
            mask_secrets(call.arguments),
            self.user,
            self.host,
        )

    _INSERT_TOOL = (
        "INSERT INTO tool_calls (session_id, turn_id, trace_id, call_id, step, at, tool, server, arguments, user_name, "
        "host, {extra}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, {marks}) ON CONFLICT (turn_id, call_id) DO UPDATE SET "
        "{update}"
    )

    def _approval(self, event: ApprovalDecided) -> None:
        self.store.write(
            "INSERT INTO approvals (session_id, turn_id, trace_id, call_id, at, tool, server, decision, decided_by, "
            "reason, seconds_to_decide, user_name, host) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                *self._ids(event),
                event.call.call_id,
                event.at,
                event.call.name,
                event.call.server,
                event.decision,
                event.decided_by,
                mask_secrets(event.reason),
                event.seconds_to_decide,
                self.user,
                self.host,
            ),
        )
        sql = self._INSERT_TOOL.format(
            extra="decision, decided_by",
            marks="?, ?",
            update="decision = excluded.decision, decided_by = excluded.decided_by",
        )
        label = decision_label(event.decision, event.decided_by)
        self.store.write(sql, (*self._tool_row(event, event.call), label, event.decided_by))

    def _tool_started(self, event: ToolCallStarted) -> None:
        sql = self._INSERT_TOOL.format(
            extra="started_at, decision", marks="?, 'auto'", update="started_at = excluded.started_at"
        )
        self.store.write(sql, (*self._tool_row(event, event.call), event.at))

    def _tool_finished(self, event: ToolFinished) -> None:
        refused = event.error_code in ("denied", "approval_required")
        sql = self._INSERT_TOOL.format(
            extra="decision, decided_by, ok, error_code, duration_s, result_chars, truncated",
            marks="?, ?, ?, ?, ?, ?, ?",
            update="ok = excluded.ok, error_code = excluded.error_code, duration_s = excluded.duration_s, "
            "result_chars = excluded.result_chars, truncated = excluded.truncated, "
            "decision = coalesce(tool_calls.decision, excluded.decision), "
            "decided_by = coalesce(tool_calls.decided_by, excluded.decided_by)",
        )
        decision, decided_by = (Decision.DENIED.value, DecidedBy.NOBODY.value) if refused else ("auto", None)
        values = (decision, decided_by, int(event.ok), event.error_code, event.duration_s, len(event.content))
        self.store.write(sql, (*self._tool_row(event, event.call), *values, int(event.truncated)))

    def _message(self, event: MessageAdded) -> None:
        message = event.message
        calls = message.get("tool_calls")
        self.store.write(
            "INSERT INTO messages (session_id, turn_id, trace_id, at, position, role, content, tool_calls, "
            "tool_call_id, user_name, host) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                *self._ids(event),
                event.at,
                event.position,
                message.get("role", ""),
                mask_secrets(str(message.get("content") or "")),
                mask_secrets(json.dumps(calls)) if calls else None,
                message.get("tool_call_id"),
                self.user,
                self.host,
            ),
        )
