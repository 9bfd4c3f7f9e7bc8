"""The agent loop: one conversation (`Session`) and its turns, as a state machine that yields events.

`Session.run_turn()` is an async generator of `events.Event`. It never imports IPython, widgets or
HTTP libraries: the model arrives as a `ModelClient`, approval as an injected `Approver`, and everything
the user sees is rendered by subscribers to the events. Whatever ends a turn (completion, a failure, a
limit, a cancellation) leaves the transcript valid for the next turn: every assistant tool call gets a
tool result.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from agent_magic.errors import AgentError, AgentUsageError, LimitReached, ModelCallError
from agent_magic.events import (
    ApprovalDecided,
    ApprovalRequested,
    AssistantMessage,
    Event,
    ModelCallStarted,
    Notice,
    StateChanged,
    StreamRestarted,
    TextDelta,
    ToolCall,
    ToolCallStarted,
    ToolFinished,
    TurnEnded,
    TurnStarted,
    TurnState,
    Usage,
)
from agent_magic.llm.client import ModelClient, ModelResponse, TextPiece
from agent_magic.llm.retry import RetryScheduled
from agent_magic.policy.approval_rules import call_subject
from agent_magic.prompts import DEFAULT_SYSTEM_PROMPT
from agent_magic.tools.context import ToolContext
from agent_magic.tools.framing import UNTRUSTED_DATA_RULE
from agent_magic.tools.registry import ToolRegistry
from agent_magic.tools.result import ToolResult
from agent_magic.tools.runner import execute, present

log = logging.getLogger("agent_magic.session")

CANCELLED_RESULT = "cancelled by user"


@dataclass(frozen=True)
class ApprovalDecision:
    """An answer to an approval request: approved or not, who decided, and an optional reason.

    `stop_turn` ends the whole turn instead of only refusing this call.
    """

    approved: bool
    decided_by: str
    reason: str = ""
    stop_turn: bool = False


class TurnGuard(Protocol):
    """A check run before every model call and tool call (budgets, rate limits); raises `LimitReached`."""

    def before_model_call(self, session: Session, turn_id: str, step: int, settings: TurnSettings) -> None:
        """Called before each model call of a turn (step counts from 1)."""

    def before_tool_call(self, session: Session, turn_id: str, call: ToolCall) -> None:
        """Called before each tool call runs (after approval)."""


class Approver(Protocol):
    """Decides whether a destructive tool call may run (buttons, stdin, a policy, a test script)."""

    async def __call__(self, call: ToolCall, subject: str | None) -> ApprovalDecision:
        """Decide `call`; `subject` is what permission rules match (path, command…), None if unreadable."""
        ...


@dataclass
class TurnSettings:
    """The settings one turn runs with."""

    model: str
    max_steps: int = 10
    tool_timeout: float = 60.0
    max_tool_output_chars: int = 50_000
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    max_cost: float | None = None  # the cell's --max-cost: dollars this turn may spend (checked by the budget guard)
    max_tool_calls_per_step: int = 64  # calls past this in one model answer get an error result, not run


@dataclass
class TurnRecord:
    """What the session remembers of a turn after it ended (for `%agent history` / `last-error`)."""

    turn_id: str
    prompt: str
    states: list[TurnState] = field(default_factory=list)
    error: BaseException | None = None
    message: str = ""


class TurnStopped(AgentError):
    """The user chose Stop at an approval prompt: end the turn like a cancellation."""


class Session:
    """One conversation with the model: the transcript and the tools, shared by consecutive cells.

    Example:
        >>> session = Session(client_for=lambda model: ModelClient(...), tools=registry, context=ctx)
        >>> async for event in session.run_turn("Which columns of df have missing values?", settings):
        ...     render(event)
    """

    def __init__(
        self,
        *,
        client_for: Callable[[str], ModelClient],
        tools: ToolRegistry,
        context: ToolContext,
        approver: Approver | None = None,
        guards: list[TurnGuard] | None = None,
        session_id: str | None = None,
    ) -> None:
        self.session_id = session_id or uuid.uuid4().hex[:12]
        self.client_for = client_for
        self.tools = tools
        self.context = context
        self.approver = approver
        self.guards: list[TurnGuard] = list(guards or [])
        self.messages: list[dict[str, Any]] = []
        self.turns: list[TurnRecord] = []
        self.state = TurnState.COMPLETED

    # -- the turn -------------------------------------------------------------------------------------

    async def run_turn(
        self,
        prompt: str,
        settings: TurnSettings,
        *,
        cell_id: str | None = None,
        execution_count: int | None = None,
    ) -> AsyncIterator[Event]:
        """Run one user turn to its end, yielding events; the last event is always `TurnEnded`.

        On cancellation (kernel interrupt, Stop) the transcript is repaired, `TurnEnded(CANCELLED)` is
        yielded, and the caller is expected to re-raise `asyncio.CancelledError`.
        """
        turn_id = uuid.uuid4().hex[:12]
        record = TurnRecord(turn_id=turn_id, prompt=prompt)
        self.turns.append(record)
        ids = {"session_id": self.session_id, "turn_id": turn_id}

        def transition(new: TurnState) -> StateChanged:
            old, self.state = self.state, new
            record.states.append(new)
            return StateChanged(**ids, old=old, new=new)

        yield transition(TurnState.RECEIVED)
        yield TurnStarted(
            **ids,
            prompt=prompt,
            model=settings.model,
            trace_id=uuid.uuid4().hex,
            cell_id=cell_id,
            execution_count=execution_count,
        )
        self.messages.append({"role": "user", "content": prompt})
        partial: list[str] = []
        final, message, error = TurnState.COMPLETED, "", None
        try:
            step = 0
            while True:
                if step >= settings.max_steps:
                    raise LimitReached(
                        f"stopped: reached the step limit ({settings.max_steps} model calls in this turn); "
                        "raise it with --max-steps"
                    )
                step += 1
                for guard in self.guards:
                    guard.before_model_call(self, turn_id, step, settings)
                yield transition(TurnState.MODEL_STREAMING)
                yield ModelCallStarted(**ids, step=step, model=settings.model)
                response: ModelResponse | None = None
                partial.clear()
                request = self._request_messages(settings)
                async for item in self.client_for(settings.model).stream(request, self.tools.openai_schemas()):
                    if isinstance(item, TextPiece):
                        partial.append(item.text)
                        yield TextDelta(**ids, text=item.text)
                    elif isinstance(item, RetryScheduled):
                        partial.clear()  # a retry starts the answer again: never splice two answers
                        yield self._retry_event(ids, item)
                    else:
                        response = item
                assert response is not None  # the client always ends with a response or raises
                partial.clear()
                yield self._usage_event(ids, settings.model, response, request)
                self.messages.append(self._assistant_message(response))
                yield AssistantMessage(
                    **ids, text=response.text, tool_calls=response.tool_calls, finish_reason=response.finish_reason
                )
                if not response.tool_calls:
                    break
                async for event in self._run_tools(ids, response.tool_calls, settings, transition):
                    yield event
        except asyncio.CancelledError as exc:
            # A kernel interrupt cancels without a message; a frontend's Stop says why (runtime.stop_turn).
            final, message = TurnState.CANCELLED, (exc.args[0] if exc.args else "") or "interrupted"
        except TurnStopped as exc:
            final, message = TurnState.CANCELLED, str(exc)
        except LimitReached as exc:
            final, message, error = TurnState.LIMIT_REACHED, str(exc), exc
        except ModelCallError as exc:
            final, message, error = TurnState.FAILED, str(exc), exc
            if any(attempt.sent for attempt in exc.attempts):  # a failed call still counts, with its attempts
                yield self._failed_call_usage(ids, settings.model, exc)
        except AgentUsageError as exc:  # e.g. headless_approval = "error": one line saying what to do
            final, message, error = TurnState.FAILED, str(exc), exc
        except Exception as exc:  # a bug of ours: keep the traceback for %agent last-error and the log
            log.exception("turn %s failed", turn_id)
            final, message, error = TurnState.FAILED, f"internal error: {type(exc).__name__}: {exc}", exc
        if final is not TurnState.COMPLETED:
            cancelled = final is TurnState.CANCELLED
            self._repair_transcript(
                "".join(partial), interrupted=cancelled, reason=CANCELLED_RESULT if cancelled else f"not run: {message}"
            )
        record.error, record.message = error, message
        yield transition(final)
        yield TurnEnded(**ids, state=final, message=message, error=error)

    # -- tools ----------------------------------------------------------------------------------------

    async def _run_tools(
        self,
        ids: dict[str, str],
        calls: tuple[ToolCall, ...],
        settings: TurnSettings,
        transition: Callable[[TurnState], StateChanged],
    ) -> AsyncIterator[Event]:
        """Run one step's tool calls: read-only ones concurrently, destructive ones one by one in order,
        each through the approver. Each result joins the transcript as soon as it exists."""
        cap = settings.max_tool_calls_per_step
        if len(calls) > cap:  # the excess is answered, not run, so the transcript stays valid
            asked = f"the model asked for {len(calls)} tool calls at once"
            for call in calls[cap:]:
                reason = f"not run: {asked}; at most {cap} run per step (AgentMagic.max_tool_calls_per_step)"
                self._answer_unrun(call, reason, "too_many_tool_calls")
            yield Notice(**ids, message=f"⛔ {asked}; ran the first {cap} (AgentMagic.max_tool_calls_per_step)")
            calls = calls[:cap]
        read_only = [c for c in calls if not self._is_destructive(c)]
        destructive = [c for c in calls if self._is_destructive(c)]
        if read_only:
            for call in read_only:
                self._check_guards_before_tool(ids, call)
            yield transition(TurnState.TOOL_RUNNING)
            for call in read_only:
                yield ToolCallStarted(**ids, call=call)
            async for call, result, seconds in self._execute_concurrently(read_only, settings):
                yield self._record_result(ids, call, result, seconds, settings)
        for call in destructive:
            result: ToolResult | None = None
            async for event in self._gate(ids, call, transition):
                if isinstance(event, ToolResult):
                    result = event
                else:
                    yield event
            started = time.monotonic()
            if result is None:
                self._check_guards_before_tool(ids, call)
                yield transition(TurnState.TOOL_RUNNING)
                yield ToolCallStarted(**ids, call=call)
                result = await execute(call, self.tools, self.context, timeout=settings.tool_timeout)
            yield self._record_result(ids, call, result, time.monotonic() - started, settings)

    async def _execute_concurrently(
        self, calls: list[ToolCall], settings: TurnSettings
    ) -> AsyncIterator[tuple[ToolCall, ToolResult, float]]:
        """Start every call at once and yield each (call, result, seconds) as it finishes."""
        started = time.monotonic()

        async def one(call: ToolCall) -> tuple[ToolCall, ToolResult, float]:
            result = await execute(call, self.tools, self.context, timeout=settings.tool_timeout)
            return call, result, time.monotonic() - started

        tasks = [asyncio.ensure_future(one(call)) for call in calls]
        try:
            for next_done in asyncio.as_completed(tasks):
                yield await next_done
        finally:
            for task in tasks:
                task.cancel()

    async def _gate(
        self, ids: dict[str, str], call: ToolCall, transition: Callable[[TurnState], StateChanged]
    ) -> AsyncIterator[Event | ToolResult]:
        """Ask the approver about a destructive call; yields events, and a ToolResult if it must not run."""
        subject = call_subject(self.tools.get(call.name), call.arguments, self.context.workspace)
        if self.approver is None:
            yield ToolResult.failure(
                "approval_required", f"{call.name} changes things and needs approval, which is not set up here"
            )
            return
        yield transition(TurnState.TOOL_PENDING_APPROVAL)
        yield ApprovalRequested(**ids, call=call, subject=subject)
        asked = time.monotonic()
        decision = await self.approver(call, subject)
        yield ApprovalDecided(
            **ids,
            call=call,
            decision="approved" if decision.approved else ("stopped" if decision.stop_turn else "denied"),
            decided_by=decision.decided_by,
            reason=decision.reason,
            seconds_to_decide=time.monotonic() - asked,
        )
        if decision.stop_turn:
            raise TurnStopped("stopped by user at the approval prompt")
        if not decision.approved:
            why = f": {decision.reason}" if decision.reason else ""
            yield ToolResult.failure("denied", f"{call.name} was denied ({decision.decided_by}){why}")

    def _check_guards_before_tool(self, ids: dict[str, str], call: ToolCall) -> None:
        for guard in self.guards:
            guard.before_tool_call(self, ids["turn_id"], call)

    def _is_destructive(self, call: ToolCall) -> bool:
        """True when the call must pass the approval gate: a destructive tool, or one an approver's
        deny/ask rule names (`gates`, optional on an approver)."""
        tool = self.tools.get(call.name)
        if tool is None:
            return False
        gates = getattr(self.approver, "gates", None)
        return tool.destructive or bool(gates and gates(call))

    # -- transcript -----------------------------------------------------------------------------------

    def _request_messages(self, settings: TurnSettings) -> list[dict[str, Any]]:
        system = f"{settings.system_prompt}\n\n{UNTRUSTED_DATA_RULE}"
        return [{"role": "system", "content": system}, *self.messages]

    @staticmethod
    def _assistant_message(response: ModelResponse) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": response.text or None}
        if response.tool_calls:
            message["tool_calls"] = [
                {"id": c.call_id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in response.tool_calls
            ]
        return message

    def _repair_transcript(self, partial_text: str, *, interrupted: bool, reason: str) -> None:
        """Make the transcript valid after a turn ended early: answer every dangling tool call with
        `reason` and keep an interrupted partial answer, marked as such."""
        if interrupted and partial_text:
            self.messages.append({"role": "assistant", "content": partial_text + "\n\n[interrupted by the user]"})
        answered = {m["tool_call_id"] for m in self.messages if m.get("role") == "tool"}
        for message in list(self.messages):
            for call in message.get("tool_calls") or ():
                if call["id"] not in answered:
                    self._answer_unrun(ToolCall(call["id"], call["function"]["name"], ""), reason, "cancelled")

    def _answer_unrun(self, call: ToolCall, reason: str, error_code: str) -> None:
        """Answer a tool call that will not run, so the next request stays valid."""
        result = ToolResult.failure(error_code, reason)
        content = present(ToolCall(call.call_id, call.name, ""), result, max_chars=1000).content
        self.messages.append({"role": "tool", "tool_call_id": call.call_id, "content": content})

    # -- events ---------------------------------------------------------------------------------------

    @staticmethod
    def _retry_event(ids: dict[str, str], item: RetryScheduled) -> Event:
        """A retry the user should know about: a restarted answer replaces the partial text shown."""
        next_try = f"attempt {item.attempt + 1} of {item.max_attempts} in {item.wait_s:.1f} s"
        if item.after_output:
            return StreamRestarted(**ids, attempt=item.attempt + 1, reason=f"{item.reason}; {next_try}")
        return Notice(**ids, message=f"⟳ {item.reason}; {next_try}")

    @staticmethod
    def _failed_call_usage(ids: dict[str, str], model: str, error: ModelCallError) -> Usage:
        """The ledger row of a model call that failed for good: no tokens known, its attempts counted."""
        return Usage(
            **ids,
            model=model,
            input_tokens=0,
            output_tokens=0,
            latency_s=sum(record.duration_s + (record.wait_after_s or 0.0) for record in error.attempts),
            retries=sum(attempt.sent for attempt in error.attempts) - 1,
            status="failed",
        )

    @staticmethod
    def _usage_event(ids: dict[str, str], model: str, response: ModelResponse, request: list[dict[str, Any]]) -> Usage:
        usage = response.usage
        if usage is None:
            # The server reported no usage: estimate from text length (about 4 characters a token).
            request_chars = sum(len(str(m.get("content") or "")) for m in request)
            output_chars = len(response.text) + sum(len(c.arguments) for c in response.tool_calls)
            return Usage(
                **ids,
                model=model,
                input_tokens=max(1, request_chars // 4),
                output_tokens=max(1, output_chars // 4),
                latency_s=response.latency_s,
                ttft_s=response.ttft_s,
                retries=response.retries,
                estimated=True,
            )
        return Usage(
            **ids,
            model=model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_tokens=usage.cached_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            latency_s=response.latency_s,
            ttft_s=response.ttft_s,
            retries=response.retries,
            estimated=usage.estimated,
        )

    def _record_result(
        self, ids: dict[str, str], call: ToolCall, result: ToolResult, seconds: float, settings: TurnSettings
    ) -> ToolFinished:
        """Append the tool message to the transcript as soon as its result exists, and describe it."""
        outcome = present(call, result, max_chars=settings.max_tool_output_chars)
        self.messages.append({"role": "tool", "tool_call_id": call.call_id, "content": outcome.content})
        return ToolFinished(
            **ids,
            call=call,
            ok=result.ok,
            content=outcome.content,
            error_code=result.error_code,
            duration_s=seconds,
            truncated=outcome.truncated,
            data=result.data,
        )
