"""The one line that ends each turn in the cell and the terminal: model, steps, tool calls, tokens, cost
and duration, counted from the turn's own events (no ledger read)."""

from __future__ import annotations

from agent_magic.contracts import Totals
from agent_magic.events import (
    Event,
    ModelCallStarted,
    ToolCallStarted,
    TurnEnded,
    TurnStarted,
    TurnState,
    Usage,
)
from agent_magic.ui.format import STATE_MARKS, cost_text, seconds_text


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


class TurnSummary:
    """Counts one turn from its events; `line()` is the summary shown when it ends.

    Example:
        >>> summary = TurnSummary()
        >>> for event in events:
        ...     summary.apply(event)
        >>> summary.line()
        '✓ gpt-4.1-mini · 2 steps · 1 tool call · 1,234 tokens · $0.0031 · 4.2 s'
    """

    def __init__(self) -> None:
        self.model = ""
        self.steps = 0
        self.used = Totals()
        self.reasoning_tokens = 0
        self.state: TurnState | None = None
        self._started_at: float | None = None
        self._ended_at: float | None = None

    def apply(self, event: Event) -> None:
        """Count one event of the turn."""
        if isinstance(event, TurnStarted):
            self.model, self._started_at = event.model, event.at
        elif isinstance(event, ModelCallStarted):
            self.steps = event.step
        elif isinstance(event, Usage):
            self.model = event.model
            self.used = self.used.with_model_call(event.input_tokens + event.output_tokens, event.cost_usd)
            self.reasoning_tokens += event.reasoning_tokens
        elif isinstance(event, ToolCallStarted):
            self.used = self.used.with_tool_call()
        elif isinstance(event, TurnEnded):
            self.state, self._ended_at = event.state, event.at

    def line(self, now: float | None = None) -> str:
        """The summary, e.g. `✓ gpt-4.1 · 2 steps · 1 tool call · 1,234 tokens (300 reasoning) · $0.0031 ·
        4.2 s`; the cost is `$?` when no call was priced and a lower bound when some were not. `now`
        stands for the end of a turn that never reported it."""
        used = self.used
        tokens = _count(used.tokens, "token")
        if self.reasoning_tokens:
            tokens += f" ({self.reasoning_tokens:,} reasoning)"
        priced = used.model_calls - used.unpriced_calls
        cost = cost_text(used.cost_usd if priced or not used.model_calls else None, complete=not used.unpriced_calls)
        parts = [
            f"{STATE_MARKS.get(self.state, '…') if self.state else '…'} {self.model}".strip(),
            _count(self.steps, "step"),
        ]
        if used.tool_calls:
            parts.append(_count(used.tool_calls, "tool call"))
        parts += [tokens, cost]
        end = self._ended_at if self._ended_at is not None else now
        if self._started_at is not None and end is not None:
            parts.append(seconds_text(max(0.0, end - self._started_at)))
        return " · ".join(parts)
