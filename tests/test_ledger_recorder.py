"""The ledger fed by a real turn's events, in memory: model-call rows for servers that report no usage,
tool-call rows and the session totals. The ledger is checked end to end (a real kernel, real SSE usage,
`%agent usage`) in test_ledger.py."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from recorded_session import RecordedSession
from scripted_model import ScriptedModel

import agent_magic
from agent_magic.ledger.totals import read_session_totals


@pytest.fixture
def model() -> ScriptedModel:
    return ScriptedModel()


def recorded(model, tmp_path, workspace, **options) -> RecordedSession:
    return RecordedSession(model, home=tmp_path / ".agent", workspace=workspace, **options)


def test_missing_server_usage_is_estimated_and_marked(model, tmp_path, workspace):
    model.add_text("An answer of some length.", usage=None)
    ledger = recorded(model, tmp_path, workspace)

    ledger.turn("hello there")

    (row,) = agent_magic.usage(home=str(ledger.home)).to_dict(orient="records")
    assert row["estimated"] is True and row["input_tokens"] > 0 and row["output_tokens"] > 0


def test_tool_call_rows_say_how_they_ran_and_what_came_back(model, tmp_path, workspace):
    model.add_tool_calls(("inspect_variable", json.dumps({"name": "df"})), ("read_file", '{"path": "nope.txt"}'))
    model.add_text("Done.")
    namespace = {"df": pd.DataFrame({"a": [1, None]})}
    ledger = recorded(model, tmp_path, workspace, namespace=namespace)

    ledger.turn("look at df and nope.txt")

    rows = {r["tool"]: r for r in agent_magic.tool_calls(home=str(ledger.home)).to_dict(orient="records")}
    inspected, missing = rows["inspect_variable"], rows["read_file"]
    assert inspected["ok"] is True and inspected["decision"] == "auto"
    assert inspected["arguments"] == '{"name": "df"}'
    assert inspected["result_chars"] > 0 and inspected["step"] == 1
    assert missing["ok"] is False and missing["error_code"]
    assert read_session_totals(ledger.store, ledger.session.session_id)["by_tool"] == [
        {"tool": "inspect_variable", "calls": 1, "denied": 0, "failed": 0},
        {"tool": "read_file", "calls": 1, "denied": 0, "failed": 1},
    ]
