"""The kernel's MCP servers: started on the first turn, offered as tools, stopped with the kernel.

`McpManager` is owned by the runtime. Before each turn `prepare()` reads the configuration (so edits to
`.mcp.json` or `AgentMagic.mcp_servers` apply from the next cell), stops servers that were removed or
changed, starts the others that are not running, all at once, and returns one line per thing the user
should know (servers started, a server that failed, with its stderr). A failed server is tried again
on a later turn once its backoff has passed; its tools are withdrawn meanwhile, and the other servers
and the cell go on.

A server of the workspace's `.mcp.json` starts only once the user has trusted it (`trust.py`): until
then each turn says how. `McpManager.tools` is a live tool registry the session links: it offers the tools of the servers
that are running right now, so a server that crashes mid-turn stops being offered at the next step.
Nothing is imported from the `mcp` package and no thread is started unless a server is configured.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib.util
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent_magic.errors import AgentUsageError
from agent_magic.tools.mcp.adapter import make_mcp_tool, to_tool_result
from agent_magic.tools.mcp.config import CONFIG_FILE, LoadedConfig, ServerSpec, load_servers
from agent_magic.tools.mcp.connection import STOP_TIMEOUT, ServerConnection, ServerDown, ServerState
from agent_magic.tools.mcp.loop import BackgroundLoop
from agent_magic.tools.mcp.naming import assign_names
from agent_magic.tools.mcp.trust import TrustStore
from agent_magic.tools.registry import Tool, ToolRegistry
from agent_magic.tools.result import ToolResult
from agent_magic.tools.runner import mask_result

if TYPE_CHECKING:
    from agent_magic.config import AgentMagic

NOT_INSTALLED = "MCP servers are configured but the MCP client is not installed: pip install 'agent-magic[mcp]'"
EXIT_TIMEOUT = 3.0  # at kernel exit: graceful stops get this long, then the process groups are killed


def code(text: str) -> str:
    """`text` as a Markdown code span: what a server wrote is shown, never rendered."""
    return "`" + text.replace("`", "'").replace("\n", " ") + "`"


def _mcp_installed() -> bool:
    """True when the MCP SDK can be imported (without importing it: that takes about a second)."""
    try:
        return importlib.util.find_spec("mcp") is not None
    except (ImportError, ValueError):  # ValueError: an entry of None in sys.modules (import blocked)
        return False


def untrusted_line(spec: ServerSpec) -> str:
    """The line for a `.mcp.json` server that waits for trust."""
    return (
        f"🔒 MCP server {code(spec.name)} of {spec.origin} runs {code(spec.shown)} on this machine: it starts once "
        f"you trust it with %agent mcp --trust {spec.name}"
    )


def retry_note(connection: ServerConnection, now: float) -> str:
    """When a failed server is started again."""
    wait = connection.next_try - now
    return "tried again next turn" if wait <= 0 else f"tried again on a turn from {wait:.0f} s on"


@dataclass(frozen=True)
class OfferedTool:
    """One MCP tool as offered: our name for it, its server, the server's name for it."""

    name: str
    server: str
    mcp_name: str
    tool: Tool


class McpTools(ToolRegistry):
    """The tools of the MCP servers running now (a live view the session's registry links)."""

    def __init__(self, manager: McpManager) -> None:
        super().__init__()
        self._manager = manager

    def _all(self) -> dict[str, Tool]:
        return {
            offered.name: offered.tool
            for connection in self._manager.connections()
            if connection.state is ServerState.RUNNING
            for offered in self._manager.offered(connection.name)
        }


class McpManager:
    """Starts, offers, calls and stops the MCP servers the configuration names.

    Example:
        >>> manager = McpManager(config)
        >>> notices = await manager.prepare()     # before a turn: servers started, failures explained
        >>> ToolRegistry(builtin_tools(), linked=[manager.tools])
        >>> manager.close()                       # %unload_ext, kernel exit
    """

    def __init__(self, config: AgentMagic) -> None:
        self.config = config
        self.tools = McpTools(self)
        self._connections: dict[str, ServerConnection] = {}
        self._offered: dict[str, list[OfferedTool]] = {}
        self._loop: BackgroundLoop | None = None

    # -- what the report and the tool view read (from the kernel thread) --------------------------------

    def connections(self) -> list[ServerConnection]:
        """The servers in configuration order."""
        return list(self._connections.values())

    def offered(self, server: str) -> list[OfferedTool]:
        """The tools `server` offers (when it runs), with the names the model sees."""
        return self._offered.get(server, [])

    def load(self) -> LoadedConfig:
        """The current configuration (`.mcp.json` in the workspace, then `AgentMagic.mcp_servers`)."""
        return load_servers(self.config.workspace_path, dict(self.config.mcp_servers))

    # -- before a turn ---------------------------------------------------------------------------------

    def trust_store(self) -> TrustStore:
        """Where trusted `.mcp.json` entries are recorded (the agent home)."""
        from agent_magic.ledger.store import resolve_home

        return TrustStore(resolve_home(self.config.home))

    def untrusted(self, loaded: LoadedConfig) -> list[ServerSpec]:
        """The servers of `.mcp.json` that wait for the user's trust before they may start."""
        store, workspace = self.trust_store(), self.config.workspace_path
        return [spec for spec in loaded.specs.values() if not store.is_trusted(spec, workspace)]

    def trust(self, names: list[str]) -> str:
        """Trust these servers of `.mcp.json` as they are written now (`all`: every one); the line to show."""
        loaded = self.load()
        candidates = {spec.name: spec for spec in loaded.specs.values() if spec.needs_trust}
        chosen = list(candidates.values()) if names == ["all"] else [candidates[n] for n in names if n in candidates]
        unknown = [n for n in names if n != "all" and n not in candidates]
        if unknown or not chosen:
            listed = ", ".join(candidates) or f"none: {CONFIG_FILE} defines no server"
            raise AgentUsageError(f"no {CONFIG_FILE} server named {', '.join(unknown) or '…'}; its servers: {listed}")
        self.trust_store().trust(chosen, self.config.workspace_path)
        trusted = ", ".join(f"{spec.name} ({spec.shown})" for spec in chosen)
        return f"Trusted {trusted} from {chosen[0].origin}; it starts with the next turn (trust ends if its entry changes)."

    async def prepare(self) -> list[str]:
        """Bring the servers in line with the configuration; returns the lines to show in the cell.

        Called on the kernel's loop. An interrupt stops the waiting, not the starting: servers being
        started finish starting on their own loop and are there for the next turn.
        """
        loaded = self.load()
        waiting = self.untrusted(loaded)
        lines = [*loaded.problems, *(untrusted_line(spec) for spec in waiting)]
        for spec in waiting:
            del loaded.specs[spec.name]
        if not loaded.specs and not self._connections:
            return lines
        if not _mcp_installed():
            return [*lines, NOT_INSTALLED]
        loop = self._ensure_loop()
        timeout = float(self.config.mcp_startup_timeout)
        return [*lines, *await loop.run(self._sync(loaded, timeout), cancel_with_caller=False)]

    def _ensure_loop(self) -> BackgroundLoop:
        if self._loop is None or not self._loop.running:
            self._loop = BackgroundLoop("agent-mcp")
            atexit.register(self._at_exit)
        return self._loop

    async def _sync(self, loaded: LoadedConfig, startup_timeout: float) -> list[str]:
        """On the MCP loop: stop what is gone or changed, start what should run, name the tools."""
        current = dict(self._connections)
        stale = [c for name, c in current.items() if name not in loaded.specs or c.spec != loaded.specs[name]]
        await asyncio.gather(*(c.stop() for c in stale))
        connections: dict[str, ServerConnection] = {}
        for name, spec in loaded.specs.items():
            existing = current.get(name)
            connections[name] = (
                existing
                if existing is not None and existing.spec == spec
                else ServerConnection(spec, startup_timeout=startup_timeout)
            )
        now = time.monotonic()
        starting = [c for c in connections.values() if c.may_start(now)]
        for connection in starting:
            connection.startup_timeout = startup_timeout
        self._connections = connections
        if starting:
            # The first call validates results with jsonschema, whose import can take seconds (its
            # optional format checkers build grammars): import it on a worker thread while servers start.
            warm = asyncio.get_running_loop().run_in_executor(None, importlib.import_module, "jsonschema")
            await asyncio.gather(*(c.start() for c in starting), warm)
        self._name_tools(connections.values())
        return self._notices(starting, connections.values())

    def _name_tools(self, connections: Iterable[ServerConnection]) -> None:
        """Offered names for every running server's tools, in configuration order (stable across turns)."""
        running = [c for c in connections if c.state is ServerState.RUNNING]
        names = assign_names((c.name, tool.name) for c in running for tool in c.mcp_tools)
        offered: dict[str, list[OfferedTool]] = {}
        for connection in running:
            entries = []
            for mcp_tool in connection.mcp_tools:
                name = names[(connection.name, mcp_tool.name)]
                tool = make_mcp_tool(connection.name, mcp_tool, name, self._invoker(connection.name, mcp_tool.name))
                if tool is not None:
                    entries.append(OfferedTool(name, connection.name, mcp_tool.name, tool))
            offered[connection.name] = entries
        self._offered = offered

    def _notices(self, started: list[ServerConnection], connections: Iterable[ServerConnection]) -> list[str]:
        lines = []
        up = [c for c in started if c.state is ServerState.RUNNING]
        if up:
            listed = ", ".join(
                f"{code(c.name)} ({len(self.offered(c.name))} tools, {c.start_seconds:.1f} s)" for c in up
            )
            lines.append(f"🔌 MCP server{'s' if len(up) > 1 else ''} started: {listed}")
        now = time.monotonic()
        for connection in connections:
            if connection.state is ServerState.FAILED:
                lines.append(
                    f"⚠️ MCP server {code(connection.name)} is not running, its tools are not offered: "
                    f"{code(connection.cause)} ({retry_note(connection, now)}; %agent mcp)"
                )
        return lines

    # -- calls -----------------------------------------------------------------------------------------

    def _invoker(self, server: str, tool: str) -> Any:
        async def invoke(arguments: dict[str, Any]) -> ToolResult:
            return await self.invoke(server, tool, arguments)

        return invoke

    async def invoke(self, server: str, tool: str, arguments: dict[str, Any]) -> ToolResult:
        """Call `tool` of `server` from the kernel's loop; every outcome is a `ToolResult`.

        Cancelling the caller (a tool timeout, an interrupt, Stop) cancels the call, and the SDK tells
        the server with a `notifications/cancelled`.
        """
        from mcp import MCPError

        connection = self._connections.get(server)
        if connection is None or self._loop is None:
            return ToolResult.failure("server_unavailable", f"MCP server {server!r} is not configured any more")
        try:
            result = await self._loop.run(connection.call(tool, arguments))
        except ServerDown as exc:
            return ToolResult.failure("server_unavailable", str(exc))
        except MCPError as exc:
            return ToolResult.failure("mcp_error", f"MCP server {server!r} refused the call: {exc.message}")
        return mask_result(to_tool_result(result), mask=connection.spec.redact)

    # -- stopping --------------------------------------------------------------------------------------

    def stop_all(self, *, timeout: float = STOP_TIMEOUT + 2) -> int:
        """Stop every running server (from the kernel thread); returns how many were running.

        They start again, from the configuration as it is then, with the next turn.
        """
        loop = self._loop
        running = [c for c in self._connections.values() if c.state in (ServerState.RUNNING, ServerState.STARTING)]
        if loop is None or not loop.running:
            return 0

        async def stop_them() -> None:
            await asyncio.gather(*(c.stop() for c in self._connections.values()))

        try:
            loop.run_sync(stop_them(), timeout=timeout)
        except TimeoutError:
            self._kill_groups()
        self._connections, self._offered = {}, {}
        return len(running)

    def _kill_groups(self) -> None:
        """SIGKILL the process groups of stdio servers still alive (the last resort at exit)."""
        for connection in list(self._connections.values()):
            pid = connection.stderr.pid if connection.stderr is not None else None
            if pid is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)

    def close(self, *, timeout: float = STOP_TIMEOUT + 2) -> None:
        """Stop the servers and the MCP loop (`%unload_ext`, kernel exit)."""
        self.stop_all(timeout=timeout)
        if self._loop is not None:
            self._loop.close()
            self._loop = None
        atexit.unregister(self._at_exit)

    def _at_exit(self) -> None:
        self.close(timeout=EXIT_TIMEOUT)
