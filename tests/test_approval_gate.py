"""The approval gate inside a real Session turn (on a scripted in-memory model): who decides, in which
order, what the model is told, and the events the ledger records."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from scripted_model import ScriptedModel

from agent_magic.contracts import TurnSettings
from agent_magic.events import (
    ApprovalDecided,
    ApprovalRequested,
    DecidedBy,
    Decision,
    ToolCall,
    ToolFinished,
    TurnEnded,
    TurnState,
)
from agent_magic.policy.approval import (
    ApprovalGate,
    ApprovalRequest,
    CellApproval,
    Choice,
    HeadlessApprovalError,
)
from agent_magic.policy.permissions import parse_permissions
from agent_magic.session import Session
from agent_magic.tools.context import ToolContext
from agent_magic.tools.registry import ToolRegistry, make_tool
from agent_magic.ui.approval_askers import HeadlessAsker, StdinAsker, parse_approve_option, parse_stdin_answer
from agent_magic.ui.approval_view import describe_request


class Workspace:
    """A destructive `touch` tool and a read-only `peek` tool over a folder, recording what ran."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ran: list[str] = []

        def touch(path: str) -> str:
            """Create a file."""
            self.ran.append(path)
            (root / path).write_text("x")
            return "made"

        def peek(path: str) -> str:
            """Read a file."""
            self.ran.append("peek " + path)
            return "seen"

        self.tools = ToolRegistry([make_tool(touch, destructive=True), make_tool(peek)])


def make_request_call() -> ToolCall:
    return ToolCall("c1", "write_file", json.dumps({"path": "x"}))


def stdin_answers(*answers: str) -> StdinAsker:
    """The real stdin asker, reading from a list instead of the terminal."""
    queue = list(answers)
    return StdinAsker(show=lambda text: None, read=lambda prompt: queue.pop(0))


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


@pytest.fixture
def script() -> ScriptedModel:
    return ScriptedModel()


def make_session(ws: Workspace, model: ScriptedModel, rules: dict | None = None) -> tuple[Session, ApprovalGate]:
    gate = ApprovalGate(rules=lambda: parse_permissions(rules or {}), tools=ws.tools, workspace=ws.root)
    session = Session(client_for=lambda name: model, tools=ws.tools, context=ToolContext(workspace=ws.root))
    return session, gate


def run(session: Session, gate: ApprovalGate, cell: CellApproval) -> list:
    async def turn() -> list:
        approver = gate.for_cell(cell)
        return [event async for event in session.run_turn("go", TurnSettings(model="m"), approver=approver)]

    return asyncio.run(turn())


def tool_result_sent(script: ScriptedModel) -> dict:
    messages, _tools = script.requests[-1]
    content = messages[-1]["content"]
    return json.loads(content[content.index("{") : content.rindex("}") + 1])


def test_deny_rule_beats_pre_approval_and_the_model_reads_why(ws, script):
    script.add_tool_calls(("touch", json.dumps({"path": "rm-me.txt"})))
    script.add_text("ok")
    session, gate = make_session(ws, script, {"deny": ["touch:rm-*"], "allow": ["touch"]})

    events = run(session, gate, CellApproval(frozenset({"all"}), stdin_answers("y")))

    decided = next(e for e in events if isinstance(e, ApprovalDecided))
    assert (decided.decision, decided.decided_by) == (Decision.DENIED, DecidedBy.RULE)
    assert ws.ran == []
    result = tool_result_sent(script)
    assert result["error_code"] == "denied" and "touch:rm-*" in result["error_message"]


def test_allow_rule_runs_without_asking_and_records_the_rule(ws, script):
    script.add_tool_calls(("touch", json.dumps({"path": "a.txt"})))
    script.add_text("ok")
    session, gate = make_session(ws, script, {"allow": ["touch:*.txt"]})

    events = run(session, gate, CellApproval(asker=stdin_answers()))  # asking would fail: no answers queued

    decided = next(e for e in events if isinstance(e, ApprovalDecided))
    assert decided.decided_by == DecidedBy.RULE and "touch:*.txt" in decided.reason
    assert ws.ran == ["a.txt"]


def test_ask_rule_asks_even_when_the_cell_pre_approved_the_tool(ws, script):
    script.add_tool_calls(("touch", json.dumps({"path": "t.csv"})), ("touch", json.dumps({"path": "t.txt"})))
    script.add_text("ok")
    session, gate = make_session(ws, script, {"ask": ["touch:*.csv"]})

    events = run(session, gate, CellApproval(frozenset({"touch"}), stdin_answers("n not csv")))

    decisions = [(e.decided_by, e.decision, e.reason) for e in events if isinstance(e, ApprovalDecided)]
    assert decisions == [(DecidedBy.STDIN, "denied", "not csv"), (DecidedBy.PRE_APPROVAL, "approved", "")]
    assert ws.ran == ["t.txt"]


def test_always_allow_covers_later_calls_of_that_tool_in_the_session(ws, script):
    script.add_tool_calls(("touch", json.dumps({"path": "1.txt"})))
    script.add_tool_calls(("touch", json.dumps({"path": "2.txt"})))
    script.add_text("ok")
    session, gate = make_session(ws, script)

    events = run(session, gate, CellApproval(asker=stdin_answers("a")))

    assert [e.decided_by for e in events if isinstance(e, ApprovalDecided)] == [
        DecidedBy.STDIN,
        DecidedBy.SESSION_ALLOW,
    ]
    assert ws.ran == ["1.txt", "2.txt"]


def test_stop_ends_the_turn_cancelled_with_every_call_answered(ws, script):
    script.add_tool_calls(("touch", json.dumps({"path": "1.txt"})))
    session, gate = make_session(ws, script)

    events = run(session, gate, CellApproval(asker=stdin_answers("s")))

    assert events[-1].state is TurnState.CANCELLED
    assert ws.ran == []
    assert [m["role"] for m in session.messages] == ["user", "assistant", "tool"]


def test_a_deny_rule_gates_the_read_only_calls_it_matches_and_no_others(ws, script):
    script.add_tool_calls(("peek", json.dumps({"path": ".env"})), ("peek", json.dumps({"path": "a.txt"})))
    script.add_text("ok")
    session, gate = make_session(ws, script, {"deny": ["peek:.env"]})

    events = run(session, gate, CellApproval(asker=HeadlessAsker("deny", show=lambda text: None)))

    assert [e.subject for e in events if isinstance(e, ApprovalRequested)] == [".env"]
    assert ws.ran == ["peek a.txt"]


def test_an_ask_rule_asks_only_for_the_calls_it_matches(ws, script):
    script.add_tool_calls(("peek", json.dumps({"path": "secret.csv"})), ("peek", json.dumps({"path": "a.txt"})))
    script.add_text("ok")
    session, gate = make_session(ws, script, {"ask": ["*:*.csv"]})

    events = run(session, gate, CellApproval(asker=stdin_answers("n")))

    assert [e.subject for e in events if isinstance(e, ApprovalRequested)] == ["secret.csv"]
    assert ws.ran == ["peek a.txt"]


def test_a_path_rule_protects_the_path_from_the_other_file_tools_of_its_kind(tmp_path):
    from agent_magic.tools.builtins import builtin_tools

    tools = ToolRegistry(builtin_tools())
    gate = ApprovalGate(
        rules=lambda: parse_permissions({"deny": ["read_file:.env", "write_file:data/*"]}),
        tools=tools,
        workspace=tmp_path,
    )
    approver = gate.for_cell(CellApproval())
    search = ToolCall("1", "search_files", json.dumps({"query": "KEY", "path": ".env"}))
    edit = ToolCall("2", "edit_file", json.dumps({"path": "data/raw.csv", "old_text": "a", "new_text": "b"}))
    other = ToolCall("3", "read_file", json.dumps({"path": "notes.txt"}))
    assert approver.gates(search, destructive=False) and approver.gates(edit, destructive=True)
    assert not approver.gates(other, destructive=False)
    decision = asyncio.run(approver(edit, gate.subject_of(edit)))
    assert decision.decision is Decision.DENIED and "write_file:data/*" in decision.reason
    assert gate.denies_reading(".env") and not gate.denies_reading("notes.txt")
    read_data = ToolCall("4", "read_file", json.dumps({"path": "data/raw.csv"}))
    assert not approver.gates(read_data, destructive=False)  # a write rule does not stop reading


def test_headless_policy_denies_by_default_and_tells_the_model_no_one_could_approve(ws, script):
    script.add_tool_calls(("touch", json.dumps({"path": "1.txt"})))
    script.add_text("ok")
    session, gate = make_session(ws, script)
    shown: list[str] = []

    events = run(session, gate, CellApproval(asker=HeadlessAsker("deny", show=shown.append)))

    decided = next(e for e in events if isinstance(e, ApprovalDecided))
    assert (decided.decision, decided.decided_by) == (Decision.DENIED, DecidedBy.HEADLESS)
    assert ws.ran == [] and "touch(path='1.txt')" in shown[0]
    assert "no one could approve it in a headless run" in tool_result_sent(script)["error_message"]
    finished = next(e for e in events if isinstance(e, ToolFinished))
    assert finished.error_code == "denied"


def test_headless_error_policy_fails_the_turn_with_one_line_saying_what_to_do(ws, script):
    script.add_tool_calls(("touch", json.dumps({"path": "1.txt"})))
    session, gate = make_session(ws, script)

    ended = run(session, gate, CellApproval(asker=HeadlessAsker("error", show=lambda text: None)))[-1]

    assert isinstance(ended, TurnEnded) and ended.state is TurnState.FAILED
    assert isinstance(ended.error, HeadlessApprovalError) and "--approve touch" in ended.message
    assert ws.ran == []


def test_headless_allow_policy_runs_the_call(ws, script):
    script.add_tool_calls(("touch", json.dumps({"path": "1.txt"})))
    script.add_text("ok")
    session, gate = make_session(ws, script)
    run(session, gate, CellApproval(asker=HeadlessAsker("allow", show=lambda text: None)))
    assert ws.ran == ["1.txt"]


def test_without_an_asker_nothing_runs(ws, script):
    script.add_tool_calls(("touch", json.dumps({"path": "1.txt"})))
    script.add_text("ok")
    session, gate = make_session(ws, script)
    run(session, gate, CellApproval())
    assert ws.ran == []


@pytest.mark.parametrize(
    ("text", "choice", "reason"),
    [("y", Choice.APPROVE, ""), ("YES", Choice.APPROVE, ""), ("n too big", Choice.DENY, "too big"),
     ("a", Choice.ALWAYS, ""), ("stop", Choice.STOP, "")],
)  # fmt: skip
def test_stdin_answers(text, choice, reason):
    answer = parse_stdin_answer(text)
    assert (answer.choice, answer.reason, answer.decided_by) == (choice, reason, DecidedBy.STDIN)


def test_stdin_asks_again_on_an_unclear_answer_and_denies_at_end_of_input(ws):
    request = ApprovalRequest(make_request_call(), None, {"path": "x"}, "x", ws.root)
    assert asyncio.run(stdin_answers("maybe", "y").ask(request)).choice is Choice.APPROVE

    def eof(prompt: str) -> str:
        raise EOFError

    assert asyncio.run(StdinAsker(show=lambda t: None, read=eof).ask(request)).choice is Choice.DENY


def test_approve_option_rejects_unknown_tool_names():
    assert parse_approve_option("write_file, run_python", ["write_file", "run_python"]) == {"write_file", "run_python"}
    assert parse_approve_option("all", ["write_file"]) == {"all"}
    with pytest.raises(Exception, match="no tool named 'wirte_file'"):
        parse_approve_option("wirte_file", ["write_file"])


def test_write_over_an_existing_file_is_shown_as_a_diff(ws):
    (ws.root / "notes.txt").write_text("one\ntwo\n")
    call = make_request_call()
    request = ApprovalRequest(call, None, {"path": "notes.txt", "content": "one\nTWO\n"}, "notes.txt", ws.root)
    view = describe_request(request)
    assert view.language == "diff" and "-two\n+TWO" in view.body
    edit = ApprovalRequest(call, None, {"path": "notes.txt", "old_text": "one", "new_text": "1"}, "", ws.root)
    assert "-one\n+1" in describe_request(edit).body
    new = ApprovalRequest(call, None, {"path": "new.txt", "content": "hi\n"}, "new.txt", ws.root)
    assert "(new file)" in describe_request(new).title


def test_commands_and_code_are_shown_as_such(ws):
    call = make_request_call()
    shell = describe_request(ApprovalRequest(call, None, {"command": "ls -la"}, "ls -la", ws.root))
    assert (shell.language, shell.body) == ("bash", "ls -la")
    code = describe_request(ApprovalRequest(call, None, {"code": "x = 1"}, "x = 1", ws.root))
    assert code.body == "x = 1" and "<pre" in code.html()


def test_a_search_skips_the_files_a_deny_rule_protects(tmp_path):
    from agent_magic.tools.builtins import builtin_tools
    from agent_magic.tools.files import search_files

    (tmp_path / ".env").write_text("API_KEY=sk-secret\n")
    (tmp_path / "notes.txt").write_text("API_KEY is read from the environment\n")
    gate = ApprovalGate(
        rules=lambda: parse_permissions({"deny": ["read_file:.env"]}),
        tools=ToolRegistry(builtin_tools()),
        workspace=tmp_path,
    )
    context = ToolContext(workspace=tmp_path, denies_reading=gate.denies_reading)
    result = search_files(context, "API_KEY")
    assert [match["path"] for match in result.data["matches"]] == ["notes.txt"]
