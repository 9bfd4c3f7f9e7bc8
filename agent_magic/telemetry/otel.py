"""The OpenTelemetry subscriber: each turn's events become one trace and a few metric points.

A turn is a root span `invoke_agent agent_magic` whose trace id is the ledger's `trace_id`; under it a
`chat {model}` span per model call and an `execute_tool {name}` span per tool call, all with the times
the events carry. Retries and approval decisions are span events. Prompts, answers, tool arguments and
results are recorded only with `AgentMagic.telemetry_content`, secrets masked. The subscriber only reads
events; spans are exported by the SDK's background processor and flushed when a turn ends, off the
kernel's thread, so it never holds up a token or the end of a cell.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from agent_magic.events import (
    ApprovalDecided,
    ApprovalRequested,
    AssistantMessage,
    Event,
    MessageAdded,
    MessageOrigin,
    ModelCallStarted,
    Notice,
    StreamRestarted,
    ToolCall,
    ToolCallStarted,
    ToolFinished,
    TurnEnded,
    TurnStarted,
    TurnState,
    Usage,
)
from agent_magic.ledger.recorder import decision_label
from agent_magic.policy.secrets import mask_secrets
from agent_magic.telemetry import genai
from agent_magic.telemetry.metrics import AgentMetrics
from agent_magic.telemetry.providers import Telemetry, TurnTraceIds

log = logging.getLogger("agent_magic.telemetry")

ROOT_NAME = f"invoke_agent {genai.AGENT_NAME}"
REFUSED_CODES = ("denied", "approval_required")


def _ns(at: float) -> int:
    """An event's `at` (seconds since the epoch) in the nanoseconds spans are timed in."""
    return int(at * 1e9)


@dataclass
class _Turn:
    """What the subscriber keeps while a turn runs."""

    root: Span
    started_at: float
    content: bool
    metric_attributes: dict[str, Any]
    chat: Span | None = None
    chat_attributes: dict[str, Any] = field(default_factory=dict)
    chat_usage: Usage | None = None
    tools: dict[str, Span] = field(default_factory=dict)
    decisions: dict[str, str] = field(default_factory=dict)
    new_inputs: list[dict[str, Any]] = field(default_factory=list)
    answer: dict[str, Any] | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    unpriced: bool = False


class OtelSubscriber:
    """An `EventSubscriber` that records turns as OpenTelemetry spans and metrics.

    `endpoint_attributes(model)` gives the provider and server of a model's endpoint, `content()` whether
    to record message content.
    """

    def __init__(
        self,
        telemetry: Telemetry,
        *,
        endpoint_attributes: Callable[[str], dict[str, Any]],
        content: Callable[[], bool],
        user: str,
        notebook: str,
    ) -> None:
        self.telemetry = telemetry
        self.tracer = telemetry.tracer
        self.metrics = AgentMetrics(telemetry.meter)
        self.endpoint_attributes = endpoint_attributes
        self.content = content
        self.user = user
        self.notebook = notebook
        self._turns: dict[str, _Turn] = {}
        self._failed = False
        self._handlers: dict[type, Callable[[Any], None]] = {
            TurnStarted: self._turn_started,
            ModelCallStarted: self._model_call_started,
            Notice: self._notice,
            StreamRestarted: self._stream_restarted,
            Usage: self._usage,
            AssistantMessage: self._assistant_message,
            MessageAdded: self._message_added,
            ApprovalRequested: self._approval_requested,
            ApprovalDecided: self._approval_decided,
            ToolCallStarted: self._tool_started,
            ToolFinished: self._tool_finished,
            TurnEnded: self._turn_ended,
        }

    def handle(self, event: Event) -> None:
        """Record one event (never raises: telemetry must not break a turn)."""
        handler = self._handlers.get(type(event))
        if handler is None or (not isinstance(event, TurnStarted) and event.turn_id not in self._turns):
            return
        try:
            handler(event)
        except Exception:
            if not self._failed:  # say it once per kernel; the traceback goes to the log
                log.warning("agent_magic could not record a turn in OpenTelemetry; see the agent_magic.telemetry log")
                log.debug("telemetry subscriber failed", exc_info=True)
            self._failed = True

    # -- the turn -------------------------------------------------------------------------------------

    def _turn_started(self, event: TurnStarted) -> None:
        self._report_export_health()
        endpoint = self.endpoint_attributes(event.model)
        attributes: dict[str, Any] = {
            genai.OPERATION: "invoke_agent",
            genai.AGENT: genai.AGENT_NAME,
            genai.CONVERSATION: event.session_id,
            genai.REQUEST_MODEL: event.model,
            genai.PROVIDER: endpoint[genai.PROVIDER],
            genai.USER: self.user,
            genai.TURN_ID: event.turn_id,
            genai.NOTEBOOK: self.notebook,
        }
        if event.cell_id:
            attributes[genai.CELL_ID] = event.cell_id
        if event.execution_count is not None:
            attributes[genai.EXECUTION_COUNT] = event.execution_count
        content = self.content()
        if content:
            attributes[genai.INPUT_MESSAGES] = genai.messages_attribute(
                [genai.chat_message({"role": "user", "content": event.prompt})]
            )
        root = self._start_root(event, attributes)
        self._turns[event.turn_id] = _Turn(
            root=root,
            started_at=event.at,
            content=content,
            metric_attributes={
                genai.USER: self.user,
                genai.REQUEST_MODEL: event.model,
                genai.PROVIDER: attributes[genai.PROVIDER],
            },
        )

    def _start_root(self, event: TurnStarted, attributes: dict[str, Any]) -> Span:
        """The turn's root span, under the ledger's trace id (see docs/telemetry.md, "Trace ids")."""
        start = _ns(event.at)
        try:
            trace_id = int(event.trace_id, 16)
        except ValueError:
            trace_id = 0
        if not trace_id:  # no usable id: an ordinary new trace
            return self.tracer.start_span(ROOT_NAME, Context(), SpanKind.INTERNAL, attributes, start_time=start)
        if self.telemetry.trace_ids is not None:  # our provider: a true root span with that trace id
            with TurnTraceIds.using(trace_id):
                return self.tracer.start_span(ROOT_NAME, Context(), SpanKind.INTERNAL, attributes, start_time=start)
        # A user's provider, which we do not modify: continue a remote, sampled parent carrying the id.
        parent = SpanContext(
            trace_id, random.getrandbits(64) or 1, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED)
        )
        context = trace.set_span_in_context(NonRecordingSpan(parent), Context())
        return self.tracer.start_span(ROOT_NAME, context, SpanKind.INTERNAL, attributes, start_time=start)

    def _child(self, turn: _Turn, name: str, kind: SpanKind, attributes: dict[str, Any], at: float) -> Span:
        context = trace.set_span_in_context(turn.root, Context())
        return self.tracer.start_span(name, context, kind, attributes, start_time=_ns(at))

    def _turn_ended(self, event: TurnEnded) -> None:
        turn = self._turns.pop(event.turn_id)
        error_type = self._error_type(event)
        if turn.chat is not None:
            self._end_chat(turn, event.at, error_type=error_type or "incomplete", message=event.message)
        for span in turn.tools.values():
            self._fail(span, error_type or "incomplete", event.message)
            span.end(_ns(event.at))
        root = turn.root
        root.set_attribute(genai.TURN_STATE, event.state.value)
        root.set_attribute(genai.INPUT_TOKENS, turn.input_tokens)
        root.set_attribute(genai.OUTPUT_TOKENS, turn.output_tokens)
        root.set_attribute(genai.COST, turn.cost)
        if turn.unpriced:  # some call had no price: the cost above leaves it out
            root.set_attribute(genai.COST_PARTIAL, True)
        if turn.content and turn.answer is not None:
            root.set_attribute(genai.OUTPUT_MESSAGES, genai.messages_attribute([turn.answer]))
        if error_type is not None:
            self._fail(root, error_type, event.message)
        root.end(_ns(event.at))
        self.metrics.turn(
            {**turn.metric_attributes, genai.OPERATION: "invoke_agent"},
            seconds=max(0.0, event.at - turn.started_at),
            state=event.state.value,
            error_type=error_type,
        )
        self.telemetry.flush_soon()
        self._report_export_health()

    @staticmethod
    def _error_type(event: TurnEnded) -> str | None:
        """error.type of a turn that did not complete: the error's class, or the final state."""
        if event.state is TurnState.COMPLETED:
            return None
        if event.error is not None:
            return type(event.error).__name__
        return event.state.value

    @staticmethod
    def _fail(span: Span, error_type: str, message: str) -> None:
        span.set_attribute(genai.ERROR_TYPE, error_type)
        span.set_status(Status(StatusCode.ERROR, mask_secrets(message) or error_type))

    def _report_export_health(self) -> None:
        health = self.telemetry.health
        report = health.take_report() if health is not None else None
        if report:
            log.warning(report)

    # -- model calls ----------------------------------------------------------------------------------

    def _model_call_started(self, event: ModelCallStarted) -> None:
        turn = self._turns[event.turn_id]
        if turn.chat is not None:  # the previous call never ended (should not happen): close it
            self._end_chat(turn, event.at, error_type="incomplete", message="")
        turn.chat_attributes = {
            genai.OPERATION: "chat",
            genai.REQUEST_MODEL: event.model,
            **self.endpoint_attributes(event.model),
        }
        attributes: dict[str, Any] = {**turn.chat_attributes, genai.STEP: event.step}
        if turn.content and turn.new_inputs:
            attributes[genai.INPUT_MESSAGES] = genai.messages_attribute(turn.new_inputs)
        turn.new_inputs = []
        turn.chat = self._child(turn, f"chat {event.model}", SpanKind.CLIENT, attributes, event.at)
        turn.chat_usage = None

    def _notice(self, event: Notice) -> None:
        # The loop reports a retry before any output as a Notice during the model call it retries.
        turn = self._turns[event.turn_id]
        message = mask_secrets(event.message)
        if turn.chat is not None:
            turn.chat.add_event(
                "retry",
                {"agent_magic.retry.reason": message, "agent_magic.retry.after_output": False},
                _ns(event.at),
            )
        else:
            turn.root.add_event("notice", {"agent_magic.notice": message}, _ns(event.at))

    def _stream_restarted(self, event: StreamRestarted) -> None:
        turn = self._turns[event.turn_id]
        if turn.chat is not None:
            turn.chat.add_event(
                "retry",
                {
                    "agent_magic.retry.attempt": event.attempt,
                    "agent_magic.retry.reason": mask_secrets(event.reason),
                    "agent_magic.retry.after_output": True,
                },
                _ns(event.at),
            )

    def _usage(self, event: Usage) -> None:
        turn = self._turns[event.turn_id]
        if turn.chat is None:  # usage of a call we did not see start
            self._model_call_started(
                ModelCallStarted(event.session_id, event.turn_id, step=0, model=event.model, at=event.at)
            )
        assert turn.chat is not None
        chat = turn.chat
        turn.chat_usage = event
        if event.response_model:
            turn.chat_attributes[genai.RESPONSE_MODEL] = event.response_model
            chat.set_attribute(genai.RESPONSE_MODEL, event.response_model)
        chat.set_attribute(genai.INPUT_TOKENS, event.input_tokens)
        chat.set_attribute(genai.OUTPUT_TOKENS, event.output_tokens)
        chat.set_attribute(genai.CACHE_READ_TOKENS, event.cached_tokens)
        chat.set_attribute(genai.REASONING_TOKENS, event.reasoning_tokens)
        chat.set_attribute(genai.RETRIES, event.retries)
        chat.set_attribute(genai.ESTIMATED, event.estimated)
        if event.ttft_s is not None:
            chat.set_attribute(genai.TIME_TO_FIRST_CHUNK, event.ttft_s)
        if event.cost_usd is None:
            turn.unpriced = True
        else:
            chat.set_attribute(genai.COST, event.cost_usd)
            turn.cost += event.cost_usd
        turn.input_tokens += event.input_tokens
        turn.output_tokens += event.output_tokens

    def _assistant_message(self, event: AssistantMessage) -> None:
        turn = self._turns[event.turn_id]
        if turn.content:  # masking scans the environment: only when content is recorded at all
            turn.answer = genai.assistant_message(event.text, event.tool_calls, event.finish_reason)
        if turn.chat is None:
            return
        turn.chat.set_attribute(genai.FINISH_REASONS, (event.finish_reason,))
        if turn.answer is not None:
            turn.chat.set_attribute(genai.OUTPUT_MESSAGES, genai.messages_attribute([turn.answer]))
        self._end_chat(turn, event.at, error_type=None, message="")

    def _message_added(self, event: MessageAdded) -> None:
        # What the next model call receives besides the history: the prompt, tool results, repairs.
        turn = self._turns[event.turn_id]
        if turn.content and event.origin is not MessageOrigin.ANSWER:
            turn.new_inputs.append(genai.chat_message(event.message))

    def _end_chat(self, turn: _Turn, at: float, *, error_type: str | None, message: str) -> None:
        """End the open chat span and record the call's metrics (once its outcome is known)."""
        chat, usage = turn.chat, turn.chat_usage
        assert chat is not None
        turn.chat, turn.chat_usage = None, None
        if error_type is not None:
            self._fail(chat, error_type, message)
        chat.end(_ns(at))
        if usage is not None:
            self.metrics.model_call(
                {**turn.metric_attributes, **turn.chat_attributes},
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                seconds=usage.latency_s,
                cost=usage.cost_usd,
                error_type=error_type,
            )

    # -- tool calls -----------------------------------------------------------------------------------

    def _tool_span(self, turn: _Turn, call: ToolCall, at: float) -> Span:
        span = turn.tools.get(call.call_id)
        if span is None:
            attributes: dict[str, Any] = {
                genai.OPERATION: "execute_tool",
                genai.TOOL_NAME: call.name,
                genai.TOOL_CALL_ID: call.call_id,
                genai.TOOL_TYPE: "function",
            }
            if turn.content:
                attributes[genai.TOOL_ARGUMENTS] = mask_secrets(call.arguments)
            span = turn.tools[call.call_id] = self._child(
                turn, f"execute_tool {call.name}", SpanKind.INTERNAL, attributes, at
            )
        return span

    def _approval_requested(self, event: ApprovalRequested) -> None:
        self._tool_span(self._turns[event.turn_id], event.call, event.at)

    def _approval_decided(self, event: ApprovalDecided) -> None:
        turn = self._turns[event.turn_id]
        span = self._tool_span(turn, event.call, event.at)
        label = decision_label(event.decision, event.decided_by)
        turn.decisions[event.call.call_id] = label
        attributes: dict[str, Any] = {
            genai.DECISION: event.decision.value,
            genai.DECIDED_BY: event.decided_by.value,
            "agent_magic.approval.seconds_to_decide": event.seconds_to_decide,
        }
        if turn.content and event.reason:
            attributes["agent_magic.approval.reason"] = mask_secrets(event.reason)
        span.add_event("approval", attributes, _ns(event.at))
        span.set_attribute(genai.DECISION, label)

    def _tool_started(self, event: ToolCallStarted) -> None:
        self._tool_span(self._turns[event.turn_id], event.call, event.at)

    def _tool_finished(self, event: ToolFinished) -> None:
        turn = self._turns[event.turn_id]
        span = turn.tools.get(event.call.call_id) or self._tool_span(turn, event.call, event.at - event.duration_s)
        turn.tools.pop(event.call.call_id, None)
        span.set_attribute("agent_magic.tool.result_chars", len(event.content))
        span.set_attribute("agent_magic.tool.truncated", event.truncated)
        if turn.content:
            span.set_attribute(genai.TOOL_RESULT, mask_secrets(event.content))
        if not event.ok:
            self._fail(span, event.error_code or "tool_error", event.error_code or "the tool failed")
        span.end(_ns(event.at))
        refused = event.error_code in REFUSED_CODES
        decision = turn.decisions.pop(event.call.call_id, "denied" if refused else "auto")
        self.metrics.tool_call(
            {**turn.metric_attributes, genai.TOOL_NAME: event.call.name},
            outcome="ok" if event.ok else (event.error_code or "error"),
            decision=decision,
        )
