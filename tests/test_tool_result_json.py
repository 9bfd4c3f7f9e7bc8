"""What the model reads of a tool result: its JSON, whatever the tool put in it."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass

from agent_magic.tools.result import ToolResult


@dataclass
class Point:
    x: int
    y: int


def test_a_result_reads_as_its_five_fields():
    shown = json.loads(ToolResult.success({"rows": 3}).to_json())
    assert shown == {"ok": True, "data": {"rows": 3}, "error_code": None, "error_message": None, "retryable": False}


def test_a_dataclass_in_the_data_reads_as_an_object():
    shown = json.loads(ToolResult.success({"corner": Point(1, 2), "path": [Point(3, 4)]}).to_json())
    assert shown["data"] == {"corner": {"x": 1, "y": 2}, "path": [{"x": 3, "y": 4}]}


def test_a_value_json_cannot_encode_reads_as_its_repr():
    lock = threading.Lock()  # cannot be copied either: the result is encoded as it stands
    shown = json.loads(ToolResult.success({"lock": lock, "items": {1, 2} - {2}}).to_json())
    assert shown["data"] == {"lock": repr(lock), "items": repr({1})}


def test_text_keeps_its_own_characters():
    assert "naïve café" in ToolResult.success("naïve café").to_json()


def test_a_failure_reads_with_its_code_and_message():
    shown = json.loads(ToolResult.failure("not_found", "no file a.txt", retryable=True).to_json())
    assert shown["ok"] is False and shown["error_code"] == "not_found" and shown["retryable"] is True
