"""Budgets: limits per turn, per session and per day on model calls (steps), tool calls, tokens and
dollars, checked before every model call and every tool call.

The turn's and the session's spending arrive with the `TurnContext` the session keeps up to date; the
day's is read from the ledger once per turn (so it holds across kernel restarts and across kernels
sharing one agent home) plus this turn's. Dollar figures are estimates from the price table; a dollar
budget on a model without a price stops the turn rather than letting unpriced calls through.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from agent_magic.contracts import Totals, TurnContext
from agent_magic.errors import LimitReached
from agent_magic.events import ToolCall
from agent_magic.policy.limits import Limits

_SCOPE_WORD = {"turn": "turn", "session": "session", "day": "daily"}
_TRAIT = {
    "turn": "AgentMagic.turn_budget (or --max-cost)",
    "session": "AgentMagic.session_budget",
    "day": "AgentMagic.day_budget",
}


def _dollars(value: float) -> str:
    return f"${value:,.2f}" if value >= 0.1 else f"${value:.4f}"


def start_of_today() -> float:
    """Local midnight today, as Unix seconds: the daily budget's window starts there."""
    now = dt.datetime.now().astimezone()
    return now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()


def _exceeded(scope: str, limits: Limits, used: Totals, *, before_tool: bool) -> str | None:
    """The stop line when `used` has reached `limits`, else None."""
    word = _SCOPE_WORD[scope]
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
    whether a model has a price, `spent_today()` reads the day's totals from the ledger (called once per
    turn). A turn's `TurnSettings.max_cost` (the cell's `--max-cost`) overrides the per-turn dollar limit.
    """

    def __init__(
        self,
        limits: Callable[[], dict[str, Limits]],
        is_priced: Callable[[str], bool],
        spent_today: Callable[[], Totals],
    ) -> None:
        self.limits = limits
        self.is_priced = is_priced
        self.spent_today = spent_today
        self._day_before: tuple[str, Totals] | None = None  # (turn id, the day's totals before that turn)

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

    def _used_today(self, turn: TurnContext) -> Totals:
        if self._day_before is None or self._day_before[0] != turn.turn_id:
            self._day_before = (turn.turn_id, self.spent_today())
        return self._day_before[1] + turn.turn_used

    def _check(self, turn: TurnContext, *, before_tool: bool) -> None:
        settings = turn.settings
        for scope, limits in self.scoped_limits(settings.max_cost).items():
            if limits == Limits():
                continue
            if limits.cost is not None and not self.is_priced(settings.model):
                raise LimitReached(
                    f"stopped: the {_SCOPE_WORD[scope]} budget is in dollars but model {settings.model!r} has no "
                    "price; add one with %config AgentMagic.prices"
                )
            if scope == "turn":
                used = turn.turn_used
            elif scope == "session":
                used = turn.session_used
            else:
                used = self._used_today(turn)
            line = _exceeded(scope, limits, used, before_tool=before_tool)
            if line:
                raise LimitReached(f"stopped: {line}; raise it with {_TRAIT[scope]}")
