"""@agent_magic.tool: schemas from notebook functions, sync and async, destructive, merged into the registry."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

import agent_magic
from agent_magic.errors import AgentUsageError
from agent_magic.events import ToolCall
from agent_magic.tools.builtins import builtin_tools
from agent_magic.tools.context import ToolContext
from agent_magic.tools.custom import CUSTOM_TOOLS
from agent_magic.tools.registry import ToolRegistry
from agent_magic.tools.runner import execute


@pytest.fixture(autouse=True)
def clean_custom_tools():
    saved = dict(CUSTOM_TOOLS._tools)
    yield
    CUSTOM_TOOLS._tools.clear()
    CUSTOM_TOOLS._tools.update(saved)


def run(name: str, arguments: dict, registry: ToolRegistry):
    call = ToolCall("c1", name, json.dumps(arguments))
    return asyncio.run(execute(call, registry, ToolContext(Path(".")), timeout=5))


def test_a_decorated_function_becomes_a_read_only_tool_and_stays_callable():
    @agent_magic.tool
    def fahrenheit(celsius: float) -> float:
        """Convert Celsius to Fahrenheit.

        Args:
            celsius: temperature in degrees Celsius.
        """
        return celsius * 9 / 5 + 32

    assert fahrenheit(100) == 212
    tool = CUSTOM_TOOLS.get("fahrenheit")
    assert tool is not None and tool.destructive is False
    schema = tool.openai_schema()["function"]
    assert schema["description"] == "Convert Celsius to Fahrenheit."
    assert schema["parameters"]["properties"]["celsius"] == {
        "type": "number",
        "description": "temperature in degrees Celsius.",
    }


def test_arguments_are_validated_before_the_function_runs():
    calls = []

    @agent_magic.tool
    def repeat(word: str, times: int = 2) -> str:
        """Repeat a word."""
        calls.append(word)
        return word * times

    registry = ToolRegistry(linked=[CUSTOM_TOOLS])
    assert run("repeat", {"word": "ab", "times": 3}, registry).data == "ababab"
    bad = run("repeat", {"word": "ab", "times": "many"}, registry)
    assert bad.error_code == "invalid_arguments" and calls == ["ab"]


def test_async_and_destructive_tools():
    @agent_magic.tool(destructive=True, name="notify_team")
    async def notify(message: str) -> dict:
        """Send a message to the team."""
        await asyncio.sleep(0)
        return {"sent": message}

    tool = CUSTOM_TOOLS.get("notify_team")
    assert tool.destructive and tool.is_async
    assert run("notify_team", {"message": "hi"}, ToolRegistry(linked=[CUSTOM_TOOLS])).data == {"sent": "hi"}


def test_a_session_registry_sees_tools_defined_later():
    registry = ToolRegistry(builtin_tools(), linked=[CUSTOM_TOOLS])
    assert "late" not in registry

    @agent_magic.tool
    def late() -> str:
        """Defined after the session started."""
        return "here"

    assert "late" in registry and registry.names()[-1] == "late"
    assert any(s["function"]["name"] == "late" for s in registry.openai_schemas())


def test_redefining_a_tool_replaces_it():
    @agent_magic.tool
    def version() -> int:
        """First."""
        return 1

    @agent_magic.tool
    def version() -> int:  # noqa: F811 - redefining is the point
        """Second."""
        return 2

    assert run("version", {}, ToolRegistry(linked=[CUSTOM_TOOLS])).data == 2


def test_built_in_names_cannot_be_taken_over():
    with pytest.raises(AgentUsageError, match="built-in"):

        @agent_magic.tool
        def read_file(path: str) -> str:
            """Shadow the built-in."""
            return ""


def test_functions_the_model_cannot_call_are_refused_with_one_line():
    with pytest.raises(AgentUsageError, match=r"\*args"):

        @agent_magic.tool
        def anything(*values: int) -> int:
            """Sum."""
            return sum(values)


def test_the_demo_model_calls_a_named_tool_with_keyword_arguments():
    from agent_magic.llm.demo import plan_tool_calls

    planned = plan_tool_calls('Call `greet` with name="Ada Lovelace", times=2', {"greet", "list_files"})
    assert planned == [("greet", {"name": "Ada Lovelace", "times": 2})]
    assert plan_tool_calls("Call `missing` with x=1", {"greet"}) == []
