"""The agent loop: one conversation (`Session`) and its turns, as a state machine that yields events.

`Session.run_turn()` is an async generator of `events.Event`. It never imports IPython, widgets or
HTTP libraries: the model arrives as a `ModelClient`, approval as an injected `Approver`, and everything
the user sees is rendered by subscribers to the events. Whatever ends a turn (completion, a failure, a
limit, a cancellation) leaves the transcript valid for the next turn: every assistant tool call gets a
tool result. The session also keeps its transcript inside the model's context window: a `Compactor`
shortens it before a request would not fit, or once after a server refused one as too long.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent_magic.contracts import Approver, History, Pricing, TurnContext, TurnGuard, TurnSettings
from agent_magic.conversation.compaction import (
    Compacted,
    CompactionRequest,
    Compactor,
    SummaryCall,
    SummaryCallStarting,
)
from agent_magic.conversation.tokens import TokenGauge
from agent_magic.errors import (
    AgentUsageError,
    ContextWindowExceeded,
    InvalidAnswer,
    LimitReached,
    ModelCallError,
    TurnStopped,
)
from agent_magic.events import (
    AnswerChecked,
    ApprovalDecided,
    ApprovalRequested,
    AssistantMessage,
    ChangesRecorded,
    CompactionTrigger,
    Decision,
    Event,
    FileChange,
    MessageAdded,
    MessageOrigin,
    ModelCallStarted,
    ModelRequest,
    Notice,
    ReasoningDelta,
    StateChanged,
    StreamRestarted,
    SummaryWritten,
    TextDelta,
    ToolCall,
    ToolCallStarted,
    ToolFinished,
    TranscriptCompacted,
    TranscriptRewound,
    TurnEnded,
    TurnStarted,
    TurnState,
    Usage,
)
from agent_magic.llm.model import ChatModel, ModelResponse, ReasoningPiece, TextPiece
from agent_magic.llm.retry import RetryScheduled
from agent_magic.policy.subjects import call_subject
from agent_magic.tools.context import ToolContext
from agent_magic.tools.framing import UNTRUSTED_DATA_RULE
from agent_magic.tools.registry import ToolRegistry
from agent_magic.tools.result import ToolResult
from agent_magic.tools.runner import execute, present

log = logging.getLogger("agent_magic.session")

CANCELLED_RESULT = "cancelled by user"


@dataclass
class TurnRecord:
    """What the session remembers of a turn after it ended (for `%agent history` / `last-error`)."""

    turn_id: str
    prompt: str
    states: list[TurnState] = field(default_factory=list)
    error: BaseException | None = None
    message: str = ""


class Session:
    """One conversation with the model: the transcript and the tools, shared by consecutive cells.

    Per turn it is given the settings and the approver; it resolves the model once per turn with
    `client_for(model)` and prices each call with `pricing`. Everything it does is told through events,
    including every message it adds to the transcript (`MessageAdded`) and every rewrite of it
    (`TranscriptCompacted`, `TranscriptRewound`). `history` continues a conversation (resumed, forked);
    `compactor` keeps it inside the model's context window (None: never compacted).

    Example:
        >>> session = Session(client_for=lambda model: ModelClient(...), tools=registry, context=ctx)
        >>> async for event in session.run_turn("Which columns of df have missing values?", settings):
        ...     render(event)
    """

    def __init__(
        self,
        *,
        client_for: Callable[[str], ChatModel],
        tools: ToolRegistry,
        context: ToolContext,
        guards: list[TurnGuard] | None = None,
        pricing: Pricing | None = None,
        session_id: str | None = None,
        history: History | None = None,
        compactor: Compactor | None = None,
    ) -> None:
        history = history or History()
        self.session_id = session_id or uuid.uuid4().hex[:12]
        self.client_for = client_for
        self.tools = tools
        self.context = context
        self.guards: list[TurnGuard] = list(guards or [])
        self.pricing = pricing
        self.compactor = compactor
        self.messages: list[dict[str, Any]] = list(history.messages)
        # The turn each message belongs to ("" for none): compaction keeps turns whole, undo removes one.
        self.message_turns: list[str] = [*history.turn_ids, *[""] * (len(self.messages) - len(history.turn_ids))]
        self.turns: list[TurnRecord] = []
        self.used = history.used  # what the whole conversation has used (budgets read it through TurnContext)
        self.gauge = TokenGauge()
        self._state = TurnState.COMPLETED

    # -- the turn -------------------------------------------------------------------------------------

    async def run_turn(
        self,
        prompt: str,
        settings: TurnSettings,
        *,
        approver: Approver | None = None,
        cell_id: str | None = None,
        execution_count: int | None = None,
        notices: Sequence[str] = (),
    ) -> AsyncIterator[Event]:
        """Run one user turn to its end, yielding events; the last event is always `TurnEnded`.

        `approver` decides this turn's calls that need a decision (None: they are refused). `notices`
        are lines for the user about how the turn was prepared (MCP servers started or failing), yielded
        as `Notice` events after `TurnStarted`. On cancellation (kernel interrupt, Stop) the transcript
        is repaired, `TurnEnded(CANCELLED)` is yielded, and the caller is expected to re-raise
        `asyncio.CancelledError`.
        """
        turn = TurnContext(
            session_id=self.session_id, turn_id=uuid.uuid4().hex[:12], settings=settings, session_used=self.used
        )
        record = TurnRecord(turn_id=turn.turn_id, prompt=prompt)
        self.turns.append(record)
        ids = {"session_id": self.session_id, "turn_id": turn.turn_id}

        def transition(new: TurnState) -> StateChanged:
            old, self._state = self._state, new
            record.states.append(new)
            return StateChanged(**ids, old=old, new=new)

        yield transition(TurnState.RECEIVED)
        yield TurnStarted(
            **ids,
            prompt=prompt,
            model=settings.model,
            # 128 random bits, a valid W3C/OpenTelemetry trace id: telemetry exports the turn under it. Not a
            # uuid4, whose fixed version bits would skew trace-id-ratio samplers.
            trace_id=secrets.token_hex(16),
            cell_id=cell_id,
            execution_count=execution_count,
        )
        for line in notices:
            yield Notice(**ids, message=line)
        yield self._append(ids, {"role": "user", "content": prompt}, MessageOrigin.PROMPT)
        partial: list[str] = []
        in_flight: list[dict[str, Any]] | None = None  # the request of a model call under way
        final, message, error = TurnState.COMPLETED, "", None
        repaired = False  # the final answer's one repair round (settings.answer_check) was used
        try:
            model = self.client_for(settings.model)
            while True:
                if turn.step >= settings.max_steps:
                    raise LimitReached(
                        f"stopped: reached the step limit ({settings.max_steps} model calls in this turn); "
                        "raise it with --max-steps"
                    )
                turn.step += 1
                for guard in self.guards:
                    guard.before_model_call(turn)
                yield transition(TurnState.MODEL_STREAMING)
                response: ModelResponse | None = None
                schemas = self.tools.openai_schemas()
                fixed_chars = self._fixed_chars(settings, schemas)
                refused = False
                while response is None:
                    async for event in self._compact_if_needed(ids, turn, model, fixed_chars):
                        yield event
                    request = self._request(settings, schemas)
                    yield ModelCallStarted(**ids, step=turn.step, model=settings.model, request=request)
                    partial.clear()
                    in_flight = request.messages
                    # Only a turn with an answer format passes one: models without structured output keep
                    # the two-argument call (test doubles, wrappers).
                    formats = {"response_format": request.response_format} if request.response_format else {}
                    try:
                        async for item in model.stream(in_flight, schemas, **formats):
                            if isinstance(item, TextPiece):
                                partial.append(item.text)
                                yield TextDelta(**ids, text=item.text)
                            elif isinstance(item, ReasoningPiece):
                                yield ReasoningDelta(**ids, text=item.text)
                            elif isinstance(item, RetryScheduled):
                                partial.clear()  # a retry starts the answer again: never splice two answers
                                yield self._retry_event(ids, item)
                            else:
                                response = item
                    except ContextWindowExceeded as exc:
                        if refused or self.compactor is None:
                            raise
                        refused, in_flight = True, None  # compact, then send it once more
                        async for event in self._after_refusal(ids, turn, model, fixed_chars, exc):
                            yield event
                assert response is not None  # the client always ends with a response or raises
                partial.clear()
                yield self._count(turn, self._usage_event(ids, settings.model, response, in_flight))
                in_flight = None
                answer = self._assistant_message(response)
                yield self._append(ids, answer, MessageOrigin.ANSWER, reasoning=response.reasoning)
                self._observe(response, fixed_chars)
                yield AssistantMessage(
                    **ids,
                    text=response.text,
                    tool_calls=response.tool_calls,
                    finish_reason=response.finish_reason,
                    replayed=response.replayed,
                )
                if not response.tool_calls:
                    if settings.answer_check is None:
                        break
                    verdict = settings.answer_check(response.text)
                    repairing = not verdict.ok and not repaired
                    yield AnswerChecked(
                        **ids, ok=verdict.ok, value=verdict.value, problem=verdict.problem or "", repairing=repairing
                    )
                    if verdict.ok:
                        break
                    if not repairing:
                        raise InvalidAnswer(
                            verdict.failure or verdict.problem or "invalid answer", answer=response.text
                        )
                    repaired = True
                    repair = {"role": "user", "content": verdict.repair_prompt}
                    yield self._append(ids, repair, MessageOrigin.ANSWER_REPAIR)
                    continue
                async for event in self._run_tools(turn, response.tool_calls, approver, transition):
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
                yield self._count(turn, self._failed_call_usage(ids, settings.model, exc))
            in_flight = None
        except AgentUsageError as exc:  # e.g. headless_approval = "error": one line saying what to do
            final, message, error = TurnState.FAILED, str(exc), exc
        except Exception as exc:  # a bug of ours: keep the traceback for %agent last-error and the log
            log.exception("turn %s failed", turn.turn_id)
            final, message, error = TurnState.FAILED, f"internal error: {type(exc).__name__}: {exc}", exc
        if in_flight is not None and final is TurnState.CANCELLED:
            # The interrupted call was sent and may have been billed: record what it likely spent.
            yield self._count(turn, self._interrupted_usage(ids, settings.model, in_flight, "".join(partial)))
        if final is not TurnState.COMPLETED:
            cancelled = final is TurnState.CANCELLED
            reason = CANCELLED_RESULT if cancelled else f"not run: {message}"
            for event in self._repair_transcript(ids, "".join(partial), interrupted=cancelled, reason=reason):
                yield event
        record.error, record.message = error, message
        yield transition(final)
        yield TurnEnded(**ids, state=final, message=message, error=error)

    # -- the context window ---------------------------------------------------------------------------

    async def compact(self, settings: TurnSettings, *, model: ChatModel | None = None) -> AsyncIterator[Event]:
        """Compact the transcript now (`%agent compact`): summarise all but the latest turns and shorten old
        tool results. Yields the summary calls' events and `TranscriptCompacted` (or a notice that there was
        nothing to compact); the events carry an empty turn id. `model` writes the summaries (default: the
        session's model for `settings.model`)."""
        if self.compactor is None:
            return
        turn = TurnContext(session_id=self.session_id, turn_id="", settings=settings, session_used=self.used)
        ids = {"session_id": self.session_id, "turn_id": ""}
        fixed_chars = self._fixed_chars(settings, self.tools.openai_schemas())
        estimate = self.gauge.estimate(self.messages, fixed_chars)
        model = model or self.client_for(settings.model)
        async for event in self._compact(ids, turn, model, fixed_chars, estimate, CompactionTrigger.ON_DEMAND):
            yield event

    def rewind(self, turn_id: str) -> TranscriptRewound | None:
        """Take turn `turn_id` (the latest) out of the transcript the model sees, from its first message on
        (`%agent undo`); None when none of its messages is left (a compaction summarised it)."""
        self.turns = [record for record in self.turns if record.turn_id != turn_id]
        if turn_id not in self.message_turns:
            return None
        position = self.message_turns.index(turn_id)
        removed = len(self.messages) - position
        del self.messages[position:], self.message_turns[position:]
        self.gauge.forget()
        return TranscriptRewound(
            session_id=self.session_id, turn_id="", removed_turn=turn_id, position=position, removed_messages=removed
        )

    def repair(self) -> list[MessageAdded]:
        """Answer the tool calls a continued transcript left without results (its kernel stopped mid-turn),
        so the next request is valid; returns the messages added, in the unfinished turn."""
        ids = {"session_id": self.session_id, "turn_id": self.message_turns[-1] if self.message_turns else ""}
        return self._repair_transcript(
            ids, "", interrupted=False, reason="not run: the kernel stopped before this call finished"
        )

    @classmethod
    def _fixed_chars(cls, settings: TurnSettings, schemas: list[dict[str, Any]]) -> int:
        """The characters a request carries besides the transcript: the system prompt and the tool schemas."""
        return len(cls._system_prompt(settings)) + len(json.dumps(schemas))

    def _observe(self, response: ModelResponse, fixed_chars: int) -> None:
        """Anchor the next size estimate on the server's count of this call (after its answer joined)."""
        if response.usage is None:
            self.gauge.forget()
        else:
            self.gauge.observe(
                prompt_tokens=response.usage.input_tokens,
                output_tokens=response.usage.output_tokens,
                transcript_length=len(self.messages),
                fixed_chars=fixed_chars,
            )

    async def _compact_if_needed(
        self, ids: dict[str, str], turn: TurnContext, model: ChatModel, fixed_chars: int
    ) -> AsyncIterator[Event]:
        """Compact before a request that would fill more than the threshold of the model's known window."""
        if self.compactor is None:
            return
        estimate = self.gauge.estimate(self.messages, fixed_chars)
        if self.compactor.should_compact(turn.settings.model, estimate):
            async for event in self._compact(ids, turn, model, fixed_chars, estimate, CompactionTrigger.PROACTIVE):
                yield event

    async def _after_refusal(
        self, ids: dict[str, str], turn: TurnContext, model: ChatModel, fixed_chars: int, exc: ContextWindowExceeded
    ) -> AsyncIterator[Event]:
        """A server refused the request as too long: count the call, learn the window it named, compact."""
        assert self.compactor is not None
        if any(attempt.sent for attempt in exc.attempts):
            yield self._count(turn, self._failed_call_usage(ids, turn.settings.model, exc))
        if exc.window:
            self.compactor.learn(turn.settings.model, exc.window)
        window = f" ({exc.window:,} tokens)" if exc.window else ""
        yield Notice(
            **ids,
            message=f"⚠ the server refused the request as longer than the model's context window{window}; "
            "compacting the conversation and sending it once more",
        )
        estimate = exc.prompt_tokens or self.gauge.estimate(self.messages, fixed_chars)
        async for event in self._compact(ids, turn, model, fixed_chars, estimate, CompactionTrigger.REFUSED):
            yield event

    async def _compact(
        self,
        ids: dict[str, str],
        turn: TurnContext,
        model: ChatModel,
        fixed_chars: int,
        estimate: int,
        trigger: CompactionTrigger,
    ) -> AsyncIterator[Event]:
        """Run the compactor: its summary requests are model calls like any other (guarded, counted)."""
        assert self.compactor is not None
        request = CompactionRequest(
            model=model,
            messages=self.messages,
            turn_ids=self.message_turns,
            fixed_chars=fixed_chars,
            tokens_before=estimate,
            window=self.compactor.window_for(turn.settings.model),
            running_turn=turn.turn_id or None,
            trigger=trigger,
        )
        async for item in self.compactor.compact(request):
            if isinstance(item, SummaryCallStarting):
                for guard in self.guards:
                    guard.before_model_call(turn)
                yield ModelCallStarted(
                    **ids, step=turn.step, model=turn.settings.model, request=ModelRequest(item.request, [])
                )
            elif isinstance(item, SummaryCall):
                response = item.response
                yield self._count(turn, self._usage_event(ids, turn.settings.model, response, item.request))
                yield SummaryWritten(
                    **ids, text=response.text, finish_reason=response.finish_reason, replayed=response.replayed
                )
            elif isinstance(item, Compacted):
                for event in self._replace_transcript(ids, item, trigger):
                    yield event
            else:
                yield self._retry_event(ids, item)

    def _replace_transcript(self, ids: dict[str, str], compacted: Compacted, trigger: CompactionTrigger) -> list[Event]:
        """Adopt a compacted transcript and say so (subscribers rebuild their copy from the event)."""
        if not compacted.changed:
            return [Notice(**ids, message=compacted.notice(trigger))] if trigger is CompactionTrigger.ON_DEMAND else []
        self.messages[:] = compacted.messages
        self.message_turns[:] = compacted.turn_ids
        self.gauge.forget()
        compaction = TranscriptCompacted(
            **ids,
            messages=tuple(compacted.messages),
            turn_ids=tuple(compacted.turn_ids),
            tokens_before=compacted.tokens_before,
            tokens_after=compacted.tokens_after,
            summarised_turns=compacted.summarised_turns,
            shortened_results=compacted.shortened_results,
            trigger=trigger,
        )
        return [compaction, Notice(**ids, message=compacted.notice(trigger))]

    # -- tools ----------------------------------------------------------------------------------------

    async def _run_tools(
        self,
        turn: TurnContext,
        calls: tuple[ToolCall, ...],
        approver: Approver | None,
        transition: Callable[[TurnState], StateChanged],
    ) -> AsyncIterator[Event]:
        """Run one step's tool calls: those needing no decision concurrently, the others one by one in
        order, each through the approver. Each result joins the transcript as soon as it exists."""
        ids = {"session_id": turn.session_id, "turn_id": turn.turn_id}
        calls = tuple(self._routed(call) for call in calls)
        cap = turn.settings.max_tool_calls_per_step
        if len(calls) > cap:  # the excess is answered, not run, so the transcript stays valid
            asked = f"the model asked for {len(calls)} tool calls at once"
            reason = f"not run: {asked}; at most {cap} run per step (AgentMagic.max_tool_calls_per_step)"
            for call in calls[cap:]:
                yield self._answer_unrun(ids, call, reason, "too_many_tool_calls")
            yield Notice(**ids, message=f"⛔ {asked}; ran the first {cap} (AgentMagic.max_tool_calls_per_step)")
            calls = calls[:cap]
        gated = [c for c in calls if self._needs_decision(c, approver)]
        unattended = [c for c in calls if c not in gated]
        if unattended:
            for call in unattended:
                self._admit(turn, call)
            yield transition(TurnState.TOOL_RUNNING)
            for call in unattended:
                yield ToolCallStarted(**ids, call=call)
            async for call, result, seconds in self._execute_concurrently(unattended, turn.settings):
                for event in self._record_result(ids, call, result, seconds, turn.settings):
                    yield event
        for call in gated:
            result: ToolResult | None = None
            async for event in self._gate(ids, call, approver, transition):
                if isinstance(event, ToolResult):
                    result = event
                else:
                    yield event
            started = time.monotonic()
            if result is None:
                self._admit(turn, call)
                yield transition(TurnState.TOOL_RUNNING)
                yield ToolCallStarted(**ids, call=call)
                result = await execute(call, self.tools, self.context, timeout=turn.settings.tool_timeout)
            for event in self._record_result(ids, call, result, time.monotonic() - started, turn.settings):
                yield event

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
        self,
        ids: dict[str, str],
        call: ToolCall,
        approver: Approver | None,
        transition: Callable[[TurnState], StateChanged],
    ) -> AsyncIterator[Event | ToolResult]:
        """Ask the approver about a call; yields events, and a ToolResult if it must not run."""
        if approver is None:
            yield ToolResult.failure(
                "approval_required", f"{call.name} changes things and needs approval, which is not set up here"
            )
            return
        subject = call_subject(self.tools.get(call.name), call, self.context.workspace)
        yield transition(TurnState.TOOL_PENDING_APPROVAL)
        yield ApprovalRequested(**ids, call=call, subject=subject)
        asked = time.monotonic()
        decision = await approver(call, subject)
        yield ApprovalDecided(
            **ids,
            call=call,
            decision=decision.decision,
            decided_by=decision.decided_by,
            reason=decision.reason,
            seconds_to_decide=time.monotonic() - asked,
        )
        if decision.decision is Decision.STOPPED:
            raise TurnStopped("stopped by user at the approval prompt")
        if not decision.approved:
            why = f": {decision.reason}" if decision.reason else ""
            yield ToolResult.failure("denied", f"{call.name} was denied ({decision.decided_by}){why}")

    def _routed(self, call: ToolCall) -> ToolCall:
        """`call` naming the MCP server its tool belongs to, if any (read before it runs: a server that
        crashes during the call withdraws its tools)."""
        tool = self.tools.get(call.name)
        return dataclasses.replace(call, server=tool.server) if tool is not None and tool.server else call

    def _admit(self, turn: TurnContext, call: ToolCall) -> None:
        """Let the guards stop the turn before `call` runs, then count it as used."""
        for guard in self.guards:
            guard.before_tool_call(turn, call)
        turn.turn_used = turn.turn_used.with_tool_call()
        self.used = turn.session_used = turn.session_used.with_tool_call()

    def _needs_decision(self, call: ToolCall, approver: Approver | None) -> bool:
        """True when the call must pass the approval gate: a destructive tool, or one the approver's rules
        name. An unknown tool needs none: the runner answers it with an error."""
        tool = self.tools.get(call.name)
        if tool is None:
            return False
        if approver is None:
            return tool.destructive
        return approver.gates(call, tool.destructive)

    # -- transcript -----------------------------------------------------------------------------------

    def _append(
        self, ids: dict[str, str], message: dict[str, Any], origin: MessageOrigin, *, reasoning: str = ""
    ) -> MessageAdded:
        """Add `message` to the transcript and say so: the one way messages join it. `reasoning` goes
        with the event only, never into the transcript the model is sent."""
        self.messages.append(message)
        self.message_turns.append(ids["turn_id"])
        return MessageAdded(**ids, message=message, position=len(self.messages) - 1, origin=origin, reasoning=reasoning)

    @staticmethod
    def _system_prompt(settings: TurnSettings) -> str:
        """The built-in prompt, the project's instructions (AGENTS.md), then the rule about tool output."""
        return "\n\n".join(
            part for part in (settings.system_prompt, settings.instructions, UNTRUSTED_DATA_RULE) if part
        )

    def _request_messages(self, settings: TurnSettings) -> list[dict[str, Any]]:
        return [{"role": "system", "content": self._system_prompt(settings)}, *self.messages]

    def _request(self, settings: TurnSettings, tools: list[dict[str, Any]]) -> ModelRequest:
        """The next model call's request: the transcript so far, the tools on offer, the answer format."""
        return ModelRequest(self._request_messages(settings), tools, settings.response_format)

    def preview_request(self, prompt: str, settings: TurnSettings) -> ModelRequest:
        """The request the first model call of a turn asking `prompt` would send, without sending it or
        changing the transcript (`%%agent --estimate`)."""
        request = self._request(settings, self.tools.openai_schemas())
        return dataclasses.replace(request, messages=[*request.messages, {"role": "user", "content": prompt}])

    @staticmethod
    def _assistant_message(response: ModelResponse) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": response.text or None}
        if response.tool_calls:
            message["tool_calls"] = [
                {"id": c.call_id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in response.tool_calls
            ]
        return message

    def _repair_transcript(
        self, ids: dict[str, str], partial_text: str, *, interrupted: bool, reason: str
    ) -> list[MessageAdded]:
        """Make the transcript valid after a turn ended early: answer every dangling tool call with
        `reason` and keep an interrupted partial answer, marked as such."""
        added = []
        if interrupted and partial_text:
            message = {"role": "assistant", "content": partial_text + "\n\n[interrupted by the user]"}
            added.append(self._append(ids, message, MessageOrigin.REPAIR))
        answered = {m["tool_call_id"] for m in self.messages if m.get("role") == "tool"}
        for message in list(self.messages):
            for call in message.get("tool_calls") or ():
                if call["id"] not in answered:
                    added.append(self._answer_unrun(ids, ToolCall(call["id"], call["function"]["name"], ""), reason))
        return added

    def _answer_unrun(
        self, ids: dict[str, str], call: ToolCall, reason: str, error_code: str = "cancelled"
    ) -> MessageAdded:
        """Answer a tool call that will not run, so the next request stays valid."""
        result = ToolResult.failure(error_code, reason)
        content = present(ToolCall(call.call_id, call.name, ""), result, max_chars=1000).content
        return self._append(
            ids, {"role": "tool", "tool_call_id": call.call_id, "content": content}, MessageOrigin.REPAIR
        )

    # -- events ---------------------------------------------------------------------------------------

    @staticmethod
    def _retry_event(ids: dict[str, str], item: RetryScheduled) -> Event:
        """A retry the user should know about: a restarted answer replaces the partial text shown."""
        next_try = f"attempt {item.attempt + 1} of {item.max_attempts} in {item.wait_s:.1f} s"
        if item.after_output:
            return StreamRestarted(
                **ids, attempt=item.attempt + 1, reason=f"{item.reason}; {next_try}", retry_in_s=item.wait_s
            )
        return Notice(**ids, message=f"⟳ {item.reason}; {next_try}", retry_in_s=item.wait_s)

    def _count(self, turn: TurnContext, usage: Usage) -> Usage:
        """Price a model call's usage and add it to the turn's and the session's totals."""
        cost = 0.0 if usage.replayed else None  # a replayed answer was not sent, so nothing was billed
        if self.pricing is not None and not usage.replayed:
            cost = self.pricing(usage.model, usage.input_tokens, usage.cached_tokens, usage.output_tokens)
        tokens = usage.input_tokens + usage.output_tokens
        turn.turn_used = turn.turn_used.with_model_call(tokens, cost)
        self.used = turn.session_used = turn.session_used.with_model_call(tokens, cost)
        return dataclasses.replace(usage, cost_usd=cost)

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
    def _estimated_tokens(request: list[dict[str, Any]], output_chars: int) -> tuple[int, int]:
        """Input and output tokens estimated from text length (about 4 characters a token)."""
        request_chars = sum(len(str(m.get("content") or "")) for m in request)
        return max(1, request_chars // 4), max(1, output_chars // 4) if output_chars else 0

    def _interrupted_usage(self, ids: dict[str, str], model: str, request: list[dict[str, Any]], partial: str) -> Usage:
        """The ledger row of a model call cut short by an interrupt: the server likely billed the request
        and what it streamed, so both are estimated rather than left out of the budgets."""
        input_tokens, output_tokens = self._estimated_tokens(request, len(partial))
        return Usage(
            **ids,
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            estimated=True,
            status="interrupted",
        )

    def _usage_event(
        self, ids: dict[str, str], model: str, response: ModelResponse, request: list[dict[str, Any]]
    ) -> Usage:
        usage = response.usage
        facts = {
            "latency_s": response.latency_s,
            "ttft_s": response.ttft_s,
            "retries": response.retries,
            "replayed": response.replayed,
        }
        if usage is None:
            # The server reported no usage: estimate from text length.
            output_chars = len(response.text) + sum(len(c.arguments) for c in response.tool_calls)
            input_tokens, output_tokens = self._estimated_tokens(request, output_chars)
            return Usage(
                **ids,
                model=model,
                input_tokens=input_tokens,
                output_tokens=max(1, output_tokens),
                response_model=response.response_model,
                estimated=True,
                **facts,
            )
        return Usage(
            **ids,
            model=model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_tokens=usage.cached_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            response_model=response.response_model,
            **facts,
        )

    def _record_result(
        self, ids: dict[str, str], call: ToolCall, result: ToolResult, seconds: float, settings: TurnSettings
    ) -> list[Event]:
        """Append the tool message to the transcript as soon as its result exists, and describe it: what the
        call changed (for undo, with a notice for a file no copy was kept of), then the result."""
        outcome = present(call, result, max_chars=settings.max_tool_output_chars)
        added = self._append(
            ids, {"role": "tool", "tool_call_id": call.call_id, "content": outcome.content}, MessageOrigin.TOOL_RESULT
        )
        events: list[Event] = [added]
        if result.changes:
            events.append(ChangesRecorded(**ids, call=call, changes=result.changes))
            events += [
                Notice(**ids, message=f"↩ undo will not restore `{change.path}`: {change.refusal}")
                for change in result.changes
                if isinstance(change, FileChange) and change.existed and change.refusal
            ]
        return [
            *events,
            ToolFinished(
                **ids,
                call=call,
                ok=result.ok,
                content=outcome.content,
                error_code=result.error_code,
                duration_s=seconds,
                truncated=outcome.truncated,
                data=result.data,
            ),
        ]
