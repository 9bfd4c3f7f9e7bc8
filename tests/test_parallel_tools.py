"""Read-only calls of one step run concurrently (shown with a barrier, not a stopwatch); destructive ones
run one by one, in the order the model asked for them."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from scripted_model import ScriptedModel

from agent_magic.contracts import TurnSettings
from agent_magic.events import ToolFinished
from agent_magic.policy.approval import ALL_TOOLS, ApprovalGate, CellApproval
from agent_magic.policy.permissions import PermissionRules
from agent_magic.session import Session
from agent_magic.tools.context import ToolContext
from agent_magic.tools.registry import ToolRegistry, make_tool


@pytest.fixture
def script() -> ScriptedModel:
    return ScriptedModel()


def session_with(model: ScriptedModel, workspace, *tools) -> Session:
    return Session(client_for=lambda name: model, tools=ToolRegistry(tools), context=ToolContext(workspace))


def run(session: Session, *, approve_all: bool = False) -> list:
    gate = ApprovalGate(rules=PermissionRules, tools=session.tools, workspace=session.context.workspace)
    approver = gate.for_cell(CellApproval(frozenset({ALL_TOOLS}))) if approve_all else None

    async def collect():
        turn = session.run_turn("go", TurnSettings(model="m", tool_timeout=20), approver=approver)
        return [e async for e in turn]

    return asyncio.run(collect())


def test_eight_sync_read_only_calls_all_run_at_the_same_time(script, workspace):
    # Each call waits until all eight are inside the tool: this only passes if they run concurrently
    # (the default asyncio thread pool, 6 threads on a 2-core machine, would time the barrier out).
    barrier = threading.Barrier(8, timeout=10)

    def probe(index: int) -> int:
        """Wait for the others."""
        barrier.wait()
        return index

    script.add_tool_calls(*[("probe", json.dumps({"index": i})) for i in range(8)])
    script.add_text("all done")
    events = run(session_with(script, workspace, make_tool(probe)))
    results = [e for e in events if isinstance(e, ToolFinished)]
    assert len(results) == 8 and all(e.ok for e in results), [e.content for e in results]


def test_destructive_calls_run_one_by_one_in_order(script, workspace):
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

    script.add_tool_calls(*[("change", json.dumps({"index": i})) for i in range(4)])
    script.add_text("changed")
    run(session_with(script, workspace, make_tool(change, destructive=True)), approve_all=True)
    assert order == [0, 1, 2, 3] and overlaps == []
