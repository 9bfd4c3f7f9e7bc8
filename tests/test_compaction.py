"""Compaction in the loop, driven by a scripted model: a conversation is shortened before it would not fit,
old tool results first, then the oldest turns summarised (in pieces when needed) by recorded model calls,
once more after a refusal, and on demand; every request stays a valid transcript."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from scripted_model import Reply, ScriptedModel

from agent_magic.contracts import TurnSettings
from agent_magic.conversation.compaction import CompactionPolicy, Compactor
from agent_magic.conversation.tokens import estimate_tokens
from agent_magic.errors import ContextWindowExceeded
from agent_magic.events import (
    CompactionTrigger,
    ModelCallStarted,
    Notice,
    TranscriptCompacted,
    TurnEnded,
    TurnState,
    Usage,
)
from agent_magic.llm.context_windows import ContextWindows
from agent_magic.prompts import COMPACTION_PROMPT, SUMMARY_HEADER
from agent_magic.session import Session
from agent_magic.tools.builtins import builtin_tools
from agent_magic.tools.context import ToolContext
from agent_magic.tools.registry import ToolRegistry

SUMMARY_MARK = COMPACTION_PROMPT.splitlines()[0]
LONG = "All the details of this answer. " * 40  # ~1,300 characters, ~330 tokens


def is_summary_request(request) -> bool:
    messages, _tools = request
    return messages[0]["role"] == "system" and messages[0]["content"].startswith(SUMMARY_MARK)


def answering(request) -> Reply:
    """Summaries when asked for one (numbered, so tests can follow them), long answers otherwise."""
    if is_summary_request(request):
        return Reply(text=f"summary #{answering.summaries}: the user asked many things", usage=None)
    return Reply(text=LONG, usage=None)


answering.summaries = 0


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel(otherwise=answering)


def queue_calls(model: ScriptedModel, *calls: tuple[str, str]) -> None:
    """Queue an answer asking for tool calls, with no usage reported (sizes are then estimated)."""
    model.replies.append(Reply(tool_calls=calls, usage=None))


def queue_text(model: ScriptedModel, text: str) -> None:
    model.replies.append(Reply(text=text, usage=None))


def make_session(model: ScriptedModel, workspace: Path, *, window: int, keep_turns: int = 2, tools: bool = False):
    compactor = Compactor(ContextWindows({"m": window}), CompactionPolicy(threshold=0.8, keep_turns=keep_turns))
    registry = ToolRegistry(builtin_tools() if tools else [])
    return Session(
        client_for=lambda name: model, tools=registry, context=ToolContext(workspace, {}), compactor=compactor
    )


def turn(session: Session, prompt: str) -> list:
    async def collect():
        return [e async for e in session.run_turn(prompt, TurnSettings(model="m", system_prompt="Be brief."))]

    return asyncio.run(collect())


def answer_requests(model: ScriptedModel) -> list[list[dict]]:
    return [messages for messages, tools in model.requests if not is_summary_request((messages, tools))]


def assert_valid(messages: list[dict]) -> None:
    """Every tool call has its result right after its assistant message, and no result lacks its call."""
    pending: set[str] = set()
    for message in messages:
        if message["role"] == "tool":
            assert message["tool_call_id"] in pending, f"a result without its call: {message['tool_call_id']}"
            pending.discard(message["tool_call_id"])
        else:
            assert not pending, f"calls without results: {pending}"
            pending = {call["id"] for call in message.get("tool_calls") or ()}
    assert not pending


def test_a_request_that_would_fill_the_window_is_compacted_before_it_is_sent(model, workspace):
    session = make_session(model, workspace, window=2_000)
    events = []
    for number in range(8):
        events += turn(session, f"question {number}")

    compacted = [e for e in events if isinstance(e, TranscriptCompacted)]
    assert compacted and all(e.trigger is CompactionTrigger.PROACTIVE for e in compacted)
    assert all(e.tokens_after < e.tokens_before for e in compacted)
    for messages in answer_requests(model):
        assert estimate_tokens(messages) <= 2_000 * 0.8 + 50
    last = answer_requests(model)[-1]
    assert last[1]["content"].startswith(SUMMARY_HEADER)
    users = [m["content"] for m in last if m["role"] == "user"][1:]
    assert users[-3:] == ["question 5", "question 6", "question 7"]  # at least the latest two turns, verbatim
    assert "question 0" not in users  # the oldest ones are in the summary


def test_a_summary_is_a_normal_model_call_counted_in_the_session(model, workspace):
    session = make_session(model, workspace, window=2_000)
    events = []
    for number in range(6):
        events += turn(session, f"question {number}")

    summaries = [r for r in model.requests if is_summary_request(r)]
    started = [e for e in events if isinstance(e, ModelCallStarted)]
    usages = [e for e in events if isinstance(e, Usage)]
    assert summaries
    assert len(started) == len(usages) == len(model.requests)  # summary calls are started and counted too
    assert session.used.model_calls == len(model.requests)
    assert summaries[0][1] == []  # a summary request offers no tools


def test_old_tool_results_are_shortened_before_anything_is_summarised(model, workspace):
    (workspace / "big.csv").write_text("\n".join(f"{i},{i * i}" for i in range(3_000)))
    queue_calls(model, ("read_file", json.dumps({"path": "big.csv", "limit": 3000})))
    queue_text(model, "It has 3000 rows.")
    session = make_session(model, workspace, window=9_000, tools=True)
    turn(session, "read big.csv")
    events = []
    for prompt in ("thanks", "and again", "last one"):
        queue_text(model, "ok")
        events += turn(session, prompt)

    compacted = [e for e in events if isinstance(e, TranscriptCompacted)]
    assert len(compacted) == 1
    assert compacted[0].shortened_results == 1 and compacted[0].summarised_turns == 0
    assert not any(is_summary_request(r) for r in model.requests)
    last = answer_requests(model)[-1]
    assert_valid(last)
    result = next(m for m in last if m["role"] == "tool")
    assert "lines truncated" in result["content"] and result["content"].endswith("</tool_output>")


def test_every_tool_call_keeps_its_result_in_every_request(model, workspace):
    session = make_session(model, workspace, window=3_000, tools=True)
    for number in range(10):
        queue_calls(model, ("list_variables", "{}"), ("list_files", "{}"))
        queue_text(model, LONG)
        turn(session, f"look around {number}")

    assert any(is_summary_request(r) for r in model.requests)
    for messages in answer_requests(model):
        assert_valid(messages)


def test_a_part_too_long_for_one_summary_request_is_summarised_in_pieces(model, workspace):
    session = make_session(model, workspace, window=100_000)
    for number in range(40):
        turn(session, f"question {number}")
    session.compactor.windows.learn("m", 4_000)  # the server turns out to take far less
    model.requests.clear()

    events = turn(session, "one more")

    summaries = [messages for messages, tools in model.requests if is_summary_request((messages, tools))]
    assert len(summaries) > 1
    assert all(estimate_tokens(messages) <= 4_000 * 0.5 for messages in summaries)
    first_summary = next(e for e in events if isinstance(e, Usage))
    assert first_summary is not None
    assert "Summary so far:\n(none yet)" in summaries[0][1]["content"]
    assert "Summary so far:\nsummary #" in summaries[1][1]["content"]  # each piece folds into the one before
    assert estimate_tokens(answer_requests(model)[-1]) <= 4_000 * 0.8


def test_a_refused_request_is_compacted_and_sent_once_more(model, workspace):
    session = make_session(model, workspace, window=1_000_000)
    for number in range(6):
        turn(session, f"question {number}")
    model.add_error(ContextWindowExceeded("too long", status=400, window=1_500, prompt_tokens=2_400))

    events = turn(session, "question 6")

    assert events[-1].state is TurnState.COMPLETED
    assert any(isinstance(e, Notice) and "refused" in e.message for e in events)
    compacted = next(e for e in events if isinstance(e, TranscriptCompacted))
    assert compacted.trigger is CompactionTrigger.REFUSED and compacted.tokens_after < compacted.tokens_before
    assert session.compactor.window_for("m") == 1_500  # learned for the next requests
    assert estimate_tokens(answer_requests(model)[-1]) <= 1_500


def test_a_second_refusal_fails_the_turn_with_one_line_saying_what_to_do(model, workspace):
    session = make_session(model, workspace, window=1_000_000)
    turn(session, "question 0")
    refusal = "400 from http://x/v1: the conversation is longer than m's context window; start a fresh one"
    for _ in range(2):
        model.add_error(ContextWindowExceeded(refusal, status=400, window=None, prompt_tokens=None))

    events = turn(session, "question 1")

    ended = events[-1]
    assert isinstance(ended, TurnEnded) and ended.state is TurnState.FAILED
    assert ended.message == refusal


def test_compact_on_demand_summarises_all_but_the_latest_turns(model, workspace):
    session = make_session(model, workspace, window=1_000_000, keep_turns=2)
    for number in range(5):
        turn(session, f"question {number}")

    async def compact():
        return [e async for e in session.compact(TurnSettings(model="m"))]

    events = asyncio.run(compact())

    compacted = next(e for e in events if isinstance(e, TranscriptCompacted))
    assert compacted.trigger is CompactionTrigger.ON_DEMAND and compacted.summarised_turns == 3
    assert all(e.turn_id == "" for e in events)
    users = [m["content"] for m in session.messages if m["role"] == "user"]
    assert users[0].startswith(SUMMARY_HEADER) and users[1:] == ["question 3", "question 4"]


def test_compact_on_demand_says_when_there_is_nothing_to_compact(model, workspace):
    session = make_session(model, workspace, window=1_000_000)
    turn(session, "only question")

    async def compact():
        return [e async for e in session.compact(TurnSettings(model="m"))]

    events = asyncio.run(compact())

    assert [type(e) for e in events] == [Notice]
    assert "nothing to compact" in events[0].message


def test_the_running_turn_is_never_summarised_and_its_unread_results_never_cut(model, workspace):
    (workspace / "data.txt").write_text(("x" * 79 + "\n") * 500)
    session = make_session(model, workspace, window=30_000, tools=True)
    turn(session, "hello")
    model.requests.clear()
    for _ in range(4):
        queue_calls(model, ("read_file", json.dumps({"path": "data.txt", "limit": 500})))
    queue_text(model, "done")

    events = turn(session, "read data.txt four times")

    assert events[-1].state is TurnState.COMPLETED
    assert any(isinstance(e, TranscriptCompacted) and e.shortened_results for e in events)
    for messages in answer_requests(model):
        assert_valid(messages)
        assert "read data.txt four times" in [m["content"] for m in messages if m["role"] == "user"]
        unread = messages[-1]
        if unread["role"] == "tool":
            assert "lines truncated" not in unread["content"]
