"""Parallel read-only tool calls: one model step asks for 8 calls of ~1 s each. Prints a table.

Each variant is a real turn (`Session.run_turn`) against the loopback SSE server, timed from the first
`ToolCallStarted` to the last `ToolFinished`:

- 8 read-only sync tools (`time.sleep(1)` on the tool threads)  — target <= 1.3 s
- 8 read-only async tools (`asyncio.sleep(1)` on the event loop) — target <= 1.3 s
- 4 destructive sync tools, approved: run one by one, so ~4 s (the contrast)

Run: .venv/bin/python benchmarks/bench_parallel_tools.py
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path

from agent_magic.contracts import TurnSettings
from agent_magic.events import ToolCallStarted, ToolFinished
from agent_magic.llm.client import EndpointSettings, ModelClient
from agent_magic.llm.sse_server import LoopbackModelServer, ScriptedResponder
from agent_magic.policy.approval import ALL_TOOLS, ApprovalGate, CellApproval
from agent_magic.policy.permissions import PermissionRules
from agent_magic.session import Session
from agent_magic.tools.context import ToolContext
from agent_magic.tools.registry import ToolRegistry, make_tool

CALL_SECONDS = 1.0
TARGET_S = 1.3


def sleepy_sync(index: int) -> int:
    """Sleep about a second on a thread."""
    time.sleep(CALL_SECONDS)
    return index


async def sleepy_async(index: int) -> int:
    """Sleep about a second on the event loop."""
    await asyncio.sleep(CALL_SECONDS)
    return index


def timed_turn(server: LoopbackModelServer, script: ScriptedResponder, tool, calls: int) -> tuple[float, int]:
    """Wall seconds from the first tool start to the last tool result, and how many succeeded."""
    script.add_tool_calls(*[(tool.name, json.dumps({"index": i})) for i in range(calls)])
    script.add_text("done")
    client = ModelClient(EndpointSettings(model="bench", base_url=server.base_url, api_key="k"))
    tools, workspace = ToolRegistry([tool]), Path(tempfile.gettempdir())
    session = Session(client_for=lambda model: client, tools=tools, context=ToolContext(workspace))
    gate = ApprovalGate(rules=PermissionRules, tools=tools, workspace=workspace)
    approve_all = gate.for_cell(CellApproval(frozenset({ALL_TOOLS})))

    async def run() -> tuple[float, int]:
        first = last = None
        ok = 0
        async for event in session.run_turn("go", TurnSettings(model="bench", tool_timeout=30), approver=approve_all):
            if isinstance(event, ToolCallStarted) and first is None:
                first = time.perf_counter()
            elif isinstance(event, ToolFinished):
                last = time.perf_counter()
                ok += event.ok
        return last - first, ok

    return asyncio.run(run())


def main() -> None:
    script = ScriptedResponder()
    variants = [
        ("8 read-only sync calls (threads)", make_tool(sleepy_sync), 8, TARGET_S),
        ("8 read-only async calls", make_tool(sleepy_async), 8, TARGET_S),
        ("4 destructive sync calls (serial)", make_tool(sleepy_sync, destructive=True), 4, None),
    ]
    rows = []
    with LoopbackModelServer(script) as server:
        for label, tool, calls, target in variants:
            seconds, ok = timed_turn(server, script, tool, calls)
            verdict = "-" if target is None else ("PASS" if seconds <= target and ok == calls else "FAIL")
            rows.append(
                (
                    label,
                    f"{calls} x {CALL_SECONDS:g} s",
                    f"{seconds:.2f}",
                    f"<= {target}" if target else "~serial",
                    verdict,
                )
            )
    header = ("variant", "calls", "wall s", "target", "result")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
