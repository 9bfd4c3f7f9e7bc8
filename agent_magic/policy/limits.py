"""Budget limits as configured: `AgentMagic.turn_budget`, `session_budget`, `day_budget` and
`user_budget`, parsed and checked (the config validates with `Limits.parse`, so a bad budget is
refused when it is set)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

SCOPES = ("turn", "session", "day", "user")
PERIODS = ("day", "month")  # the windows of the per-user budget (`"per"` in AgentMagic.user_budget)


@dataclass(frozen=True)
class Limits:
    """The limits of one scope; None means unlimited. `steps` counts model calls, `tokens` input + output."""

    steps: int | None = None
    tool_calls: int | None = None
    tokens: int | None = None
    cost: float | None = None
    per: str = "day"  # the user budget's window: "day" or "month" (other scopes have their own)

    @property
    def unlimited(self) -> bool:
        """True when no limit is set."""
        return self.steps is None and self.tool_calls is None and self.tokens is None and self.cost is None

    @classmethod
    def parse(cls, scope: str, value: dict[str, Any]) -> Limits:
        """Limits from a config dict such as ``{"cost": 2.0, "tool_calls": 50}``; one-line ValueError if wrong."""
        allowed = [f.name for f in fields(cls) if f.name != "per"]
        if scope == "turn":
            allowed.remove("steps")  # per-turn steps are AgentMagic.max_steps / --max-steps already
        value = dict(value)
        per = value.pop("per", "month") if scope == "user" else "day"
        if per not in PERIODS:
            raise ValueError(f"AgentMagic.{scope}_budget['per'] must be 'day' or 'month', not {per!r}")
        for key, limit in value.items():
            if key not in allowed:
                hint = "; per-turn steps are AgentMagic.max_steps" if key == "steps" else ""
                raise ValueError(f"AgentMagic.{scope}_budget: unknown limit {key!r}, use {', '.join(allowed)}{hint}")
            if limit is None:
                continue
            if isinstance(limit, bool) or not isinstance(limit, int | float) or math.isnan(limit) or limit <= 0:
                raise ValueError(f"AgentMagic.{scope}_budget[{key!r}] must be a positive number or None")
            if key != "cost" and limit != int(limit):
                raise ValueError(f"AgentMagic.{scope}_budget[{key!r}] must be a whole number")
        return cls(**{k: (v if k == "cost" or v is None else int(v)) for k, v in value.items()}, per=per)
