"""Budgets: limits per turn, per session, per day and per user (a day or a month) on model calls
(steps), tool calls, tokens and dollars, checked before every model call and every tool call.

The turn's and the session's spending arrive with the `TurnContext` the session keeps up to date. The
day and user budgets span all of the user's kernels (and kernel restarts): they are checked by a
`SharedCheck` the runtime gives (the ledger's check-and-hold, see `ledger/spend.py`), which sums what
the user recorded and what their other running turns hold, decides with this module's rule, and holds
this turn's use plus the call about to be made, in one transaction. Dollar figures are estimates from
the price table; a dollar budget on a model without a price stops the turn rather than letting
unpriced calls through.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Protocol

from agent_magic.contracts import Totals, TurnContext
from agent_magic.errors import LimitReached
from agent_magic.events import ToolCall
from agent_magic.policy.limits import Limits

_SCOPE_WORD = {"turn": "turn", "session": "session", "day": "daily"}
_TRAIT = {
    "turn": "AgentMagic.turn_budget (or --max-cost)",
    "session": "AgentMagic.session_budget",
    "day": "AgentMagic.day_budget",
    "user": "AgentMagic.user_budget",
}
SHARED_SCOPES = ("day", "user")  # budgets over all of the user's kernels


class SharedCheck(Protocol):
    """Decides, across the user's kernels, whether a turn may make its next call (see module docstring)."""

    def __call__(
        self,
        turn_id: str,
        windows: dict[str, float],
        turn_used: Totals,
        claim: Totals,
        refuse: Callable[[dict[str, Totals]], str | None],
    ) -> str | None:
        """`refuse(used by window)` when the user's use in `windows` (scope -> start, Unix seconds) plus
        `turn_used` is known; hold `turn_used + claim` if it returns None; return its line."""
        ...


def _dollars(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.1 else f"${value:.4f}"


def start_of_today() -> float:
    """Local midnight today, as Unix seconds: the daily budget's window starts there."""
    now = dt.datetime.now().astimezone()
    return now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def start_of_month() -> float:
    """Local midnight on the first of this month, as Unix seconds (a monthly user budget's window)."""
    now = dt.datetime.now().astimezone()
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp()


def _word(scope: str, limits: Limits) -> str:
    if scope == "user":
        return "monthly user" if limits.per == "month" else "daily user"
    return _SCOPE_WORD[scope]


def _exceeded(scope: str, limits: Limits, used: Totals, *, before_tool: bool) -> str | None:
    """The stop line when `used` has reached `limits`, else None."""
    word = _word(scope, limits)
    if not before_tool and limits.steps is not None and used.model_calls >= limits.steps:
        return f"{word} budget of {limits.steps:,} model calls reached, {used.model_calls:,} made"
    if before_tool and limits.tool_calls is not None and used.tool_calls >= limits.tool_calls:
        return f"{word} budget of {limits.tool_calls:,} tool calls reached, {used.tool_calls:,} run"
    if limits.tokens is not None and used.tokens >= limits.tokens:
        return f"{word} budget of {limits.tokens:,} tokens reached, {used.tokens:,} used"
    if limits.cost is not None and used.cost_usd >= limits.cost:
        return f"{word} budget {_dollars(limits.cost)} reached, {_dollars(used.cost_usd)} spent"
    return None


class BudgetGuard:
    """A `TurnGuard` enforcing the configured budgets.

    `limits()` returns the current {scope: Limits} (it follows `%config`), `is_priced(model)` says
    whether a model has a price, `shared` checks the day and user budgets across the user's kernels. A
    turn's `TurnSettings.max_cost` (the cell's `--max-cost`) overrides the per-turn dollar limit.
    """

    def __init__(
        self,
        limits: Callable[[], dict[str, Limits]],
        is_priced: Callable[[str], bool],
        shared: SharedCheck,
    ) -> None:
        self.limits = limits
        self.is_priced = is_priced
        self.shared = shared

    def before_model_call(self, turn: TurnContext) -> None:
        """Stop the turn before a model call that a budget no longer allows."""
        self._check(turn, before_tool=False)

    def before_tool_call(self, turn: TurnContext, call: ToolCall) -> None:
        """Stop the turn before a tool call that a budget no longer allows."""
        self._check(turn, before_tool=True)

    def scoped_limits(self, max_cost: float | None) -> dict[str, Limits]:
        """The limits in force for a turn whose cell said `--max-cost max_cost` (None: not given)."""
        limits = dict(self.limits())
        if max_cost is not None:
            turn = limits.get("turn", Limits())
            limits["turn"] = Limits(steps=turn.steps, tool_calls=turn.tool_calls, tokens=turn.tokens, cost=max_cost)
        return limits

    def _check(self, turn: TurnContext, *, before_tool: bool) -> None:
        settings = turn.settings
        active = {
            scope: limits for scope, limits in self.scoped_limits(settings.max_cost).items() if not limits.unlimited
        }
        for scope, limits in active.items():
            if limits.cost is not None and not self.is_priced(settings.model):
                raise LimitReached(
                    f"stopped: the {_word(scope, limits)} budget is in dollars but model {settings.model!r} has no "
                    "price; add one with %config AgentMagic.prices"
                )
        for scope in ("turn", "session"):
            if scope in active:
                used = turn.turn_used if scope == "turn" else turn.session_used
                self._stop_if(_exceeded(scope, active[scope], used, before_tool=before_tool), scope)
        shared = {scope: active[scope] for scope in SHARED_SCOPES if scope in active}
        if shared:
            windows = {scope: _window_start(scope, limits) for scope, limits in shared.items()}

            def refuse(used: dict[str, Totals]) -> str | None:
                for scope, limits in shared.items():
                    line = _exceeded(scope, limits, used[scope], before_tool=before_tool)
                    if line:
                        return f"stopped: {line}; raise it with {_TRAIT[scope]}"
                return None

            line = self.shared(turn.turn_id, windows, turn.turn_used, _claim(turn, before_tool=before_tool), refuse)
            if line:
                raise LimitReached(line)

    @staticmethod
    def _stop_if(line: str | None, scope: str) -> None:
        if line:
            raise LimitReached(f"stopped: {line}; raise it with {_TRAIT[scope]}")


def _window_start(scope: str, limits: Limits) -> float:
    return start_of_month() if scope == "user" and limits.per == "month" else start_of_today()


def _claim(turn: TurnContext, *, before_tool: bool) -> Totals:
    """What the call about to be made is expected to use: one tool call, or one model call of the
    session's average size so far (nothing known yet: only the call itself)."""
    if before_tool:
        return Totals(tool_calls=1)
    done = turn.session_used
    if done.model_calls == 0:
        return Totals(model_calls=1)
    return Totals(model_calls=1, tokens=done.tokens // done.model_calls, cost_usd=done.cost_usd / done.model_calls)
