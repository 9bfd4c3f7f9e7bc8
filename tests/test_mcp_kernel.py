"""MCP servers in real kernels: the reference git server's read-only tools unattended in a headless run,
its writing tools refused there unless approved (`--approve`, a rule naming the server), MCP calls in
the ledger with their server, `%agent mcp` / `%agent tools`, interrupts reaching the server, a crash
costing one line, and no server process outliving `%agent reset --mcp`, `%unload_ext` or the kernel.
The kernel-driven tests share one kernel, reset before each (the reset unloads the extension, which stops
the servers); the shutdown tests start kernels of their own."""

from __future__ import annotations

import json
import sqlite3
import subprocess

import pytest
from kernel_harness import RealKernel
from mcp_helpers import alive, git_entry, group_members, stdio_entry, time_entry, wait_until
from test_approvals_headless import run_headless
from test_faults import Interrupter, shows, tool_payload

import agent_magic

pytestmark = pytest.mark.kernel


def configure(servers: dict) -> str:
    """The cell that configures `servers`."""
    return f"%config AgentMagic.mcp_servers = {servers!r}"


@pytest.fixture
def repository(workspace):
    subprocess.run(["git", "init", "-q", str(workspace)], check=True)
    (workspace / "notes.txt").write_text("hello\n")
    return workspace


def staged(repository) -> list[str]:
    listed = subprocess.run(["git", "diff", "--cached", "--name-only"], cwd=repository, capture_output=True, text=True)
    return listed.stdout.split()


def server_groups(kernel: RealKernel) -> dict[str, int]:
    """Each running server's process group, as `%agent mcp` reports it."""
    report = kernel.execute("%agent mcp").text
    groups = {}
    for line in report.splitlines():
        if ", pid " in line:
            groups[line.split()[0]] = int(line.rsplit(", pid ", 1)[1].rstrip(")"))
    return groups


# -- headless runs (nbclient) ------------------------------------------------------------------------


def test_headless_a_read_only_git_tool_runs_and_a_writing_one_is_refused(repository, tmp_path):
    texts = run_headless(
        repository,
        "%load_ext agent_magic",
        configure({"git": git_entry(repository)}),
        f'%%agent --model demo\ncall `git__git_status` with repo_path="{repository}"',
        f'%%agent --model demo\ncall `git__git_add` with repo_path="{repository}" files=["notes.txt"]',
    )

    status, add = texts[2], texts[3]
    assert "🔌 MCP server started: `git`" in status and "No commits yet" in status and "approval" not in status
    assert "approval needed in a headless run: git__git_add(" in add and "**denied** by headless policy" in add
    assert staged(repository) == []
    calls = agent_magic.tool_calls(all_sessions=True, home=str(tmp_path / ".agent"))
    assert calls[["tool", "server", "decision"]].values.tolist() == [
        ["git__git_status", "git", "auto"],
        ["git__git_add", "git", "denied"],
    ]


def test_headless_a_writing_git_tool_runs_when_the_cell_pre_approves_it(repository, tmp_path):
    texts = run_headless(
        repository,
        "%load_ext agent_magic",
        configure({"git": git_entry(repository)}),
        f'%%agent --model demo --approve git__git_add\ncall `git__git_add` with repo_path="{repository}" files=["notes.txt"]',
    )

    assert "**approved** by pre-approval" in texts[2]
    assert staged(repository) == ["notes.txt"]
    ledger = sqlite3.connect(tmp_path / ".agent" / "ledger.db")
    assert ledger.execute("SELECT tool, server, decision FROM approvals").fetchall() == [
        ("git__git_add", "git", "approved")
    ]


def test_a_permission_rule_can_name_every_tool_of_a_server(repository):
    texts = run_headless(
        repository,
        "%load_ext agent_magic",
        configure({"git": git_entry(repository)}),
        '%config AgentMagic.permissions = {"allow": ["git__*"]}',
        f'%%agent --model demo\ncall `git__git_add` with repo_path="{repository}" files=["notes.txt"]',
    )

    assert "**approved** by rule — allowed by the rule 'git__*'" in texts[3]
    assert staged(repository) == ["notes.txt"]


# -- a kernel driven like a frontend ------------------------------------------------------------------


def test_an_mcp_call_is_a_ledger_row_naming_its_server(shared_kernel, script):
    shared_kernel.execute(configure({"time": time_entry()}))
    script.add_tool_calls(("time__get_current_time", json.dumps({"timezone": "Asia/Tokyo"})))
    script.add_text("It is morning in Tokyo.")

    run = shared_kernel.execute("%%agent\nWhat time is it in Tokyo?")

    assert run.status == "ok", run.text
    assert "🔌 MCP server started: `time`" in run.text
    assert '"timezone": "Asia/Tokyo"' in script.requests[1]["messages"][-1]["content"]
    rows = shared_kernel.execute(
        "import agent_magic\nprint(agent_magic.tool_calls()[['tool', 'server', 'decision', 'ok']].values.tolist())"
    )
    assert "[['time__get_current_time', 'time', 'auto', True]]" in rows.text


def test_agent_mcp_and_agent_tools_list_the_servers_and_their_tools(shared_kernel, script):
    shared_kernel.execute(configure({"time": time_entry(), "broken": {"command": "no-such-mcp-server"}}))
    script.add_text("hello")
    shared_kernel.execute("%%agent\nhi")

    report = shared_kernel.execute("%agent mcp").text
    tools = shared_kernel.execute("%agent tools").text

    assert "time           stdio running" in report and "broken         stdio failed 1×" in report
    assert "time__get_current_time           read-only       Get current time in a specific timezone" in report
    (listed,) = [line.split(None, 2) for line in tools.splitlines() if line.startswith("time__convert_time ")]
    assert listed == ["time__convert_time", "read-only", "[MCP time] Convert time between timezones"]


def test_a_server_of_the_workspaces_mcp_json_waits_for_trust(shared_kernel, script, workspace):
    (workspace / ".mcp.json").write_text(json.dumps({"mcpServers": {"time": time_entry()}}))
    script.add_text("one")
    script.add_text("two")

    first = shared_kernel.execute("%%agent\nhi")
    trusted = shared_kernel.execute("%agent mcp --trust time")
    second = shared_kernel.execute("%%agent\nhi again")

    assert "🔒 MCP server `time` of" in first.text and "%agent mcp --trust time" in first.text
    assert "Trusted time (" in trusted.text
    assert "🔌 MCP server started: `time`" in second.text


def test_an_interrupted_mcp_call_is_cancelled_on_the_server(shared_kernel, script, tmp_path):
    shared_kernel.execute(configure({"s": stdio_entry(MARK_DIR=str(tmp_path))}))
    script.add_tool_calls(("s__slow", json.dumps({"seconds": 120})))

    run = shared_kernel.execute("%%agent\nwait", on_message=Interrupter(shows("s__slow(seconds=120)")), timeout=60)

    assert "⏹ interrupted" in run.text and run.status == "error"
    wait_until(lambda: (tmp_path / "cancelled").exists(), 10, "the server's handler cancelled")


def test_a_server_crashing_mid_call_fails_the_call_not_the_cell_and_comes_back(shared_kernel, script):
    shared_kernel.execute(configure({"s": stdio_entry()}))
    script.add_tool_calls(("s__crash", "{}"))
    script.add_text("The warehouse server went away.")

    run = shared_kernel.execute("%%agent --approve s__crash\ncrash it")

    assert run.status == "ok", run.text
    crashed = tool_payload(script.requests[1]["messages"][-1])
    assert crashed["error_code"] == "server_unavailable"
    assert "fatal: lost the connection to the warehouse" in crashed["error_message"]
    assert "s__echo" not in json.dumps(script.requests[1]["tools"]), "its tools are withdrawn at once"
    script.add_text("ok")
    shared_kernel.execute("import time; time.sleep(1.1)")
    assert "🔌 MCP server started: `s`" in shared_kernel.execute("%%agent\nagain").text


def test_reset_mcp_stops_the_servers_and_the_next_turn_starts_them_again(shared_kernel, script):
    shared_kernel.execute(configure({"time": time_entry()}))
    script.add_text("one")
    shared_kernel.execute("%%agent\nhi")
    (group,) = server_groups(shared_kernel).values()

    reset = shared_kernel.execute("%agent reset --mcp")

    assert "Stopped 1 MCP server; they start again with the next turn." in reset.text
    wait_until(lambda: not group_members(group), 10, "the server stopped")
    script.add_text("two")
    assert "🔌 MCP server started: `time`" in shared_kernel.execute("%%agent\nhi again").text


def test_unloading_the_extension_stops_the_servers(shared_kernel, script):
    shared_kernel.execute(configure({"time": time_entry()}))
    script.add_text("one")
    shared_kernel.execute("%%agent\nhi")
    (group,) = server_groups(shared_kernel).values()

    shared_kernel.execute("%unload_ext agent_magic")

    wait_until(lambda: not group_members(group), 10, "the server stopped")


def test_a_kernel_shut_down_normally_leaves_no_server_process(model_server, script, workspace, tmp_path):
    real = started_kernel(model_server, workspace, tmp_path)
    groups, helper = servers_with_a_helper(real, script)

    real.client.stop_channels()
    real.manager.shutdown_kernel(now=False)

    wait_until(lambda: not any(map(group_members, groups)) and not alive(helper), 15, "servers and helper gone")


def test_a_killed_kernel_leaves_no_server_process_not_even_a_helper(model_server, script, workspace, tmp_path):
    real = started_kernel(model_server, workspace, tmp_path)
    groups, helper = servers_with_a_helper(real, script)

    real.close()  # SIGKILL: no atexit, no clean-up code of the kernel runs

    wait_until(lambda: not any(map(group_members, groups)) and not alive(helper), 15, "servers and helper gone")


def started_kernel(model_server, workspace, tmp_path) -> RealKernel:
    env = {
        "OPENAI_BASE_URL": model_server.base_url,
        "AGENT_MAGIC_HOME": str(tmp_path / ".agent"),
        "AGENT_MAGIC_MODEL": "test-model",
    }
    real = RealKernel(env=env, cwd=workspace)
    assert real.execute("%load_ext agent_magic").status == "ok"
    return real


def servers_with_a_helper(real: RealKernel, script) -> tuple[list[int], int]:
    """Start two servers, one of which starts a helper process; returns their process groups and the helper."""
    real.execute(configure({"s": stdio_entry(), "time": time_entry()}))
    script.add_tool_calls(("s__spawn_helper", "{}"))
    script.add_text("started")
    assert real.execute("%%agent --approve s__spawn_helper\nstart a helper").status == "ok"
    helper = tool_payload(script.requests[1]["messages"][-1])["data"]["result"]
    groups = list(server_groups(real).values())
    assert len(groups) == 2 and alive(helper)
    return groups, helper
