"""Reasoning that servers stream (`reasoning_content`, `reasoning`): kept apart from the answer, shown as
"Thinking", recorded (masked) in the ledger and the transcript view, and never sent back to the model."""

from __future__ import annotations

import asyncio
import json

import pytest
from scripted_model import ScriptedModel
from test_session import make_session, run_turn

from agent_magic.events import MessageAdded, MessageOrigin, ReasoningDelta, TextDelta, Usage
from agent_magic.llm.client import EndpointSettings, ModelClient
from agent_magic.llm.model import ModelResponse, ReasoningPiece, TextPiece
from agent_magic.llm.stream import ChunkAccumulator


def delta_chunk(**delta):
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": None}]}


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_streamed_reasoning_is_kept_apart_from_the_answer(field):
    acc = ChunkAccumulator()
    assert acc.add(delta_chunk(**{field: "Let me "})) == "" and acc.new_reasoning == "Let me "
    assert acc.add(delta_chunk(**{field: "think."})) == "" and acc.new_reasoning == "think."
    assert acc.add(delta_chunk(content="Answer.")) == "Answer." and acc.new_reasoning == ""
    assert (acc.reasoning, acc.text) == ("Let me think.", "Answer.")
    assert acc.has_output


def test_a_reasoning_field_that_is_not_text_is_ignored():
    acc = ChunkAccumulator()
    acc.add(delta_chunk(reasoning={"effort": "high"}, content="x"))
    assert acc.reasoning == "" and acc.text == "x"


def test_the_http_client_streams_reasoning_pieces_before_the_text(model_server, script):
    script.add_reasoning("Two steps: read, then answer.", "Done.", reasoning_tokens=7)
    client = ModelClient(EndpointSettings(model="m", base_url=model_server.base_url, api_key="k"))

    async def collect():
        return [item async for item in client.stream([{"role": "user", "content": "hi"}], [])]

    items = asyncio.run(collect())
    reasoning = "".join(i.text for i in items if isinstance(i, ReasoningPiece))
    first_text = next(n for n, i in enumerate(items) if isinstance(i, TextPiece))
    assert reasoning == "Two steps: read, then answer."
    assert all(not isinstance(i, ReasoningPiece) for i in items[first_text:])
    response = items[-1]
    assert isinstance(response, ModelResponse)
    assert (response.text, response.reasoning, response.usage.reasoning_tokens) == (
        "Done.",
        "Two steps: read, then answer.",
        7,
    )


def test_the_turn_tells_reasoning_as_its_own_deltas_and_with_the_answer_message(workspace):
    model = ScriptedModel()
    model.add_reasoning("Think first.", "Answer.")
    events = run_turn(make_session(model, workspace), "hi")
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "Think first."
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Answer."
    answer = next(e for e in events if isinstance(e, MessageAdded) and e.origin is MessageOrigin.ANSWER)
    assert answer.reasoning == "Think first."
    assert answer.message == {"role": "assistant", "content": "Answer."}, "the transcript holds no reasoning"


def test_reasoning_is_never_sent_back_to_the_model(workspace):
    model = ScriptedModel()
    model.add_reasoning("SECRET-CHAIN-OF-THOUGHT", "First answer.")
    model.add_text("Second answer.")
    session = make_session(model, workspace)
    run_turn(session, "first")
    run_turn(session, "second")
    sent = json.dumps(model.requests[1][0])
    assert "First answer." in sent and "SECRET-CHAIN-OF-THOUGHT" not in sent


def test_reasoning_tokens_reach_the_usage_event(model_server, script, workspace):
    script.add_reasoning("hmm", "ok", reasoning_tokens=12)
    events = run_turn(make_session(model_server, workspace), "hi")
    (usage,) = [e for e in events if isinstance(e, Usage)]
    assert usage.reasoning_tokens == 12
