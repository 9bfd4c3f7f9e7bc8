"""A user's spending across all their kernels, for the budgets that span kernels (the day budget and
`AgentMagic.user_budget`): check and hold in one transaction.

Before each model call and tool call the budget guard asks `SharedSpend.check` whether the user may
go on. In one transaction, under a lock per user, the ledger sums that user's recorded calls since
each window's start, adds what the user's other running turns hold (their use so far plus the call
each is about to make), adds this turn's use, lets the guard decide, and records this turn's hold. Two
kernels racing therefore cannot both pass a limit by more than the calls already in flight. A turn's
hold is released with its last rows (`LedgerRecorder`), and expires if its kernel died.

When the ledger cannot answer quickly (a server down, a file locked elsewhere), the check uses the
last known spend plus what this kernel spent since, and says so once.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from agent_magic.contracts import Totals
from agent_magic.events import Event, ToolCallStarted, Usage
from agent_magic.ledger.writer import LedgerUnavailable

if TYPE_CHECKING:
    from agent_magic.ledger.backends import LedgerConnection
    from agent_magic.ledger.store import LedgerStore

log = logging.getLogger("agent_magic.ledger")

CHECK_TIMEOUT_S = 1.0  # longest a budget check waits for the ledger before using the last known spend
HOLD_TTL_S = 900.0  # a hold not refreshed for this long is ignored (its kernel died or waits for a person)

Refusal = Callable[[dict[str, Totals]], "str | None"]


def _minus(a: Totals, b: Totals) -> Totals:
    return Totals(*(x - y for x, y in zip(dataclasses.astuple(a), dataclasses.astuple(b), strict=True)))


class SharedSpend:
    """One user's spending in the ledger `store()` (the current one: it follows `AgentMagic.home`)."""

    def __init__(self, store: Callable[[], LedgerStore], *, user: str, host: str) -> None:
        self.store = store
        self.user = user
        self.host = host
        # What this kernel spent (from its events), for checks the ledger cannot answer: plain numbers,
        # as this is counted on the event loop for every event.
        self._calls = self._tools = self._tokens = self._unpriced = 0
        self._cost = 0.0
        self._known: tuple[dict[str, Totals], Totals] = ({}, Totals())  # (used by window, own) at the last check
        self._warned = False

    def count(self, event: Event) -> None:
        """Count this kernel's own spending (called on the event loop with every event)."""
        if isinstance(event, Usage):
            self._calls += 1
            self._tokens += event.input_tokens + event.output_tokens
            if event.cost_usd is None:
                self._unpriced += 1
            else:
                self._cost += event.cost_usd
        elif isinstance(event, ToolCallStarted):
            self._tools += 1

    @property
    def own(self) -> Totals:
        """What this kernel has spent, from its own events."""
        return Totals(self._calls, self._tools, self._tokens, self._cost, self._unpriced)

    def check(
        self, turn_id: str, windows: dict[str, float], turn_used: Totals, claim: Totals, refuse: Refusal
    ) -> str | None:
        """Decide whether turn `turn_id` may make its next call; returns `refuse`'s line, or None (go on).

        `windows` maps each budget's name to its start (Unix seconds); `refuse` gets what the user has
        used in each window (this turn's `turn_used` included, the call about to be made not) and
        returns why to stop, or None. When it says go on, this turn holds `turn_used + claim`.
        """
        own = self.own
        try:
            used, line = self.store().writer.call(
                lambda conn: self._check_and_hold(conn, turn_id, windows, turn_used, claim, refuse), CHECK_TIMEOUT_S
            )
        except LedgerUnavailable as exc:
            return self._check_offline(windows, refuse, exc)
        self._known = (used, own)
        self._warned = False
        return line

    def _check_offline(self, windows: dict[str, float], refuse: Refusal, exc: LedgerUnavailable) -> str | None:
        known, own_then = self._known
        spent_since = _minus(self.own, own_then)
        used = {scope: known.get(scope, Totals()) + spent_since for scope in windows}
        if not self._warned:
            self._warned = True
            log.warning(
                "budgets shared across kernels are checked against the last known spend plus this kernel's since (%s)",
                exc.problem.message,
            )
        return refuse(used)

    def _check_and_hold(
        self,
        conn: LedgerConnection,
        turn_id: str,
        windows: dict[str, float],
        turn_used: Totals,
        claim: Totals,
        refuse: Refusal,
    ) -> tuple[dict[str, Totals], str | None]:
        """On the writer thread: sum, decide and hold, in one transaction under the user's lock."""
        now = time.time()
        with conn.transaction():
            conn.lock(f"agent_magic.budget:{self.user}")
            used = {scope: self._recorded(conn, since, turn_id, now) + turn_used for scope, since in windows.items()}
            line = refuse(used)
            if line is None:
                held = turn_used + claim
                conn.execute(
                    "INSERT INTO budget_holds (turn_id, user_name, host, at, expires_at, model_calls, tool_calls, "
                    "tokens, cost_usd, unpriced_calls) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (turn_id) DO UPDATE SET at = excluded.at, expires_at = excluded.expires_at, "
                    "model_calls = excluded.model_calls, tool_calls = excluded.tool_calls, tokens = excluded.tokens, "
                    "cost_usd = excluded.cost_usd, unpriced_calls = excluded.unpriced_calls",
                    (turn_id, self.user, self.host, now, now + HOLD_TTL_S, *dataclasses.astuple(held)),
                )
        return used, line

    def _recorded(self, conn: LedgerConnection, since: float, turn_id: str, now: float) -> Totals:
        """The user's use since `since`: recorded rows of finished turns plus the holds of running ones
        (whose recorded rows are left out, as their hold counts them), this turn left out."""
        running = "SELECT turn_id FROM budget_holds WHERE user_name = ? AND expires_at > ?"
        scope = f"user_name = ? AND at >= ? AND turn_id <> ? AND turn_id NOT IN ({running})"
        params = (self.user, since, turn_id, self.user, now)
        calls, tokens, cost, unpriced = conn.execute(
            "SELECT count(*), coalesce(sum(input_tokens + output_tokens), 0), coalesce(sum(cost_usd), 0), "
            f"coalesce(sum(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END), 0) FROM model_calls WHERE {scope}",
            params,
        ).fetchone()
        (tools,) = conn.execute(
            f"SELECT count(*) FROM tool_calls WHERE {scope} AND started_at IS NOT NULL", params
        ).fetchone()
        held = conn.execute(
            "SELECT coalesce(sum(model_calls), 0), coalesce(sum(tool_calls), 0), coalesce(sum(tokens), 0), "
            "coalesce(sum(cost_usd), 0), coalesce(sum(unpriced_calls), 0) FROM budget_holds "
            "WHERE user_name = ? AND expires_at > ? AND at >= ? AND turn_id <> ?",
            (self.user, now, since, turn_id),
        ).fetchone()
        recorded = Totals(int(calls), int(tools), int(tokens), float(cost), int(unpriced))
        return recorded + Totals(int(held[0]), int(held[1]), int(held[2]), float(held[3]), int(held[4]))
