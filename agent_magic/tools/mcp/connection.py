"""One MCP server: started, listed, called and stopped, on the MCP loop (`loop.py`).

A connection is owned by one task that holds the SDK's `Client` open until asked to stop or until the
server goes away: the SDK's transports are task groups that must be entered and left by the same task.
Calls come from other tasks. A stdio server is started through `guard.py` (so it dies with the kernel)
with its stderr read into a bounded tail, which is what the one-line failure messages quote.

A server that fails to start or stops unexpectedly is `FAILED`: its tools are withdrawn and it may be
started again after a backoff that doubles with each failure in a row (1 s, 2 s, 4 s … at most 60 s).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import logging
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any

from agent_magic.tools.mcp import guard
from agent_magic.tools.mcp.config import STDIO, ServerSpec

log = logging.getLogger("agent_magic.mcp")

GUARD = str(Path(guard.__file__).resolve())
STDERR_LINES = 40
TAIL_LINES, TAIL_LINE_CHARS = 3, 200
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0
STOP_TIMEOUT = 8.0  # the SDK closes stdin, waits 2 s, then SIGTERMs and SIGKILLs the group 2 s apart
_STDERR_EOF_WAIT = 0.5


class ServerState(enum.StrEnum):
    """Where a server is in its life."""

    NOT_STARTED = "not started"
    STARTING = "starting"
    RUNNING = "running"
    FAILED = "failed"
    STOPPED = "stopped"


class ServerDown(Exception):
    """The server is not running (it failed, crashed or was stopped); the message says which and why."""


def backoff(failures: int) -> float:
    """Seconds to wait before starting a server again after `failures` failures in a row."""
    return min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, failures - 1))


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside (nested) exception groups, skipping cancellations."""
    while isinstance(exc, BaseExceptionGroup):
        inner = [e for e in exc.exceptions if not isinstance(e, asyncio.CancelledError)]
        exc = (inner or list(exc.exceptions))[0]
    return exc


def _describe(exc: BaseException) -> str:
    """One line for why a start or a connection failed."""
    from mcp import MCPError
    from mcp.types import CONNECTION_CLOSED

    exc = _leaf(exc)
    text = str(exc).strip()
    if isinstance(exc, MCPError) and exc.code == CONNECTION_CLOSED:
        return "exited before it was ready"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class StderrTail:
    """The last lines a stdio server wrote to stderr, read from a pipe so memory stays bounded however
    much it writes. The guard's first line (`agent-magic-mcp-guard pid=N`) gives the process group."""

    def __init__(self) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self.count = 0  # lines read so far, to quote only what came after a mark
        self.pid: int | None = None
        self.eof = asyncio.Event()
        read_fd, write_fd = os.pipe()
        self.writer: IO[str] | None = os.fdopen(write_fd, "w")
        self._reader = os.fdopen(read_fd, "rb")

    async def read(self) -> None:
        """Collect lines until every writer (the guard, the server, its children) has closed the pipe."""
        stream = asyncio.StreamReader(limit=1 << 20)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stream), self._reader)
        try:
            while True:
                try:
                    raw = await stream.readline()
                except ValueError:  # one line over the limit: keep reading after it
                    continue
                if not raw:
                    break
                line = raw.decode("utf-8", "replace").rstrip()
                if self.pid is None and line.startswith(guard.PID_LINE):
                    self.pid = int(line.removeprefix(guard.PID_LINE))
                elif line:
                    self.lines.append(line[:TAIL_LINE_CHARS])
                    self.count += 1
        finally:
            transport.close()
            self.eof.set()

    def close_writer(self) -> None:
        """Close our copy of the pipe's write end (the child has its own), so EOF can arrive."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def tail(self, since: int = 0) -> str:
        """The last few lines written after line number `since` (all kept lines when none), joined with
        ` | `: the end of a traceback, or a server's last words and the guard's exit status."""
        fresh = min(len(self.lines), self.count - since) or len(self.lines)
        return " | ".join(list(self.lines)[-min(fresh, TAIL_LINES) :])


@contextlib.asynccontextmanager
async def _watch_closed(transport: Any, closed: asyncio.Event) -> AsyncIterator[Any]:
    """The transport's streams, with `closed` set when the server's side ends (it exited or hung up):
    a server that dies between turns is noticed without a request."""
    import anyio

    async with transport as (read_stream, write_stream):
        forward, receive = anyio.create_memory_object_stream[Any](0)

        async def pump() -> None:
            try:
                async with forward:
                    async for item in read_stream:
                        await forward.send(item)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                pass
            finally:
                closed.set()

        async with anyio.create_task_group() as group:
            group.start_soon(pump)
            try:
                yield receive, write_stream
            finally:
                group.cancel_scope.cancel()


class ServerConnection:
    """One configured server and, while it runs, its SDK client. Every coroutine runs on the MCP loop."""

    def __init__(self, spec: ServerSpec, *, startup_timeout: float) -> None:
        self.spec = spec
        self.startup_timeout = startup_timeout
        self.state = ServerState.NOT_STARTED
        self.cause = ""  # why it is not running, one line, secrets redacted
        self.failures = 0  # failures in a row
        self.next_try = 0.0  # time.monotonic() before which it is not started again
        self.start_seconds: float | None = None
        self.mcp_tools: list[Any] = []  # the server's tools (mcp.types.Tool), as last listed
        self.stderr: StderrTail | None = None
        self._run = 0  # which start the owner task and failures belong to
        self._reported = 0  # the start whose failure is recorded (or being recorded: until `_recorded` is set)
        self._recorded = asyncio.Event()
        self._client: Any = None
        self._owner: asyncio.Task | None = None
        self._stop: asyncio.Event | None = None

    @property
    def name(self) -> str:
        """The server's configured name."""
        return self.spec.name

    @property
    def pid(self) -> int | None:
        """The process group of a running stdio server (the guard's pid)."""
        return self.stderr.pid if self.stderr is not None and self.state is ServerState.RUNNING else None

    def may_start(self, now: float) -> bool:
        """True when the server is not running and not waiting out a backoff."""
        return self.state in (ServerState.NOT_STARTED, ServerState.STOPPED) or (
            self.state is ServerState.FAILED and now >= self.next_try
        )

    # -- starting ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the server and list its tools; never raises: a failure leaves it FAILED with a cause."""
        self._run += 1
        run = self._run
        self.state, self.cause, self.mcp_tools = ServerState.STARTING, "", []
        self._stop = asyncio.Event()
        ready: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        # A start that timed out stops listening: the owner's late failure must not warn "never retrieved".
        ready.add_done_callback(lambda future: future.cancelled() or future.exception())
        started = time.monotonic()
        self._owner = asyncio.create_task(self._own(run, ready, self._stop), name=f"mcp-{self.name}")
        try:
            tools = await asyncio.wait_for(asyncio.shield(ready), self.startup_timeout)
        except TimeoutError:
            self._owner.cancel()  # the SDK's shutdown, shielded, still ends the process
            await self._failed(run, f"did not start within {self.startup_timeout:g} s (AgentMagic.mcp_startup_timeout)")
            return
        except Exception as exc:
            await self._failed(run, _describe(exc))
            return
        self.mcp_tools, self.start_seconds = tools, time.monotonic() - started
        self.state, self.failures = ServerState.RUNNING, 0

    def _transport(self, stack: contextlib.AsyncExitStack) -> Any:
        """The SDK transport for this server (an HTTP client's lifetime is put on `stack`)."""
        spec = self.spec
        if spec.transport == STDIO:
            from mcp import StdioServerParameters
            from mcp.client.stdio import stdio_client

            assert self.stderr is not None and self.stderr.writer is not None
            params = StdioServerParameters(
                # -I -S: the guard uses the standard library only and starts in ~20 ms.
                command=sys.executable,
                args=["-I", "-S", GUARD, spec.command or "", *spec.args],
                env=dict(spec.env),
                cwd=spec.cwd,
            )
            return stdio_client(params, errlog=self.stderr.writer)
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        # The SDK's own defaults: 30 s to connect and write, 300 s to read (a response may stream).
        http = httpx2.AsyncClient(headers=dict(spec.headers), timeout=httpx2.Timeout(30.0, read=300.0))
        stack.push_async_callback(http.aclose)
        return streamable_http_client(spec.url or "", http_client=http)

    async def _own(self, run: int, ready: asyncio.Future[list[Any]], stop: asyncio.Event) -> None:
        """The task holding the connection open until `stop` is set or the server goes away."""
        from mcp import Client
        from mcp.types import Implementation

        from agent_magic import __version__

        closed = asyncio.Event()
        stderr_reader = None
        if self.spec.transport == STDIO:
            self.stderr = StderrTail()
            stderr_reader = asyncio.create_task(self.stderr.read())
        try:
            async with contextlib.AsyncExitStack() as stack:
                client = Client(
                    _watch_closed(self._transport(stack), closed),
                    cache=None,
                    client_info=Implementation(name="agent_magic", version=__version__),
                )
                try:
                    await stack.enter_async_context(client)
                finally:
                    if self.stderr is not None:
                        self.stderr.close_writer()  # spawned (or not): only the server's copies remain
                ready.set_result(await self._list_tools(client))
                self._client = client
                await _first_of(stop.wait(), closed.wait())
                self._client = None
                if not stop.is_set():
                    await self._failed(run, "stopped unexpectedly")
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # the owner task ends here whatever happened: nothing awaits its result
            if not ready.done():
                if isinstance(exc, Exception):
                    ready.set_exception(exc)
                else:
                    ready.cancel()
            elif not stop.is_set():
                await self._failed(run, f"stopped unexpectedly ({_describe(exc)})")
        finally:
            self._client = None
            if self.stderr is not None:
                self.stderr.close_writer()
            if stderr_reader is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(stderr_reader), _STDERR_EOF_WAIT)

    @staticmethod
    async def _list_tools(client: Any) -> list[Any]:
        tools: list[Any] = []
        cursor = None
        for _ in range(100):  # a paginator that never ends cannot hang the start
            page = await client.list_tools(cursor=cursor)
            tools.extend(page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        return tools

    async def _failed(self, run: int, what: str, *, since: int = 0) -> None:
        """Record that start `run` failed or ended: state, cause (with the stderr written after line
        `since`), backoff."""
        if run != self._run:
            return  # a report about an earlier start
        if run == self._reported:  # already being recorded (the call and the owner both noticed)
            await self._recorded.wait()
            return
        self._reported, self._client, self._recorded = run, None, asyncio.Event()
        if self.stderr is not None:  # wait briefly for the last words of a dying server
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stderr.eof.wait(), _STDERR_EOF_WAIT)
        tail = self.stderr.tail(since) if self.stderr is not None else ""
        self.cause = self.spec.redact(f"{what}: {tail}" if tail else what)
        self.failures += 1
        self.next_try = time.monotonic() + backoff(self.failures)
        self.state = ServerState.FAILED  # last: whoever sees FAILED also sees its cause
        self._recorded.set()
        log.warning("MCP server %r %s", self.name, self.cause)

    # -- calling ----------------------------------------------------------------------------------------

    def down_message(self) -> str:
        """Why calls to this server cannot be made now."""
        return f"MCP server {self.name!r} is not running ({self.cause or 'it stopped'})"

    async def call(self, tool: str, arguments: dict[str, Any]) -> Any:
        """Call `tool`; returns the `CallToolResult`. Raises `ServerDown` when the server is not running
        or goes away during the call, and the SDK's `MCPError` for a protocol-level error."""
        from mcp import MCPError
        from mcp.types import CONNECTION_CLOSED

        client = self._client
        if client is None or self.state is not ServerState.RUNNING:
            raise ServerDown(self.down_message())
        run, mark = self._run, (self.stderr.count if self.stderr is not None else 0)
        try:
            return await client.call_tool(tool, arguments)
        except MCPError as exc:
            if exc.code != CONNECTION_CLOSED:
                raise
            what = "stopped during the call"
        except (OSError, EOFError) as exc:
            what = f"stopped during the call ({_describe(exc)})"
        await self._failed(run, what, since=mark)
        raise ServerDown(f"MCP server {self.name!r} {self.cause}")

    # -- stopping ---------------------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop the server (close its stdin, then SIGTERM and SIGKILL its process group if it lingers)."""
        owner, self._run = self._owner, self._run + 1
        if self._stop is not None:
            self._stop.set()
        if owner is not None and not owner.done():
            done, _ = await asyncio.wait([owner], timeout=STOP_TIMEOUT)
            if not done:
                owner.cancel()
        self._client, self._owner = None, None
        self.state, self.cause = ServerState.STOPPED, ""


async def _first_of(*waits: Any) -> None:
    """Wait until the first of `waits` finishes; the others are cancelled."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
