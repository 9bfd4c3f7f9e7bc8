"""The notebook keeps the agent's work, in real kernels against the loopback model server: answers into
variables (`-o`, `--schema` with its repair round), provenance in the outputs, `--estimate`, the replay
round trip (live run → export → strict replay with no request → a changed prompt fails clearly), and the
code `run_python` ran (`%agent cells`, `%%agent_code`, the companion's `insert_cells`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kernel_harness import RealKernel
from mcp_helpers import time_entry

from agent_magic.ui import lab_protocol

pytestmark = pytest.mark.kernel

PRICE = "%config AgentMagic.prices = {'test-model': {'input': 1.0, 'output': 2.0}}"
SETUP = (
    "import pandas as pd\n"
    "from pydantic import BaseModel\n"
    "df = pd.DataFrame({'a': [1, 2], 'b': [3, 4]})\n"
    "class City(BaseModel):\n"
    "    name: str\n"
    "    population: int\n"
)
TOTAL = "%%agent --approve run_python -o summary\nAdd a total column to df"
TOTAL_CODE = "df['total'] = df.a + df.b\nint(df.total.sum())"
CITY = "%%agent -o city --schema City\nWhich city is the capital of Norway?"


def value(kernel, expression: str):
    """Evaluate `expression` in the kernel and return it, through JSON."""
    run = kernel.execute(f"import json\nprint(json.dumps({expression}, default=str))")
    assert run.status == "ok", run.text
    return json.loads(run.text.strip().splitlines()[-1])


def one_line_error(run) -> str:
    """The one line a failed cell shows (IPython prints a UsageError on stderr, our errors as the error)."""
    assert run.status == "error", run.text
    if run.error is None:
        text = "".join(o["text"] for o in run.outputs if o.get("name") == "stderr").strip()
        assert len(text.splitlines()) == 1, "one line, no traceback"
        return text.removeprefix("UsageError: ")
    assert len(run.error["traceback"]) == 1, "one line, no traceback"
    return run.error["evalue"]


def script_the_analysis(script) -> None:
    script.add_tool_calls(("run_python", json.dumps({"code": TOTAL_CODE})))
    script.add_text("The total column sums to 10.")
    script.add_text('{"name": "Oslo", "population": 709000}')


def run_the_analysis(kernel) -> list:
    return [kernel.execute(cell) for cell in (PRICE, SETUP, TOTAL, CITY)]


# -- answers into variables --------------------------------------------------------------------------------


def test_o_binds_the_final_answer_text_and_the_cell_still_shows_it(shared_kernel, script):
    script.add_tool_calls(("inspect_variable", json.dumps({"name": "x"})))
    script.add_text("x is **three**.")
    shared_kernel.execute("x = 3")

    run = shared_kernel.execute("%%agent -o answer\nWhat is x?")

    assert run.status == "ok", run.text
    assert "x is **three**." in run.text
    assert value(shared_kernel, "answer") == "x is **three**.", "the answer without the tool card"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("-o 2fast", "-o 2fast: not a Python variable name"),
        ("-o class", "-o class: not a Python variable name"),
        ("-o result --schema Nowhere", "--schema Nowhere: no such name in the notebook"),
        ("-o result --schema pd", "--schema pd: that is a module, not a pydantic BaseModel"),
        ("--schema City", "--schema City needs -o NAME"),
    ],
)
def test_bad_output_options_are_one_line_and_nothing_is_sent(shared_kernel, script, line, message):
    shared_kernel.execute(SETUP)
    run = shared_kernel.execute(f"%%agent {line}\nWhich city is the capital of Norway?")
    assert message in one_line_error(run)
    assert script.requests == []


def test_schema_binds_the_validated_instance_and_asks_for_strict_json(shared_kernel, script):
    script.add_text('{"name": "Oslo", "population": 709000}')
    shared_kernel.execute(SETUP)

    run = shared_kernel.execute(CITY)

    assert run.status == "ok", run.text
    assert value(shared_kernel, "[type(city).__name__, city.name, city.population]") == ["City", "Oslo", 709000]
    request = script.requests[0]
    assert request["response_format"]["json_schema"]["strict"] is True
    assert "JSON schema named City" in request["messages"][0]["content"], "the schema is in the instructions too"


def test_schema_repair_round_shows_the_validation_error_and_binds_the_fixed_answer(shared_kernel, script):
    script.add_text('{"name": "Oslo", "population": "about 700k"}')
    script.add_text('{"name": "Oslo", "population": 709000}')
    shared_kernel.execute(SETUP)

    run = shared_kernel.execute(CITY)

    assert run.status == "ok", run.text
    assert "⟳ the answer does not match `City` (population: Input should be a valid integer" in run.text
    repair = script.requests[1]["messages"][-1]
    assert repair["role"] == "user" and '(got "about 700k")' in repair["content"]
    assert value(shared_kernel, "city.population") == 709000


def test_schema_still_invalid_fails_in_one_line_leaves_the_name_unbound_and_keeps_the_raw_text(shared_kernel, script):
    script.add_text('{"name": "Oslo"}')
    script.add_text("Oslo, with roughly 709k people.")
    shared_kernel.execute(SETUP)

    message = one_line_error(shared_kernel.execute(CITY))

    assert message.startswith("the answer does not match City even after a repair round (the answer is not JSON")
    assert message.endswith("`city` was not bound (details: %agent last-error)")
    assert value(shared_kernel, "'city' in globals()") is False
    assert "Oslo, with roughly 709k people." in shared_kernel.execute("%agent last-error").text


# -- provenance and the estimate ----------------------------------------------------------------------------


def test_the_final_output_of_an_agent_cell_carries_its_provenance(shared_kernel, script):
    script.add_tool_calls(("inspect_variable", json.dumps({"name": "x"})))
    script.add_text("x is 3.", usage=(100, 20))
    shared_kernel.execute(PRICE)
    shared_kernel.execute("x = 3")

    run = shared_kernel.execute("%%agent -o answer\nWhat is x?", cell_id="cell-7")

    records = [o["metadata"]["agent_magic"] for o in run.outputs if "agent_magic" in o.get("metadata", {})]
    (record,) = records
    assert record["cell_id"] == "cell-7" and record["state"] == "completed"
    assert record["model"] == {"requested": "test-model", "answered": ["test-model"]}
    assert record["tokens"]["input"] == 110 and record["cost_usd"] > 0
    assert record["tools"][0]["name"] == "inspect_variable" and record["tools"][0]["arguments"] == {"name": "x"}
    assert record["output"] == {"name": "answer"}
    assert run.outputs[-1]["metadata"]["agent_magic"] == record, "on the turn's final output"


def test_estimate_sends_nothing_and_says_no_price_for_an_unpriced_model(shared_kernel, script):
    run = shared_kernel.execute("%%agent --estimate\nSummarise df in three bullet points")

    assert run.status == "ok", run.text
    assert script.requests == []
    assert "Estimate of the next call to test-model (nothing was sent)" in run.text
    assert "no price for test-model" in run.text and "$0" not in run.text
    assert "a rule of thumb: no recorded call of test-model" in run.text
    assert (
        value(shared_kernel, "len(get_ipython().magics_manager.registry['AgentMagics'].runtime.session.messages)") == 0
    )


def test_estimate_calibrates_on_recorded_calls_and_prices_the_range(shared_kernel, script):
    script.add_text("Hello.", usage=(400, 10))
    shared_kernel.execute(PRICE)
    shared_kernel.execute("%%agent\nhello")

    run = shared_kernel.execute("%%agent --estimate\nhello again")

    assert "calibrated on 1 recorded call of test-model in the ledger" in run.text
    assert "with up to 4,096 output tokens" in run.text
    assert len(script.requests) == 1


def test_estimate_of_another_session_is_one_line_and_switches_nothing(shared_kernel, script):
    run = shared_kernel.execute("%%agent --estimate --session other\nhello")

    assert one_line_error(run).startswith("--estimate previews the current conversation (default)")
    runtime = "get_ipython().magics_manager.registry['AgentMagics'].runtime"
    assert value(shared_kernel, f"{runtime}.conversations.current_name") == "default"
    assert script.requests == []


def test_estimate_counts_the_tools_of_the_mcp_servers_it_starts(shared_kernel, script):
    def tools_offered(run) -> int:
        (line,) = [line for line in run.text.splitlines() if line.strip().startswith("tools (")]
        return int(line.split("(", 1)[1].split(")", 1)[0])

    builtin = tools_offered(shared_kernel.execute("%%agent --estimate\nWhat time is it?"))
    shared_kernel.execute(
        "%config AgentMagic.mcp_startup_timeout = 120"
    )  # the machine may be busy: not under test here
    shared_kernel.execute(f"%config AgentMagic.mcp_servers = {{'time': {time_entry()!r}}}")

    run = shared_kernel.execute("%%agent --estimate\nWhat time is it?")

    assert run.status == "ok", run.text
    assert tools_offered(run) == builtin + 2, f"the time server's get_current_time and convert_time: {run.text}"
    assert script.requests == []


# -- replay -----------------------------------------------------------------------------------------------


def replay_kernel(workspace: Path, tmp_path: Path, mode: str, home: str = "replay-home") -> RealKernel:
    """A kernel on a fresh ledger, with no model endpoint and no key: a fresh clone in CI."""
    env = {
        "AGENT_MAGIC_REPLAY": mode,
        "AGENT_MAGIC_HOME": str(tmp_path / home),
        "AGENT_MAGIC_MODEL": "test-model",
        "OPENAI_API_KEY": "",
        "OPENAI_BASE_URL": "",
    }
    kernel = RealKernel(env=env, cwd=workspace)
    assert kernel.execute("%load_ext agent_magic").status == "ok"
    return kernel


def test_replay_round_trip_answers_with_no_request_and_rebuilds_the_same_state(
    shared_kernel, script, model_server, workspace, tmp_path
):
    script_the_analysis(script)
    live = run_the_analysis(shared_kernel)
    assert all(run.status == "ok" for run in live), [run.text for run in live]
    exported = shared_kernel.execute("%agent replay export")
    assert "Wrote 3 recorded model calls to" in exported.text
    assert (workspace / "agent-replay.jsonl").is_file()
    live_state = value(shared_kernel, "[summary, city.model_dump(), df.total.tolist()]")
    sent = model_server.request_count

    replay = replay_kernel(workspace, tmp_path, "strict")
    try:
        replayed = run_the_analysis(replay)
        assert all(run.status == "ok" for run in replayed), [run.text for run in replayed]
        assert model_server.request_count == sent, "no request reached the model"
        assert value(replay, "[summary, city.model_dump(), df.total.tolist()]") == live_state
        assert "The total column sums to 10." in replayed[2].text
        assert "↺ replayed: 2 model calls answered from the recording" in replayed[2].text
        (record,) = [o["metadata"]["agent_magic"] for o in replayed[2].outputs if "agent_magic" in o["metadata"]]
        assert record["replayed"] == 2 and record["cost_usd"] == 0.0
        rows = value(replay, "__import__('agent_magic').usage()[['replayed', 'cost_usd']].values.tolist()")
        assert rows == [[True, 0.0]] * 3

        changed = replay.execute("%%agent -o summary\nAdd a grand total column to df")
        message = one_line_error(changed)
        assert message.startswith(
            "replay (strict): no recording of this model call in the cell «Add a grand total column to df»"
        )
        assert ": prompt changed; nothing was sent" in message
        assert model_server.request_count == sent
    finally:
        replay.close()


def test_auto_replay_calls_the_model_for_what_was_not_recorded(
    shared_kernel, script, model_server, workspace, tmp_path
):
    script.add_text("Recorded.")
    shared_kernel.execute("%%agent\nfirst question")
    shared_kernel.execute("%agent replay export")
    shared_kernel.execute("%agent reset")
    shared_kernel.execute("%config AgentMagic.replay = 'auto'")
    script.add_text("Live.")

    again = shared_kernel.execute("%%agent\nfirst question")
    other = shared_kernel.execute("%%agent\nsecond question")

    assert "Recorded." in again.text and "↺ replayed" in again.text
    assert "Live." in other.text and "↺ replayed" not in other.text
    assert model_server.request_count == 2


def test_a_damaged_replay_file_fails_the_cell_in_one_line_and_sends_nothing(workspace, tmp_path, model_server):
    (workspace / "analysis.agent-replay.jsonl").write_text('{"format": "agent_magic.replay", "v": 1}\n{oops\n')
    replay = replay_kernel(workspace, tmp_path, "strict")
    try:
        message = one_line_error(replay.execute("%%agent\nhello"))
        assert "analysis.agent-replay.jsonl, line 2: not JSON" in message
        assert model_server.request_count == 0
    finally:
        replay.close()


def test_replay_status_lists_the_files_it_reads(shared_kernel, script, workspace):
    script.add_text("Hi.")
    shared_kernel.execute("%%agent\nhello")
    shared_kernel.execute("%agent replay export mine.agent-replay.jsonl")
    status = shared_kernel.execute("%agent replay status").text
    assert "replay: off" in status and "mine.agent-replay.jsonl: 1 recorded calls" in status


# -- the code run_python ran ---------------------------------------------------------------------------------


def test_agent_cells_prints_the_turns_code_and_offers_it_as_the_next_cell(shared_kernel, script):
    script.add_tool_calls(("run_python", json.dumps({"code": "y = 21 * 2"})))
    script.add_text("y is 42.")
    shared_kernel.execute("%%agent --approve run_python\nset y", cell_id="agent-cell")

    run = shared_kernel.execute("%agent cells")

    assert run.status == "ok"
    turn = value(
        shared_kernel, "get_ipython().magics_manager.registry['AgentMagics'].runtime.code_history.last().turn_id"
    )
    assert run.text.strip().splitlines() == [f"%%agent_code --turn {turn} --cell agent-cell", "y = 21 * 2"]
    (payload,) = [p for p in run.reply["content"]["payload"] if p["source"] == "set_next_input"]
    assert payload["text"].endswith("y = 21 * 2")


def test_an_agent_code_cell_does_not_run_the_agents_code_twice_but_runs_an_edit(shared_kernel, script):
    script.add_tool_calls(("run_python", json.dumps({"code": "counter = counter + 1"})))
    script.add_text("Incremented.")
    shared_kernel.execute("counter = 0")
    shared_kernel.execute("%%agent --approve run_python\nincrement counter", cell_id="agent-cell")
    header = shared_kernel.execute("%agent cells").text.strip().splitlines()[0]

    again = shared_kernel.execute(f"{header}\ncounter = counter + 1")
    edited = shared_kernel.execute(f"{header}\ncounter = counter + 10")

    assert "↷ not run: the agent already ran this code in this kernel" in again.text
    assert edited.status == "ok" and value(shared_kernel, "counter") == 11


def test_a_connected_companion_is_sent_the_cells_to_insert(shared_kernel, script):
    from lab.test_lab_comm import comm_data, open_frontend_comm

    comm_id, _ = open_frontend_comm(shared_kernel)
    script.add_tool_calls(("run_python", json.dumps({"code": "z = 1"})), ("run_python", json.dumps({"code": "w = 2"})))
    script.add_text("Done.")

    run = shared_kernel.execute("%%agent --approve run_python\nset z and w", cell_id="agent-cell")

    (message,) = [m for m in comm_data(run, comm_id) if m["type"] == "insert_cells"]
    assert message["cell_id"] == "agent-cell" and message["v"] == lab_protocol.SCHEMA_VERSION
    sources = sorted(cell["source"].split("\n", 1)[1] for cell in message["cells"])
    assert sources == ["w = 2", "z = 1"]
    assert all(cell["metadata"]["tags"] == ["agent-magic"] for cell in message["cells"])


def test_code_cells_off_sends_no_cells(shared_kernel, script):
    from lab.test_lab_comm import comm_data, open_frontend_comm

    comm_id, _ = open_frontend_comm(shared_kernel)
    shared_kernel.execute("%config AgentMagic.code_cells = 'off'")
    script.add_tool_calls(("run_python", json.dumps({"code": "z = 1"})))
    script.add_text("Done.")

    run = shared_kernel.execute("%%agent --approve run_python\nset z", cell_id="agent-cell")

    assert [m for m in comm_data(run, comm_id) if m["type"] == "insert_cells"] == []
