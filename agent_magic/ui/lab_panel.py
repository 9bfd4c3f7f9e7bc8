"""The data of the JupyterLab companion's usage & audit panel: a snapshot read from the ledger, kept live
by the turn's own messages, with nothing counted twice.

The snapshot is read through the ledger's public views (`usage()`, `tool_calls()`: whatever backend
stores the ledger) on a worker thread, so a large ledger never stalls a running turn. A turn under way
while it is read is left out of it: its model calls, tool calls and decisions reach the panel as the
messages this feed sends live (`model_call`, `tool_call`, `approval_decided`), the ones already sent
replayed in the answer's `live` list. The frontend ignores live messages while its request is out and
applies them after the snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent_magic.events import (
    ApprovalDecided,
    Decision,
    Event,
    ToolFinished,
    TurnEnded,
    TurnStarted,
    Usage,
)
from agent_magic.ui import lab_protocol as protocol

if TYPE_CHECKING:
    import pandas as pd

    from agent_magic.ledger.context import LedgerContext

log = logging.getLogger("agent_magic.lab")

# At most this many points on the chart (calls are summed into time buckets beyond it).
MAX_POINTS = 400
# The approval audit shows the latest decisions, at most this many.
MAX_AUDIT_ROWS = 500
# How a tool_calls() `decision` label reads in the audit (rule and headless approvals are approvals).
_AUDIT_DECISION = {"approved": "approved", "rule": "approved", "headless": "approved", "denied": "denied"}

Frames = tuple["pd.DataFrame", "pd.DataFrame"]  # usage(), tool_calls()
# scope → the read of its frames: called on the event loop (where the ledger is opened), the read itself
# then runs on a worker thread.
Reader = Callable[[str], Callable[[], Frames]]
Reply = Callable[[dict[str, Any]], None]


def read_ledger(context: LedgerContext, scope: str) -> Frames:
    """`usage()` and `tool_calls()` of the context's notebook (`scope` "notebook") or of every notebook."""
    from agent_magic.ledger.views import tool_calls, usage

    everything = scope == "all"
    return usage(context, all_sessions=everything), tool_calls(context, all_sessions=everything)


def _number(value: Any) -> float | None:
    """A JSON number from a pandas value; None for NaN / missing."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _points(usage: pd.DataFrame) -> list[dict[str, Any]]:
    """Tokens and dollars over time: one point per model call, or per time bucket beyond MAX_POINTS."""
    import numpy as np
    import pandas as pd

    if usage.empty:
        return []
    frame = pd.DataFrame(
        {
            "at": ((usage["time"] - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(),
            "tokens": (usage["input_tokens"] + usage["output_tokens"]).to_numpy(),
            "cost_usd": usage["cost_usd"].to_numpy(),
        }
    ).sort_values("at")
    if len(frame) > MAX_POINTS:
        edges = np.linspace(frame["at"].iloc[0], frame["at"].iloc[-1], MAX_POINTS + 1)
        bucket = np.clip(np.searchsorted(edges, frame["at"].to_numpy(), side="right") - 1, 0, MAX_POINTS - 1)
        frame = frame.groupby(bucket).agg(
            at=("at", "max"), tokens=("tokens", "sum"), cost_usd=("cost_usd", lambda c: c.sum(min_count=1))
        )
    return [
        {"at": float(at), "tokens": int(tokens), "cost_usd": _number(cost)}
        for at, tokens, cost in frame[["at", "tokens", "cost_usd"]].itertuples(index=False)
    ]


def summarize(frames: Frames, left_out: set[str]) -> dict[str, Any]:
    """The panel's data from the ledger's rows, without the turns in `left_out`: `points`, `by_model`,
    `by_tool` and `approvals` (the latest decisions, oldest first)."""
    from agent_magic.events import ToolCall
    from agent_magic.ui.format import call_signature
    from agent_magic.ui.usage_report import per_model, per_tool

    usage, tools = frames
    if left_out:
        usage = usage[~usage["turn"].astype(str).isin(left_out)]
        tools = tools[~tools["turn"].astype(str).isin(left_out)]
    by_model = [
        {
            "model": str(model),
            "calls": int(row.calls),
            "input_tokens": int(row.input_tokens),
            "cached_tokens": int(row.cached_tokens),
            "output_tokens": int(row.output_tokens),
            "reasoning_tokens": int(row.reasoning_tokens),
            "cost_usd": _number(row.cost_usd),
        }
        for model, row in per_model(usage).iterrows()
    ]
    by_tool = [
        {"tool": str(tool), "calls": int(row.calls), "denied": int(row.denied), "failed": int(row.failed)}
        for tool, row in per_tool(tools).iterrows()
    ]
    decided = tools[tools["decided_by"].notna()].sort_values("time").tail(MAX_AUDIT_ROWS)
    approvals = [
        {
            "turn_id": str(row.turn),
            "call_id": str(row.call_id),
            "at": row.time.timestamp(),
            "tool": str(row.tool),
            "arguments": call_signature(ToolCall(str(row.call_id), str(row.tool), row.arguments or "")),
            "decision": _AUDIT_DECISION.get(row.decision, str(row.decision)),
            "decided_by": str(row.decided_by),
        }
        for row in decided.itertuples(index=False)
    ]
    return {"points": _points(usage), "by_model": by_model, "by_tool": by_tool, "approvals": approvals}


class PanelFeed:
    """Answers the panel's requests and turns a turn's events into the panel's live messages.

    `read(scope)`, called on the event loop, returns the function that reads the ledger's frames (see
    `read_ledger`) on a worker thread.

    Example:
        >>> feed = PanelFeed(lambda scope: functools.partial(read_ledger, ledger_context(), scope))
        >>> for message in feed.live(event, cell_id):   # every event of every turn
        ...     broadcast(message)
        >>> feed.request("notebook", "r1", reply=comm_send)   # answered later, on the event loop
    """

    def __init__(self, read: Reader) -> None:
        self._read = read
        self._running: str | None = None
        self._sent: dict[str, list[dict[str, Any]]] = {}  # live messages of turns a snapshot may leave out
        self._requests: dict[int, set[str]] = {}  # request → the turns its snapshot leaves out
        self._next_request = 0

    # -- live messages --------------------------------------------------------------------------------

    def live(self, event: Event, cell_id: str | None) -> list[dict[str, Any]]:
        """The panel messages `event` brings (none for most events)."""
        if isinstance(event, TurnStarted):
            self._running = event.turn_id
            self._sent[event.turn_id] = []
            for left_out in self._requests.values():
                left_out.add(event.turn_id)
            return []
        messages = self._messages(event, cell_id)
        if messages and event.turn_id in self._sent:
            self._sent[event.turn_id].extend(messages)
        if isinstance(event, TurnEnded):
            self._running = None
            self._forget_unneeded()
        return messages

    @staticmethod
    def _messages(event: Event, cell_id: str | None) -> list[dict[str, Any]]:
        if isinstance(event, Usage):
            return [protocol.model_call_message(event)]
        if isinstance(event, ApprovalDecided):
            decided = [protocol.approval_decided_message(event, cell_id)]
            if event.decision is Decision.STOPPED:  # the call never runs: no ToolFinished will tell it ended
                decided.append(protocol.tool_call_message(event.turn_id, event.call, event.at, ok=None, refused=True))
            return decided
        if isinstance(event, ToolFinished):
            nobody = event.error_code == "approval_required"
            refused = nobody or event.error_code == "denied"
            ended = protocol.tool_call_message(event.turn_id, event.call, event.at, ok=event.ok, refused=refused)
            return [protocol.refusal_message(event, cell_id), ended] if nobody else [ended]
        return []

    def _forget_unneeded(self) -> None:
        """Keep the live messages only of the running turn and of turns a pending snapshot leaves out."""
        needed = set().union(*self._requests.values()) | ({self._running} if self._running else set())
        for turn_id in [t for t in self._sent if t not in needed]:
            del self._sent[turn_id]

    # -- snapshots ------------------------------------------------------------------------------------

    def request(self, scope: str, request_id: str, reply: Reply) -> None:
        """Read the ledger for `scope` (off the event loop when one runs) and `reply` with a `panel`
        message; a read that fails replies with an empty panel and a one-line `error`."""
        key, self._next_request = self._next_request, self._next_request + 1
        self._requests[key] = {self._running} if self._running else set()

        def answer(frames: Frames | None, error: str | None) -> None:
            left_out = self._requests.pop(key)
            data: dict[str, Any] = {"points": [], "by_model": [], "by_tool": [], "approvals": []}
            if frames is not None:
                try:
                    data = summarize(frames, left_out)
                except Exception as exc:  # a bug of ours must not break the kernel's comm handling
                    log.exception("summarizing the ledger for the panel failed")
                    error = f"the usage panel could not be built: {type(exc).__name__}: {exc}"
            live = [m for turn_id, sent in self._sent.items() if turn_id in left_out for m in sent]
            self._forget_unneeded()
            reply(protocol.panel_message(request_id, scope, data, live, error))

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        try:
            read = self._read(scope)
        except Exception as exc:  # e.g. a ledger_url that cannot be used: one line, in an empty panel
            answer(None, _unreadable(exc))
            return
        if loop is None:
            answer(*_read_safely(read))
            return
        future = loop.run_in_executor(None, _read_safely, read)
        future.add_done_callback(lambda done: answer(*done.result()))


def _unreadable(exc: Exception) -> str:
    return f"the ledger could not be read: {type(exc).__name__}: {exc}"


def _read_safely(read: Callable[[], Frames]) -> tuple[Frames | None, str | None]:
    try:
        return read(), None
    except Exception as exc:  # an unreadable ledger: the panel says so in one line
        log.debug("reading the ledger for the panel failed", exc_info=True)
        return None, _unreadable(exc)
