"""MCP server configuration: `.mcp.json` and `AgentMagic.mcp_servers`, `${VAR}` expansion, one-line
problems, and no secret in anything shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from traitlets import TraitError

from agent_magic.config import AgentMagic
from agent_magic.tools.mcp.config import HTTP, SETTING, STDIO, load_servers


def write_config(workspace: Path, servers: dict) -> Path:
    path = workspace / ".mcp.json"
    path.write_text(json.dumps({"mcpServers": servers}))
    return path


def test_servers_of_the_file_and_the_setting_merge_by_name_the_setting_winning(workspace):
    write_config(workspace, {"git": {"command": "uvx", "args": ["mcp-server-git"]}, "time": {"command": "time-srv"}})

    loaded = load_servers(workspace, {"time": {"command": "my-time"}, "docs": {"url": "https://docs.example/mcp"}}, {})

    assert list(loaded.specs) == ["git", "time", "docs"] and loaded.problems == []
    assert loaded.specs["git"].command == "uvx" and loaded.specs["git"].args == ("mcp-server-git",)
    assert loaded.specs["time"].command == "my-time" and loaded.specs["time"].origin == SETTING
    assert loaded.specs["git"].origin == str(workspace / ".mcp.json")


def test_a_command_runs_over_stdio_and_a_url_over_streamable_http(workspace):
    loaded = load_servers(
        workspace,
        {
            "a": {"command": "srv"},
            "b": {"url": "http://127.0.0.1:8000/mcp"},
            "c": {"type": "streamable-http", "url": "https://x.example/mcp"},
            "d": {"type": "stdio", "command": "srv"},
        },
        {},
    )

    assert [spec.transport for spec in loaded.specs.values()] == [STDIO, HTTP, HTTP, STDIO]


def test_placeholders_expand_from_the_environment_with_defaults(workspace):
    entry = {
        "command": "${TOOLS}/srv",
        "args": ["--db", "${DB:-local.db}"],
        "env": {"API_TOKEN": "${TOKEN}"},
        "cwd": "sub",
    }

    spec = load_servers(workspace, {"s": entry}, {"TOOLS": "/opt/tools", "TOKEN": "tok-1234567"}).specs["s"]

    assert spec.command == "/opt/tools/srv" and spec.args == ("--db", "local.db")
    assert dict(spec.env) == {"API_TOKEN": "tok-1234567"}
    assert spec.cwd == str(workspace / "sub")


def test_a_missing_variable_costs_that_server_only_and_names_the_variable(workspace):
    servers = {"docs": {"url": "https://docs.example/mcp", "headers": {"Authorization": "Bearer ${DOCS_TOKEN}"}}}

    loaded = load_servers(workspace, {**servers, "time": {"command": "srv"}}, {})

    assert list(loaded.specs) == ["time"]
    (problem,) = loaded.problems
    assert problem.startswith("MCP server 'docs'") and "${DOCS_TOKEN} in headers.Authorization is not set" in problem


def test_a_config_file_that_is_not_json_is_one_line_naming_it_and_where(workspace):
    (workspace / ".mcp.json").write_text('{"mcpServers": {"git": {"command": "uvx",}}}')

    loaded = load_servers(workspace, {"time": {"command": "srv"}}, {})

    assert list(loaded.specs) == ["time"]
    (problem,) = loaded.problems
    assert ".mcp.json: not valid JSON (line 1, column" in problem and "\n" not in problem


def test_disabled_servers_are_not_run(workspace):
    write_config(workspace, {"git": {"command": "uvx", "disabled": True}})

    assert load_servers(workspace, {}, {}).specs == {}


def test_the_old_sse_transport_is_refused_saying_what_to_use(workspace):
    loaded = load_servers(workspace, {"old": {"type": "sse", "url": "http://x/sse"}}, {})

    assert "use the server's streamable HTTP endpoint" in loaded.problems[0]


def test_a_malformed_setting_is_refused_when_set_in_one_line():
    config = AgentMagic()

    with pytest.raises(TraitError, match=r"AgentMagic.mcp_servers\['git'\]: 'args' must be a list of strings"):
        config.mcp_servers = {"git": {"command": "uvx", "args": "mcp-server-git"}}
    with pytest.raises(TraitError, match="needs a 'command' \\(stdio\\) or a 'url'"):
        config.mcp_servers = {"git": {"cmd": "uvx"}}


def test_what_is_shown_keeps_placeholders_and_leaves_credentials_out(workspace):
    servers = {
        "docs": {"url": "https://user:pw-123456@docs.example/mcp?key=abc", "headers": {"Authorization": "Bearer ${T}"}},
        "db": {"command": "srv", "args": ["--token", "${T}"], "env": {"DB_PASSWORD": "hunter2hunter2"}},
    }

    loaded = load_servers(workspace, servers, {"T": "tok-abcdef"})

    shown = loaded.specs["docs"].shown + " " + loaded.specs["db"].shown
    assert shown == "https://docs.example/mcp (headers: Authorization) srv --token ${T}"


def test_a_servers_own_secrets_are_redacted_from_its_output(workspace):
    servers = {
        "docs": {"url": "https://docs.example/mcp", "headers": {"Authorization": "Bearer tok-abcdef123"}},
        "db": {"command": "srv", "env": {"DB_PASSWORD": "hunter2hunter2", "LOG_LEVEL": "warning"}},
    }

    specs = load_servers(workspace, servers, {}).specs

    assert specs["docs"].redact("401: token tok-abcdef123 expired") == "401: token *** expired"
    assert specs["db"].redact("login failed for hunter2hunter2 (warning)") == "login failed for *** (warning)"
