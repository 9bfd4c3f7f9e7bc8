"""The interfaces between the agent loop and what it is given per turn: settings, usage so far, the
approver and the guards.

The loop (`session.py`) and the policies (`policy/`) both import this module and never each other, so
data flows one way: the loop asks an `Approver` and calls `TurnGuard`s with a `TurnContext`; it never
learns what is behind them. Nothing here knows about IPython, widgets, HTTP or SQL.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Protocol

from agent_magic.config import setting
from agent_magic.events import DecidedBy, Decision, ToolCall


@dataclass(frozen=True)
class TurnSettings:
    """The settings one turn runs with: `AgentMagic`'s (their defaults are the traits') and the cell's
    options (`runtime.AgentRuntime.turn_settings` builds it with `config.from_config`)."""

    model: str
    max_steps: int = setting("max_steps")
    tool_timeout: float = setting("tool_timeout")
    max_tool_output_chars: int = setting("max_tool_output_chars")
    system_prompt: str = setting("system_prompt")
    max_cost: float | None = None  # the cell's --max-cost: dollars this turn may spend (the budget guard checks)
    max_tool_calls_per_step: int = setting("max_tool_calls_per_step")  # the excess is answered, not run
    instructions: str = ""  # the project's instructions (AGENTS.md), placed after the system prompt
    response_format: dict[str, Any] | None = None  # sent with each model call (--schema: a JSON schema)
    answer_check: AnswerCheck | None = None  # checks the final answer; the model gets one round to repair it


@dataclass(frozen=True)
class Totals:
    """What a scope (a turn, a session, a day) has used; `cost_usd` counts priced calls only,
    `unpriced_calls` the model calls whose cost is unknown."""

    model_calls: int = 0
    tool_calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0

    def __add__(self, other: Totals) -> Totals:
        # By field name, not dataclasses.astuple (a deep copy): totals are added for every call of a step.
        return Totals(*(getattr(self, name) + getattr(other, name) for name in _TOTALS_FIELDS))

    def with_model_call(self, tokens: int, cost_usd: float | None) -> Totals:
        """These totals plus one model call of `tokens` costing `cost_usd` (None: unpriced)."""
        return self + Totals(
            model_calls=1, tokens=tokens, cost_usd=cost_usd or 0.0, unpriced_calls=int(cost_usd is None)
        )

    def with_tool_call(self) -> Totals:
        """These totals plus one tool call."""
        return self + Totals(tool_calls=1)


_TOTALS_FIELDS = tuple(field.name for field in dataclasses.fields(Totals))


@dataclass(frozen=True)
class History:
    """A conversation to continue (a resumed or forked one): the transcript as the model saw it, the turn
    each message belongs to ("" for none, e.g. a compaction's summary), and what it has used so far."""

    messages: tuple[dict[str, Any], ...] = ()
    turn_ids: tuple[str, ...] = ()
    used: Totals = Totals()


@dataclass
class TurnContext:
    """One running turn as its guards see it: ids, settings, the step, and what was used so far.

    `turn_used` counts this turn's model calls (as their usage arrives) and the tool calls admitted to
    run; `session_used` is the same for the whole conversation, this turn included. Guards read it; only
    the session changes it.
    """

    session_id: str
    turn_id: str
    settings: TurnSettings
    step: int = 0
    turn_used: Totals = Totals()
    session_used: Totals = Totals()


class TurnGuard(Protocol):
    """A check run before every model call and tool call (budgets); raises `LimitReached` to stop the turn."""

    def before_model_call(self, turn: TurnContext) -> None:
        """Called before each model call of a turn (`turn.step` counts from 1)."""

    def before_tool_call(self, turn: TurnContext, call: ToolCall) -> None:
        """Called before each tool call is admitted to run (after approval)."""


@dataclass(frozen=True)
class ApprovalDecision:
    """An answer to an approval request: the decision, who made it, and an optional reason the model reads."""

    decision: Decision
    decided_by: DecidedBy
    reason: str = ""

    @property
    def approved(self) -> bool:
        """True when the call may run."""
        return self.decision is Decision.APPROVED


class Approver(Protocol):
    """Decides the calls of one turn that need a decision (buttons, stdin, a policy, a test script)."""

    def gates(self, call: ToolCall, destructive: bool) -> bool:
        """True when `call` must be decided before it runs: a destructive tool, or a call a rule names."""
        ...

    async def __call__(self, call: ToolCall, subject: str | None) -> ApprovalDecision:
        """Decide `call`; `subject` is what permission rules match (path, command…), None if unreadable."""
        ...


class Pricing(Protocol):
    """The cost of one model call in dollars, or None when the model has no price."""

    def __call__(self, model: str, input_tokens: int, cached_tokens: int, output_tokens: int) -> float | None:
        """Dollars for one call of `model` with these token counts."""
        ...


@dataclass(frozen=True)
class AnswerVerdict:
    """What an `AnswerCheck` found in a final answer: the `value` it stands for, or a `problem`.

    With a problem, `repair_prompt` is what the model reads to fix its answer, and `failure` the one
    line the user reads when even the repaired answer is rejected.
    """

    value: Any = None
    problem: str | None = None
    repair_prompt: str = ""
    failure: str = ""

    @property
    def ok(self) -> bool:
        """True when the answer passed the check."""
        return self.problem is None


class AnswerCheck(Protocol):
    """Checks a turn's final answer (e.g. `--schema`'s validation); the session gives the model one round to
    repair a rejected answer, then ends the turn failed with the verdict's `failure`."""

    def __call__(self, text: str) -> AnswerVerdict:
        """The verdict on the final answer `text`."""
        ...
