"""Chunk assembly accepts the ways OpenAI-compatible servers differ, when they still mean something."""

from __future__ import annotations

import pytest

from agent_magic.llm.stream import ChunkAccumulator, MalformedChunk


def chunk(delta=None, finish=None, usage=None, choices=True):
    body = {"choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}] if choices else []}
    if usage is not None:
        body["usage"] = usage
    return body


def test_text_deltas_are_returned_and_joined():
    acc = ChunkAccumulator()
    assert acc.add(chunk({"role": "assistant", "content": ""})) == ""
    assert acc.add(chunk({"content": "Hel"})) == "Hel"
    assert acc.add(chunk({"content": "lo"})) == "lo"
    acc.add(chunk(finish="stop"))
    assert acc.text == "Hello" and acc.finished and acc.finish_reason == "stop"


def test_stream_without_finish_reason_is_not_finished():
    acc = ChunkAccumulator()
    acc.add(chunk({"content": "partial"}))
    assert not acc.finished


def test_openai_style_tool_call_arrives_in_pieces_by_index():
    acc = ChunkAccumulator()
    acc.add(chunk({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "read_file", "arguments": ""}}]}))
    acc.add(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"path": '}}]}))
    acc.add(chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"a.txt"}'}}]}))
    acc.add(chunk(finish="tool_calls"))
    (call,) = acc.tool_calls()
    assert (call.call_id, call.name, call.arguments) == ("c1", "read_file", '{"path": "a.txt"}')


def test_tool_call_deltas_without_index_are_matched_by_id_or_continue_the_last_call():
    acc = ChunkAccumulator()
    acc.add(chunk({"tool_calls": [{"id": "a", "function": {"name": "list_files", "arguments": "{}"}}]}))
    acc.add(chunk({"tool_calls": [{"id": "b", "function": {"name": "read_file", "arguments": '{"path"'}}]}))
    acc.add(chunk({"tool_calls": [{"function": {"arguments": ': "x"}'}}]}))
    acc.add(chunk(finish="tool_calls"))
    calls = acc.tool_calls()
    assert [(c.call_id, c.name, c.arguments) for c in calls] == [
        ("a", "list_files", "{}"),
        ("b", "read_file", '{"path": "x"}'),
    ]


def test_arguments_sent_as_an_object_are_encoded_as_json():
    acc = ChunkAccumulator()
    acc.add(chunk({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": {"n": 1}}}]}))
    acc.add(chunk(finish="stop"))  # some local servers say "stop" even with tool calls
    assert acc.tool_calls()[0].arguments == '{"n": 1}'
    assert acc.finished


def test_tool_call_without_id_gets_a_generated_one():
    acc = ChunkAccumulator()
    acc.add(chunk({"tool_calls": [{"index": 0, "function": {"name": "f", "arguments": "{}"}}]}))
    assert acc.tool_calls()[0].call_id == "call_1"


def test_usage_on_a_separate_chunk_with_nested_details():
    acc = ChunkAccumulator()
    acc.add(chunk({"content": "x"}, finish="stop"))
    acc.add(
        chunk(
            choices=False,
            usage={
                "prompt_tokens": 100,
                "completion_tokens": 20,
                "prompt_tokens_details": {"cached_tokens": 64},
                "completion_tokens_details": {"reasoning_tokens": 8},
            },
        )
    )
    assert acc.usage.input_tokens == 100 and acc.usage.output_tokens == 20
    assert acc.usage.cached_tokens == 64 and acc.usage.reasoning_tokens == 8


def test_usage_repeated_on_every_chunk_keeps_the_last_and_missing_details_are_zero():
    acc = ChunkAccumulator()
    acc.add(chunk({"content": "a"}, usage={"prompt_tokens": 5, "completion_tokens": 1}))
    acc.add(chunk({"content": "b"}, finish="stop", usage={"prompt_tokens": 5, "completion_tokens": 2}))
    assert (acc.usage.input_tokens, acc.usage.output_tokens, acc.usage.cached_tokens) == (5, 2, 0)


def test_null_content_and_keepalive_chunks_are_ignored():
    acc = ChunkAccumulator()
    assert acc.add({"choices": []}) == ""
    assert acc.add(chunk({"content": None})) == ""
    assert not acc.has_output


@pytest.mark.parametrize(
    "chunk",
    [
        [1, 2],
        "data",
        {"choices": "garbage"},
        {"choices": [3]},
        {"choices": [{"delta": [1]}]},
        {"choices": [{"delta": {"content": 5}}]},
        {"choices": [{"delta": {"tool_calls": "x"}}]},
    ],
)
def test_a_chunk_that_cannot_mean_anything_is_refused_not_skipped(chunk):
    with pytest.raises(MalformedChunk):
        ChunkAccumulator().add(chunk)


def test_keep_alive_and_usage_only_chunks_are_still_accepted():
    accumulator = ChunkAccumulator()
    assert accumulator.add({"choices": []}) == "" and accumulator.add({"id": "x"}) == ""
    assert accumulator.add({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}) == ""
    assert accumulator.usage.input_tokens == 3
