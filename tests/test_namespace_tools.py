"""inspect_variable and list_variables over a notebook-like namespace."""

from __future__ import annotations

import math

import pandas as pd
from tool_helpers import call_tool

from agent_magic.tools.context import ToolContext


def test_list_variables_shows_user_names_with_types_and_sizes(workspace):
    namespace = {
        "df": pd.DataFrame({"a": [1, 2, 3], "b": ["x", None, "z"]}),
        "names": ["ann", "bob"],
        "rate": 0.5,
        "math": math,  # a module: not a variable
        "_private": 1,
        "In": [],
        "Out": {},
        "get_ipython": lambda: None,
        "helper": lambda x: x,
    }
    rows = call_tool("list_variables", ToolContext(workspace, namespace)).data["variables"]
    by_name = {row["name"]: row for row in rows}
    assert sorted(by_name) == ["df", "names", "rate"]
    assert by_name["df"]["type"].endswith("DataFrame") and by_name["df"]["shape"] == [3, 2]
    assert by_name["df"]["bytes"] > 0
    assert by_name["names"] == {"name": "names", "type": "list", "length": 2, "bytes": by_name["names"]["bytes"]}
    with_functions = call_tool("list_variables", ToolContext(workspace, namespace), include_functions=True).data
    assert "helper" in {row["name"] for row in with_functions["variables"]}


def test_inspect_variable_summarises_a_dataframe(workspace):
    namespace = {"df": pd.DataFrame({"a": [1, None], "b": [1, 2]})}
    data = call_tool("inspect_variable", ToolContext(workspace, namespace), name="df").data
    assert data["shape"] == [2, 2] and data["null_counts"] == {"a": 1, "b": 0}
    assert "a" in data["head"]


def test_inspect_variable_of_a_missing_name_suggests_existing_ones(workspace):
    result = call_tool("inspect_variable", ToolContext(workspace, {"sales": 1, "_hidden": 2}), name="sale")
    assert result.error_code == "not_found" and "sales" in result.error_message
    assert "_hidden" not in result.error_message
