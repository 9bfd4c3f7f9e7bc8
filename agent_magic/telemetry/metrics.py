"""The metrics of agent_magic, in the GenAI semantic conventions plus cost and tool-call counters.

| instrument | kind | unit | Prometheus name (through a collector) |
|---|---|---|---|
| `gen_ai.client.token.usage` | histogram | `{token}` | `gen_ai_client_token_usage_{bucket,sum,count}` |
| `gen_ai.client.operation.duration` | histogram | `s` | `gen_ai_client_operation_duration_seconds_*` |
| `agent_magic.cost.usd` | counter | `{USD}` | `agent_magic_cost_usd_total` |
| `agent_magic.tool.calls` | counter | `{call}` | `agent_magic_tool_calls_total` |
| `agent_magic.turns` | counter | `{turn}` | `agent_magic_turns_total` |

Every point carries `user.name` and the model, so a dashboard can show spend and latency per user and
model; nothing with unbounded values (session, turn or call ids) is an attribute of a metric.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.metrics import Meter

from agent_magic.telemetry import genai

# The bucket boundaries the conventions advise for these two histograms.
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)


class AgentMetrics:
    """The instruments, created once per meter, and one method per thing measured."""

    def __init__(self, meter: Meter) -> None:
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Tokens used per model call, by gen_ai.token.type (input, output)",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="Duration of model calls (chat) and of whole agent turns (invoke_agent)",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.cost = meter.create_counter(
            "agent_magic.cost.usd", unit="{USD}", description="Estimated dollars spent on model calls (price list)"
        )
        self.tool_calls = meter.create_counter(
            "agent_magic.tool.calls", unit="{call}", description="Tool calls, by tool, outcome and approval decision"
        )
        self.turns = meter.create_counter("agent_magic.turns", unit="{turn}", description="Agent turns, by final state")

    def model_call(
        self,
        attributes: dict[str, Any],
        *,
        input_tokens: int,
        output_tokens: int,
        seconds: float,
        cost: float | None,
        error_type: str | None,
    ) -> None:
        """One model call: its tokens by type, its duration and (when priced) its cost."""
        if error_type is None:
            self.tokens.record(input_tokens, {**attributes, genai.TOKEN_TYPE: "input"})
            self.tokens.record(output_tokens, {**attributes, genai.TOKEN_TYPE: "output"})
        failed = {genai.ERROR_TYPE: error_type} if error_type else {}
        self.duration.record(seconds, {**attributes, **failed})
        if cost is not None:
            self.cost.add(cost, attributes)

    def tool_call(self, attributes: dict[str, Any], *, outcome: str, decision: str) -> None:
        """One tool call: `outcome` is ok or its error code, `decision` how it came to run (or not)."""
        self.tool_calls.add(1, {**attributes, "agent_magic.tool.outcome": outcome, genai.DECISION: decision})

    def turn(self, attributes: dict[str, Any], *, seconds: float, state: str, error_type: str | None) -> None:
        """One finished turn: its duration (operation invoke_agent) and its final state."""
        failed = {genai.ERROR_TYPE: error_type} if error_type else {}
        self.duration.record(seconds, {**attributes, **failed})
        self.turns.add(1, {**attributes, genai.TURN_STATE: state})
