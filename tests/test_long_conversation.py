"""A conversation three times longer than the model's context window, in a real kernel against a server
that enforces its window: every turn is answered, the server refuses at most one request (the one that
teaches the window), and no request sent is longer than the window."""

from __future__ import annotations

import pytest

from agent_magic.llm.sse_server import ScriptedResponder, StreamReply, count_prompt_tokens, text_chunks, usage_chunk
from agent_magic.prompts import COMPACTION_PROMPT

pytestmark = pytest.mark.kernel

WINDOW = 6_000
ANSWER = "Here is a long and careful answer with many details about the data. " * 35  # ~2,400 characters
TURNS = 30


def answer(request: dict) -> StreamReply:
    """A short summary for a compaction's request, a long answer otherwise."""
    summarising = request["messages"][0]["content"].startswith(COMPACTION_PROMPT.splitlines()[0])
    text = "The user asked about the data, turn after turn." if summarising else ANSWER
    return StreamReply(text_chunks(text) + [usage_chunk(0, len(text) // 4)])


@pytest.fixture
def script() -> ScriptedResponder:
    """A server whose window is WINDOW tokens, worded like vLLM when it refuses."""
    return ScriptedResponder(window=WINDOW, window_error="vllm", otherwise=answer)


def test_a_conversation_three_times_the_window_is_answered_turn_after_turn(kernel, script):
    for number in range(TURNS):
        run = kernel.execute(f"%%agent\nQuestion {number}: tell me more about the data.")
        assert run.status == "ok", f"turn {number}: {run.text}"
        assert "Here is a long and careful answer" in run.text

    conversation_tokens = TURNS * (len(ANSWER) + 45) // 4
    assert conversation_tokens > 3 * WINDOW
    assert len(script.refused) <= 1
    sent = [count_prompt_tokens(r) for r in script.requests]
    assert max(sent) > WINDOW  # the refused one…
    assert sum(tokens > WINDOW for tokens in sent) == len(script.refused)  # …and no other
    compactions = kernel.execute(
        "import agent_magic, sqlite3\n"
        "from agent_magic.kernel import current_runtime\n"
        "store = current_runtime().ledger.store\n"
        "print(store.query(\"SELECT count(*) FROM conversation_events WHERE kind = 'compaction'\")[0][0])"
    )
    assert int(compactions.text.strip()) >= 2
