"""inspect_variable and list_variables over a notebook-like namespace."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
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


class Booby:
    """A notebook class whose every hook has a side effect."""

    touched: list[str] = []

    def __init__(self) -> None:
        self.rows = 3

    def __repr__(self) -> str:
        Booby.touched.append("repr")
        return "booby"

    def __len__(self) -> int:
        Booby.touched.append("len")
        return 1

    def __getattr__(self, name: str):
        Booby.touched.append(f"getattr {name}")
        raise AttributeError(name)

    @property
    def shape(self):
        Booby.touched.append("shape")
        return (1, 1)

    @property
    def __class__(self):
        Booby.touched.append("__class__")
        return list


def test_read_only_tools_do_not_run_notebook_code(workspace):
    Booby.touched.clear()
    namespace = {"thing": Booby(), "things": [Booby(), {"k": Booby()}], "n": 5}
    data = call_tool("inspect_variable", ToolContext(workspace, namespace), name="thing").data
    nested = call_tool("inspect_variable", ToolContext(workspace, namespace), name="things").data
    listed = call_tool("list_variables", ToolContext(workspace, namespace)).data["variables"]
    assert Booby.touched == []
    assert data["repr"] == "<test_namespace_tools.Booby object with attributes rows>" and "not run" in data["note"]
    assert nested["repr"].startswith("[<test_namespace_tools.Booby object") and nested["length"] == 2
    assert {row["name"] for row in listed} == {"thing", "things", "n"}


def test_trusted_library_objects_are_still_described_by_their_own_repr(workspace):
    import numpy as np

    namespace = {"arr": np.arange(6).reshape(2, 3), "when": __import__("datetime").date(2026, 1, 2)}
    arr = call_tool("inspect_variable", ToolContext(workspace, namespace), name="arr").data
    assert arr["shape"] == [2, 3] and "array(" in arr["repr"]
    when = call_tool("inspect_variable", ToolContext(workspace, namespace), name="when").data
    assert when["repr"] == "datetime.date(2026, 1, 2)"


@pytest.mark.parametrize("name", ["In", "Out", "_", "__", "_i", "_ii", "_i3", "_7", "_ih", "_oh", "_dh"])
def test_ipython_history_variables_are_never_shown(workspace, name):
    namespace = {name: ["%env OPENAI_API_KEY=sk-typed-in-a-cell"]}
    result = call_tool("inspect_variable", ToolContext(workspace, namespace), name=name)
    assert not result.ok and "sk-typed" not in json.dumps(result.data or {}) + (result.error_message or "")
