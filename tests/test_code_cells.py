"""run_python leaves real cells: the code gathered from a turn's events, the cells and the message the
companion gets, and when a `%%agent_code` cell runs again. The kernel side end to end is in
test_repro_kernel.py, the companion's insertion in tests/browser/test_code_cells_browser.py."""

from __future__ import annotations

import json

from agent_magic.code_cells import CELL_TAG, CodeCellCollector, CodeHistory, CodeRun, TurnCode
from agent_magic.events import ToolCall, ToolCallStarted, ToolFinished, TurnEnded, TurnStarted, TurnState
from agent_magic.ui import lab_protocol

IDS = {"session_id": "s1", "turn_id": "t1"}


def python_call(call_id: str, code: str) -> ToolCall:
    return ToolCall(call_id, "run_python", json.dumps({"code": code}))


def finished(call: ToolCall, error_code: str | None = None) -> ToolFinished:
    return ToolFinished(**IDS, call=call, ok=error_code is None, content="", error_code=error_code, duration_s=0.1)


def run(collector: CodeCellCollector, *events, state: TurnState = TurnState.COMPLETED) -> None:
    collector.handle(TurnStarted(**IDS, prompt="p", model="m", trace_id="x", cell_id="agent-cell"))
    for event in events:
        collector.handle(event)
    collector.handle(TurnEnded(**IDS, state=state))


def test_the_code_that_ran_is_kept_in_run_order_and_code_that_never_started_is_not():
    history, published = CodeHistory(), []
    first, broken, second = python_call("c1", "x = 1"), python_call("c2", "x ="), python_call("c3", "y = x + 1")
    other = ToolCall("c4", "read_file", '{"path": "a"}')
    run(
        CodeCellCollector(history, published.append),
        *(ToolCallStarted(**IDS, call=c) for c in (first, broken, second, other)),
        finished(second),
        finished(broken, "syntax_error"),
        finished(first),
        finished(other),
    )
    (turn,) = published
    assert [r.code for r in turn.runs] == ["y = x + 1", "x = 1"], "in the order they finished running"
    assert history.last() is turn


def test_code_that_raised_or_was_interrupted_is_kept_and_says_so():
    history = CodeHistory()
    raised, cut = python_call("c1", "1 / 0"), python_call("c2", "while True: pass")
    collector = CodeCellCollector(history)
    run(
        collector,
        ToolCallStarted(**IDS, call=raised),
        finished(raised, "python_error"),
        ToolCallStarted(**IDS, call=cut),
        state=TurnState.CANCELLED,
    )
    assert [(r.code, r.error) for r in history.last().runs] == [
        ("1 / 0", "python_error"),
        ("while True: pass", "interrupted"),
    ]
    assert "# (the agent's run of this code ended with: python_error)" in history.last().block()


def test_each_run_becomes_a_tagged_cell_naming_its_turn_and_agent_cell():
    turn = TurnCode("t1", "agent-cell", [CodeRun("c1", "x = 1\n"), CodeRun("c2", "y = 2")])
    cells = turn.cells()
    assert [c["source"] for c in cells] == [
        "%%agent_code --turn t1 --cell agent-cell\nx = 1",
        "%%agent_code --turn t1 --cell agent-cell\ny = 2",
    ]
    assert cells[0]["metadata"] == {
        "tags": [CELL_TAG],
        "agent_magic": {"turn_id": "t1", "agent_cell": "agent-cell", "call_id": "c1"},
    }
    assert turn.block() == "%%agent_code --turn t1 --cell agent-cell\nx = 1\n\ny = 2"


def test_the_companion_message_carries_the_cells_for_the_agent_cell():
    turn = TurnCode("t1", "agent-cell", [CodeRun("c1", "x = 1")])
    message = lab_protocol.insert_cells_message(turn.turn_id, turn.cell_id, turn.cells())
    assert message == {"v": 1, "type": "insert_cells", "turn_id": "t1", "cell_id": "agent-cell", "cells": turn.cells()}


def test_nothing_is_published_for_a_turn_without_code_or_without_a_cell():
    published = []
    run(CodeCellCollector(CodeHistory(), published.append))
    collector = CodeCellCollector(CodeHistory(), published.append)
    call = python_call("c1", "x = 1")
    collector.handle(TurnStarted(**IDS, prompt="p", model="m", trace_id="x", cell_id=None))
    collector.handle(ToolCallStarted(**IDS, call=call))
    collector.handle(finished(call))
    collector.handle(TurnEnded(**IDS, state=TurnState.COMPLETED))
    assert published == []


# -- when a %%agent_code cell runs again ------------------------------------------------------------------


def history_with(turn: TurnCode) -> CodeHistory:
    history = CodeHistory()
    history.add(turn)
    return history


def test_code_the_agent_already_ran_in_this_kernel_is_not_run_again():
    history = history_with(TurnCode("t2", "agent-cell", [CodeRun("c1", "x = 1")]))
    assert (
        history.skip_reason("x = 1\n", turn="t1", cell="agent-cell") == "the agent already ran this code in this kernel"
    )
    assert history.skip_reason("x = 1", turn=None, cell=None) is not None, "even without the header's ids"


def test_the_cell_of_an_earlier_run_of_its_agent_cell_is_not_run():
    history = history_with(TurnCode("t2", "agent-cell", [CodeRun("c1", "y = 2")]))
    reason = history.skip_reason("x = 1", turn="t1", cell="agent-cell")
    assert reason.startswith("its %%agent cell ran again in this kernel (turn t2)")


def test_edited_code_of_the_latest_run_runs():
    history = history_with(TurnCode("t2", "agent-cell", [CodeRun("c1", "x = 1")]))
    assert history.skip_reason("x = 2", turn="t2", cell="agent-cell") is None


def test_code_whose_agent_cell_never_ran_in_this_kernel_runs():
    assert CodeHistory().skip_reason("x = 1", turn="t1", cell="agent-cell") is None


def test_the_block_of_agent_cells_counts_as_run_code():
    turn = TurnCode("t1", None, [CodeRun("c1", "x = 1"), CodeRun("c2", "y = 2")])
    history = history_with(turn)
    body = turn.block().split("\n", 1)[1]
    assert history.skip_reason(body, turn="t1", cell=None) is not None
