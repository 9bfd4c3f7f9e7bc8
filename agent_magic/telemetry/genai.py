"""The OpenTelemetry GenAI semantic conventions as agent_magic uses them: attribute names, the provider
of an endpoint, and the opt-in message content in the conventions' JSON shape.

Names are spelled here rather than imported from `opentelemetry-semantic-conventions`, whose GenAI module
is incubating and has moved to its own repository; these strings are the stable contract.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from agent_magic.events import ToolCall
from agent_magic.policy.secrets import mask_secrets

AGENT_NAME = "agent_magic"

OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
AGENT = "gen_ai.agent.name"
CONVERSATION = "gen_ai.conversation.id"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
FINISH_REASONS = "gen_ai.response.finish_reasons"
TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
CACHE_READ_TOKENS = "gen_ai.usage.cache_read.input_tokens"
REASONING_TOKENS = "gen_ai.usage.reasoning.output_tokens"
TOKEN_TYPE = "gen_ai.token.type"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_TYPE = "gen_ai.tool.type"
TOOL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_RESULT = "gen_ai.tool.call.result"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
ERROR_TYPE = "error.type"
USER = "user.name"

# agent_magic's own attributes, in its namespace.
COST = "agent_magic.cost_usd"
COST_PARTIAL = "agent_magic.cost_partial"
RETRIES = "agent_magic.retries"
ESTIMATED = "agent_magic.usage_estimated"
STEP = "agent_magic.step"
TURN_ID = "agent_magic.turn.id"
TURN_STATE = "agent_magic.turn.state"
CELL_ID = "agent_magic.cell.id"
EXECUTION_COUNT = "agent_magic.cell.execution_count"
NOTEBOOK = "agent_magic.notebook"
DECISION = "agent_magic.approval.decision"
DECIDED_BY = "agent_magic.approval.decided_by"

OPENAI_HOST = "api.openai.com"
# Well-known values of gen_ai.provider.name, by the host of an OpenAI-compatible endpoint.
_PROVIDERS_BY_HOST = {
    OPENAI_HOST: "openai",
    "api.deepseek.com": "deepseek",
    "api.groq.com": "groq",
    "api.mistral.ai": "mistral_ai",
    "api.x.ai": "x_ai",
    "api.perplexity.ai": "perplexity",
    "generativelanguage.googleapis.com": "gcp.gemini",
}
# Any other server that speaks the OpenAI API (Ollama, vLLM, LiteLLM, LM Studio…): the conventions
# allow a custom value; server.address says which one.
OPENAI_COMPATIBLE = "openai_compatible"
DEMO_PROVIDER = "agent_magic.demo"


def endpoint_attributes(base_url: str | None, *, demo: bool = False) -> dict[str, Any]:
    """gen_ai.provider.name, server.address and server.port of an endpoint (None: OpenAI's default).

    Example:
        >>> endpoint_attributes("https://my-res.openai.azure.com/openai/v1")
        {'gen_ai.provider.name': 'azure.ai.openai', 'server.address': 'my-res.openai.azure.com', 'server.port': 443}
    """
    parts = urlsplit(base_url or f"https://{OPENAI_HOST}/v1")
    host = parts.hostname or ""
    if demo:
        provider = DEMO_PROVIDER
    elif host.endswith(".openai.azure.com"):
        provider = "azure.ai.openai"
    else:
        provider = _PROVIDERS_BY_HOST.get(host, OPENAI_COMPATIBLE)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:  # a malformed port: the request itself will fail and say so
        port = None
    attributes: dict[str, Any] = {PROVIDER: provider, SERVER_ADDRESS: host}
    if port is not None:
        attributes[SERVER_PORT] = port
    return attributes


def _arguments(text: str) -> Any:
    """Tool-call arguments as the model sent them: parsed when they are JSON, else the raw text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def tool_message(call_id: str, result: str) -> dict[str, Any]:
    """A tool result as the model receives it."""
    return {"role": "tool", "parts": [{"type": "tool_call_response", "id": call_id, "response": mask_secrets(result)}]}


def chat_message(message: dict[str, Any]) -> dict[str, Any]:
    """A transcript message (Chat Completions form, as `MessageAdded` carries it) in the conventions' shape."""
    if message.get("role") == "tool":
        return tool_message(str(message.get("tool_call_id") or ""), str(message.get("content") or ""))
    content = message.get("content")
    parts: list[dict[str, Any]] = [{"type": "text", "content": mask_secrets(str(content))}] if content else []
    parts += [
        {
            "type": "tool_call",
            "id": call.get("id"),
            "name": call["function"]["name"],
            "arguments": _arguments(mask_secrets(call["function"]["arguments"])),
        }
        for call in message.get("tool_calls") or ()
    ]
    return {"role": message.get("role", ""), "parts": parts}


def assistant_message(text: str, calls: tuple[ToolCall, ...], finish_reason: str) -> dict[str, Any]:
    """An assistant message: its text and the tool calls it asked for."""
    parts: list[dict[str, Any]] = [{"type": "text", "content": mask_secrets(text)}] if text else []
    parts += [
        {"type": "tool_call", "id": c.call_id, "name": c.name, "arguments": _arguments(mask_secrets(c.arguments))}
        for c in calls
    ]
    return {"role": "assistant", "parts": parts, "finish_reason": finish_reason}


def messages_attribute(messages: list[dict[str, Any]]) -> str:
    """Messages as the JSON string the conventions prescribe for span attributes."""
    return json.dumps(messages, ensure_ascii=False, default=str)
