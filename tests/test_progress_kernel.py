"""Progress and reasoning in real kernels against the loopback model server: the waiting line a person
sees, the Thinking block, the notebook a headless run saves, and reasoning never sent back."""

from __future__ import annotations

import json

import pytest
from kernel_harness import run_saved_notebook

from agent_magic.llm.sse_server import StreamReply, reasoning_chunks, text_chunks, tool_call_chunks, usage_chunk

pytestmark = pytest.mark.kernel


def plain_texts(messages: list[dict], kind: str) -> list[str]:
    return [m["content"]["data"].get("text/plain", "") for m in messages if m["header"]["msg_type"] == kind]


def test_a_silent_model_shows_a_ticking_waiting_line_that_the_answer_replaces(kernel, script):
    script.add(StreamReply(text_chunks("Finally.") + [usage_chunk(10, 2)], first_byte_delay=2.5))

    run = kernel.execute("%%agent\nThink hard.", allow_stdin=True)  # someone watches, as in JupyterLab

    assert run.status == "ok", run.text
    status = plain_texts(run.messages, "display_data") + plain_texts(run.messages, "update_display_data")
    assert "… waiting for test-model — 1 s" in status and "… waiting for test-model — 2 s" in status
    shown = [o["data"].get("text/plain", "") for o in run.outputs if o["output_type"] == "display_data"]
    assert shown[0] == "Finally.", "the answer took the waiting line's place"
    assert shown[1].startswith("✓ test-model · 1 step · 12 tokens")
    assert len(shown) == 2


def test_reasoning_shows_as_a_collapsed_thinking_block_and_is_recorded_masked(kernel, script):
    secret = "sk-test-not-a-real-key"  # the kernel's OPENAI_API_KEY
    script.add_reasoning(f"The key is {secret}; do not say it.", "Nothing to say.", reasoning_tokens=9)

    run = kernel.execute("%%agent\nWhat is the key?", allow_stdin=True)

    assert run.status == "ok", run.text
    thinking, answer, summary = (o["data"] for o in run.outputs if o["output_type"] == "display_data")
    assert thinking["text/html"].startswith("<details class='agent-magic-thinking'>")
    assert "9 reasoning tokens" in thinking["text/plain"]
    assert answer["text/plain"] == "Nothing to say."
    assert "(9 reasoning)" in summary["text/plain"]
    recorded = kernel.execute(
        "import agent_magic, json\nprint(json.dumps(agent_magic.transcript()['reasoning'].fillna('').tolist()))"
    )
    assert json.loads(recorded.text.strip().splitlines()[-1]) == ["", "The key is ***; do not say it."]


def test_reasoning_is_never_resent_in_the_next_request(kernel, script):
    script.add(StreamReply(reasoning_chunks("PRIVATE-REASONING", "First.", field="reasoning") + [usage_chunk(5, 5)]))
    script.add_text("Second.")

    kernel.execute("%%agent\nOne.")
    second = kernel.execute("%%agent\nTwo.")

    assert second.status == "ok", second.text
    sent = json.dumps(script.requests[1]["messages"])
    assert "First." in sent and "PRIVATE-REASONING" not in sent
    assert all(set(m) <= {"role", "content", "tool_calls", "tool_call_id"} for m in script.requests[1]["messages"])


def test_a_headless_notebook_holds_no_status_only_the_summary_line(model_server, script, workspace, monkeypatch):
    (workspace / "data.csv").write_text("a,b\n1,2\n")
    read = tool_call_chunks([("read_file", json.dumps({"path": "data.csv"}))])
    script.add(StreamReply(read + [usage_chunk(5, 5)], first_byte_delay=1.5))
    answer = reasoning_chunks("Count the rows.", "One row.\n\nThat is all.")
    script.add(StreamReply(answer + [usage_chunk(10, 4)], first_byte_delay=1.5))
    monkeypatch.setenv("OPENAI_BASE_URL", model_server.base_url)
    saved = run_saved_notebook(workspace, "%load_ext agent_magic", "%%agent\nHow many rows does data.csv have?")

    outputs = saved.cells[1].outputs
    plain = [o["data"]["text/plain"] for o in outputs]
    assert {o["output_type"] for o in outputs} == {"display_data"}
    assert plain[0].startswith("🔧 read_file(path='data.csv') — ok in")
    assert plain[1].startswith("💭 Thought for ") and plain[1].endswith("\nCount the rows.")
    assert "".join(plain[2:-1]) == "One row.\n\nThat is all.", "the answer, in one or more settled blocks"
    assert plain[-1].startswith("✓ gpt-4.1-mini · 2 steps · 1 tool call · 24 tokens · ")
    assert all(text.strip() and "waiting" not in text for text in plain), "no status line, not even emptied"
