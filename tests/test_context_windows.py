"""Context windows: the shipped table and the user's overrides, and the refusals of real servers (OpenAI,
vLLM, Ollama, LiteLLM, llama.cpp, Anthropic through LiteLLM) recognised with the window they name — over
real sockets to the loopback server, worded as each server words it."""

from __future__ import annotations

import asyncio

import pytest
from traitlets import TraitError

from agent_magic.config import AgentMagic
from agent_magic.errors import ContextWindowExceeded, ModelHTTPError
from agent_magic.llm.client import EndpointSettings, ModelClient
from agent_magic.llm.context_errors import context_overflow
from agent_magic.llm.context_windows import ContextWindows
from agent_magic.llm.sse_server import (
    CONTEXT_ERROR_FLAVORS,
    LoopbackModelServer,
    ScriptedResponder,
    count_prompt_tokens,
)


def call(server: LoopbackModelServer, content: str) -> None:
    client = ModelClient(EndpointSettings(model="local-model", base_url=server.base_url, api_key="k"))

    async def run() -> None:
        async for _ in client.stream([{"role": "user", "content": content}], []):
            pass

    asyncio.run(run())


@pytest.mark.parametrize("flavor", CONTEXT_ERROR_FLAVORS)
def test_a_servers_refusal_for_length_names_the_window_and_the_prompt_size(flavor):
    script = ScriptedResponder(window=100, window_error=flavor)
    with LoopbackModelServer(script) as server, pytest.raises(ContextWindowExceeded) as refused:
        call(server, "word " * 200)

    assert refused.value.window == 100
    assert refused.value.prompt_tokens == script.refused[0] > 100
    assert "context window (100 tokens)" in str(refused.value)
    assert "%agent compact" in str(refused.value)
    assert not refused.value.retryable


def test_a_request_within_the_window_is_answered_with_the_servers_count():
    script = ScriptedResponder(window=1000)
    script.add_text("fine")
    with LoopbackModelServer(script) as server:
        client = ModelClient(EndpointSettings(model="m", base_url=server.base_url, api_key="k"))

        async def run() -> list:
            return [item async for item in client.stream([{"role": "user", "content": "hi"}], [])]

        response = asyncio.run(run())[-1]

    assert response.usage.input_tokens == count_prompt_tokens(script.requests[0])  # not the scripted (10, 5)
    assert not script.refused


@pytest.mark.parametrize(
    ("server", "status", "message", "window", "prompt"),
    [
        (
            "OpenAI, gpt-5 family",
            400,
            "Input tokens exceed the configured limit of 272000 tokens. Your messages resulted in 509178 tokens. "
            "Please reduce the length of the messages.",
            272_000,
            509_178,
        ),
        ("OpenAI, Responses wording", 400, "Your input exceeds the context window of this model.", None, None),
        (
            "vLLM, newer",
            400,
            "This model's maximum context length is 1536 tokens. However, your request has 4176 input tokens. "
            "Please reduce the length of the input messages. None",
            1536,
            4176,
        ),
        (
            "vLLM, max_tokens too large",
            400,
            "'max_tokens' or 'max_completion_tokens' is too large: 8000. This model's maximum context length is "
            "4096 tokens and your request has 2778 input tokens (8000 > 4096 - 2778). None",
            4096,
            2778,
        ),
        ("Ollama, older", 400, "the input length exceeds the context length", None, None),
        (
            "Anthropic through LiteLLM",
            400,
            'litellm.BadRequestError: litellm.ContextWindowExceededError: AnthropicError - {"type":"error","error":'
            '{"type":"invalid_request_error","message":"prompt is too long: 209303 tokens > 200000 maximum"}}',
            200_000,
            209_303,
        ),
    ],
)
def test_other_wordings_of_the_same_refusal_are_recognised(server, status, message, window, prompt):
    overflow = context_overflow(status, message)

    assert overflow is not None, server
    assert (overflow.window, overflow.prompt_tokens) == (window, prompt)


def test_llama_cpp_names_its_window_in_the_body():
    body = {"error": {"code": 400, "message": "request too long", "type": "exceed_context_size_error", "n_ctx": 4096}}

    overflow = context_overflow(400, "request too long", body)

    assert overflow is not None and overflow.window == 4096


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (429, "Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000."),
        (400, "Invalid value for 'temperature': must be between 0 and 2."),
        (401, "Incorrect API key provided."),
        (503, "The server is overloaded; the context of your request was fine."),
    ],
)
def test_other_errors_are_not_taken_for_a_full_window(status, message):
    assert context_overflow(status, message) is None


def test_an_ordinary_bad_request_stays_an_ordinary_http_error():
    script = ScriptedResponder()
    script.add_error(400, message="Invalid value for 'temperature'")
    with LoopbackModelServer(script) as server, pytest.raises(ModelHTTPError) as failed:
        call(server, "hi")

    assert not isinstance(failed.value, ContextWindowExceeded)


def test_known_windows_ship_with_the_prices_and_cover_snapshots_and_provider_prefixes():
    windows = ContextWindows()

    assert windows.window_for("gpt-4o") == 128_000
    assert windows.window_for("gpt-4o-2024-08-06") == 128_000
    assert windows.window_for("openai/gpt-4.1-mini") == 1_047_576
    assert windows.window_for("llama3.1") is None  # a local server's window is how it was started


def test_a_setting_wins_over_the_table_and_a_servers_refusal_wins_over_both():
    windows = ContextWindows({"gpt-4o": 64_000, "llama3.1": 8192})
    windows.learn("llama3.1", 4096)

    assert windows.window_for("gpt-4o") == 64_000
    assert windows.window_for("llama3.1") == 4096
    assert windows.learned() == {"llama3.1": 4096}


@pytest.mark.parametrize("value", [{"m": 10}, {"m": "8k"}, {"m": True}])
def test_a_window_setting_that_is_not_a_token_count_is_refused_in_one_line(value):
    with pytest.raises(TraitError, match="context window of 'm' must be a whole number of tokens"):
        AgentMagic(context_windows=value)
