"""The core slice in a real kernel: streaming, continuity, tools, cut streams, interrupt, help, errors.

The tests share one kernel, reset before each (`shared_kernel`), but for the interrupt of a tool stuck in
`time.sleep`, whose thread outlives the turn: that test gets a kernel of its own.
"""

from __future__ import annotations

import json

import pytest

from agent_magic.llm.sse_server import StreamReply, text_chunks, usage_chunk

pytestmark = pytest.mark.kernel


def test_streamed_answer_is_shown_in_the_cell_as_markdown(shared_kernel, script):
    words = [f"word{i} " for i in range(60)]
    script.add(StreamReply(text_chunks("", pieces=words) + [usage_chunk(12, 60)], chunk_delay=0.01))

    run = shared_kernel.execute("%%agent\nSay sixty words.", allow_stdin=True)  # someone watches, as in JupyterLab

    assert run.status == "ok", run.text
    assert "".join(words).strip() in run.text
    markdown = [m for m in run.messages if "text/markdown" in m["content"].get("data", {})]
    assert markdown, "the answer is rendered as Markdown"
    # Coalesced: far fewer display messages than streamed tokens, but more than one (it streamed).
    updates = run.count("update_display_data")
    assert 1 <= updates < len(words) / 2


def test_next_cell_continues_the_same_conversation(shared_kernel, script):
    script.add_text("Paris is the capital of France.")
    script.add_text("About 2.1 million people live there.")

    shared_kernel.execute("%%agent\nWhat is the capital of France?")
    second = shared_kernel.execute("%%agent\nHow many people live there?")

    assert second.status == "ok"
    sent = [m["content"] for m in script.requests[1]["messages"] if m["role"] != "system"]
    assert sent == [
        "What is the capital of France?",
        "Paris is the capital of France.",
        "How many people live there?",
    ]


def test_new_option_starts_a_fresh_conversation(shared_kernel, script):
    script.add_text("first")
    script.add_text("second")
    shared_kernel.execute("%%agent\nhello")
    shared_kernel.execute("%%agent --new\nagain")
    roles = [m["role"] for m in script.requests[1]["messages"]]
    assert roles == ["system", "user"]


def test_read_only_tool_result_reaches_the_model(shared_kernel, script):
    shared_kernel.execute("import pandas as pd\ndf = pd.DataFrame({'a': [1, None], 'b': [1, 2]})")
    script.add_tool_calls(("inspect_variable", json.dumps({"name": "df"})))
    script.add_text("Column a has a missing value.")

    run = shared_kernel.execute("%%agent\nWhich columns of df have missing values?")

    assert run.status == "ok", run.text
    assert "inspect_variable(name='df')" in run.text
    assert "Column a has a missing value." in run.text
    tool_message = script.requests[1]["messages"][-1]
    assert tool_message["role"] == "tool"
    assert '"null_counts": {"a": 1, "b": 0}' in tool_message["content"]
    assert tool_message["content"].startswith('<tool_output tool="inspect_variable" trust="untrusted">')


def test_malformed_tool_arguments_become_a_structured_error_for_the_model(shared_kernel, script):
    script.add_tool_calls(("read_file", '{"path": "data.csv"'))
    script.add_text("Sorry, let me fix that.")

    run = shared_kernel.execute("%%agent\nread data.csv")

    assert run.status == "ok", run.text
    result = script.requests[1]["messages"][-1]["content"]
    payload = json.loads(result[result.index("{") : result.rindex("}") + 1])
    assert payload["ok"] is False
    assert payload["error_code"] == "invalid_arguments"
    assert payload["retryable"] is True


def test_cut_stream_is_never_shown_as_a_complete_answer(shared_kernel, script):
    script.add(StreamReply(text_chunks("The answer is forty two and more words follow"), cut_after=4))

    run = shared_kernel.execute("%%agent\nWhat is the answer?")

    assert run.status == "error"
    assert run.error["ename"] == "AgentTurnFailed"
    assert "closed the stream" in run.text or "without finishing" in run.text
    assert len(run.error["traceback"]) == 1, "one line, no traceback"
    history = shared_kernel.execute("%agent history")
    assert "[assistant]" not in history.text, "a cut answer is not recorded as the assistant's reply"


def test_interrupt_mid_stream_leaves_a_consistent_transcript(shared_kernel, script):
    pieces = [f"token{i} " for i in range(200)]
    script.add(StreamReply(text_chunks("", pieces=pieces), chunk_delay=0.05))
    interrupted = []

    def interrupt_after_first_display(msg, real_kernel):
        if msg["header"]["msg_type"] == "display_data" and not interrupted:
            interrupted.append(True)
            real_kernel.manager.interrupt_kernel()

    run = shared_kernel.execute(
        "%%agent\nTalk for a long time.", allow_stdin=True, on_message=interrupt_after_first_display
    )

    assert interrupted
    assert run.status == "error"
    assert "interrupted" in run.text
    history = shared_kernel.execute("%agent history").text
    assert "token0" in history and "[interrupted by the user]" in history
    script.add_text("Back again.")
    after = shared_kernel.execute("%%agent\nContinue.")
    assert after.status == "ok", after.text
    roles = [m["role"] for m in script.requests[-1]["messages"]]
    assert roles == ["system", "user", "assistant", "user"]


def test_interrupt_during_a_tool_call_answers_every_dangling_call(kernel, script):
    kernel.execute(
        "import time, agent_magic\n"
        "from agent_magic.tools.registry import make_tool\n"
        "def nap(seconds: float) -> str:\n"
        "    '''Sleep.'''\n"
        "    time.sleep(seconds)\n"
        "    return 'rested'\n"
        "rt = get_ipython().magics_manager.registry['AgentMagics'].runtime\n"
        "rt.session.tools.add(make_tool(nap))\n"
    )
    script.add_tool_calls(("nap", '{"seconds": 30}'))

    def interrupt_when_tool_starts(msg, real_kernel):
        data = msg["content"].get("data", {})
        if "running…" in data.get("text/plain", ""):
            real_kernel.manager.interrupt_kernel()

    run = kernel.execute("%%agent\nTake a nap.", on_message=interrupt_when_tool_starts, timeout=20)

    assert run.status == "error"
    script.add_text("Awake.")
    after = kernel.execute("%%agent\nWake up.")
    assert after.status == "ok", after.text
    messages = script.requests[-1]["messages"]
    tool_results = [m for m in messages if m["role"] == "tool"]
    assert len(tool_results) == 1 and "cancelled by user" in tool_results[0]["content"]


def test_help_is_printed_for_the_cell_magic(shared_kernel):
    run = shared_kernel.execute("%%agent?")
    pages = [p for p in run.reply["content"].get("payload", []) if p.get("source") == "page"]
    help_text = pages[0]["data"]["text/plain"] if pages else run.text
    assert "--max-steps" in help_text and "--model" in help_text and "--new" in help_text


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("%%agent --bogus\nhi", "unrecognized arguments: --bogus"),
        ("%%agent --max-steps 0\nhi", "--max-steps must be at least 1"),
        ("%%agent --max-steps many\nhi", "invalid int value"),
        ("%%agent\n", "the %%agent cell is empty"),
        ("%agent frobnicate", "unknown subcommand 'frobnicate'"),
    ],
)
def test_bad_input_gives_a_one_line_error(shared_kernel, code, expected):
    run = shared_kernel.execute(code)
    assert run.status == "error"
    assert expected in run.text
    assert "Traceback" not in run.text


def test_line_magic_subcommands(shared_kernel, script):
    script.add_text("hi there")
    shared_kernel.execute("%%agent\nhello")
    assert "[user] hello" in shared_kernel.execute("%agent history").text
    assert "model" in shared_kernel.execute("%agent config").text
    assert "inspect_variable" in shared_kernel.execute("%agent tools").text
    assert "New conversation" in shared_kernel.execute("%agent reset").text
    assert "The conversation is empty." in shared_kernel.execute("%agent history").text


def test_config_changes_the_model_sent_to_the_endpoint(shared_kernel, script):
    script.add_text("ok")
    shared_kernel.execute('%config AgentMagic.model = "my-local-model"')
    shared_kernel.execute("%%agent\nhello")
    assert script.requests[0]["model"] == "my-local-model"
    assert script.requests[0]["stream"] is True
    assert script.requests[0]["stream_options"] == {"include_usage": True}


def test_no_endpoint_configured_says_how_to_fix_it_in_one_line(shared_kernel):
    shared_kernel.execute("import os\nos.environ.pop('OPENAI_API_KEY'); os.environ.pop('OPENAI_BASE_URL')")
    run = shared_kernel.execute("%%agent\nhello")
    assert run.status == "error"
    assert "OPENAI_API_KEY" in run.text and "--model demo" in run.text
    assert len(run.error["traceback"]) == 1


def test_demo_model_answers_offline(shared_kernel):
    shared_kernel.execute("import pandas as pd\ndf = pd.DataFrame({'x': [1, None, 3], 'y': [1, 2, 3]})")
    run = shared_kernel.execute("%%agent --model demo\nWhich columns of df have missing values?")
    assert run.status == "ok", run.text
    assert "not an LLM" in run.text
    assert "`x` (1 missing)" in run.text


def test_loading_the_extension_imports_no_heavy_library(kernel):
    # `%load_ext` stays light (benchmarks/bench_paths.py times it): the model client, pydantic, pandas and
    # Arrow load with the first turn or the first ledger view, never with the extension.
    heavy = ("openai", "pydantic", "pandas", "pyarrow", "httpx")
    run = kernel.execute(f"import sys\nprint(sorted(m for m in {heavy!r} if m in sys.modules))")

    assert run.status == "ok", run.text
    assert run.text.strip().splitlines()[-1] == "[]"
