"""A loopback HTTP server that speaks the OpenAI Chat Completions streaming protocol.

It serves the offline demo model and is the test double of the suite: a *responder* decides each
reply, and replies can inject faults (HTTP errors with Retry-After or echoing the request's headers, a
slow first byte, a connection cut mid-stream, a stall mid-answer, an undecodable event, an endless
stream, malformed tool-call JSON, and raw replies such as an HTML page or a gzip bomb). A
`ScriptedResponder` can also enforce a context window, refusing a request that is too long the way
OpenAI, vLLM, Ollama or LiteLLM do (`context_length_error`). Streams are framed exactly as OpenAI frames
them: HTTP/1.1
chunked transfer, `data: {chunk}` Server-Sent Events, a final `data: [DONE]`.

Runs in a daemon thread with its own sockets, so it keeps answering while the kernel's event loop is
busy awaiting it.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class StreamReply:
    """A streamed answer: `chunks` are chat.completion.chunk bodies (without id/model, filled in).

    Faults: `first_byte_delay` seconds before the headers; `chunk_delay` between chunks; `cut_after`
    chunks sent before the connection is dropped (no finish chunk, no [DONE]); `stall_after` chunks
    sent, then `stall_seconds` of silence before the rest; `raw_event_at`: before that chunk, send
    `raw_event` as it is (e.g. `b"data: {not json"`); `endless`: after the chunks, send content chunks
    until the client hangs up.
    """

    chunks: list[dict[str, Any]]
    first_byte_delay: float = 0.0
    chunk_delay: float = 0.0
    cut_after: int | None = None
    send_done: bool = True
    stall_after: int | None = None
    stall_seconds: float = 0.0
    raw_event_at: int | None = None
    raw_event: bytes = b"data: {this is not json\n\n"
    endless: bool = False


@dataclass
class ErrorReply:
    """An HTTP error answer with an OpenAI-style error body (or `body`, sent as it is)."""

    status: int
    message: str = "error injected by the test server"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    echo_request_headers: bool = False  # like some proxies: the body repeats the headers sent (with the key)
    body: dict[str, Any] | None = None


@dataclass
class RawReply:
    """Any HTTP answer, byte for byte: an HTML page with status 200, a gzip bomb (`headers` with
    Content-Encoding: gzip and a compressed `body`), …"""

    body: bytes
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)


Reply = StreamReply | ErrorReply | RawReply
Responder = Callable[[dict[str, Any]], Reply]


CONTEXT_ERROR_FLAVORS = ("openai", "vllm", "ollama", "litellm")


def context_length_error(flavor: str, window: int, prompt_tokens: int, model: str = "model") -> ErrorReply:
    """The refusal a server sends for a request longer than its context window, worded as `flavor` words
    it: "openai", "vllm" (its older body, without an "error" wrapper), "ollama" (llama.cpp's error,
    as Ollama's OpenAI-compatible endpoint returns it) or "litellm" (the proxy wrapping OpenAI's)."""
    openai_text = (
        f"This model's maximum context length is {window} tokens. However, your messages resulted in "
        f"{prompt_tokens} tokens. Please reduce the length of the messages."
    )
    bodies: dict[str, dict[str, Any]] = {
        "openai": {
            "error": {
                "message": openai_text,
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        },
        "vllm": {
            "object": "error",
            "message": f"This model's maximum context length is {window} tokens. However, you requested "
            f"{prompt_tokens} tokens ({prompt_tokens} in the messages, 0 in the completion). Please reduce the "
            "length of the messages or completion.",
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
        "ollama": {
            "error": {
                "message": f"request ({prompt_tokens} tokens) exceeds the available context size ({window} tokens), "
                "try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": prompt_tokens,
                "n_ctx": window,
            }
        },
        "litellm": {
            "error": {
                "message": "litellm.ContextWindowExceededError: litellm.BadRequestError: ContextWindowExceededError: "
                f"OpenAIException - {openai_text}\nReceived Model Group={model}\nAvailable Model Group Fallbacks=None",
                "type": None,
                "param": None,
                "code": "400",
            }
        },
    }
    if flavor not in bodies:
        raise ValueError(f"unknown flavor {flavor!r}; one of {', '.join(CONTEXT_ERROR_FLAVORS)}")
    return ErrorReply(400, body=bodies[flavor])


def count_prompt_tokens(request: dict[str, Any]) -> int:
    """How many tokens this server counts in a request: its messages and tool schemas as JSON text, four
    characters a token (a real tokenizer counts differently; the client learns the count from `usage`)."""
    text = json.dumps(request.get("messages", [])) + json.dumps(request.get("tools") or [])
    return max(1, len(text) // 4)


def _words(text: str) -> list[str]:
    """Split text into word-sized pieces that join back to exactly `text`."""
    pieces: list[str] = []
    current = ""
    for char in text:
        current += char
        if char in " \n":
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    return pieces


def usage_chunk(
    prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0, reasoning_tokens: int = 0
) -> dict[str, Any]:
    """The final chunk OpenAI sends when `stream_options.include_usage` is set: no choices, a usage."""
    return {
        "choices": [],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": reasoning_tokens},
        },
    }


def reasoning_chunks(reasoning: str, text: str, *, field: str = "reasoning_content") -> list[dict[str, Any]]:
    """Chunks that stream `reasoning` word by word in the delta field `field` (DeepSeek, vLLM and LiteLLM
    say `reasoning_content`; OpenRouter and Ollama `reasoning`), then the answer `text`."""
    chunks = text_chunks(text)
    thinking = [
        {"choices": [{"index": 0, "delta": {field: piece}, "finish_reason": None}]} for piece in _words(reasoning)
    ]
    return chunks[:1] + thinking + chunks[1:]


def text_chunks(text: str, *, pieces: list[str] | None = None) -> list[dict[str, Any]]:
    """Chunks that stream `text` word by word, then a `stop` finish chunk."""
    chunks: list[dict[str, Any]] = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    for piece in pieces if pieces is not None else _words(text):
        chunks.append({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return chunks


def tool_call_chunks(calls: list[tuple[str, str]], *, text: str = "") -> list[dict[str, Any]]:
    """Chunks that ask for tool calls, given as (name, raw JSON arguments); arguments arrive in pieces
    as OpenAI sends them, and the stream finishes with `tool_calls`."""
    chunks: list[dict[str, Any]] = (
        text_chunks(text)[:-1]
        if text
        else [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": None}}]}]
    )
    for index, (name, arguments) in enumerate(calls):
        call_id = f"call_{uuid.uuid4().hex[:12]}"
        head = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        chunks.append({"choices": [{"index": 0, "delta": {"tool_calls": [head]}}]})
        for start in range(0, len(arguments), 16):
            part = {"index": index, "function": {"arguments": arguments[start : start + 16]}}
            chunks.append({"choices": [{"index": 0, "delta": {"tool_calls": [part]}}]})
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    return chunks


class ScriptedResponder:
    """Replies from a queue the test fills in, in order; records every request it saw.

    With a `window`, it behaves like a server started with that context window: a request longer than
    `window` tokens (`count_prompt_tokens`) is refused as `window_error` words it (see
    `context_length_error`) and recorded in `refused`, without taking a reply from the queue; the usage
    of every answer reports the prompt tokens it counted. `otherwise(request)` answers when the queue is
    empty (a conversation of many turns).

    Example:
        >>> script = ScriptedResponder()
        >>> script.add_text("Hello!")
        >>> script.add_error(429, retry_after=1)
    """

    def __init__(
        self, *, window: int | None = None, window_error: str = "openai", otherwise: Responder | None = None
    ) -> None:
        self._queue: list[Reply] = []
        self._lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.window = window
        self.window_error = window_error
        self.otherwise = otherwise  # answers a request when the queue is empty
        self.refused: list[int] = []  # the prompt tokens of each request refused as too long

    def add(self, reply: Reply) -> None:
        """Queue any reply."""
        with self._lock:
            self._queue.append(reply)

    def add_text(self, text: str, *, usage: tuple[int, int] | None = (10, 5), **faults: Any) -> None:
        """Queue a streamed text answer (with a usage chunk unless `usage=None`)."""
        chunks = text_chunks(text)
        if usage:
            chunks.append(usage_chunk(*usage))
        self.add(StreamReply(chunks, **faults))

    def add_reasoning(
        self, reasoning: str, text: str, *, field: str = "reasoning_content", reasoning_tokens: int = 0, **faults: Any
    ) -> None:
        """Queue an answer that streams its reasoning first (see `reasoning_chunks`)."""
        chunks = reasoning_chunks(reasoning, text, field=field)
        chunks.append(usage_chunk(10, 5 + reasoning_tokens, reasoning_tokens=reasoning_tokens))
        self.add(StreamReply(chunks, **faults))

    def add_tool_calls(self, *calls: tuple[str, str], text: str = "", usage: tuple[int, int] | None = (10, 5)) -> None:
        """Queue an answer asking for tool calls, each (name, raw JSON arguments)."""
        chunks = tool_call_chunks(list(calls), text=text)
        if usage:
            chunks.append(usage_chunk(*usage))
        self.add(StreamReply(chunks))

    def add_error(
        self,
        status: int,
        *,
        retry_after: float | None = None,
        retry_after_ms: float | None = None,
        message: str = "injected error",
    ) -> None:
        """Queue an HTTP error, optionally with a Retry-After header (seconds) and/or the
        `retry-after-ms` header OpenAI also sends (milliseconds)."""
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        if retry_after_ms is not None:
            headers["retry-after-ms"] = f"{retry_after_ms:g}"
        self.add(ErrorReply(status, message, headers))

    def pending(self) -> int:
        """How many queued replies have not been served yet."""
        with self._lock:
            return len(self._queue)

    def __call__(self, request: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self.window is not None:
                tokens = count_prompt_tokens(request)
                if tokens > self.window:
                    self.refused.append(tokens)
                    return context_length_error(self.window_error, self.window, tokens, request.get("model", "model"))
            if self._queue:
                reply = self._queue.pop(0)
            elif self.otherwise is not None:
                reply = self.otherwise(request)
            else:
                return ErrorReply(500, "the scripted test server has no reply queued for this request")
        if self.window is not None and isinstance(reply, StreamReply):
            reply = _with_prompt_tokens(reply, tokens)
        return reply


def _with_prompt_tokens(reply: StreamReply, prompt_tokens: int) -> StreamReply:
    """`reply` with its usage chunk reporting `prompt_tokens` (the count a window-enforcing server made)."""
    chunks = []
    for chunk in reply.chunks:
        usage = chunk.get("usage")
        if usage:
            chunk = {**chunk, "usage": {**usage, "prompt_tokens": prompt_tokens}}
            chunk["usage"]["total_tokens"] = prompt_tokens + usage.get("completion_tokens", 0)
        chunks.append(chunk)
    return dataclasses.replace(reply, chunks=chunks)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log."""

    def do_GET(self) -> None:
        """`/v1/models`: enough for clients that list models before chatting."""
        if self.path.rstrip("/").endswith("/models"):
            self._send_json(
                200, {"object": "list", "data": [{"id": "demo", "object": "model", "owned_by": "agent_magic"}]}
            )
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:
        """`/v1/chat/completions`: ask the responder and send its reply."""
        length = int(self.headers.get("Content-Length") or 0)
        try:
            request = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self._send_json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        self.server.request_count += 1
        self.server.entered()
        try:
            reply = self.server.responder(request)
            if isinstance(reply, ErrorReply):
                time.sleep(reply.delay)
                body = reply.body or {"error": {"message": reply.message, "type": "injected", "code": reply.status}}
                if reply.echo_request_headers:
                    body["error"]["request_headers"] = dict(self.headers.items())
                    body["error"]["message"] += f" (you sent Authorization: {self.headers.get('Authorization')})"
                self._send_json(reply.status, body, reply.headers)
            elif isinstance(reply, RawReply):
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(reply.body)
            else:
                self._stream(reply, request.get("model", "unknown"))
        finally:
            self.server.left()

    def _send_json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _stream(self, reply: StreamReply, model: str) -> None:
        time.sleep(reply.first_byte_delay)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:16]}"
        created = int(time.time())
        try:
            head = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model}
            for index, chunk in enumerate(reply.chunks):
                if reply.cut_after is not None and index >= reply.cut_after:
                    self.close_connection = True
                    return  # drop the connection: no finish chunk, no terminating zero-length chunk
                if reply.stall_after is not None and index == reply.stall_after:
                    time.sleep(reply.stall_seconds)
                if reply.raw_event_at is not None and index == reply.raw_event_at:
                    self._write_chunk(reply.raw_event)
                if reply.endless and chunk["choices"] and chunk["choices"][0].get("finish_reason"):
                    self._stream_forever(head)
                    return
                self._write_chunk(b"data: " + json.dumps({**head, **chunk}).encode() + b"\n\n")
                if reply.chunk_delay:
                    time.sleep(reply.chunk_delay)
            if reply.send_done:
                self._write_chunk(b"data: [DONE]\n\n")
            self._write_chunk(b"")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away (e.g. a cancelled turn)

    def _stream_forever(self, head: dict[str, Any]) -> None:
        """Content chunks without end, until the client hangs up (an endless answer)."""
        piece = {**head, "choices": [{"index": 0, "delta": {"content": "and on "}, "finish_reason": None}]}
        data = b"data: " + json.dumps(piece).encode() + b"\n\n"
        while True:
            self._write_chunk(data * 64)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, responder: Responder) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.responder = responder
        self.request_count = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._count_lock = threading.Lock()

    def entered(self) -> None:
        """A chat request started (counted to see how many a client has under way at once)."""
        with self._count_lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def left(self) -> None:
        """A chat request was answered (its stream ended or was cut)."""
        with self._count_lock:
            self.in_flight -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a timed-out or cancelled call) is expected here: no traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class LoopbackModelServer:
    """An OpenAI-compatible server on 127.0.0.1 at a free port, answering with `responder`.

    The serving thread notices `close()` between polls, every `poll_interval` seconds: a test suite that
    starts a server per test passes a short one, so that closing does not cost half a second each time.

    Example:
        >>> script = ScriptedResponder(); script.add_text("hi")
        >>> with LoopbackModelServer(script) as server:
        ...     server.base_url          # doctest: +ELLIPSIS
        'http://127.0.0.1:.../v1'
    """

    def __init__(self, responder: Responder, *, poll_interval: float = 0.5) -> None:
        self._server = _Server(responder)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(poll_interval,), name="agent-magic-model-server", daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        """The URL to use as OPENAI_BASE_URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def request_count(self) -> int:
        """How many chat completion requests were received."""
        return self._server.request_count

    @property
    def max_in_flight(self) -> int:
        """The most chat requests this server was answering at the same time."""
        return self._server.max_in_flight

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> LoopbackModelServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
