"""MCP servers and prices: what they add to a turn. Prints a table.

- starting the reference `mcp-server-time` and `mcp-server-git` (PyPI) together, in a fresh process
  (the first turn waits for this; it includes importing the MCP SDK), and the `prepare()` of later
  turns (nothing to start: the configuration is read and compared);
- one MCP tool call through our stack (the kernel loop → the MCP loop thread → the SDK → the server
  and back, results converted and masked) against the same call made directly with the SDK's `Client`
  in the same process: the overhead is ours;
- stopping both servers;
- pricing one model call from genai-prices (a tiered Anthropic model) and from an override, and
  importing genai-prices in a fresh process (the cost `warm_up()` moves off the first turn).

Run: .venv/bin/python benchmarks/bench_mcp.py
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from agent_magic.config import AgentMagic
from agent_magic.llm.pricing import PriceTable
from agent_magic.tools.mcp.manager import McpManager

CALLS = 50
TIME_SERVER = {"command": sys.executable, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"]}


def git_server(repository: Path) -> dict:
    return {"command": sys.executable, "args": ["-m", "mcp_server_git", "--repository", str(repository)]}


async def direct_sdk_call_ms() -> float:
    """Median ms of one `get_current_time` call made with the SDK's Client, no agent_magic involved."""
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=TIME_SERVER["command"], args=TIME_SERVER["args"])
    async with Client(params, cache=None) as client:
        await client.call_tool("get_current_time", {"timezone": "UTC"})  # warm
        samples = []
        for _ in range(CALLS):
            started = time.perf_counter()
            await client.call_tool("get_current_time", {"timezone": "UTC"})
            samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def through_agent_magic(workspace: Path) -> dict[str, float]:
    repository = workspace / "repo"
    repository.mkdir()
    subprocess.run(["git", "init", "-q", str(repository)], check=True)
    # The start is what is measured: a loaded machine must not turn it into a failure at the 30 s default.
    config = AgentMagic(
        workspace=str(workspace),
        mcp_servers={"time": TIME_SERVER, "git": git_server(repository)},
        mcp_startup_timeout=300,
    )
    manager = McpManager(config)
    started = time.perf_counter()
    lines = await manager.prepare()
    first = time.perf_counter() - started
    assert lines and lines[0].startswith("🔌 MCP servers started"), lines
    started = time.perf_counter()
    await manager.prepare()
    later = time.perf_counter() - started
    tool = manager.tools.get("time__get_current_time")
    await tool.function(timezone="UTC")  # warm
    samples = []
    for _ in range(CALLS):
        started = time.perf_counter()
        result = await tool.function(timezone="UTC")
        samples.append((time.perf_counter() - started) * 1000)
    assert result.ok, result
    started = time.perf_counter()
    manager.close()
    stop = time.perf_counter() - started
    return {"first": first, "later_ms": later * 1000, "call_ms": statistics.median(samples), "stop": stop}


def pricing_us(table: PriceTable, model: str) -> float:
    table.cost(model, 250_000, 10_000, 2_000)  # resolve the price once
    started = time.perf_counter()
    for i in range(1000):
        table.cost(model, 250_000 + i, 10_000, 2_000)
    return (time.perf_counter() - started) / 1000 * 1e6


def import_seconds(module: str) -> float:
    """Seconds to import `module` in a fresh interpreter."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    return float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-mcp-") as folder:
        ours = asyncio.run(through_agent_magic(Path(folder)))
    direct = asyncio.run(direct_sdk_call_ms())
    anthropic = PriceTable(base_url="https://api.anthropic.com/v1")
    override = PriceTable({"my-model": {"input": 1.0, "output": 2.0}})
    rows = [
        (
            "first turn: start mcp-server-time + mcp-server-git (fresh process, SDK import included)",
            f"{ours['first']:.2f} s",
        ),
        ("later turns: prepare() with both servers running", f"{ours['later_ms']:.2f} ms"),
        (f"one MCP tool call through agent_magic (median of {CALLS})", f"{ours['call_ms']:.2f} ms"),
        (f"the same call with the SDK's Client directly (median of {CALLS})", f"{direct:.2f} ms"),
        ("stop both servers (close stdin, wait)", f"{ours['stop']:.2f} s"),
        (
            "price one call, genai-prices (claude-sonnet-4-5, tiered)",
            f"{pricing_us(anthropic, 'claude-sonnet-4-5'):.0f} µs",
        ),
        ("price one call, AgentMagic.prices override", f"{pricing_us(override, 'my-model'):.1f} µs"),
        ("import the MCP SDK in a fresh process (part of the first start)", f"{import_seconds('mcp'):.2f} s"),
        (
            "import genai-prices in a fresh process (warm_up() does it off the turn)",
            f"{import_seconds('genai_prices'):.2f} s",
        ),
    ]
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    width = max(len(name) for name, _ in rows)
    print(f"| {'measure':<{width}} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name:<{width}} | {value} |")


if __name__ == "__main__":
    main()
