"""The usage ledger in real kernels: columns against the loopback server's reported usage, pricing,
tool calls, transcript, persistence across a restart, two kernels writing at once, budgets, the log."""

from __future__ import annotations

import json
import threading

import pytest
from kernel_harness import RealKernel

from agent_magic.llm.sse_server import StreamReply, text_chunks, usage_chunk

pytestmark = pytest.mark.kernel

PRICE = '%config AgentMagic.prices = {"test-model": {"input": 1.0, "cached_input": 0.5, "output": 2.0}}'


def value(kernel, expression: str):
    """Evaluate `expression` in the kernel and return it, through JSON."""
    run = kernel.execute(f"import json, agent_magic\nprint(json.dumps({expression}, default=str))")
    assert run.status == "ok", run.text
    return json.loads(run.text.strip().splitlines()[-1])


def usage_rows(kernel, **filters):
    args = ", ".join(f"{k}={v!r}" for k, v in filters.items())
    return value(kernel, f"agent_magic.usage({args}).to_dict(orient='records')")


def test_usage_row_carries_the_reported_tokens_and_their_price(kernel, script):
    script.add(StreamReply(text_chunks("Hello.") + [usage_chunk(1000, 200, cached_tokens=400)]))
    kernel.execute(PRICE)

    run = kernel.execute("%%agent\nsay hello")

    assert run.status == "ok", run.text
    (row,) = usage_rows(kernel)
    assert (row["model"], row["input_tokens"], row["cached_tokens"], row["output_tokens"]) == (
        "test-model",
        1000,
        400,
        200,
    )
    # 600 uncached at $1/M + 400 cached at $0.50/M + 200 output at $2/M
    assert row["cost_usd"] == pytest.approx((600 * 1.0 + 400 * 0.5 + 200 * 2.0) / 1e6)
    assert row["estimated"] is False and row["retries"] == 0 and row["status"] == "ok"
    assert row["step"] == 1 and row["latency_s"] > 0 and 0 <= row["ttft_s"] <= row["latency_s"]
    assert row["time"].endswith("+00:00"), "times are timezone-aware"
    assert value(kernel, "str(agent_magic.usage()['time'].dt.tz)") == "UTC"
    turn = value(kernel, "agent_magic.transcript().to_dict(orient='records')")
    assert [m["role"] for m in turn] == ["user", "assistant"]
    assert row["trace_id"] == turn[0]["trace_id"] != ""


def test_unknown_model_costs_nan_and_the_summary_names_it_once(kernel, script):
    script.add_text("one", usage=(10, 5))
    script.add_text("two", usage=(10, 5))
    kernel.execute("%%agent\nfirst")
    kernel.execute("%%agent\nsecond")

    assert value(kernel, "agent_magic.usage()['cost_usd'].isna().tolist()") == [True, True]
    report = kernel.execute("%agent usage").text
    assert report.count("Prices are missing for test-model") == 1
    assert "2 model calls" in report


def test_missing_server_usage_is_estimated_and_marked(kernel, script):
    script.add_text("An answer of some length.", usage=None)
    kernel.execute("%%agent\nhello there")

    (row,) = usage_rows(kernel)
    assert row["estimated"] is True and row["input_tokens"] > 0 and row["output_tokens"] > 0


def test_tool_call_rows_say_how_they_ran_and_what_came_back(kernel, script):
    kernel.execute("import pandas as pd\ndf = pd.DataFrame({'a': [1, None]})")
    script.add_tool_calls(("inspect_variable", json.dumps({"name": "df"})), ("read_file", '{"path": "nope.txt"}'))
    script.add_text("Done.")

    kernel.execute("%%agent\nlook at df and nope.txt")

    rows = {r["tool"]: r for r in value(kernel, "agent_magic.tool_calls().to_dict(orient='records')")}
    assert rows["inspect_variable"]["ok"] is True and rows["inspect_variable"]["decision"] == "auto"
    assert rows["inspect_variable"]["arguments"] == '{"name": "df"}'
    assert rows["inspect_variable"]["result_chars"] > 0 and rows["inspect_variable"]["step"] == 1
    assert rows["read_file"]["ok"] is False and rows["read_file"]["error_code"]
    assert value(kernel, "agent_magic.session_totals()['by_tool']") == [
        {"tool": "inspect_variable", "calls": 1, "denied": 0, "failed": 0},
        {"tool": "read_file", "calls": 1, "denied": 0, "failed": 1},
    ]


def test_records_and_the_daily_budget_survive_a_kernel_restart(model_server, script, workspace, tmp_path):
    env = {
        "OPENAI_BASE_URL": model_server.base_url,
        "AGENT_MAGIC_HOME": str(tmp_path / ".agent"),
        "AGENT_MAGIC_MODEL": "test-model",
    }
    script.add_text("before the restart", usage=(70, 40))
    first = RealKernel(env=env, cwd=workspace)
    try:
        first.execute("%load_ext agent_magic")
        assert first.execute("%%agent\nhello").status == "ok"
    finally:
        first.close()

    second = RealKernel(env=env, cwd=workspace)
    try:
        second.execute("%load_ext agent_magic")
        assert [r["output_tokens"] for r in usage_rows(second)] == [40]
        second.execute('%config AgentMagic.day_budget = {"tokens": 100}')
        run = second.execute("%%agent\nagain")
        assert "stopped: daily budget of 100 tokens reached, 110 used" in run.text
        assert script.pending() == 0, "no model call was made after the restart"
    finally:
        second.close()


def test_two_kernels_write_at_once_and_both_succeed(model_server, workspace, tmp_path):
    env = {"OPENAI_BASE_URL": model_server.base_url, "AGENT_MAGIC_HOME": str(tmp_path / ".agent")}
    kernels = [RealKernel(env=env, cwd=workspace) for _ in range(2)]
    writes = (
        "%load_ext agent_magic\n"
        "from agent_magic.events import Usage\n"
        "ledger = get_ipython().magics_manager.registry['AgentMagics'].runtime.ledger\n"
        "for i in range(300):\n"
        "    ledger.handle(Usage('s-{k}', f't{{i}}', model='m', input_tokens=i, output_tokens=1))\n"
        "print(ledger.store.query(\"SELECT count(*) FROM model_calls WHERE session_id = 's-{k}'\")[0][0])"
    )
    results = {}
    try:
        threads = [
            threading.Thread(target=lambda k=k: results.__setitem__(k, kernels[k].execute(writes.format(k=k))))
            for k in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for k in range(2):
            assert results[k].status == "ok", results[k].text
            assert results[k].text.strip().endswith("300")
    finally:
        for kernel in kernels:
            kernel.close()


def test_session_step_budget_stops_a_tool_loop_and_the_next_turn_continues(kernel, script):
    for _ in range(2):  # a third model call would be refused before it is made
        script.add_tool_calls(("list_files", "{}"))
    kernel.execute('%config AgentMagic.session_budget = {"steps": 2}')

    run = kernel.execute("%%agent\nkeep listing")

    assert "stopped: session budget of 2 model calls reached, 2 made" in run.text
    assert run.status == "ok"
    kernel.execute("%config AgentMagic.session_budget = {}")
    script.add_text("fine")
    assert kernel.execute("%%agent\nstill there?").status == "ok"
    roles = [m["role"] for m in script.requests[-1]["messages"]]
    assert roles.count("tool") == 2, "every tool call of the stopped turn had its result"


def test_turn_tool_call_budget_counts_calls_of_one_step(kernel, script):
    script.add_tool_calls(("list_files", "{}"), ("list_files", '{"pattern": "*.csv"}'))
    kernel.execute('%config AgentMagic.turn_budget = {"tool_calls": 1}')

    run = kernel.execute("%%agent\nlist twice")

    assert "stopped: turn budget of 1 tool calls reached, 1 run" in run.text
    assert value(kernel, "len(agent_magic.tool_calls())") == 0, "nothing ran: the check precedes the step"


def test_max_cost_option_stops_the_turn_with_the_spent_dollars(kernel, script):
    script.add_tool_calls(("list_files", "{}"), usage=(400_000, 100_000))
    kernel.execute(PRICE)

    run = kernel.execute("%%agent --max-cost 0.50 --max-steps 20\nlist")

    assert "stopped: turn budget $0.50 reached, $0.60 spent" in run.text


def test_session_dollar_budget_and_unpriced_model(kernel, script):
    kernel.execute('%config AgentMagic.session_budget = {"cost": 2.0}')
    run = kernel.execute("%%agent\nhello")
    assert "has no price" in run.text and script.pending() == 0

    kernel.execute(PRICE)
    script.add_tool_calls(("list_files", "{}"), usage=(1_000_000, 600_000))
    run = kernel.execute("%%agent\nlist")
    assert "stopped: session budget $2.00 reached, $2.20 spent" in run.text


def test_jsonl_log_has_every_event_with_ids_and_masked_secrets(kernel, script, tmp_path):
    script.add_text("the key is sk-test-not-a-real-key")
    kernel.execute("%%agent\nwhat is my key?")

    written = [json.loads(line) for line in (tmp_path / ".agent" / "logs" / "agent.jsonl").read_text().splitlines()]
    lines = [line for line in written if "event" in line]
    # Events of the conversation rather than of a turn (the session opening) carry no turn id.
    assert [line["event"] for line in lines if not line["turn_id"]] == ["SessionOpened"]
    turn = [line for line in lines if line["turn_id"]]
    events = [line["event"] for line in turn]
    assert events[:2] == ["StateChanged", "TurnStarted"] and events[-1] == "TurnEnded"
    assert "Usage" in events and "AssistantMessage" in events
    assert all(line["session_id"] and line["trace_id"] for line in turn)
    assert "sk-test-not-a-real-key" not in json.dumps(written)
    # Warnings go to the same file, with the logger that raised them (here: the model has no price).
    (warning,) = [line for line in written if "event" not in line]
    assert warning["level"] == "WARNING" and warning["logger"] == "agent_magic.ledger"
    assert "no price for model 'test-model'" in warning["message"]


def test_plot_without_matplotlib_says_how_to_install_it(kernel, script):
    script.add_text("hi", usage=(10, 5))
    kernel.execute("%%agent\nhello")
    kernel.execute("import sys\nsys.modules['matplotlib'] = None  # as if it were not installed")
    run = kernel.execute("%agent usage --plot")
    assert run.status == "error"
    assert "plotting needs matplotlib: pip install 'agent-magic[plot]'" in run.text
    assert len(run.error["traceback"]) == 1


# -- ledger failures contained (issue 16 item 6) ----------------------------------------------------


def start_kernel(model_server, workspace, home) -> RealKernel:
    env = {"OPENAI_BASE_URL": model_server.base_url, "AGENT_MAGIC_HOME": str(home), "AGENT_MAGIC_MODEL": "test-model"}
    kernel = RealKernel(env=env, cwd=workspace)
    assert kernel.execute("%load_ext agent_magic").status == "ok"
    return kernel


def notices(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("agent_magic: ") and "no price" not in line]


def test_the_cell_answers_when_the_home_is_a_file_and_one_line_says_how_to_fix_it(
    model_server, script, workspace, tmp_path
):
    home = tmp_path / "home"
    home.write_text("not a folder")
    kernel = start_kernel(model_server, workspace, home)
    try:
        script.add_text("still here")
        first = kernel.execute("%%agent\nhello")
        script.add_text("and here")
        second = kernel.execute("%%agent\nagain")
    finally:
        kernel.close()

    assert first.status == "ok" and "still here" in first.text and "Traceback" not in first.text
    assert second.status == "ok" and "and here" in second.text
    assert notices(first.text + second.text) == [
        f"agent_magic: the agent home {home} is not a folder: point AgentMagic.home (or $AGENT_MAGIC_HOME) at a "
        "writable folder; rows are kept in memory and written when it can be"
    ], "said once, in one line"


def test_the_cell_answers_while_another_process_locks_the_ledger_and_its_rows_land_afterwards(
    model_server, script, workspace, tmp_path
):
    import sqlite3

    home = tmp_path / "home"
    kernel = start_kernel(model_server, workspace, home)
    try:
        script.add_text("one")
        assert kernel.execute("%%agent\nfirst").status == "ok"
        holder = sqlite3.connect(home / "ledger.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        script.add_text("two")
        locked = kernel.execute("%%agent\nsecond")
        kernel.execute("import time\ntime.sleep(6)")  # past the writer's 5 s wait for the lock
        script.add_text("three")
        later = kernel.execute("%%agent\nthird")
        holder.execute("ROLLBACK")
        holder.close()
        rows = value(kernel, "len(agent_magic.usage())")
    finally:
        kernel.close()

    assert locked.status == "ok" and "two" in locked.text
    said = notices(locked.text) + notices(later.text)
    assert len(said) == 1 and "is locked by another process" in said[0] and "rows are kept" in said[0]
    assert rows == 3, "the rows kept while it was locked were written once it was free"


def test_a_damaged_ledger_is_moved_aside_and_the_cell_answers(model_server, script, workspace, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "ledger.db").write_bytes(b"\x00garbage" * 512)
    kernel = start_kernel(model_server, workspace, home)
    try:
        script.add_text("fine")
        run = kernel.execute("%%agent\nhello")
        read = kernel.execute("import agent_magic\nprint(len(agent_magic.usage()))")
    finally:
        kernel.close()

    assert run.status == "ok" and "fine" in run.text
    assert read.text.strip().endswith("1"), read.text
    (aside,) = home.glob("ledger.damaged-*.db")
    assert aside.read_bytes() == b"\x00garbage" * 512
    assert notices(run.text + read.text) == [
        f"agent_magic: the ledger {home / 'ledger.db'} was damaged: it was moved to {aside.name} (nothing deleted) "
        "and a new one started"
    ]


def test_a_logged_error_shows_one_line_in_the_cell_and_its_traceback_in_the_log(kernel, script, tmp_path):
    script.add_text("hello")
    kernel.execute("%%agent\nhi")  # opens the ledger and its log

    run = kernel.execute(
        "import logging\n"
        "try:\n"
        "    1 / 0\n"
        "except ZeroDivisionError:\n"
        "    logging.getLogger('agent_magic.session').exception('turn t1 failed')\n"
    )

    assert run.text == "agent_magic: turn t1 failed\n"
    lines = [json.loads(line) for line in (tmp_path / ".agent" / "logs" / "agent.jsonl").read_text().splitlines()]
    (logged,) = [line for line in lines if line.get("message") == "turn t1 failed"]
    assert logged["logger"] == "agent_magic.session" and "ZeroDivisionError" in logged["traceback"]
