"""A shell command the guard cannot read is shown to a person: no rule, pre-approval, "always allow" or
headless policy runs it unseen (issue 16: what cannot be parsed is "ask", never auto-allow)."""

from __future__ import annotations

import asyncio
import json

from agent_magic.events import DecidedBy, ToolCall
from agent_magic.policy.approval import Answer, ApprovalGate, CellApproval, Choice
from agent_magic.policy.permissions import parse_permissions
from agent_magic.tools.builtins import builtin_tools
from agent_magic.tools.registry import ToolRegistry
from agent_magic.ui.approval_askers import HeadlessAsker

UNREADABLE = "[[ -f data.csv ]] && wc -l data.csv"


class Recorder:
    """An asker that approves and remembers what it was shown."""

    def __init__(self) -> None:
        self.asked: list = []

    async def ask(self, request):
        self.asked.append(request)
        return Answer(Choice.APPROVE, DecidedBy.CLICK)


def decide(workspace, command: str, *, rules: dict | None = None, cell: CellApproval, allowed: set | None = None):
    gate = ApprovalGate(
        rules=lambda: parse_permissions(rules or {}), tools=ToolRegistry(builtin_tools()), workspace=workspace
    )
    gate.session_allowed = set(allowed or ())
    call = ToolCall("c1", "run_shell", json.dumps({"command": command}))
    return asyncio.run(gate.for_cell(cell)(call, command))


def test_an_allow_rule_does_not_run_an_unreadable_command_unseen(workspace):
    asker = Recorder()
    decision = decide(workspace, UNREADABLE, rules={"allow": ["run_shell"]}, cell=CellApproval(asker=asker))
    assert decision.decided_by is DecidedBy.CLICK and len(asker.asked) == 1
    assert "cannot parse" in asker.asked[0].review


def test_pre_approval_and_always_allow_do_not_run_it_unseen(workspace):
    asker = Recorder()
    decide(workspace, UNREADABLE, cell=CellApproval(frozenset({"all"}), asker), allowed={"run_shell"})
    assert len(asker.asked) == 1


def test_a_readable_command_is_still_allowed_by_the_rule(workspace):
    asker = Recorder()
    decision = decide(workspace, "wc -l data.csv", rules={"allow": ["run_shell"]}, cell=CellApproval(asker=asker))
    assert decision.approved and decision.decided_by is DecidedBy.RULE and asker.asked == []


def test_the_headless_allow_policy_denies_an_unreadable_command(workspace):
    shown: list[str] = []
    cell = CellApproval(frozenset({"run_shell"}), HeadlessAsker("allow", show=shown.append))
    decision = decide(workspace, UNREADABLE, cell=cell)
    assert not decision.approved and "a person must approve it" in decision.reason
    assert "cannot parse" in shown[0]


def test_a_deny_rule_still_denies_first(workspace):
    asker = Recorder()
    decision = decide(workspace, UNREADABLE, rules={"deny": ["run_shell"]}, cell=CellApproval(asker=asker))
    assert not decision.approved and asker.asked == []
