"""The kernel side of the JupyterLab companion: the `agent_magic` comm, its messages, and Stop."""

from __future__ import annotations

import json
import queue
import time
import uuid

import pytest

from agent_magic.events import (
    ApprovalDecided,
    ApprovalRequested,
    DecidedBy,
    Decision,
    TextDelta,
    ToolCall,
    TurnEnded,
    TurnStarted,
    TurnState,
    Usage,
)
from agent_magic.ledger.totals import empty_totals
from agent_magic.llm.sse_server import StreamReply, text_chunks, usage_chunk
from agent_magic.ui import lab_protocol
from agent_magic.ui.lab_comm import LabCommPublisher
from agent_magic.ui.lab_panel import PanelFeed

IDS = {"session_id": "s1", "turn_id": "t1"}
CALL = ToolCall("call1", "write_file", '{"path": "notes.txt"}')


class FakeComm:
    """Records what the publisher sends; `broken` makes send() fail like a dead channel."""

    def __init__(self, comm_id: str = "c1", broken: bool = False) -> None:
        self.comm_id, self.broken = comm_id, broken
        self.sent: list[dict] = []
        self.on_msg_callback = self.on_close_callback = None

    def send(self, data: dict) -> None:
        if self.broken:
            raise OSError("channel closed")
        self.sent.append(data)

    def on_msg(self, callback) -> None:
        self.on_msg_callback = callback

    def on_close(self, callback) -> None:
        self.on_close_callback = callback

    def close(self) -> None:
        self.sent.append({"closed": True})

    def types(self) -> list[str]:
        return [m.get("type") for m in self.sent]


class Stops:
    """Counts the frontend's Stop requests."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> bool:
        self.count += 1
        return True


def no_panel() -> PanelFeed:
    """A panel feed for tests that never open the panel."""
    return PanelFeed(lambda scope: pytest.fail("the panel was not asked for"))


@pytest.fixture
def stops() -> Stops:
    return Stops()


@pytest.fixture
def publisher(stops) -> LabCommPublisher:
    return LabCommPublisher(stop_turn=stops, read_totals=empty_totals, current_session=lambda: "s1", panel=no_panel())


def started() -> TurnStarted:
    return TurnStarted(**IDS, prompt="p", model="demo", trace_id="x", cell_id="cell-7", execution_count=3)


# -- the publisher, with fake comms --------------------------------------------------------------------


def test_events_are_published_to_nobody_without_a_frontend(publisher):
    for event in (started(), TextDelta(**IDS, text="hi"), TurnEnded(**IDS, state=TurnState.COMPLETED)):
        publisher.handle(event)  # nothing to send to, nothing raised


def test_a_connecting_frontend_gets_the_state_at_once(publisher):
    publisher.handle(started())
    publisher.handle(ApprovalRequested(**IDS, call=CALL, subject="notes.txt"))
    comm = FakeComm()

    publisher.open(comm, {})

    (state,) = comm.sent
    assert state["v"] == 1 and state["type"] == "state"
    assert state["running"] == {"turn_id": "t1", "cell_id": "cell-7"}
    assert [a["call_id"] for a in state["approvals"]] == ["call1"]
    assert state["usage"]["session"] == "s1"


def test_approval_messages_carry_the_cell_of_the_turn(publisher):
    comm = FakeComm()
    publisher.open(comm, {})
    publisher.handle(started())
    publisher.handle(ApprovalRequested(**IDS, call=CALL, subject="notes.txt"))
    publisher.handle(ApprovalDecided(**IDS, call=CALL, decision=Decision.APPROVED, decided_by=DecidedBy.CLICK))

    requested, decided = (m for m in comm.sent if m["type"].startswith("approval"))
    assert requested == {
        "v": 1,
        "type": "approval_requested",
        "turn_id": "t1",
        "call_id": "call1",
        "tool": "write_file",
        "cell_id": "cell-7",
    }
    assert decided["decision"] == "approved" and decided["cell_id"] == "cell-7"
    assert publisher.state()["approvals"] == []


def test_a_turn_ending_clears_the_running_turn_and_its_approvals(publisher):
    comm = FakeComm()
    publisher.open(comm, {})
    publisher.handle(started())
    publisher.handle(ApprovalRequested(**IDS, call=CALL, subject="notes.txt"))
    publisher.handle(TurnEnded(**IDS, state=TurnState.CANCELLED, message="interrupted"))

    assert comm.types()[-2:] == ["turn_ended", "usage"]
    assert comm.sent[-2]["state"] == "cancelled"
    state = publisher.state()
    assert state["running"] is None and state["approvals"] == []


def test_stop_from_the_frontend_stops_the_turn(publisher, stops):
    comm = FakeComm()
    publisher.open(comm, {})
    comm.on_msg_callback({"content": {"comm_id": "c1", "data": {"v": 1, "type": "stop"}}})
    assert stops.count == 1


def test_usage_is_the_ledger_baseline_plus_the_turns_events_whatever_the_subscriber_order():
    earlier = empty_totals("s1")
    earlier["by_model"] = [
        {"model": "m", "calls": 2, "input_tokens": 100, "cached_tokens": 0, "output_tokens": 10, "cost_usd": 0.5}
    ]
    reads = []

    def read_totals(session_id):
        reads.append(session_id)
        return {**earlier, "session": session_id}

    publisher = LabCommPublisher(
        stop_turn=Stops(), read_totals=read_totals, current_session=lambda: "s1", panel=no_panel()
    )
    comm = FakeComm()
    publisher.open(comm, {})
    publisher.handle(started())
    publisher.handle(Usage(**IDS, model="m", input_tokens=40, output_tokens=5, cost_usd=0.25))
    publisher.handle(ApprovalDecided(**IDS, call=CALL, decision=Decision.DENIED, decided_by=DecidedBy.CLICK))
    usage = [m for m in comm.sent if m["type"] == "usage"][-1]["usage"]
    assert (usage["model_calls"], usage["input_tokens"], usage["cost_usd"]) == (3, 140, 0.75)
    assert usage["by_tool"] == [{"tool": "write_file", "calls": 1, "denied": 1, "failed": 0}]
    assert reads == ["s1"]  # the ledger is read once for the session, not after every event


def test_a_panel_request_is_answered_to_the_comm_that_asked(stops):
    scopes = []

    def unreadable(scope: str):
        scopes.append(scope)
        raise OSError("disk gone")

    panel = PanelFeed(read=unreadable)
    publisher = LabCommPublisher(stop_turn=stops, read_totals=empty_totals, current_session=lambda: "s1", panel=panel)
    asking, other = FakeComm("asking"), FakeComm("other")
    publisher.open(asking, {})
    publisher.open(other, {})
    request = {"v": 1, "type": "panel_request", "request_id": "r1", "scope": "all"}

    asking.on_msg_callback({"content": {"comm_id": "asking", "data": request}})

    assert scopes == ["all"]
    assert asking.types() == ["state", "panel"] and other.types() == ["state"]
    assert asking.sent[-1]["error"] == "the ledger could not be read: OSError: disk gone"


@pytest.mark.parametrize(
    "data",
    [
        {"v": 1, "type": "panel_request", "request_id": "r1", "scope": "everything"},
        {"v": 1, "type": "panel_request", "scope": "all"},
        {"v": 1, "type": "decide", "call_id": "c", "decision": "always"},
        {"v": 1, "type": "decide", "decision": "approve"},
    ],
)
def test_malformed_requests_are_ignored(data):
    assert lab_protocol.incoming_type(data) is None


def test_messages_of_another_schema_version_are_ignored(publisher, stops):
    comm = FakeComm()
    publisher.open(comm, {})
    comm.on_msg_callback({"content": {"comm_id": "c1", "data": {"v": 2, "type": "stop"}}})
    comm.on_msg_callback({"content": {"comm_id": "c1", "data": "stop"}})
    assert stops.count == 0


def test_a_broken_frontend_is_dropped_and_the_others_still_served(publisher):
    good, broken = FakeComm("good"), FakeComm("bad", broken=True)
    publisher.open(good, {})
    publisher.open(broken, {})
    publisher.handle(started())
    publisher.handle(started())
    assert good.types().count("turn_started") == 2


def test_a_closed_comm_gets_nothing_more(publisher):
    comm = FakeComm()
    publisher.open(comm, {})
    comm.on_close_callback({})
    publisher.handle(started())
    assert comm.types() == ["state"]


# -- in a real kernel ------------------------------------------------------------------------------------


def open_frontend_comm(kernel) -> tuple[str, dict]:
    """Open an `agent_magic` comm from the client side, as the extension does; return its id and the
    first message the kernel sent back."""
    comm_id = uuid.uuid4().hex
    msg = kernel.client.session.msg(
        "comm_open", {"comm_id": comm_id, "target_name": lab_protocol.COMM_TARGET, "data": {}}
    )
    kernel.client.shell_channel.send(msg)
    while True:
        reply = kernel.client.get_iopub_msg(timeout=10)
        if reply["header"]["msg_type"] == "comm_msg" and reply["content"]["comm_id"] == comm_id:
            return comm_id, reply["content"]["data"]


def comm_data(run, comm_id: str) -> list[dict]:
    return [
        m["content"]["data"]
        for m in run.messages
        if m["header"]["msg_type"] == "comm_msg" and m["content"]["comm_id"] == comm_id
    ]


@pytest.mark.kernel
def test_without_a_frontend_the_kernel_sends_no_comm_traffic(shared_kernel, script):
    script.add_text("Hello.")
    run = shared_kernel.execute("%%agent\nhello")
    assert run.status == "ok", run.text
    assert run.count("comm_open") == 0 and run.count("comm_msg") == 0


@pytest.mark.kernel
def test_a_frontend_sees_the_turn_and_its_priced_usage(shared_kernel, script):
    shared_kernel.execute("%config AgentMagic.prices = {'test-model': {'input': 2.0, 'output': 8.0}}")
    comm_id, first = open_frontend_comm(shared_kernel)
    assert first["type"] == "state" and first["running"] is None
    script.add_text("Paris.", usage=(1000, 100))

    run = shared_kernel.execute("%%agent\nWhat is the capital of France?")

    messages = comm_data(run, comm_id)
    types = [m["type"] for m in messages]
    assert types[0] == "turn_started" and types[-2:] == ["turn_ended", "usage"]
    usage = messages[-1]["usage"]
    assert usage["tokens"] == 1100 and usage["by_model"][0]["model"] == "test-model"
    assert usage["cost_usd"] == pytest.approx((1000 * 2.0 + 100 * 8.0) / 1e6)
    assert json.dumps(messages)  # plain JSON all the way


@pytest.mark.kernel
def test_stop_over_the_comm_ends_the_running_turn_quietly(shared_kernel, script):
    comm_id, _ = open_frontend_comm(shared_kernel)
    words = [f"word{i} " for i in range(400)]
    script.add(StreamReply(text_chunks("", pieces=words) + [usage_chunk(10, 400)], chunk_delay=0.05))
    sent = []

    def stop_once_streaming(msg, kernel):
        if not sent and msg["header"]["msg_type"] in ("display_data", "update_display_data"):
            sent.append(True)
            kernel.send_comm(comm_id, {"v": 1, "type": "stop"})

    run = shared_kernel.execute(
        "%%agent\nTalk for a while.", allow_stdin=True, on_message=stop_once_streaming, timeout=30
    )

    assert run.status == "ok" and run.error is None, run.text
    ended = [m for m in comm_data(run, comm_id) if m["type"] == "turn_ended"]
    assert ended[0]["state"] == "cancelled"
    assert "word0" in run.text and "word399" not in run.text, "the partial answer stays, the rest never came"
    follow_up = shared_kernel.execute("print('still fine')")
    assert "still fine" in follow_up.text


@pytest.mark.kernel
def test_reloading_the_extension_closes_the_comm_so_the_frontend_reconnects(shared_kernel):
    comm_id, _ = open_frontend_comm(shared_kernel)
    run = shared_kernel.execute("%reload_ext agent_magic")
    closed = [m for m in run.messages if m["header"]["msg_type"] == "comm_close"]
    assert [m["content"]["comm_id"] for m in closed] == [comm_id]
    new_id, state = open_frontend_comm(shared_kernel)
    assert new_id != comm_id and state["type"] == "state"


def comm_messages_until(kernel, comm_id: str, kind: str, timeout: float = 30.0) -> dict:
    """Read iopub until the kernel sends `comm_id` a message of type `kind` (outside any execution)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kernel.client.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        content = msg["content"]
        if (
            msg["header"]["msg_type"] == "comm_msg"
            and content["comm_id"] == comm_id
            and content["data"]["type"] == kind
        ):
            return content["data"]
    raise TimeoutError(f"no {kind} message")


@pytest.mark.kernel
def test_the_panel_gets_the_notebook_s_usage_and_decisions_from_the_ledger(kernel, script):
    script.add_tool_calls(("write_file", json.dumps({"path": "a.txt", "content": "x"})))
    script.add_text("Could not write.")
    kernel.execute("%%agent\nwrite a.txt")  # headless: the write is denied by the headless policy
    comm_id, _ = open_frontend_comm(kernel)

    kernel.send_comm(comm_id, {"v": 1, "type": "panel_request", "request_id": "r1", "scope": "notebook"})
    panel = comm_messages_until(kernel, comm_id, "panel")

    assert (panel["request_id"], panel["scope"], panel["error"], panel["live"]) == ("r1", "notebook", None, [])
    assert [(m["model"], m["calls"]) for m in panel["by_model"]] == [("test-model", 2)]
    assert panel["by_tool"] == [{"tool": "write_file", "calls": 1, "denied": 1, "failed": 0}]
    (decision,) = panel["approvals"]
    assert (decision["tool"], decision["decision"], decision["decided_by"]) == (
        "write_file",
        "denied",
        "headless policy",
    )
    assert len(panel["points"]) == 2


@pytest.mark.kernel
def test_a_keyboard_approval_over_the_comm_answers_the_waiting_prompt(kernel, script, workspace):
    from test_approvals_kernel import ADD_TOUCH_TOOL, ask_to_touch

    assert kernel.execute(ADD_TOUCH_TOOL).status == "ok"
    comm_id, _ = open_frontend_comm(kernel)
    ask_to_touch(script, "keyed.txt")
    decided = []

    def approve_from_the_keyboard(msg, real_kernel):
        data = msg["content"].get("data", {})
        if msg["header"]["msg_type"] == "comm_msg" and data.get("type") == "approval_requested" and not decided:
            decided.append(data["call_id"])
            real_kernel.send_comm(comm_id, {"v": 1, "type": "decide", "call_id": "unknown", "decision": "approve"})
            real_kernel.send_comm(
                comm_id, {"v": 1, "type": "decide", "call_id": data["call_id"], "decision": "approve"}
            )

    run = kernel.execute("%%agent\ntouch it", allow_stdin=True, on_message=approve_from_the_keyboard, timeout=60)

    assert run.status == "ok", run.text
    assert (workspace / "keyed.txt").read_text() == "made"
    assert "✅ `touch`: **approved** by keyboard shortcut" in run.text
    audit = [m for m in comm_data(run, comm_id) if m["type"] == "approval_decided"]
    assert audit[0]["decided_by"] == "keyboard shortcut" and audit[0]["call_id"] == decided[0]
