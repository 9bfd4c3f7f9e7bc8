"""The usage & audit panel's data: summed from a real ledger through its public views, kept live by the
turn's messages, and never counting a turn twice when a snapshot is read while it runs."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

import pytest

from agent_magic.events import (
    ApprovalDecided,
    DecidedBy,
    Decision,
    ToolCall,
    ToolCallStarted,
    ToolFinished,
    TurnEnded,
    TurnStarted,
    TurnState,
    Usage,
)
from agent_magic.ledger.context import LedgerContext
from agent_magic.ledger.identity import current_user
from agent_magic.ledger.recorder import LedgerRecorder
from agent_magic.ledger.store import LedgerStore
from agent_magic.ui import lab_panel
from agent_magic.ui.lab_panel import PanelFeed, read_ledger, summarize

WRITE = ToolCall("w1", "write_file", '{"path": "out.csv", "content": "a,b"}')
READ = ToolCall("r1", "read_file", '{"path": "in.csv"}')
SHELL = ToolCall("s1", "run_shell", '{"command": "rm -rf build"}')


def turn(turn_id: str, *, at: float = 1_700_000_000.0) -> list:
    """One turn's events: a priced model call, a read, an approved write, a stopped shell command."""
    ids = {"session_id": "sess", "turn_id": turn_id}
    return [
        TurnStarted(**ids, prompt="p", model="m", trace_id=f"tr-{turn_id}", at=at),
        Usage(**ids, model="m", input_tokens=100, output_tokens=20, reasoning_tokens=5, cost_usd=0.002, at=at + 1),
        ToolCallStarted(**ids, call=READ, at=at + 2),
        ToolFinished(**ids, call=READ, ok=True, content="{}", error_code=None, duration_s=0.1, at=at + 2),
        ApprovalDecided(**ids, call=WRITE, decision=Decision.APPROVED, decided_by=DecidedBy.CLICK, at=at + 3),
        ToolCallStarted(**ids, call=WRITE, at=at + 3),
        ToolFinished(**ids, call=WRITE, ok=True, content="{}", error_code=None, duration_s=0.1, at=at + 4),
        ApprovalDecided(**ids, call=SHELL, decision=Decision.STOPPED, decided_by=DecidedBy.KEYBOARD, at=at + 5),
        Usage(**ids, model="other", input_tokens=10, output_tokens=1, cost_usd=None, at=at + 6),
        TurnEnded(**ids, state=TurnState.CANCELLED, at=at + 7),
    ]


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    store = LedgerStore(tmp_path)
    recorder = LedgerRecorder(store, notebook="nb.ipynb")
    for turn_id, at in (("t1", 1_700_000_000.0), ("t2", 1_700_000_100.0)):
        for event in turn(turn_id, at=at):
            recorder.handle(event)
    assert store.flush()
    store.close()
    return tmp_path


def read(ledger: Path):
    """A panel reader of the ledger at `ledger` (every notebook's rows, whatever the scope)."""

    def frames():
        context = LedgerContext(LedgerStore(ledger), "nb.ipynb", current_user())
        try:
            return read_ledger(context, "all")
        finally:
            context.store.close()

    return lambda scope: frames


def test_the_snapshot_sums_models_and_tools_and_lists_the_decisions(ledger):
    data = summarize(read(ledger)("all")(), left_out=set())
    assert data["by_model"] == [
        {"model": "m", "calls": 2, "input_tokens": 200, "cached_tokens": 0, "output_tokens": 40,
         "reasoning_tokens": 10, "cost_usd": pytest.approx(0.004)},
        {"model": "other", "calls": 2, "input_tokens": 20, "cached_tokens": 0, "output_tokens": 2,
         "reasoning_tokens": 0, "cost_usd": None},
    ]  # fmt: skip
    assert {row["tool"]: (row["calls"], row["denied"], row["failed"]) for row in data["by_tool"]} == {
        "read_file": (2, 0, 0),
        "write_file": (2, 0, 0),
        "run_shell": (2, 2, 0),
    }
    first = data["approvals"][:2]
    assert [(a["tool"], a["decision"], a["decided_by"]) for a in first] == [
        ("write_file", "approved", "user click"),
        ("run_shell", "stopped", "keyboard shortcut"),
    ]
    assert first[0]["arguments"] == "write_file(path='out.csv', content='a,b')"
    assert len(data["approvals"]) == 4 and len(data["points"]) == 4
    assert data["points"][0] == {"at": 1_700_000_001.0, "tokens": 120, "cost_usd": pytest.approx(0.002)}


def test_a_long_history_is_summed_into_at_most_the_chart_s_points(ledger, monkeypatch):
    monkeypatch.setattr(lab_panel, "MAX_POINTS", 2)
    points = summarize(read(ledger)("all")(), left_out=set())["points"]
    assert len(points) == 2
    assert sum(p["tokens"] for p in points) == 2 * (120 + 11)
    assert points[-1]["at"] == 1_700_000_106.0


def test_a_turn_left_out_of_the_snapshot_is_not_counted(ledger):
    data = summarize(read(ledger)("all")(), left_out={"t2"})
    assert [row["calls"] for row in data["by_model"]] == [1, 1]
    assert len(data["approvals"]) == 2


def test_live_messages_tell_model_calls_tool_calls_and_decisions():
    feed = PanelFeed(read=lambda scope: pytest.fail("no read"))
    messages = [m for event in turn("t1") for m in feed.live(event, "cell-1")]
    assert [m["type"] for m in messages] == [
        "model_call",
        "tool_call",
        "approval_decided",
        "tool_call",
        "approval_decided",
        "tool_call",
        "model_call",
    ]
    stopped = messages[4]
    assert (stopped["tool"], stopped["decision"], stopped["decided_by"], stopped["cell_id"]) == (
        "run_shell",
        "stopped",
        "keyboard shortcut",
        "cell-1",
    )
    assert stopped["arguments"] == "run_shell(command='rm -rf build')"
    assert messages[5] == {"v": 1, "type": "tool_call", "turn_id": "t1", "call_id": "s1", "tool": "run_shell",
                           "at": 1_700_000_005.0, "ok": None, "refused": True}  # fmt: skip


def test_a_call_nobody_could_approve_is_an_audited_refusal():
    feed = PanelFeed(read=lambda scope: pytest.fail("no read"))
    refused = ToolFinished(
        session_id="s", turn_id="t", call=WRITE, ok=False, content="needs approval", error_code="approval_required",
        duration_s=0.0,
    )  # fmt: skip
    audit, ended = feed.live(refused, None)
    assert (audit["type"], audit["decision"], audit["decided_by"]) == ("approval_decided", "denied", "no approver")
    assert (ended["type"], ended["refused"]) == ("tool_call", True)


def test_a_snapshot_read_during_a_turn_leaves_it_out_and_replays_its_messages(ledger):
    replies = []
    feed = PanelFeed(read(ledger))
    events = turn("t2", at=1_700_000_100.0)  # already in the ledger, as a running turn's rows would be
    sent_before = [m for event in events[:4] for m in feed.live(event, None)]

    feed.request("notebook", "r1", replies.append)  # no event loop here: answered at once

    (reply,) = replies
    assert (reply["type"], reply["request_id"], reply["scope"], reply["error"]) == ("panel", "r1", "notebook", None)
    assert [row["calls"] for row in reply["by_model"]] == [1, 1], "t2's rows are left out of the snapshot"
    assert reply["live"] == sent_before, "and told by the messages already sent"


def test_a_turn_starting_while_a_snapshot_is_read_is_left_out_of_it(ledger):
    replies = []
    feed = PanelFeed(read(ledger))

    async def scenario():
        feed.request("all", "r2", replies.append)  # read on a worker thread
        for event in turn("t2", at=1_700_000_100.0)[:4]:
            feed.live(event, None)
        while not replies:
            await asyncio.sleep(0.01)

    asyncio.run(scenario())
    assert [row["calls"] for row in replies[0]["by_model"]] == [1, 1]
    assert [m["type"] for m in replies[0]["live"]] == ["model_call", "tool_call"]


def test_an_unreadable_ledger_is_one_line_in_an_empty_panel():
    def broken():
        raise PermissionError("ledger.db: permission denied")

    replies = []
    PanelFeed(lambda scope: broken).request("notebook", "r3", replies.append)
    assert replies[0]["error"] == "the ledger could not be read: PermissionError: ledger.db: permission denied"
    assert replies[0]["by_model"] == [] and replies[0]["points"] == []


@pytest.mark.postgres
def test_the_panel_reads_the_same_from_a_postgres_ledger_as_from_sqlite(tmp_path, postgres_server):
    url = postgres_server.create_database()
    panels = {}
    for name, ledger_url in (("sqlite", None), ("postgres", url)):
        home = tmp_path / name
        store = LedgerStore(home, url=ledger_url)
        recorder = LedgerRecorder(store, notebook="nb.ipynb", user="alice")
        for turn_id, at in (("t1", 1_700_000_000.0), ("t2", 1_700_000_100.0)):
            for event in turn(turn_id, at=at):
                recorder.handle(event)
        assert store.flush()
        context = LedgerContext(store, "nb.ipynb", "alice")
        replies: list = []
        PanelFeed(functools.partial(functools.partial, read_ledger, context)).request("all", name, replies.append)
        store.close()
        (reply,) = replies
        assert reply["error"] is None
        panels[name] = {key: reply[key] for key in ("points", "by_model", "by_tool", "approvals")}

    assert panels["postgres"] == panels["sqlite"]
    assert [row["calls"] for row in panels["postgres"]["by_model"]] == [2, 2]
    assert len(panels["postgres"]["approvals"]) == 4
