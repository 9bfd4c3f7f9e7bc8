"""The usage ledger in real kernels: columns against the loopback server's reported usage, pricing, the
transcript, `%agent usage`, persistence across a restart, two kernels writing at once, `--max-cost`, the
log. Most tests share one kernel, reset before each; restarts and concurrent kernels start their own. The
recorder's rows and the budgets are tested in memory (test_ledger_recorder.py, test_budget_guard.py)."""

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


def test_usage_row_carries_the_reported_tokens_and_their_price(shared_kernel, script):
    script.add(StreamReply(text_chunks("Hello.") + [usage_chunk(1000, 200, cached_tokens=400)]))
    shared_kernel.execute(PRICE)

    run = shared_kernel.execute("%%agent\nsay hello")

    assert run.status == "ok", run.text
    (row,) = usage_rows(shared_kernel)
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
    assert value(shared_kernel, "str(agent_magic.usage()['time'].dt.tz)") == "UTC"
    turn = value(shared_kernel, "agent_magic.transcript().to_dict(orient='records')")
    assert [m["role"] for m in turn] == ["user", "assistant"]
    assert row["trace_id"] == turn[0]["trace_id"] != ""
    assert value(shared_kernel, "agent_magic.session_totals()['tokens']") == 1200, "the running session's totals"


def test_unknown_model_costs_nan_and_the_summary_names_it_once(shared_kernel, script):
    script.add_text("one", usage=(10, 5))
    script.add_text("two", usage=(10, 5))
    shared_kernel.execute("%%agent\nfirst")
    shared_kernel.execute("%%agent\nsecond")

    assert value(shared_kernel, "agent_magic.usage()['cost_usd'].isna().tolist()") == [True, True]
    report = shared_kernel.execute("%agent usage").text
    assert report.count("Prices are missing for test-model") == 1
    assert "2 model calls" in report


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


def test_max_cost_option_stops_the_turn_with_the_spent_dollars(shared_kernel, script):
    script.add_tool_calls(("list_files", "{}"), usage=(400_000, 100_000))
    shared_kernel.execute(PRICE)

    run = shared_kernel.execute("%%agent --max-cost 0.50 --max-steps 20\nlist")

    assert "stopped: turn budget $0.50 reached, $0.60 spent" in run.text
    assert run.status == "ok", "a budget stop ends the cell without an error"


def test_jsonl_log_has_every_event_with_ids_and_masked_secrets(shared_kernel, script, tmp_path):
    script.add_text("the key is sk-test-not-a-real-key")
    shared_kernel.execute("%%agent\nwhat is my key?")

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


def test_plot_without_matplotlib_says_how_to_install_it(shared_kernel, script):
    script.add_text("hi", usage=(10, 5))
    shared_kernel.execute("%%agent\nhello")
    shared_kernel.execute("import sys\nsys.modules['matplotlib'] = None  # as if it were not installed")
    run = shared_kernel.execute("%agent usage --plot")
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
