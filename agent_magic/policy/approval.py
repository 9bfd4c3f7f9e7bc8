"""The approval gate: who decides whether a tool call that changes things may run.

`ApprovalGate` holds a conversation's rules and "always allow" answers; `ApprovalGate.for_cell` gives the
`Approver` of one cell's turn (`CellApprover`). For each call it consults, in order:

1. a matching **deny** rule → denied (nothing overrides a deny rule);
2. a matching **allow** rule → approved;
3. unless an **ask** rule matches: the cell's pre-approval (`%%agent --approve write_file`) or an
   "always allow this session" answer → approved;
   (2 and 3 are skipped when the tool asks for a person's review of this call, e.g. a shell command the
   guard cannot parse: it is always asked about, and the headless policy never allows it;)
4. otherwise a person is asked through the cell's `Asker` (buttons, stdin) or, when no one can answer,
   the headless policy decides.

Approval only lets a call *run*: the tool still goes through workspace scoping and the command guard.
This module knows nothing of IPython or widgets; askers live in `agent_magic.ui`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from agent_magic.contracts import ApprovalDecision
from agent_magic.errors import AgentUsageError
from agent_magic.events import DecidedBy, Decision, ToolCall
from agent_magic.policy.permissions import PermissionRules, Rule
from agent_magic.policy.subjects import call_subject
from agent_magic.tools.registry import Tool, ToolRegistry
from agent_magic.tools.threads import run_in_tool_thread

ALL_TOOLS = "all"
HEADLESS_POLICIES = ("deny", "allow", "error")
NO_ONE_COULD_APPROVE = (
    "no one could approve it in a headless run (nbclient, nbconvert, papermill, CI); "
    "pre-approve with %%agent --approve TOOL or set AgentMagic.headless_approval"
)


class Choice(enum.StrEnum):
    """What a person (or the headless policy) answered."""

    APPROVE = "approve"
    DENY = "deny"
    ALWAYS = "always"
    STOP = "stop"


_DECISIONS = {
    Choice.APPROVE: Decision.APPROVED,
    Choice.ALWAYS: Decision.APPROVED,
    Choice.DENY: Decision.DENIED,
    Choice.STOP: Decision.STOPPED,
}


@dataclass(frozen=True)
class Answer:
    """An asker's answer: the choice, an optional reason (read by the model on deny), and who gave it."""

    choice: Choice
    decided_by: DecidedBy
    reason: str = ""


@dataclass(frozen=True)
class ApprovalRequest:
    """What an asker shows: the call, its tool, the decoded arguments (None if unreadable), the subject."""

    call: ToolCall
    tool: Tool | None
    arguments: dict[str, Any] | None
    subject: str | None
    workspace: Path
    review: str = ""  # why a person must look at this call (the tool's own review): no policy may approve it


class Asker(Protocol):
    """Asks someone about one call: buttons in the cell, `input()`, or a headless policy."""

    async def ask(self, request: ApprovalRequest) -> Answer:
        """Wait for the answer; must let `asyncio.CancelledError` (an interrupt) through promptly."""
        ...


class HeadlessApprovalError(AgentUsageError):
    """`AgentMagic.headless_approval = "error"`: a headless run met a call that needs approval."""


@dataclass(frozen=True)
class CellApproval:
    """How one cell decides: the tools it pre-approved (`--approve`) and who to ask."""

    pre_approved: frozenset[str] = frozenset()
    asker: Asker | None = None

    def covers(self, tool_name: str) -> bool:
        """True when `--approve` named this tool (or `all`)."""
        return ALL_TOOLS in self.pre_approved or tool_name in self.pre_approved


class ApprovalGate:
    """One conversation's approval state: the rules in force and its "always allow" answers.

    `for_cell` gives the `Approver` of one cell's turn (its pre-approvals and asker); the gate itself
    never changes while a turn runs.

    Example:
        >>> gate = ApprovalGate(rules=lambda: PermissionRules(), tools=registry, workspace=Path("."))
        >>> approver = gate.for_cell(CellApproval(frozenset({"write_file"}), asker))
        >>> # session.run_turn(prompt, settings, approver=approver): write_file runs without asking
    """

    def __init__(self, *, rules: Callable[[], PermissionRules], tools: ToolRegistry, workspace: Path) -> None:
        # Rules are read on every call, so `%config AgentMagic.permissions = ...` applies at once.
        self._rules = rules
        self._tools = tools
        self.workspace = workspace
        self.session_allowed: set[str] = set()

    def for_cell(self, cell: CellApproval) -> CellApprover:
        """The approver of one cell's turn."""
        return CellApprover(self, cell)

    def file_tools_alike(self, tool_name: str) -> tuple[str, ...]:
        """The file tools a path rule on `tool_name` also covers: those that read files when it reads
        them, those that change files when it changes them (so `deny read_file:.env` also stops
        search_files, and `deny write_file:data/*` also stops edit_file and delete_file)."""
        tool = self._tools.get(tool_name)
        if tool is None or not _takes_path(tool):
            return ()
        return tuple(t.name for t in self._tools if _takes_path(t) and t.destructive == tool.destructive)

    def rule_for(self, call: ToolCall, subject: str | None) -> Rule | None:
        """The rule deciding this call (its path rules covering alike file tools), or None."""
        return self._rules().match(call.name, subject, alike=self.file_tools_alike(call.name))

    def denies_reading(self, relative_path: str) -> bool:
        """True when a deny rule protects this workspace path from the tools that read files (a search
        skips such files)."""
        rules = self._rules()
        readers = [t.name for t in self._tools if _takes_path(t) and not t.destructive]
        return any(rules.denies(name, relative_path) for name in readers)

    def subject_of(self, call: ToolCall) -> str | None:
        """What the rules match for `call` (its path, command, code…), None if unreadable."""
        return call_subject(self._tools.get(call.name), call, self.workspace)

    def request(self, call: ToolCall, subject: str | None) -> ApprovalRequest:
        """What an asker is shown for `call`."""
        return ApprovalRequest(call, self._tools.get(call.name), call.decoded.values, subject, self.workspace)


def _takes_path(tool: Tool) -> bool:
    return tool.subject_argument in (None, "path") and "path" in {name for name, *_ in tool.parameters}


class CellApprover:
    """The `Approver` of one cell's turn: rules, pre-approval, session allowances, then a person or the
    policy (see the module docstring for the order)."""

    def __init__(self, gate: ApprovalGate, cell: CellApproval) -> None:
        self.gate = gate
        self.cell = cell

    def gates(self, call: ToolCall, destructive: bool) -> bool:
        """True when the call must be decided: a destructive tool, or a call a deny or ask rule matches."""
        if destructive:
            return True
        rule = self.gate.rule_for(call, self.gate.subject_of(call))
        return rule is not None and rule.verdict in ("deny", "ask")

    async def __call__(self, call: ToolCall, subject: str | None) -> ApprovalDecision:
        """Decide one call; `subject` None: unreadable."""
        rule = self.gate.rule_for(call, subject)
        if rule is not None and rule.verdict == "deny":
            return ApprovalDecision(Decision.DENIED, DecidedBy.RULE, f"denied by the rule {rule.text!r}")
        request = self.gate.request(call, subject)
        request = replace(request, review=await _review(request))
        if not request.review:  # a call its tool wants seen by a person skips every automatic approval
            if rule is not None and rule.verdict == "allow":
                return ApprovalDecision(Decision.APPROVED, DecidedBy.RULE, f"allowed by the rule {rule.text!r}")
            if rule is None and self.cell.covers(call.name):
                return ApprovalDecision(Decision.APPROVED, DecidedBy.PRE_APPROVAL)
            if rule is None and call.name in self.gate.session_allowed:
                return ApprovalDecision(
                    Decision.APPROVED, DecidedBy.SESSION_ALLOW, f"always allow {call.name} this session"
                )
        asker = self.cell.asker
        if asker is None:
            return ApprovalDecision(Decision.DENIED, DecidedBy.NOBODY, "no one was there to approve it")
        answer = await asker.ask(request)
        if answer.choice is Choice.ALWAYS:
            self.gate.session_allowed.add(call.name)
        return ApprovalDecision(_DECISIONS[answer.choice], answer.decided_by, answer.reason)


async def _review(request: ApprovalRequest) -> str:
    """The tool's reason for a person to see this call; run off the loop (parsing can take a while)."""
    review = request.tool.review if request.tool is not None else None
    if review is None or request.arguments is None:
        return ""
    return await run_in_tool_thread(review, request.arguments)
