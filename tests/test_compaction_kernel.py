"""`%agent compact` and compaction's records in a real kernel: the summary is a model call to the configured
endpoint, the cell says what happened, the next request carries the summary, the ledger records the
compaction, and a restarted kernel resumes the compacted conversation."""

from __future__ import annotations

import pytest
from kernel_harness import RealKernel

from agent_magic.prompts import COMPACTION_PROMPT, SUMMARY_HEADER

pytestmark = pytest.mark.kernel


LONG = " with all the details of the data, column by column" * 10  # ~130 tokens per answer


def is_summary(request: dict) -> bool:
    return request["messages"][0]["content"].startswith(COMPACTION_PROMPT.splitlines()[0])


def test_compact_on_demand_summarises_the_older_turns(shared_kernel, script):
    for number in range(4):
        script.add_text(f"answer {number}{LONG}")
        shared_kernel.execute(f"%%agent --session long\nquestion {number}")
    script.add_text("The user asked questions 0 and 1.")
    script.add_text("next answer")

    compacted = shared_kernel.execute("%agent compact")
    shared_kernel.execute("%%agent\nquestion 4")

    assert compacted.status == "ok", compacted.text
    assert "🗜 compacted the conversation (%agent compact)" in compacted.text and "2 turns summarised" in compacted.text
    summary_request = script.requests[4]
    assert is_summary(summary_request) and summary_request.get("tools") is None
    assert "User: question 0" in summary_request["messages"][1]["content"]
    sent = [m["content"] for m in script.requests[5]["messages"] if m["role"] == "user"]
    assert sent == [f"{SUMMARY_HEADER}\n\nThe user asked questions 0 and 1.", "question 2", "question 3", "question 4"]
    usage = shared_kernel.execute("import agent_magic\nprint(len(agent_magic.usage()))")
    assert usage.text.strip() == "6"  # the summary is a model call in the ledger like the others


def test_compact_says_so_when_there_is_nothing_to_compact(shared_kernel, script):
    script.add_text("only answer")
    shared_kernel.execute("%%agent\nonly question")

    run = shared_kernel.execute("%agent compact")

    assert run.status == "ok" and "nothing to compact" in run.text
    assert len(script.requests) == 1


def test_a_restarted_kernel_resumes_the_compacted_conversation(kernel, script, kernel_env, workspace):
    for number in range(3):
        script.add_text(f"answer {number}{LONG}")
        kernel.execute(f"%%agent --session kept\nquestion {number}")
    kernel.execute("%config AgentMagic.compaction_keep_turns = 1")
    script.add_text("Summary of questions 0 and 1.")
    kernel.execute("%agent compact")
    kernel.close()
    script.add_text("resumed answer")

    restarted = RealKernel(env=kernel_env, cwd=workspace)  # the same home: a restart
    try:
        restarted.execute("%load_ext agent_magic")
        run = restarted.execute("%%agent --session kept\nquestion 3")
        events = restarted.execute(
            "from agent_magic.kernel import current_runtime\n"
            "print(current_runtime().ledger.store.query("
            '"SELECT kind, tokens_before > tokens_after FROM conversation_events"))'
        )
    finally:
        restarted.close()

    assert run.status == "ok", run.text
    sent = [m["content"] for m in script.requests[-1]["messages"] if m["role"] == "user"]
    assert sent == [f"{SUMMARY_HEADER}\n\nSummary of questions 0 and 1.", "question 2", "question 3"]
    assert "[('compaction', 1)]" in events.text
