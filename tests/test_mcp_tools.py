"""MCP tools as our tools: offered names, approval from annotations, the server's JSON schema checking
arguments before anything is sent, results in our shape, and permission rules naming them."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
from pathlib import Path

from mcp.types import (
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
    ToolAnnotations,
)
from mcp.types import Tool as McpTool

from agent_magic.events import ToolCall
from agent_magic.policy.permissions import parse_permissions
from agent_magic.policy.subjects import call_subject
from agent_magic.tools.context import ToolContext
from agent_magic.tools.mcp.adapter import make_mcp_tool, to_tool_result
from agent_magic.tools.mcp.naming import NAME_RULE, assign_names, offered_name
from agent_magic.tools.registry import ToolRegistry
from agent_magic.tools.result import ToolResult
from agent_magic.tools.runner import execute

SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {"path": {"type": "string"}, "lines": {"type": "integer", "minimum": 1}},
    "required": ["path"],
}


def mcp_tool(name: str = "read", *, read_only: bool | None = None, schema: dict | None = None) -> McpTool:
    annotations = None if read_only is None else ToolAnnotations(read_only_hint=read_only)
    return McpTool(name=name, description="Read a file.\nMore.", input_schema=schema or SCHEMA, annotations=annotations)


def recording_tool(server: str = "fs", **kwargs):
    sent: list[dict] = []

    async def invoke(arguments: dict) -> ToolResult:
        sent.append(arguments)
        return ToolResult.success("ok")

    return make_mcp_tool(server, mcp_tool(**kwargs), offered_name(server, kwargs.get("name", "read")), invoke), sent


def test_offered_names_are_server__tool_within_openais_rule():
    assert offered_name("git", "git_status") == "git__git_status"
    assert offered_name("my docs", "search.v2") == "my_docs__search_v2"
    long = offered_name("warehouse-" * 5, "query_" * 10)
    assert len(long) == 64 and NAME_RULE.match(long)
    assert long != offered_name("warehouse-" * 5, "query_" * 9 + "other"), "truncated names stay distinct"


def test_names_that_clean_up_alike_are_numbered_in_order():
    names = assign_names([("my.git", "status"), ("my_git", "status"), ("my git", "status")], taken={"x__y"})

    assert list(names.values()) == ["my_git__status", "my_git__status_2", "my_git__status_3"]
    assert assign_names([("x", "y")], taken={"x__y"})[("x", "y")] == "x__y_2"


def test_only_a_read_only_hint_lets_a_tool_run_unattended():
    assert recording_tool(read_only=True)[0].destructive is False
    assert recording_tool(read_only=False)[0].destructive is True
    assert recording_tool(read_only=None)[0].destructive is True, "no annotations: it may write"


def test_the_model_sees_the_servers_schema_under_the_offered_name():
    tool, _ = recording_tool(read_only=True)

    function = tool.openai_schema()["function"]

    assert function["name"] == "fs__read" and function["description"] == "Read a file.\nMore."
    assert function["parameters"]["required"] == ["path"] and "$schema" not in function["parameters"]
    assert tool.server == "fs" and tool.argument_names == ("path", "lines")


def test_a_tool_whose_input_is_not_an_object_is_not_offered():
    assert make_mcp_tool("fs", mcp_tool(schema={"type": "string"}), "fs__read", None) is None


def test_arguments_are_checked_against_the_schema_before_anything_is_sent():
    tool, sent = recording_tool(read_only=True)
    registry = ToolRegistry([tool])

    def run(arguments: dict) -> ToolResult:
        call = ToolCall("c1", "fs__read", json.dumps(arguments))
        return asyncio.run(execute(call, registry, ToolContext(Path(".")), timeout=5))

    bad = run({"lines": 0})
    assert bad.error_code == "invalid_arguments" and bad.retryable
    assert (
        "arguments: 'path' is a required property" in bad.error_message and "lines: 0 is less than" in bad.error_message
    )
    assert sent == []
    assert run({"path": "a.csv", "lines": 3}).data == "ok" and sent == [{"path": "a.csv", "lines": 3}]


def test_permission_rules_read_an_mcp_tools_path_argument():
    tool, _ = recording_tool(read_only=False)
    rules = parse_permissions({"deny": ["fs__*:*.env"], "allow": ["fs__read"]})

    subject = call_subject(tool, ToolCall("c1", tool.name, '{"path": "conf/.env"}'), Path("/ws"))

    assert subject == "conf/.env" and rules.match(tool.name, subject).verdict == "deny"
    assert rules.match(tool.name, "data.csv").verdict == "allow"


def test_structured_content_is_the_data_when_the_server_sends_it():
    result = CallToolResult(
        content=[TextContent(text='{"tz": "UTC"}')], structured_content={"tz": "UTC", "hour": 9}, is_error=False
    )

    assert to_tool_result(result) == ToolResult.success({"tz": "UTC", "hour": 9})


def test_text_is_the_data_otherwise():
    assert to_tool_result(CallToolResult(content=[TextContent(text="On branch main")])).data == "On branch main"
    both = CallToolResult(content=[TextContent(text="a"), TextContent(text="b")])
    assert to_tool_result(both).data == ["a", "b"]


def test_images_and_binary_resources_are_described_not_passed_as_base64():
    png = base64.b64encode(b"\x89PNG" + b"\0" * 96).decode()
    result = CallToolResult(
        content=[
            TextContent(text="chart"),
            ImageContent(data=png, mime_type="image/png"),
            EmbeddedResource(resource=TextResourceContents(uri="file:///a.txt", mime_type="text/plain", text="hi")),
            ResourceLink(uri="file:///big.parquet", name="big.parquet", mime_type="application/x-parquet"),
        ]
    )

    data = to_tool_result(result).data

    assert data[0] == "chart"
    assert data[1] == {"type": "image", "mime_type": "image/png", "bytes": 100, "note": data[1]["note"]}
    assert png not in json.dumps(data)
    assert data[2]["text"] == "hi" and data[3]["uri"] == "file:///big.parquet"


def test_an_error_result_is_not_ok_with_the_servers_message():
    result = CallToolResult(content=[TextContent(text="no such table: sales")], is_error=True)

    assert to_tool_result(result) == ToolResult.failure("tool_error", "no such table: sales")


def test_loading_the_extension_imports_neither_the_mcp_sdk_nor_genai_prices():
    code = (
        "import sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "InteractiveShell.instance().run_line_magic('load_ext', 'agent_magic')\n"
        "print(sorted(name for name in ('mcp', 'genai_prices', 'jsonschema') if name in sys.modules))\n"
    )

    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert loaded.stdout.strip() == "[]"
