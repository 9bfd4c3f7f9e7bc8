"""The request's `tools` list is built once per tool set and follows every change of the tools offered."""

from __future__ import annotations

import pytest

import agent_magic
from agent_magic.config import AgentMagic
from agent_magic.runtime import AgentRuntime
from agent_magic.tools.builtins import builtin_tools
from agent_magic.tools.custom import CUSTOM_TOOLS
from agent_magic.tools.registry import ToolRegistry, make_tool


@pytest.fixture(autouse=True)
def clean_custom_tools():
    saved = dict(CUSTOM_TOOLS._tools)
    yield
    CUSTOM_TOOLS._tools.clear()
    CUSTOM_TOOLS._tools.update(saved)


def names(schemas: list[dict]) -> list[str]:
    return [schema["function"]["name"] for schema in schemas]


def descriptions(schemas: list[dict]) -> dict[str, str]:
    return {schema["function"]["name"]: schema["function"]["description"] for schema in schemas}


def test_the_same_tools_give_the_same_schemas_without_building_them_again():
    registry = ToolRegistry(builtin_tools(), linked=[CUSTOM_TOOLS])
    first, second = registry.openai_schemas(), registry.openai_schemas()
    assert first == second
    assert all(a is b for a, b in zip(first, second, strict=True))


def test_every_conversation_shares_the_built_in_tools_and_their_schemas(tmp_path):
    runtime = AgentRuntime(AgentMagic(workspace=str(tmp_path)), {})
    first = runtime.new_session().tools.openai_schemas()
    second = runtime.new_session().tools.openai_schemas()
    assert builtin_tools() is builtin_tools()
    assert all(a is b for a, b in zip(first, second, strict=True))


def test_a_tool_defined_in_a_later_cell_joins_the_next_request():
    registry = ToolRegistry(builtin_tools(), linked=[CUSTOM_TOOLS])
    before = registry.openai_schemas()

    @agent_magic.tool
    def forecast(city: str) -> str:
        """Tomorrow's weather."""
        return "sunny"

    after = registry.openai_schemas()
    assert "forecast" not in names(before)
    assert names(after) == [*names(before), "forecast"]


def test_a_redefined_tool_is_offered_with_its_new_schema():
    registry = ToolRegistry(linked=[CUSTOM_TOOLS])

    @agent_magic.tool
    def convert(value: float) -> float:
        """First version."""
        return value

    assert descriptions(registry.openai_schemas()) == {"convert": "First version."}

    @agent_magic.tool
    def convert(value: float, unit: str = "m") -> float:  # noqa: F811 - redefining is the point
        """Second version."""
        return value

    schema = registry.openai_schemas()[0]["function"]
    assert schema["description"] == "Second version."
    assert list(schema["parameters"]["properties"]) == ["value", "unit"]


def test_a_tool_added_to_the_registry_itself_joins_the_next_request():
    def ping() -> str:
        """Answer pong."""
        return "pong"

    registry = ToolRegistry()
    assert registry.openai_schemas() == []
    registry.add(make_tool(ping))
    assert names(registry.openai_schemas()) == ["ping"]


def test_a_linked_registry_that_computes_its_tools_live_is_followed():
    def ping() -> str:
        """Answer pong."""
        return "pong"

    class Live(ToolRegistry):
        """Tools that come and go (as an MCP server's do)."""

        offered: list = []

        def _all(self) -> dict:
            return {tool.name: tool for tool in self.offered}

    live = Live()
    registry = ToolRegistry(linked=[live])
    assert registry.openai_schemas() == []
    live.offered = [make_tool(ping)]
    assert names(registry.openai_schemas()) == ["ping"]
    live.offered = []
    assert registry.openai_schemas() == []


def test_changing_the_returned_list_does_not_change_the_next_request():
    registry = ToolRegistry(builtin_tools())
    registry.openai_schemas().clear()
    assert len(registry.openai_schemas()) == len(builtin_tools())
