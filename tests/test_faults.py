"""The fault-injection suite: a real kernel against the loopback server, one injected fault per test.

Each test asserts what the cell shows, that the transcript is valid for the next turn (every assistant
tool call answered), and what the ledger recorded. Measured times are attached with `record_property`;
`benchmarks/fault_summary.py` runs this file and prints them as a table. The tests share one kernel,
reset before each (`shared_kernel`): every interrupt here ends without leaving a thread behind.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
import uuid
import zlib

import pytest

from agent_magic.llm.sse_server import ErrorReply, RawReply, StreamReply, text_chunks

pytestmark = pytest.mark.kernel

# Short waits, so retries cost milliseconds here; the cap on attempts stays the default (4).
FAST_RETRIES = "%config AgentMagic.retry_initial_wait = 0.01\n%config AgentMagic.retry_max_wait = 0.05\n"
NEVER_HANG_S = 5.0  # "ends promptly" bound for interrupts; real latencies are reported, not asserted


@pytest.fixture
def agent(shared_kernel):
    """The module's shared kernel, reset for this test, with fast retries."""
    assert shared_kernel.execute(FAST_RETRIES).status == "ok"
    return shared_kernel


def value(kernel, expression: str):
    """Evaluate `expression` in the kernel and return it, through JSON."""
    run = kernel.execute(f"import json, agent_magic\nprint(json.dumps({expression}, default=str))")
    assert run.status == "ok", run.text
    return json.loads(run.text.strip().splitlines()[-1])


def ledger_calls(kernel) -> list[dict]:
    """The model-call rows of the ledger: status, retries, tokens."""
    columns = "['status', 'retries', 'input_tokens', 'output_tokens']"
    return value(kernel, f"agent_magic.usage()[{columns}].to_dict(orient='records')")


def ledger_tools(kernel) -> list[dict]:
    """The tool-call rows of the ledger."""
    return value(kernel, "agent_magic.tool_calls()[['tool', 'ok', 'error_code']].to_dict(orient='records')")


def assert_next_turn_sees_a_valid_transcript(kernel, script) -> list[dict]:
    """Run one more cell; the request it sends must pair every assistant tool call with a tool result."""
    script.add_text("Continuing.")
    after = kernel.execute("%%agent\nContinue.")
    assert after.status == "ok", after.text
    messages = script.requests[-1]["messages"]
    asked = [c["id"] for m in messages if m["role"] == "assistant" for c in m.get("tool_calls") or ()]
    answered = [m["tool_call_id"] for m in messages if m["role"] == "tool"]
    assert sorted(asked) == sorted(answered)
    return messages


def tool_payload(message: dict) -> dict:
    content = message["content"]
    return json.loads(content[content.index("{") : content.rindex("}") + 1])


class Interrupter:
    """Interrupts the kernel once `trigger(msg)` is true; records when, and when the cell went idle."""

    def __init__(self, trigger) -> None:
        self.trigger = trigger
        self.sent_at: float | None = None
        self.idle_at: float | None = None

    def __call__(self, msg, kernel) -> None:
        if self.sent_at is None and self.trigger(msg):
            self.sent_at = time.monotonic()
            kernel.manager.interrupt_kernel()
        if msg["header"]["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            self.idle_at = time.monotonic()

    @property
    def latency(self) -> float:
        assert self.sent_at is not None and self.idle_at is not None, "the interrupt was never sent"
        return self.idle_at - self.sent_at


def assert_interrupted(run) -> None:
    """The cell ends with the one-line interrupted note, as an error (so "Run All" stops there)."""
    assert "⏹ interrupted" in run.text, run.text
    assert run.status == "error"


def shows(text: str):
    """A trigger: a display (new or updated) whose Markdown or plain text contains `text`."""

    def trigger(msg) -> bool:
        data = msg["content"].get("data", {})
        return text in data.get("text/markdown", "") or text in data.get("text/plain", "")

    return trigger


# -- transient failures ---------------------------------------------------------------------------


def test_429_twice_then_success(agent, script):
    script.add_error(429)
    script.add_error(429)
    script.add_text("Recovered answer.")

    run = agent.execute("%%agent\nhello")

    assert run.status == "ok", run.text
    assert "Recovered answer." in run.text
    assert run.text.count("⟳ 429 from") == 2, "each wait is announced in the cell"
    assert ledger_calls(agent) == [{"status": "ok", "retries": 2, "input_tokens": 10, "output_tokens": 5}]
    messages = assert_next_turn_sees_a_valid_transcript(agent, script)
    assert [m["content"] for m in messages if m["role"] == "assistant"] == ["Recovered answer."]


def test_retry_after_is_honoured(agent, script, record_property):
    script.add_error(429, retry_after=1)
    script.add_text("After the wait.")
    notices: list[float] = []

    def note_times(msg, kernel) -> None:
        if shows("⟳")(msg) or shows("After the wait")(msg):
            notices.append(time.monotonic())

    run = agent.execute("%%agent\nhello", on_message=note_times)

    assert run.status == "ok", run.text
    assert "in 1.0 s" in run.text
    waited = notices[-1] - notices[0]
    record_property("retry_after_asked_s", 1.0)
    record_property("retry_after_waited_s", round(waited, 3))
    assert waited >= 1.0, "never earlier than the server asked"
    assert ledger_calls(agent)[0]["retries"] == 1


def test_500_forever_fails_clearly_after_the_cap(agent, script, model_server):
    for _ in range(4):
        script.add_error(500, message="internal trouble")

    run = agent.execute("%%agent\nhello")

    assert run.status == "error"
    assert run.error["ename"] == "AgentTurnFailed" and len(run.error["traceback"]) == 1
    assert f"500 from {model_server.base_url}: internal trouble (gave up after 4 attempts)" in run.text
    assert model_server.request_count == 4
    detail = agent.execute("%agent last-error").text
    assert "attempts (4):" in detail and "attempt 4 at" in detail and "RetriesExhausted" in detail
    assert ledger_calls(agent) == [{"status": "failed", "retries": 3, "input_tokens": 0, "output_tokens": 0}]
    messages = assert_next_turn_sees_a_valid_transcript(agent, script)
    assert [m["role"] for m in messages] == ["system", "user", "user"]


def test_401_is_not_retried(agent, script, model_server):
    script.add_error(401, message="Incorrect API key provided")

    run = agent.execute("%%agent\nhello")

    assert run.status == "error"
    assert f"401 from {model_server.base_url}: check OPENAI_API_KEY" in run.text
    assert "Traceback" not in run.text
    assert model_server.request_count == 1
    assert ledger_calls(agent) == [{"status": "failed", "retries": 0, "input_tokens": 0, "output_tokens": 0}]
    assert_next_turn_sees_a_valid_transcript(agent, script)


def test_connection_refused(agent, script):
    agent.execute('%config AgentMagic.base_url = "http://127.0.0.1:9/v1"')

    run = agent.execute("%%agent\nhello")

    assert run.status == "error"
    assert "cannot reach http://127.0.0.1:9/v1 (ConnectError); is the server running?" in run.text
    assert "gave up after 4 attempts" in run.text
    assert ledger_calls(agent)[0]["status"] == "failed"
    agent.execute("%config AgentMagic.base_url = None")
    assert_next_turn_sees_a_valid_transcript(agent, script)


def test_first_byte_timeout(agent, script, model_server):
    agent.execute("%config AgentMagic.first_byte_timeout = 0.5\n%config AgentMagic.retry_max_attempts = 2")
    script.add(StreamReply(text_chunks("too late"), first_byte_delay=3))
    script.add(StreamReply(text_chunks("too late"), first_byte_delay=3))

    run = agent.execute("%%agent\nhello")

    assert run.status == "error"
    assert f"{model_server.base_url} sent nothing within 0.5 s (AgentMagic.first_byte_timeout)" in run.text
    assert "too late" not in run.text
    assert ledger_calls(agent) == [{"status": "failed", "retries": 1, "input_tokens": 0, "output_tokens": 0}]
    assert_next_turn_sees_a_valid_transcript(agent, script)


# -- cut streams -----------------------------------------------------------------------------------


def test_stream_cut_after_3_tokens_restarts_the_answer(agent, script):
    script.add(StreamReply(text_chunks("alpha beta gamma delta epsilon"), cut_after=4))  # role + 3 tokens
    script.add_text("The complete answer.")

    run = agent.execute("%%agent\nhello")

    assert run.status == "ok", run.text
    assert "the answer restarted" in run.text
    assert "The complete answer." in run.text
    assert "alpha" not in run.text, "the partial answer is replaced, not kept beside the new one"
    assert ledger_calls(agent)[0]["retries"] == 1
    messages = assert_next_turn_sees_a_valid_transcript(agent, script)
    assert [m["content"] for m in messages if m["role"] == "assistant"] == ["The complete answer."]


def test_stream_cut_after_3_tokens_every_time_fails_as_incomplete(agent, script):
    for _ in range(4):
        script.add(StreamReply(text_chunks("alpha beta gamma delta epsilon"), cut_after=4))

    run = agent.execute("%%agent\nhello")

    assert run.status == "error"
    assert "closed the stream mid-answer" in run.text and "gave up after 4 attempts" in run.text
    assert ledger_calls(agent)[0] == {"status": "failed", "retries": 3, "input_tokens": 0, "output_tokens": 0}
    messages = assert_next_turn_sees_a_valid_transcript(agent, script)
    assert not any(m["role"] == "assistant" and "alpha" in (m["content"] or "") for m in messages)


# -- tools -----------------------------------------------------------------------------------------

ADD_FAULTY_TOOLS = """
import asyncio
from agent_magic.tools.registry import make_tool
def explode(reason: str) -> str:
    '''Always fails.'''
    raise ValueError(reason)
async def hang(seconds: float) -> str:
    '''Never returns in time.'''
    await asyncio.sleep(seconds)
    return 'woke up'
rt = get_ipython().magics_manager.registry['AgentMagics'].runtime
rt.session.tools.add(make_tool(explode))
rt.session.tools.add(make_tool(hang))
"""


@pytest.fixture
def tool_kernel(agent):
    assert agent.execute(ADD_FAULTY_TOOLS).status == "ok"
    return agent


def test_malformed_tool_call_json_goes_back_to_the_model_and_the_loop_continues(agent, script):
    script.add_tool_calls(("read_file", '{"path": "data.csv"'))
    script.add_text("Let me fix that.")

    run = agent.execute("%%agent\nread data.csv")

    assert run.status == "ok", run.text
    assert "Let me fix that." in run.text
    payload = tool_payload(script.requests[1]["messages"][-1])
    assert (payload["ok"], payload["error_code"], payload["retryable"]) == (False, "invalid_arguments", True)
    assert ledger_tools(agent) == [{"tool": "read_file", "ok": False, "error_code": "invalid_arguments"}]
    assert_next_turn_sees_a_valid_transcript(agent, script)


def test_a_tool_that_raises_becomes_a_result_and_the_loop_continues(tool_kernel, script):
    script.add_tool_calls(("explode", '{"reason": "disk on fire"}'))
    script.add_text("The tool failed; here is what I know.")

    run = tool_kernel.execute("%%agent\ntry it")

    assert run.status == "ok", run.text
    assert "error tool_crashed" in run.text
    payload = tool_payload(script.requests[1]["messages"][-1])
    assert payload["error_code"] == "tool_crashed" and "disk on fire" in payload["error_message"]
    assert ledger_tools(tool_kernel) == [{"tool": "explode", "ok": False, "error_code": "tool_crashed"}]
    assert_next_turn_sees_a_valid_transcript(tool_kernel, script)


def test_a_tool_that_hangs_past_its_timeout(tool_kernel, script):
    tool_kernel.execute("%config AgentMagic.tool_timeout = 0.5")
    script.add_tool_calls(("hang", '{"seconds": 60}'))
    script.add_text("It timed out.")

    started = time.monotonic()
    run = tool_kernel.execute("%%agent\nwait for it")

    assert run.status == "ok", run.text
    assert time.monotonic() - started < 30
    payload = tool_payload(script.requests[1]["messages"][-1])
    assert payload["error_code"] == "timeout" and payload["retryable"] is True
    assert ledger_tools(tool_kernel) == [{"tool": "hang", "ok": False, "error_code": "timeout"}]
    assert_next_turn_sees_a_valid_transcript(tool_kernel, script)


# -- interrupts ------------------------------------------------------------------------------------


def test_interrupt_during_streaming(agent, script, record_property):
    pieces = [f"token{i} " for i in range(300)]
    script.add(StreamReply(text_chunks("", pieces=pieces), chunk_delay=0.05))
    interrupter = Interrupter(shows("token5 "))

    # Someone watches the answer stream (as in JupyterLab) and interrupts it.
    run = agent.execute("%%agent\nTalk for a long time.", allow_stdin=True, on_message=interrupter, timeout=30)

    assert_interrupted(run)
    record_property("interrupt_streaming_s", round(interrupter.latency, 3))
    assert interrupter.latency < NEVER_HANG_S
    messages = assert_next_turn_sees_a_valid_transcript(agent, script)
    assert messages[2]["content"].endswith("[interrupted by the user]")


def test_interrupt_during_approval_wait(agent, script, record_property, workspace):
    script.add_tool_calls(("write_file", json.dumps({"path": "notes.txt", "content": "hi"})))
    interrupter = Interrupter(lambda msg: msg["header"]["msg_type"] == "comm_open" and _is_box(msg))

    run = agent.execute("%%agent\nwrite notes", allow_stdin=True, on_message=interrupter, timeout=30)

    assert_interrupted(run)
    record_property("interrupt_approval_s", round(interrupter.latency, 3))
    assert interrupter.latency < NEVER_HANG_S
    assert not (workspace / "notes.txt").exists()
    messages = assert_next_turn_sees_a_valid_transcript(agent, script)
    assert "cancelled by user" in next(m for m in messages if m["role"] == "tool")["content"]


def _is_box(msg) -> bool:
    return msg["content"]["data"]["state"].get("_model_name") == "VBoxModel"


def test_interrupt_during_retry_backoff(agent, script, record_property):
    agent.execute("%config AgentMagic.retry_max_total_wait = 120")
    script.add_error(503, retry_after=60)
    interrupter = Interrupter(shows("⟳ 503"))

    run = agent.execute("%%agent\nhello", on_message=interrupter, timeout=30)

    assert_interrupted(run)
    record_property("interrupt_backoff_s", round(interrupter.latency, 3))
    assert interrupter.latency < NEVER_HANG_S
    assert_next_turn_sees_a_valid_transcript(agent, script)


def test_stop_button_during_retry_backoff(agent, script, record_property):
    """JupyterLab's Stop (the `agent_magic` comm's `stop` message) ends a turn waiting to retry."""
    agent.execute("%config AgentMagic.retry_max_total_wait = 120")
    comm_id = uuid.uuid4().hex
    opened = agent.client.session.msg("comm_open", {"comm_id": comm_id, "target_name": "agent_magic", "data": {}})
    agent.client.shell_channel.send(opened)
    script.add_error(503, retry_after=60)
    stopped: list[float] = []
    ended: list[float] = []

    def stop_when_waiting(msg, kernel) -> None:
        if not stopped and shows("⟳ 503")(msg):
            stopped.append(time.monotonic())
            kernel.send_comm(comm_id, {"v": 1, "type": "stop"})
        if msg["header"]["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            ended.append(time.monotonic())

    run = agent.execute("%%agent\nhello", on_message=stop_when_waiting, timeout=30)

    assert stopped, "the retry wait was never shown"
    assert run.status == "ok", run.text
    assert "⏹ stopped by user (Stop agent turn)" in run.text, run.text
    latency = ended[-1] - stopped[0]
    record_property("stop_button_backoff_s", round(latency, 3))
    assert latency < NEVER_HANG_S
    assert_next_turn_sees_a_valid_transcript(agent, script)


def _processes_with(marker: str) -> list[str]:
    listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in listing.splitlines() if marker in line and "ps -eo" not in line]


def test_interrupt_during_a_shell_tool_kills_its_process_group(agent, script, record_property):
    marker = f"{40 + uuid.uuid4().int % 1000 / 1000:.3f}"  # a unique sleep length to find the processes by
    command = f"sleep {marker} & sleep {marker}; echo never"
    script.add_tool_calls(("run_shell", json.dumps({"command": command})))
    interrupter = Interrupter(shows("running…"))

    run = agent.execute("%%agent --approve run_shell\nrun it", on_message=interrupter, timeout=30)

    assert_interrupted(run)
    record_property("interrupt_shell_s", round(interrupter.latency, 3))
    assert interrupter.latency < NEVER_HANG_S
    deadline = time.monotonic() + NEVER_HANG_S
    while _processes_with(f"sleep {marker}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_with(f"sleep {marker}") == [], "the shell and its background child are gone"
    messages = assert_next_turn_sees_a_valid_transcript(agent, script)
    assert "cancelled by user" in next(m for m in messages if m["role"] == "tool")["content"]


def test_interrupt_during_a_python_tool_raises_keyboardinterrupt_in_it(agent, script, workspace, record_property):
    code = (
        "import time\n"
        "try:\n"
        "    for _ in range(1200):\n"
        "        time.sleep(0.05)  # Python code between short C calls: the interrupt lands at once\n"
        "except KeyboardInterrupt:\n"
        "    open('interrupted.txt', 'w').write('KeyboardInterrupt')\n"
        "    raise\n"
    )
    script.add_tool_calls(("run_python", json.dumps({"code": code})))
    interrupter = Interrupter(shows("running…"))

    run = agent.execute("%%agent --approve run_python\nrun it", on_message=interrupter, timeout=30)

    assert_interrupted(run)
    record_property("interrupt_python_s", round(interrupter.latency, 3))
    assert interrupter.latency < NEVER_HANG_S
    deadline = time.monotonic() + NEVER_HANG_S
    while not (workspace / "interrupted.txt").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (workspace / "interrupted.txt").read_text() == "KeyboardInterrupt"
    assert_next_turn_sees_a_valid_transcript(agent, script)


# -- circuit breaker and budget --------------------------------------------------------------------


def test_circuit_breaker_opens_then_closes_after_the_cooldown(agent, script, model_server):
    agent.execute(
        "%config AgentMagic.retry_max_attempts = 1\n"
        "%config AgentMagic.breaker_threshold = 2\n"
        "%config AgentMagic.breaker_cooldown = 1.0"
    )
    script.add_error(503)
    script.add_error(503)
    assert "503 from" in agent.execute("%%agent\none").text
    assert "503 from" in agent.execute("%%agent\ntwo").text

    fast = agent.execute("%%agent\nthree")

    assert fast.status == "error"
    assert f"not calling {model_server.base_url}: it failed 2 times in a row" in fast.text
    assert "AgentMagic.breaker_cooldown" in fast.text
    assert model_server.request_count == 2, "an open circuit sends nothing"
    time.sleep(1.1)
    script.add_text("Back in service.")
    recovered = agent.execute("%%agent\nfour")
    assert recovered.status == "ok" and "Back in service." in recovered.text
    assert value(agent, "{k: v.value for k, v in rt.breakers.states().items()}".replace("rt.", _RUNTIME)) == {
        model_server.base_url: "closed"
    }
    assert [row["status"] for row in ledger_calls(agent)] == ["failed", "failed", "ok"]
    assert_next_turn_sees_a_valid_transcript(agent, script)


_RUNTIME = "get_ipython().magics_manager.registry['AgentMagics'].runtime."


def test_budget_hit_mid_turn_stops_cleanly(agent, script):
    agent.execute('%config AgentMagic.turn_budget = {"tokens": 20}')
    script.add_tool_calls(("list_files", "{}"))  # 15 tokens: under the budget, the tool runs
    script.add_tool_calls(("list_files", '{"pattern": "*.csv"}'))  # 30 tokens: this call's tool is refused

    run = agent.execute("%%agent\nlist twice")

    assert "stopped: turn budget of 20 tokens reached" in run.text
    assert [row["status"] for row in ledger_calls(agent)] == ["ok", "ok"]
    assert [row["ok"] for row in ledger_tools(agent)] == [True]
    agent.execute("%config AgentMagic.turn_budget = {}")
    messages = assert_next_turn_sees_a_valid_transcript(agent, script)
    assert sum(1 for m in messages if m["role"] == "tool") == 2


# -- hostile tool arguments (issue 16 item 7) ------------------------------------------------------

DEEP = '{"path": ' + "[" * 200_000 + "]" * 200_000 + "}"


@pytest.mark.parametrize("tool", ["read_file", "write_file"])
def test_arguments_nested_200000_deep_get_a_structured_error(agent, script, tool):
    script.add_tool_calls((tool, DEEP))
    script.add_text("I will send simpler arguments.")

    run = agent.execute(f"%%agent --approve {tool}\ngo", timeout=120)

    assert run.status == "ok", run.text
    assert "I will send simpler arguments." in run.text and "RecursionError" not in run.text
    payload = tool_payload(script.requests[1]["messages"][-1])
    assert payload["error_code"] == "invalid_arguments" and "nested too deeply" in payload["error_message"]
    assert_next_turn_sees_a_valid_transcript(agent, script)


def test_two_thousand_tool_calls_in_one_step_are_capped(agent, script):
    agent.execute("%config AgentMagic.max_tool_calls_per_step = 20")
    script.add_tool_calls(*[("list_files", "{}")] * 2_000)
    script.add_text("Listed.")

    run = agent.execute("%%agent\nlist everything", timeout=120)

    assert run.status == "ok", run.text
    assert "the model asked for 2000 tool calls at once; ran the first 20" in run.text
    results = [tool_payload(m) for m in script.requests[1]["messages"] if m["role"] == "tool"]
    assert len(results) == 2_000
    assert sum(r["ok"] for r in results) == 20
    assert {r["error_code"] for r in results if not r["ok"]} == {"too_many_tool_calls"}
    assert len(ledger_tools(agent)) == 20
    assert_next_turn_sees_a_valid_transcript(agent, script)


# -- stalls, undecodable events, oversized and non-stream replies (issue 16 items 8, 13, 15, 16) ------


def test_a_stream_that_stalls_mid_answer_is_abandoned_and_restarted(agent, script, record_property):
    agent.execute("%config AgentMagic.stream_idle_timeout = 1.0")
    script.add(StreamReply(text_chunks("alpha beta gamma delta"), stall_after=3, stall_seconds=30))
    script.add_text("The complete answer.")

    started = time.monotonic()
    run = agent.execute("%%agent\nhello", timeout=60)
    waited = time.monotonic() - started

    assert run.status == "ok", run.text
    assert "went silent for 1 s mid-answer (AgentMagic.stream_idle_timeout)" in run.text
    assert "The complete answer." in run.text and "alpha" not in run.text
    record_property("stall_abandoned_after_s", round(waited, 3))
    assert waited < 30, "the stall was not waited out"
    assert ledger_calls(agent)[0]["retries"] == 1
    assert_next_turn_sees_a_valid_transcript(agent, script)


def test_an_undecodable_event_before_any_text_is_retried(agent, script, model_server):
    script.add(StreamReply(text_chunks("never shown"), raw_event_at=1))
    script.add_text("The complete answer.")

    run = agent.execute("%%agent\nhello")

    assert run.status == "ok", run.text
    assert "sent a malformed event" in run.text and "The complete answer." in run.text
    assert model_server.request_count == 2
    assert_next_turn_sees_a_valid_transcript(agent, script)


@pytest.mark.parametrize(
    "event", [b"data: {this is not json\n\n", b'data: {"choices": "garbage"}\n\n', b"data: [1, 2]\n\n"]
)
def test_an_undecodable_event_mid_answer_ends_with_a_clear_error(agent, script, model_server, event):
    script.add(StreamReply(text_chunks("alpha beta gamma delta"), raw_event_at=3, raw_event=event))

    run = agent.execute("%%agent\nhello")

    assert run.status == "error"
    assert "sent a malformed event mid-answer" in run.text and "the answer is incomplete" in run.text
    assert model_server.request_count == 1, "not retried: the text shown would be spliced"
    messages = assert_next_turn_sees_a_valid_transcript(agent, script)
    assert not any(m["role"] == "assistant" and "alpha" in (m["content"] or "") for m in messages)


def test_an_html_page_with_status_200_says_so_in_one_line(agent, script, model_server):
    script.add(RawReply(b"<html><body>Please log in</body></html>"))

    run = agent.execute("%%agent\nhello")

    assert run.status == "error" and len(run.error["traceback"]) == 1
    assert "the server answered HTML, not an event stream" in run.text
    assert model_server.request_count == 1
    assert_next_turn_sees_a_valid_transcript(agent, script)


def test_an_endless_stream_stops_at_the_size_cap(agent, script, record_property):
    agent.execute("%config AgentMagic.max_response_mb = 1")
    script.add(StreamReply(text_chunks("and so"), endless=True))

    started = time.monotonic()
    run = agent.execute("%%agent\nhello", timeout=120)

    assert run.status == "error"
    assert "passed 1 MB (AgentMagic.max_response_mb); stopped reading it" in run.text
    record_property("endless_stream_stopped_s", round(time.monotonic() - started, 3))
    assert agent.execute("print('alive')").text.strip() == "alive"
    assert_next_turn_sees_a_valid_transcript(agent, script)


def test_a_gzip_bomb_stops_at_the_size_cap(agent, script):
    agent.execute("%config AgentMagic.max_response_mb = 8")
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    block = b"data: " + b"x" * (1 << 20)
    bomb = b"".join(packer.compress(block) for _ in range(256)) + packer.flush()  # 256 MB in ~0.3 MB
    script.add(RawReply(bomb, content_type="text/event-stream", headers={"Content-Encoding": "gzip"}))

    run = agent.execute("%%agent\nhello", timeout=120)

    assert run.status == "error" and "passed 8 MB" in run.text, run.text
    assert agent.execute("print('alive')").text.strip() == "alive"


# -- secrets in errors, settings, last-error and the ledger (issue 16 item 10) ------------------------

CONFIGURED_KEY = "sk-configured-0123456789abcdefghij"


def everything_recorded(workspace) -> str:
    """The whole ledger (every table, as SQL) and every log line the kernel wrote."""
    home = workspace.parent / ".agent"
    with sqlite3.connect(home / "ledger.db") as db:
        dump = "\n".join(db.iterdump())
    return dump + "".join(log.read_text() for log in home.rglob("*.jsonl"))


def test_an_error_body_echoing_the_authorization_header_is_masked(agent, script, workspace):
    agent.execute(f'%config AgentMagic.api_key = "{CONFIGURED_KEY}"\n%config AgentMagic.retry_max_attempts = 1')
    script.add(ErrorReply(500, "proxy failure", echo_request_headers=True))

    run = agent.execute("%%agent\nhello")
    detail = agent.execute("%agent last-error").text

    assert "proxy failure (you sent Authorization: Bearer ***)" in run.text
    assert "caused by openai.InternalServerError" in detail and "Bearer ***)" in detail
    for text in (run.text, detail, everything_recorded(workspace)):
        assert CONFIGURED_KEY not in text


def test_credentials_in_base_url_are_masked_in_config_errors_and_ledger(agent, workspace):
    agent.execute('%config AgentMagic.base_url = "http://alice:hunter2-secret@127.0.0.1:9/v1"')

    config = agent.execute("%agent config").text
    run = agent.execute("%%agent\nhello")
    detail = agent.execute("%agent last-error").text

    assert "base_url" in config and "http://***@127.0.0.1:9/v1" in config
    assert "cannot reach http://***@127.0.0.1:9/v1" in run.text
    for text in (config, run.text, detail, everything_recorded(workspace)):
        assert "hunter2-secret" not in text
