"""The offline demo model: which tool calls plain prompts ask for, and how results are summarised."""

from __future__ import annotations

import json

import pytest

from agent_magic.llm.demo import DEMO_LABEL, demo_reply, plan_tool_calls

READ_ONLY = {"list_files", "read_file", "inspect_variable"}
ALL = READ_ONLY | {"write_file", "delete_file", "run_shell", "run_python"}


@pytest.mark.parametrize(
    ("prompt", "offered", "expected"),
    [
        ("Which columns of df have missing values?", READ_ONLY, [("inspect_variable", {"name": "df"})]),
        ("Describe `sales`", READ_ONLY, [("inspect_variable", {"name": "sales"})]),
        ("List the files in the workspace", READ_ONLY, [("list_files", {"path": "."})]),
        ("Read data.csv please", READ_ONLY, [("read_file", {"path": "data.csv"})]),
        ('Write "hello" to notes.txt', ALL, [("write_file", {"path": "notes.txt", "content": "hello\n"})]),
        ("Delete old/notes.txt", ALL, [("delete_file", {"path": "old/notes.txt"})]),
        ("Run `ls -la` for me", ALL, [("run_shell", {"command": "ls -la"})]),
        ('Write "hello" to notes.txt', READ_ONLY, []),  # a tool not on offer is never asked for
        ("Tell me a joke", ALL, []),
    ],
)
def test_plain_prompts_map_to_tool_calls(prompt, offered, expected):
    assert plan_tool_calls(prompt, offered) == expected


def _request(messages, tools=READ_ONLY):
    return {"messages": messages, "tools": [{"type": "function", "function": {"name": t}} for t in tools]}


def _text_of(reply):
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in reply.chunks if c.get("choices"))


def test_plain_answer_is_labelled_as_scripted_and_reports_usage():
    reply = demo_reply(_request([{"role": "user", "content": "Tell me a joke"}]))
    assert _text_of(reply).startswith(DEMO_LABEL)
    assert reply.chunks[-1]["usage"]["completion_tokens"] > 0


def test_tool_results_are_summarised():
    result = {
        "ok": True,
        "data": {
            "name": "df",
            "shape": [3, 2],
            "dtypes": {"a": "float64", "b": "int64"},
            "null_counts": {"a": 2, "b": 0},
        },
    }
    messages = [
        {"role": "user", "content": "Which columns of df have missing values?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "inspect_variable", "arguments": "{}"}}
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "c1",
            "content": f'<tool_output tool="x">\n{json.dumps(result)}\n</tool_output>',
        },
    ]
    text = _text_of(demo_reply(_request(messages)))
    assert "`a` (2 missing)" in text and "3** rows" in text


def test_failed_tool_results_are_reported_not_hidden():
    failure = {"ok": False, "error_code": "not_found", "error_message": "no file x.csv"}
    messages = [
        {"role": "user", "content": "read x.csv"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": json.dumps(failure)},
    ]
    assert "did not succeed (`not_found`): no file x.csv" in _text_of(demo_reply(_request(messages)))
