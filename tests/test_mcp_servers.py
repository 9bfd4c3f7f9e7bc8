"""Real MCP servers behind `McpManager`: the reference `mcp-server-time` and `mcp-server-git` (PyPI) over
stdio, a streamable-HTTP server built with the SDK, and servers that crash mid-call, never start, or
hang. Each test checks that no server process outlives it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mcp_helpers import (
    alive,
    free_port,
    git_entry,
    group_members,
    start_http_server,
    stdio_entry,
    time_entry,
    wait_until,
)

from agent_magic.config import AgentMagic
from agent_magic.errors import AgentUsageError
from agent_magic.tools.mcp.connection import ServerState
from agent_magic.tools.mcp.manager import NOT_INSTALLED, McpManager
from agent_magic.tools.mcp.report import mcp_report

HANGS = {"command": sys.executable, "args": ["-c", "import time; time.sleep(600)"]}
EXITS = {"command": sys.executable, "args": ["-c", "import sys; sys.exit('cannot connect to DATABASE_URL')"]}


class Servers:
    """A manager for the given servers whose coroutines run on one private event loop, as a kernel's
    would; `close()` stops everything and checks no process of theirs is left."""

    def __init__(self, workspace: Path, servers: dict, **settings) -> None:
        self.manager = McpManager(AgentMagic(workspace=str(workspace), mcp_servers=servers, **settings))
        self.loop = asyncio.new_event_loop()
        self.groups: set[int] = set()

    def prepare(self) -> list[str]:
        lines = self.loop.run_until_complete(self.manager.prepare())
        self.groups |= {c.pid for c in self.manager.connections() if c.pid}
        return lines

    def call(self, name: str, timeout: float = 30, **arguments):
        tool = self.manager.tools.get(name)
        assert tool is not None, f"{name} is not offered; offered: {self.manager.tools.names()}"
        return self.loop.run_until_complete(asyncio.wait_for(tool.function(**arguments), timeout))

    def connection(self, name: str):
        return next(c for c in self.manager.connections() if c.name == name)

    def close(self) -> None:
        self.manager.close()
        self.loop.close()
        for group in self.groups:
            wait_until(lambda group=group: not group_members(group), 10, f"process group {group} gone")


@pytest.fixture
def servers(workspace):
    made: list[Servers] = []

    def make(servers: dict, **settings) -> Servers:
        made.append(Servers(workspace, servers, **settings))
        return made[-1]

    yield make
    for each in made:
        each.close()


@pytest.fixture
def repository(tmp_path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / "notes.txt").write_text("hello\n")
    return repo


def test_the_reference_time_server_offers_its_read_only_tools_and_answers(servers):
    time_server = servers({"time": time_entry()})

    lines = time_server.prepare()

    assert lines[0].startswith("🔌 MCP server started: `time` (2 tools,")
    tool = time_server.manager.tools.get("time__get_current_time")
    assert tool.destructive is False and tool.server == "time"
    result = time_server.call("time__get_current_time", timezone="Europe/Paris")
    assert result.ok and result.data["timezone"] == "Europe/Paris" and "datetime" in result.data


def test_the_reference_git_server_marks_its_writing_tools_for_approval(servers, repository):
    git = servers({"git": git_entry(repository)})
    git.prepare()

    tools = {tool.name: tool for tool in git.manager.tools}

    assert not tools["git__git_status"].destructive and not tools["git__git_log"].destructive
    assert tools["git__git_add"].destructive and tools["git__git_commit"].destructive
    assert "notes.txt" in git.call("git__git_status", repo_path=str(repository)).data


def test_a_streamable_http_server_gets_its_headers_with_variables_expanded(servers, monkeypatch):
    port = free_port()
    process = start_http_server(port, EXPECTED_TOKEN="tok-right-123456", MARK_DIR="/tmp")
    try:
        monkeypatch.setenv("DOCS_TOKEN", "tok-right-123456")
        entry = {
            "url": f"http://127.0.0.1:{port}/mcp",
            "headers": {"Authorization": "Bearer ${DOCS_TOKEN}", "X-Team": "dsci"},
        }
        docs = servers({"docs": entry})

        assert docs.prepare()[0].startswith("🔌 MCP server started: `docs`")
        assert docs.call("docs__whoami").data == {"team": "dsci", "authorized": True}
        assert docs.call("docs__echo", text="over http").ok
    finally:
        process.kill()
        process.wait()


def test_a_cancelled_call_sends_the_server_a_cancellation(servers, tmp_path):
    scripted = servers({"s": stdio_entry(MARK_DIR=str(tmp_path))})
    scripted.prepare()

    with pytest.raises(TimeoutError):
        scripted.call("s__slow", timeout=1.0, seconds=60)

    wait_until(lambda: (tmp_path / "cancelled").exists(), 10, "the server's handler cancelled")
    assert scripted.call("s__echo", text="still here").data == {"result": "still here"}


def test_a_server_crashing_mid_call_costs_one_line_with_its_stderr_and_only_its_tools(servers):
    both = servers({"s": stdio_entry(), "time": time_entry()})
    both.prepare()

    result = both.call("s__crash")

    assert result.error_code == "server_unavailable"
    assert result.error_message == (
        "MCP server 's' stopped during the call: fatal: lost the connection to the warehouse | "
        "server process exited with status 3"
    )
    assert [name for name in both.manager.tools.names() if name.startswith("s__")] == []
    assert both.call("time__get_current_time", timezone="UTC").ok, "the other server keeps working"


def test_a_crashed_server_is_started_again_on_a_later_turn_after_its_backoff(servers):
    scripted = servers({"s": stdio_entry()})
    scripted.prepare()
    scripted.call("s__crash")

    (line,) = scripted.prepare()  # at once: still backing off
    assert line.startswith("⚠️ MCP server `s` is not running, its tools are not offered:")
    assert scripted.connection("s").failures == 1

    time.sleep(1.1)
    assert scripted.prepare()[0].startswith("🔌 MCP server started: `s`")
    assert scripted.call("s__echo", text="back").ok


def test_a_server_dying_between_turns_is_noticed_without_a_call(servers):
    scripted = servers({"s": stdio_entry()})
    scripted.prepare()
    connection = scripted.connection("s")

    os.killpg(connection.pid, signal.SIGKILL)

    wait_until(lambda: connection.state is ServerState.FAILED, 10, "the server marked failed")
    assert "s__echo" not in scripted.manager.tools.names()
    assert "stopped unexpectedly" in connection.cause


def test_a_command_that_does_not_exist_costs_one_line_and_the_other_servers_start(servers):
    missing = servers({"missing": {"command": "no-such-mcp-server"}, "time": time_entry()})

    started, failed = missing.prepare()

    assert started.startswith("🔌 MCP server started: `time`")
    assert failed.startswith(
        "⚠️ MCP server `missing` is not running, its tools are not offered: `exited before it was ready: "
        "cannot start 'no-such-mcp-server': No such file or directory` (tried again"
    )
    assert missing.manager.tools.names() == ["time__get_current_time", "time__convert_time"]


def test_a_failed_server_is_started_again_only_once_its_backoff_has_passed(servers):
    missing = servers({"missing": {"command": "no-such-mcp-server"}})
    missing.prepare()

    missing.prepare()
    assert missing.connection("missing").failures == 1, "not retried within its 1 s backoff"
    time.sleep(1.1)
    missing.prepare()
    assert missing.connection("missing").failures == 2
    assert missing.connection("missing").next_try - time.monotonic() > 1.5, "the backoff doubled"


def test_a_server_exiting_at_start_is_reported_with_its_last_words(servers):
    exits = servers({"db": EXITS})

    (line,) = exits.prepare()

    assert "`exited before it was ready: cannot connect to DATABASE_URL | server process exited with status 1`" in line


def test_a_server_that_never_answers_times_out_and_its_process_is_killed(servers):
    hangs = servers({"stuck": HANGS}, mcp_startup_timeout=1.0)

    started = time.monotonic()
    (line,) = hangs.prepare()

    assert time.monotonic() - started < 10
    assert "did not start within 1 s (AgentMagic.mcp_startup_timeout)" in line
    pid = hangs.connection("stuck").stderr.pid
    wait_until(lambda: not group_members(pid), 15, "the hung server killed")


def test_results_never_carry_the_servers_configured_secret(servers):
    scripted = servers({"s": stdio_entry(SERVER_TOKEN="tok-very-secret-1")})
    scripted.prepare()

    assert scripted.call("s__token").data == {"result": "my token is ***"}


def test_an_image_result_is_described_to_the_model(servers):
    scripted = servers({"s": stdio_entry()})
    scripted.prepare()

    caption, image = scripted.call("s__picture").data

    assert caption == "a one-pixel picture" and image["type"] == "image" and image["mime_type"] == "image/png"


def test_a_changed_entry_restarts_only_that_server(servers):
    both = servers({"s": stdio_entry(), "time": time_entry()})
    both.prepare()
    time_pid, s_pid = both.connection("time").pid, both.connection("s").pid

    both.manager.config.mcp_servers = {"s": stdio_entry(EXTRA="1"), "time": time_entry()}
    (line,) = both.prepare()

    assert line.startswith("🔌 MCP server started: `s`")
    assert both.connection("time").pid == time_pid and both.connection("s").pid != s_pid
    wait_until(lambda: not group_members(s_pid), 10, "the old server stopped")


def test_stopping_leaves_no_process_behind_not_even_a_helper_the_server_started(servers):
    scripted = servers({"s": stdio_entry()})
    scripted.prepare()
    group = scripted.connection("s").pid
    helper = scripted.call("s__spawn_helper").data["result"]
    assert alive(helper)

    assert scripted.manager.stop_all() == 1

    wait_until(lambda: not group_members(group) and not alive(helper), 10, "server and helper gone")
    assert scripted.manager.tools.names() == []


def test_the_report_lists_servers_status_and_tools(servers):
    mixed = servers({"time": time_entry(), "missing": {"command": "no-such-mcp-server"}})
    assert mcp_report(mixed.manager).splitlines()[1].endswith("not started (starts with the next %%agent turn)")
    mixed.prepare()

    report = mcp_report(mixed.manager)

    assert "time           stdio running (started in" in report and ", pid " in report
    assert "missing        stdio failed 1×" in report and "No such file or directory" in report
    assert "time__convert_time               read-only       Convert time between timezones" in report


def test_without_the_mcp_package_a_configured_server_costs_one_line(servers, monkeypatch):
    monkeypatch.setitem(sys.modules, "mcp", None)

    assert servers({"time": time_entry()}).prepare() == [NOT_INSTALLED]


def test_nothing_is_started_or_imported_when_no_server_is_configured(servers):
    none = servers({})

    assert none.prepare() == [] and none.manager._loop is None


def write_mcp_json(workspace: Path, servers: dict) -> None:
    (workspace / ".mcp.json").write_text(json.dumps({"mcpServers": servers}))


def test_a_server_of_mcp_json_starts_only_once_trusted(servers, workspace):
    write_mcp_json(workspace, {"time": time_entry()})
    project = servers({})

    (line,) = project.prepare()

    assert line.startswith(f"🔒 MCP server `time` of {workspace / '.mcp.json'} runs `")
    assert line.endswith("on this machine: it starts once you trust it with %agent mcp --trust time")
    assert project.manager.tools.names() == [] and project.manager._loop is None, "nothing was run"
    assert project.manager.trust(["time"]).startswith("Trusted time (")
    assert project.prepare()[0].startswith("🔌 MCP server started: `time`")


def test_trust_ends_when_the_entry_changes(servers, workspace):
    write_mcp_json(workspace, {"time": time_entry()})
    project = servers({})
    project.manager.trust(["all"])
    project.prepare()
    group = project.connection("time").pid

    write_mcp_json(workspace, {"time": {**time_entry(), "args": [*time_entry()["args"], "--verbose"]}})
    (line,) = project.prepare()

    assert line.startswith("🔒 MCP server `time`")
    wait_until(lambda: not group_members(group), 10, "the server of the changed entry stopped")


def test_trusting_a_server_the_file_does_not_define_is_one_line_naming_its_servers(servers, workspace):
    write_mcp_json(workspace, {"time": time_entry()})

    with pytest.raises(AgentUsageError, match="no .mcp.json server named gti; its servers: time"):
        servers({}).manager.trust(["gti"])
