"""Read-only calls of one step run concurrently (shown with a barrier, not a stopwatch); destructive ones
run one by one, in the order the model asked for them."""

from __future__ import annotations

import asyncio
import json
import threading

from agent_magic.events import ToolFinished
from agent_magic.llm.client import EndpointSettings, ModelClient
from agent_magic.session import ApprovalDecision, Session, TurnSettings
from agent_magic.tools.context import ToolContext
from agent_magic.tools.registry import ToolRegistry, make_tool


def session_with(model_server, workspace, *tools, approver=None) -> Session:
    client = ModelClient(EndpointSettings(model="m", base_url=model_server.base_url, api_key="k"))
    return Session(
        client_for=lambda model: client, tools=ToolRegistry(tools), context=ToolContext(workspace), approver=approver
    )


def run(session: Session) -> list:
    async def collect():
        return [e async for e in session.run_turn("go", TurnSettings(model="m", tool_timeout=20))]

    return asyncio.run(collect())


def test_eight_sync_read_only_calls_all_run_at_the_same_time(model_server, script, workspace):
    # Each call waits until all eight are inside the tool: this only passes if they run concurrently
    # (the default asyncio thread pool, 6 threads on a 2-core machine, would time the barrier out).
    barrier = threading.Barrier(8, timeout=10)

    def probe(index: int) -> int:
        """Wait for the others."""
        barrier.wait()
        return index

    script.add_tool_calls(*[("probe", json.dumps({"index": i})) for i in range(8)])
    script.add_text("all done")
    events = run(session_with(model_server, workspace, make_tool(probe)))
    results = [e for e in events if isinstance(e, ToolFinished)]
    assert len(results) == 8 and all(e.ok for e in results), [e.content for e in results]


def test_destructive_calls_run_one_by_one_in_order(model_server, script, workspace):
    active, order, overlaps = [], [], []
    lock = threading.Lock()

    def change(index: int) -> int:
        """Change something."""
        with lock:
            if active:
                overlaps.append(index)
            active.append(index)
        order.append(index)
        threading.Event().wait(0.05)
        with lock:
            active.remove(index)
        return index

    async def approve(call, subject):
        return ApprovalDecision(approved=True, decided_by="test")

    script.add_tool_calls(*[("change", json.dumps({"index": i})) for i in range(4)])
    script.add_text("changed")
    run(session_with(model_server, workspace, make_tool(change, destructive=True), approver=approve))
    assert order == [0, 1, 2, 3] and overlaps == []
