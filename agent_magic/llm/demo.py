"""The offline demo model: a small, deterministic, rule-based stand-in for an LLM.

It is **not** a language model and says so in every free-text answer. It reads the prompt for plain
requests ("list the files", "read data.csv", "which columns of df have missing values", "write hello to
notes.txt", "delete notes.txt", "run `ls`"), asks for the matching tool calls (only tools the request
offers), and turns tool results into a Markdown summary. Asked for JSON (`response_format` with a JSON
schema, `%%agent --schema`), it answers with a value of that schema, taking `name=value` pairs of the
prompt for fields of that name. Asked to summarise a conversation (compaction), it lists what the user
asked and which tools were called. It is served over the same loopback SSE server
as the test double, so the whole stack (HTTP, streaming, tools, rendering) runs without a key.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from agent_magic.errors import AgentUsageError
from agent_magic.llm.sse_server import (
    LoopbackModelServer,
    StreamReply,
    text_chunks,
    tool_call_chunks,
    usage_chunk,
)
from agent_magic.prompts import COMPACTION_PROMPT

DEMO_LABEL = "*Demo model: scripted rules, not an LLM.*"
_FILE = r"([\w./~-]+\.[A-Za-z0-9]{1,6})"
_STOPWORDS = {
    "the",
    "a",
    "an",
    "this",
    "that",
    "my",
    "our",
    "your",
    "data",
    "file",
    "files",
    "it",
    "them",
    "these",
    "those",
    "all",
    "each",
    "which",
    "what",
    "columns",
    "rows",
    "values",
    "missing",
    "notebook",
    "there",
    "me",
    "here",
    "is",
    "are",
    "and",
    "or",
}


def _chars_to_tokens(chars: int) -> int:
    """A length heuristic (about four characters per token) for the usage the demo reports."""
    return max(1, chars // 4)


def _unframe(content: str) -> dict[str, Any]:
    """Parse a tool message back into the result dict, ignoring the untrusted-data frame around it."""
    start, end = content.find("{"), content.rfind("}")
    try:
        return json.loads(content[start : end + 1])
    except (ValueError, json.JSONDecodeError):
        return {"ok": False, "error_code": "unreadable", "error_message": content[:200]}


def _variable_candidates(prompt: str) -> list[str]:
    names = re.findall(r"`([A-Za-z_]\w*)`", prompt)
    pattern = r"\b(?:of|in|variable|dataframe|frame|describe|inspect|summari[sz]e|about)\s+([A-Za-z_]\w*)\b(?![.\w])"
    names += re.findall(pattern, prompt, flags=re.IGNORECASE)
    seen: list[str] = []
    for name in names:
        if name.lower() not in _STOPWORDS and name not in seen:
            seen.append(name)
    return seen


def _keyword_arguments(text: str) -> dict[str, Any]:
    """`a=1, b="two words"` as a dict; values are read as JSON when they are JSON, else as text."""
    arguments: dict[str, Any] = {}
    for name, raw in re.findall(r"(\w+)\s*=\s*(\"[^\"]*\"|'[^']*'|[^,\s]+)", text):
        try:
            arguments[name] = json.loads(raw)
        except json.JSONDecodeError:
            arguments[name] = raw.strip("'\"")
    return arguments


def plan_tool_calls(prompt: str, offered: set[str]) -> list[tuple[str, dict[str, Any]]]:
    """The tool calls a plainly worded prompt asks for, limited to the tools on offer."""
    text = prompt.strip()
    lower = text.lower()
    calls: list[tuple[str, dict[str, Any]]] = []

    def want(name: str, arguments: dict[str, Any]) -> None:
        if name in offered:
            calls.append((name, arguments))

    # "call `fahrenheit` with celsius=21": any offered tool by name (the notebook's own tools included).
    named = re.search(r"\b(?:call|use)\s+`(\w+)`(?:\s+with\s+(.+))?", text, flags=re.IGNORECASE | re.DOTALL)
    if named and named.group(1) in offered:
        return [(named.group(1), _keyword_arguments(named.group(2) or ""))]
    write = re.search(r"\b(?:write|save|create)\b.*?" + _FILE, text, flags=re.IGNORECASE | re.DOTALL)
    if write:
        quoted = re.search(r"[\"“']([^\"”']+)[\"”']", text)
        content = quoted.group(1) if quoted else "Written by the agent_magic demo model.\n"
        want("write_file", {"path": write.group(1), "content": content if content.endswith("\n") else content + "\n"})
    delete = re.search(r"\b(?:delete|remove)\b.*?" + _FILE, text, flags=re.IGNORECASE)
    if delete:
        want("delete_file", {"path": delete.group(1)})
    shell = re.search(r"\b(?:run|execute)\b[^`]*`([^`]+)`", text, flags=re.IGNORECASE)
    code = re.search(r"```(?:python)?\n(.*?)```", text, flags=re.DOTALL)
    if code:
        want("run_python", {"code": code.group(1)})
    elif shell:
        want("run_shell", {"command": shell.group(1)})
    if calls:
        return calls
    read = re.search(r"\b(?:read|show|open|display|look at|summari[sz]e|print)\b.*?" + _FILE, text, flags=re.IGNORECASE)
    if read:
        want("read_file", {"path": read.group(1)})
    if re.search(r"\bfiles?\b|\bfolder\b|\bdirectory\b|\bworkspace\b", lower) and not read:
        want("list_files", {"path": "."})
    if not read:
        for name in _variable_candidates(text):
            want("inspect_variable", {"name": name})
    return calls


def _summarise_list(data: dict[str, Any]) -> str:
    entries = data.get("entries", [])
    if not entries:
        return "The folder is empty."
    lines = [f"The workspace has **{len(entries)}** entries:"]
    for entry in entries[:20]:
        size = f" ({entry['size']:,} bytes)" if "size" in entry else ""
        lines.append(f"- `{entry['path']}`{size}")
    if len(entries) > 20:
        lines.append(f"- … and {len(entries) - 20} more")
    return "\n".join(lines)


def _summarise_read(data: dict[str, Any]) -> str:
    text = data.get("text", "")
    shown = "\n".join(text.splitlines()[:15])
    header = f"`{data.get('path')}` ({data.get('range')}):"
    return f"{header}\n\n```\n{shown}\n```"


def _summarise_variable(data: dict[str, Any]) -> str:
    name = data.get("name")
    if "null_counts" in data:
        rows, cols = data["shape"]
        missing = {c: n for c, n in data["null_counts"].items() if n}
        lines = [f"`{name}` is a DataFrame with **{rows}** rows and **{cols}** columns."]
        if missing:
            listed = ", ".join(f"`{c}` ({n} missing)" for c, n in missing.items())
            lines.append(f"Columns with missing values: {listed}.")
        else:
            lines.append("No column has missing values.")
        lines += ["", "| column | dtype | missing |", "|---|---|---|"]
        lines += [f"| {c} | {t} | {data['null_counts'].get(c, 0)} |" for c, t in data["dtypes"].items()]
        return "\n".join(lines)
    described = f"`{name}` is a `{data.get('type')}`"
    if "shape" in data:
        described += f" of shape {tuple(data['shape'])}"
    elif "length" in data:
        described += f" of length {data['length']}"
    return described + f":\n\n```\n{data.get('repr', '')[:500]}\n```"


def _summarise(name: str, result: dict[str, Any]) -> str:
    if not result.get("ok"):
        code, message = result.get("error_code"), result.get("error_message")
        return f"`{name}` did not succeed (`{code}`): {message}"
    data = result.get("data")
    if name == "list_files" and isinstance(data, dict):
        return _summarise_list(data)
    if name == "read_file" and isinstance(data, dict):
        return _summarise_read(data)
    if name == "inspect_variable" and isinstance(data, dict):
        return _summarise_variable(data)
    rendered = json.dumps(data, indent=2, default=str)
    if len(rendered) > 800:
        rendered = rendered[:800] + "\n…"
    return f"`{name}` succeeded:\n\n```json\n{rendered}\n```"


def _plain_answer(prompt: str, offered: set[str]) -> str:
    tools = ", ".join(f"`{t}`" for t in sorted(offered)) or "none"
    return (
        f"You asked: *{prompt.strip()[:200]}*\n\n"
        "I am the offline demo model, so I only follow simple rules. Try, for example:\n\n"
        "- *list the files*\n- *read data.csv*\n- *which columns of `df` have missing values?*\n"
        '- *write "hello" to notes.txt* (asks for approval)\n\n'
        f"Tools on offer: {tools}. To use a real model, set `OPENAI_API_KEY` (and `OPENAI_BASE_URL` for "
        "other servers) and run `%%agent --model <name>`."
    )


def _example(node: dict[str, Any], root: dict[str, Any], values: dict[str, Any], name: str | None) -> Any:
    """A value valid against the JSON schema `node`: the prompt's `name=value` where it gave one, else a
    placeholder of the right type."""
    if "$ref" in node:
        node = root.get("$defs", {}).get(node["$ref"].rsplit("/", 1)[-1], {})
    variants = [v for v in node.get("anyOf", []) if v.get("type") != "null"]
    if variants:
        return _example(variants[0], root, values, name)
    given = values.get(name) if name is not None else None
    if "enum" in node:
        return given if given in node["enum"] else node["enum"][0]
    kind = node.get("type")
    if kind == "object":
        return {key: _example(sub, root, values, key) for key, sub in node.get("properties", {}).items()}
    if kind == "array":
        return [_example(node.get("items", {}), root, values, None)]
    if kind in ("integer", "number"):
        number = given if isinstance(given, int | float) and not isinstance(given, bool) else 0
        return int(number) if kind == "integer" else float(number)
    if kind == "boolean":
        return given if isinstance(given, bool) else False
    return str(given) if given is not None else f"demo {name or 'value'}"


def _structured_answer(response_format: dict[str, Any], prompt: str) -> str | None:
    """The JSON answer to a request with a `json_schema` response format (None: no such format)."""
    schema = (response_format.get("json_schema") or {}).get("schema")
    if response_format.get("type") != "json_schema" or not isinstance(schema, dict):
        return None
    return json.dumps(_example(schema, schema, _keyword_arguments(prompt), None))


def _last_user_index(messages: list[dict[str, Any]]) -> int:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "user":
            return index
    return -1


def _as_text(content: Any) -> str:
    """Message content as text: plain strings, or the text parts of a content list."""
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def _demo_summary(request_text: str) -> str:
    """A compaction's summary, by rule: the summary so far, then each request and tool call of the part."""
    earlier, _, part = request_text.partition("\nConversation to add:\n")
    earlier = earlier.removeprefix("Summary so far:\n").strip()
    lines = [line for line in earlier.splitlines() if line.strip()] if earlier != "(none yet)" else []
    for line in part.splitlines():
        if line.startswith("User: "):
            lines.append(f"- The user asked: {line.removeprefix('User: ')[:120]}")
        elif line.startswith("Assistant called "):
            lines.append(f"- The assistant called {line.removeprefix('Assistant called ')[:120]}")
    return "\n".join(lines[-40:]) or "- (nothing to summarise)"


def demo_reply(request: dict[str, Any], *, chunk_delay: float = 0.0) -> StreamReply:
    """Decide the demo model's streamed reply to one Chat Completions request."""
    messages: list[dict[str, Any]] = request.get("messages", [])
    if messages and _as_text(messages[0].get("content")).startswith(COMPACTION_PROMPT.splitlines()[0]):
        text = _demo_summary(_as_text(messages[-1].get("content")))
        chunks = text_chunks(text) + [
            usage_chunk(_chars_to_tokens(len(json.dumps(messages))), _chars_to_tokens(len(text)))
        ]
        return StreamReply(chunks, chunk_delay=chunk_delay)
    offered = {t["function"]["name"] for t in request.get("tools") or [] if t.get("type") == "function"}
    # Like a real server, count the tool definitions and the answer format as prompt too.
    prompt_chars = sum(len(_as_text(m.get("content"))) for m in messages)
    prompt_chars += len(json.dumps(request.get("tools") or [])) + len(json.dumps(request.get("response_format") or ""))
    user_index = _last_user_index(messages)
    prompt = _as_text(messages[user_index].get("content")) if user_index >= 0 else ""
    answered = messages[user_index + 1 :]
    structured = _structured_answer(request.get("response_format") or {}, prompt)
    planned = [] if answered else plan_tool_calls(prompt, offered)
    if structured is not None and not planned:
        text = structured
        chunks = text_chunks(text)
    elif answered and answered[-1].get("role") == "tool":
        names = {
            call["id"]: call["function"]["name"]
            for message in answered
            if message.get("role") == "assistant"
            for call in message.get("tool_calls") or []
        }
        parts = [
            _summarise(names.get(m.get("tool_call_id"), "tool"), _unframe(_as_text(m.get("content"))))
            for m in answered
            if m.get("role") == "tool"
        ]
        text = DEMO_LABEL + "\n\n" + "\n\n".join(parts)
        chunks = text_chunks(text)
    else:
        if planned:
            text = ""
            chunks = tool_call_chunks([(name, json.dumps(args)) for name, args in planned])
        else:
            text = DEMO_LABEL + "\n\n" + _plain_answer(prompt, offered)
            chunks = text_chunks(text)
    chunks.append(usage_chunk(_chars_to_tokens(prompt_chars), _chars_to_tokens(len(text) + 20)))
    return StreamReply(chunks, chunk_delay=chunk_delay)


class _DemoEndpoint:
    """The process-wide demo server, started on first use."""

    server: LoopbackModelServer | None = None


def demo_base_url() -> str:
    """Start (once per process) the loopback server that serves the demo model; return its base URL.

    `AGENT_MAGIC_DEMO_DELAY` sets the pause between streamed words (seconds, default 0.01) so the
    demo visibly streams; tests set it to 0.
    """
    if _DemoEndpoint.server is None:
        text = os.environ.get("AGENT_MAGIC_DEMO_DELAY", "0.01")
        try:
            delay = max(0.0, float(text))
        except ValueError:
            raise AgentUsageError(f"AGENT_MAGIC_DEMO_DELAY={text!r} is not a number of seconds, e.g. 0.01") from None
        _DemoEndpoint.server = LoopbackModelServer(lambda request: demo_reply(request, chunk_delay=delay))
    return _DemoEndpoint.server.base_url
