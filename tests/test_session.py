"""The turn state machine, driven in memory by a scripted model; the HTTP client's failures are driven by
the loopback model server over real sockets."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from scripted_model import ScriptedModel

from agent_magic.contracts import TurnSettings
from agent_magic.events import (
    MessageAdded,
    MessageOrigin,
    ModelCallStarted,
    StateChanged,
    TextDelta,
    ToolCallStarted,
    ToolFinished,
    TurnEnded,
    TurnStarted,
    TurnState,
    Usage,
)
from agent_magic.llm.client import EndpointSettings, ModelClient
from agent_magic.llm.sse_server import StreamReply, text_chunks
from agent_magic.session import Session
from agent_magic.tools.builtins import builtin_tools
from agent_magic.tools.context import ToolContext
from agent_magic.tools.registry import ToolRegistry, make_tool


def make_session(model, workspace: Path, *extra_tools) -> Session:
    """A session on `model`: a ScriptedModel, or the loopback server (then a real HTTP client)."""
    if not isinstance(model, ScriptedModel):
        model = ModelClient(EndpointSettings(model="m", base_url=model.base_url, api_key="k"))
    tools = ToolRegistry([*builtin_tools(), *extra_tools])
    return Session(client_for=lambda name: model, tools=tools, context=ToolContext(workspace, {"n": 1}))


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel()


def run_turn(session: Session, prompt: str, **settings) -> list:
    async def collect():
        return [e async for e in session.run_turn(prompt, TurnSettings(model="m", **settings))]

    return asyncio.run(collect())


def test_a_text_turn_emits_events_in_order(model, workspace):
    model.add_text("Hello there", usage=(7, 3))
    events = run_turn(make_session(model, workspace), "hi")
    kinds = [type(e).__name__ for e in events if not isinstance(e, TextDelta)]
    assert kinds == [
        "StateChanged",
        "TurnStarted",
        "MessageAdded",
        "StateChanged",
        "ModelCallStarted",
        "Usage",
        "MessageAdded",
        "AssistantMessage",
        "StateChanged",
        "TurnEnded",
    ]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello there"
    usage = next(e for e in events if isinstance(e, Usage))
    assert (usage.input_tokens, usage.output_tokens, usage.estimated) == (7, 3, False)
    assert usage.ttft_s is not None and usage.latency_s >= usage.ttft_s
    assert events[-1].state is TurnState.COMPLETED


def test_every_event_carries_the_session_and_turn(model, workspace):
    model.add_text("x")
    session = make_session(model, workspace)
    events = run_turn(session, "hi")
    started = next(e for e in events if isinstance(e, TurnStarted))
    assert {(e.session_id, e.turn_id) for e in events} == {(session.session_id, started.turn_id)}
    assert len(started.trace_id) == 32


def test_missing_usage_is_estimated_and_marked(model, workspace):
    model.add_text("a reply of some length", usage=None)
    usage = next(e for e in run_turn(make_session(model, workspace), "hi") if isinstance(e, Usage))
    assert usage.estimated and usage.output_tokens >= 1 and usage.input_tokens >= 1


def test_state_machine_goes_through_tool_running(model, workspace):
    model.add_tool_calls(("list_files", "{}"))
    model.add_text("done")
    events = run_turn(make_session(model, workspace), "list")
    states = [e.new for e in events if isinstance(e, StateChanged)]
    assert states == [
        TurnState.RECEIVED,
        TurnState.MODEL_STREAMING,
        TurnState.TOOL_RUNNING,
        TurnState.MODEL_STREAMING,
        TurnState.COMPLETED,
    ]


def test_step_limit_stops_a_runaway_loop_with_a_valid_transcript(model, workspace):
    for _ in range(3):
        model.add_tool_calls(("list_files", "{}"))
    session = make_session(model, workspace)
    events = run_turn(session, "loop forever", max_steps=2)
    assert sum(isinstance(e, ModelCallStarted) for e in events) == 2
    assert events[-1].state is TurnState.LIMIT_REACHED
    assert "step limit (2 model calls" in events[-1].message
    calls = [c["id"] for m in session.messages for c in m.get("tool_calls") or ()]
    answered = [m["tool_call_id"] for m in session.messages if m["role"] == "tool"]
    assert sorted(calls) == sorted(answered)


def test_read_only_calls_in_one_step_run_concurrently(model, workspace):
    async def pause(seconds: float) -> str:
        """Wait."""
        await asyncio.sleep(seconds)
        return "ok"

    model.add_tool_calls(*[("pause", json.dumps({"seconds": 0.5}))] * 4)
    model.add_text("all done")
    events = run_turn(make_session(model, workspace, make_tool(pause)), "wait")
    finished = [e for e in events if isinstance(e, ToolFinished)]
    assert len(finished) == 4 and all(e.ok for e in finished)
    # Concurrent: every call started before any finished.
    first_finish = next(i for i, e in enumerate(events) if isinstance(e, ToolFinished))
    assert sum(isinstance(e, ToolCallStarted) for e in events[:first_finish]) == 4


def test_destructive_tool_without_an_approver_is_refused_not_run(model, workspace):
    ran = []

    def wipe() -> str:
        """Delete everything."""
        ran.append(True)
        return "wiped"

    model.add_tool_calls(("wipe", "{}"))
    model.add_text("ok")
    events = run_turn(make_session(model, workspace, make_tool(wipe, destructive=True)), "wipe it")
    finished = next(e for e in events if isinstance(e, ToolFinished))
    assert not ran and finished.error_code == "approval_required"


def test_a_failed_model_call_ends_the_turn_failed_and_keeps_no_partial_answer(model_server, script, workspace):
    script.add(StreamReply(text_chunks("never finished answer here"), cut_after=3))
    session = make_session(model_server, workspace)
    events = run_turn(session, "hi")
    assert events[-1].state is TurnState.FAILED
    assert session.messages == [{"role": "user", "content": "hi"}]
    assert session.turns[-1].error is not None


def test_an_unreachable_endpoint_fails_with_a_clear_message(workspace):
    client = ModelClient(EndpointSettings(model="m", base_url="http://127.0.0.1:9/v1", api_key="k"))
    session = Session(client_for=lambda model: client, tools=ToolRegistry(), context=ToolContext(workspace))
    ended = run_turn(session, "hi")[-1]
    assert isinstance(ended, TurnEnded) and ended.state is TurnState.FAILED
    assert ended.message.startswith("cannot reach http://127.0.0.1:9/v1")


def test_http_errors_name_the_endpoint_and_the_fix(model_server, script, workspace):
    script.add_error(401, message="bad key")
    ended = run_turn(make_session(model_server, workspace), "hi")[-1]
    assert ended.message == f"401 from {model_server.base_url}: check OPENAI_API_KEY (or %config AgentMagic.api_key)"


def test_a_limit_hit_before_a_tool_runs_answers_the_call_with_the_reason(model, workspace):
    from agent_magic.errors import LimitReached

    class NoTools:
        def before_model_call(self, turn):
            pass

        def before_tool_call(self, turn, call):
            raise LimitReached("stopped: turn budget of 0 tool calls reached")

    model.add_tool_calls(("list_files", "{}"))
    session = make_session(model, workspace)
    session.guards.append(NoTools())
    ended = run_turn(session, "list")[-1]
    assert ended.state is TurnState.LIMIT_REACHED
    (tool_message,) = [m for m in session.messages if m["role"] == "tool"]
    assert "not run: stopped: turn budget of 0 tool calls reached" in tool_message["content"]
    assert "cancelled by user" not in tool_message["content"]


def test_the_transcript_is_told_through_message_events_including_repairs(model, workspace):
    from agent_magic.errors import LimitReached

    model.add_tool_calls(("list_files", "{}"), ("read_file", '{"path": "x"}'))
    session = make_session(model, workspace)

    class StopBeforeTools:
        def before_model_call(self, turn):
            pass

        def before_tool_call(self, turn, call):
            raise LimitReached("stopped: no tools today")

    session.guards.append(StopBeforeTools())
    events = run_turn(session, "look around")
    added = [e for e in events if isinstance(e, MessageAdded)]
    assert [e.message for e in added] == session.messages
    assert [e.position for e in added] == list(range(len(session.messages)))
    assert [e.origin for e in added] == [
        MessageOrigin.PROMPT,
        MessageOrigin.ANSWER,
        MessageOrigin.REPAIR,
        MessageOrigin.REPAIR,
    ]


def test_the_model_is_resolved_once_per_turn(model, workspace):
    model.add_tool_calls(("list_files", "{}"))
    model.add_tool_calls(("list_files", "{}"))
    model.add_text("done")
    resolved = []
    session = make_session(model, workspace)
    session.client_for = lambda name: resolved.append(name) or model
    run_turn(session, "look twice")
    assert resolved == ["m"]


def test_usage_is_priced_and_counted_for_the_guards(model, workspace):
    seen = []

    class Watch:
        def before_model_call(self, turn):
            seen.append((turn.step, turn.turn_used, turn.session_used))

        def before_tool_call(self, turn, call):
            pass

    model.add_tool_calls(("list_files", "{}"))
    model.add_text("done", usage=(100, 20))
    model.add_text("again", usage=(200, 10))
    session = make_session(model, workspace)
    session.pricing = lambda name, input_tokens, cached, output: (input_tokens + output) / 1000
    session.guards.append(Watch())
    events = run_turn(session, "one")
    costs = [e.cost_usd for e in events if isinstance(e, Usage)]
    assert costs == [0.015, 0.12]
    run_turn(session, "two")
    step, turn_used, session_used = seen[-1]
    assert (step, turn_used.model_calls, session_used.model_calls, session_used.tool_calls) == (1, 0, 2, 1)
    assert session_used.tokens == 15 + 120 and session_used.cost_usd == 0.135
    assert session.used.model_calls == 3 and round(session.used.cost_usd, 6) == 0.345


def test_an_unpriced_model_leaves_the_cost_unknown_not_zero(model, workspace):
    model.add_text("hi")
    session = make_session(model, workspace)
    session.pricing = lambda *args: None
    (usage,) = [e for e in run_turn(session, "hi") if isinstance(e, Usage)]
    assert usage.cost_usd is None and session.used.unpriced_calls == 1


def test_an_interrupted_model_call_still_counts_what_it_likely_spent(model, workspace):
    async def slow_answer():
        session = make_session(model, workspace)
        gate = asyncio.Event()

        async def stream(messages, tools):
            from agent_magic.llm.model import TextPiece

            yield TextPiece("partial answer of some words")
            gate.set()
            await asyncio.sleep(30)

        model.stream = stream
        events = []

        async def consume():
            async for event in session.run_turn("talk", TurnSettings(model="m")):
                events.append(event)

        task = asyncio.ensure_future(consume())
        await gate.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return events

    events = asyncio.run(slow_answer())
    (usage,) = [e for e in events if isinstance(e, Usage)]
    assert usage.status == "interrupted" and usage.estimated
    assert usage.input_tokens >= 1 and usage.output_tokens == len("partial answer of some words") // 4
    assert events[-1].state is TurnState.CANCELLED
