"""An MCP tool as one of our `Tool`s, and an MCP tool result as our `ToolResult`.

The tool keeps the server's JSON schema (our runner validates the model's arguments against it before
anything is sent) and is destructive unless the server annotates it `readOnlyHint: true`: an MCP tool
that does not say it only reads is approved call by call, like `write_file`.

A result becomes `ok`/`data` in the usual shape: the structured content when the server sends one (the
text blocks then only repeat it), else the text (a JSON object or array sent as text, decoded); images, audio and binary resources are described
(type, size), never passed as base64 the model cannot read. `isError` results are `ok: false` with
`error_code: "tool_error"`. The runner then masks secrets, caps the size and frames it as untrusted data.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import Any

from agent_magic.tools.registry import Tool
from agent_magic.tools.result import ToolResult

Invoke = Callable[[dict[str, Any]], Awaitable[ToolResult]]


def is_read_only(mcp_tool: Any) -> bool:
    """True only when the server annotates the tool `readOnlyHint: true` (absent hints mean it may write)."""
    annotations = getattr(mcp_tool, "annotations", None)
    return bool(annotations is not None and annotations.read_only_hint is True)


def object_schema(schema: Any) -> dict[str, Any] | None:
    """The tool's input schema as a function's parameters (an object schema), or None when it is not
    one: Chat Completions functions take named arguments only."""
    if not isinstance(schema, dict):
        return None
    if schema.get("type", "object") != "object":
        return None
    # `$schema` is a meta-keyword some providers' validators reject in function parameters.
    parameters = {key: value for key, value in schema.items() if key != "$schema"}
    parameters["type"] = "object"
    parameters.setdefault("properties", {})
    return parameters


def make_mcp_tool(server: str, mcp_tool: Any, offered_name: str, invoke: Invoke) -> Tool | None:
    """Our `Tool` for one MCP tool of `server`, offered as `offered_name`; None when its input schema
    is not an object schema (it cannot be described to the model)."""
    parameters = object_schema(mcp_tool.input_schema)
    if parameters is None:
        return None

    async def call(**arguments: Any) -> ToolResult:
        return await invoke(arguments)

    description = (mcp_tool.description or getattr(mcp_tool, "title", None) or mcp_tool.name).strip()
    return Tool(
        name=offered_name,
        description=description,
        function=call,
        parameters=(),
        destructive=not is_read_only(mcp_tool),
        input_schema=parameters,
        server=server,
    )


def _size_of(data: str) -> int:
    try:
        return len(base64.b64decode(data, validate=False))
    except (binascii.Error, ValueError):
        return len(data)


def describe_block(block: Any) -> Any:
    """One content block as the model reads it: text as text, the rest described."""
    kind = getattr(block, "type", None)
    if kind == "text":
        return block.text
    if kind in ("image", "audio"):
        return {
            "type": kind,
            "mime_type": block.mime_type,
            "bytes": _size_of(block.data),
            "note": f"{kind} returned by the tool; not shown to the model",
        }
    if kind == "resource_link":
        return {"type": "resource_link", "uri": str(block.uri), "name": block.name, "mime_type": block.mime_type}
    if kind == "resource":
        resource = block.resource
        if hasattr(resource, "text"):
            return {
                "type": "resource",
                "uri": str(resource.uri),
                "mime_type": resource.mime_type,
                "text": resource.text,
            }
        return {
            "type": "resource",
            "uri": str(resource.uri),
            "mime_type": resource.mime_type,
            "bytes": _size_of(resource.blob),
            "note": "binary resource; not shown to the model",
        }
    return {"type": str(kind), "note": "content of a kind this client does not read"}


def _json_or_text(text: str) -> Any:
    """A JSON object or array sent as text, decoded (so the model does not read it escaped twice)."""
    if text.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    return text


def to_tool_result(result: Any) -> ToolResult:
    """Our result shape for an MCP `CallToolResult`."""
    blocks = [describe_block(block) for block in result.content]
    texts = [block for block in blocks if isinstance(block, str)]
    others = [block for block in blocks if not isinstance(block, str)]
    if result.is_error:
        message = "\n".join(texts) or "the tool reported an error without a message"
        return ToolResult.failure("tool_error", message)
    if result.structured_content is not None:
        # The spec asks servers to repeat structured content as text: the text blocks add nothing.
        data: Any = (
            result.structured_content if not others else {"structured": result.structured_content, "content": others}
        )
    elif not others and len(texts) == 1:
        data = _json_or_text(texts[0])
    else:
        data = blocks
    return ToolResult.success(data)
