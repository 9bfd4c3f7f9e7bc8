"""The approval gate: who decides whether a tool call that changes things may run.

`ApprovalGate` is the session's `Approver`. For each call it consults, in order:

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

import contextlib
import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from agent_magic.errors import AgentUsageError
from agent_magic.events import ToolCall
from agent_magic.policy.approval_rules import PermissionRules
from agent_magic.session import ApprovalDecision
from agent_magic.tools.registry import Tool, ToolRegistry
from agent_magic.tools.runner import parse_arguments
from agent_magic.tools.threads import run_in_tool_thread

# Who decided (ApprovalDecided.decided_by), so the ledger can say how each call came to run or not.
BY_CLICK = "user click"
BY_STDIN = "stdin"
BY_RULE = "rule"
BY_PRE_APPROVAL = "pre-approval"
BY_SESSION_ALLOW = "session allow"
BY_HEADLESS = "headless policy"
BY_NOBODY = "no approver"

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


@dataclass(frozen=True)
class Answer:
    """An asker's answer: the choice, an optional reason (read by the model on deny), and who gave it."""

    choice: Choice
    decided_by: str
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
    """The session's approver: rules, pre-approval, session allowances, then a person or the policy.

    Example:
        >>> gate = ApprovalGate(rules=lambda: PermissionRules(), tools=registry, workspace=Path("."))
        >>> with gate.for_cell(CellApproval(frozenset({"write_file"}), asker)):
        ...     await session_turn()  # write_file runs without asking; other destructive tools ask
    """

    def __init__(self, *, rules: Callable[[], PermissionRules], tools: ToolRegistry, workspace: Path) -> None:
        # Rules are read on every call, so `%config AgentMagic.permissions = ...` applies at once.
        self._rules = rules
        self._tools = tools
        self._workspace = workspace
        self.cell = CellApproval()
        self.session_allowed: set[str] = set()

    @contextlib.contextmanager
    def for_cell(self, cell: CellApproval) -> Iterator[None]:
        """Use `cell`'s pre-approvals and asker while one cell's turn runs."""
        previous, self.cell = self.cell, cell
        try:
            yield
        finally:
            self.cell = previous

    def gates(self, call: ToolCall) -> bool:
        """True when a deny or ask rule names this tool: then even a read-only call passes the gate."""
        return self._rules().names_tool(call.name)

    async def __call__(self, call: ToolCall, subject: str | None) -> ApprovalDecision:
        """Decide one call (see the module docstring for the order); `subject` None: unreadable."""
        rule = self._rules().match(call.name, subject)
        if rule is not None and rule.verdict == "deny":
            return ApprovalDecision(False, BY_RULE, f"denied by the rule {rule.text!r}")
        request = self._request(call, subject)
        request = replace(request, review=await self._review(request))
        if not request.review:  # a call its tool wants seen by a person skips every automatic approval
            if rule is not None and rule.verdict == "allow":
                return ApprovalDecision(True, BY_RULE, f"allowed by the rule {rule.text!r}")
            if rule is None and self.cell.covers(call.name):
                return ApprovalDecision(True, BY_PRE_APPROVAL)
            if rule is None and call.name in self.session_allowed:
                return ApprovalDecision(True, BY_SESSION_ALLOW, f"always allow {call.name} this session")
        asker = self.cell.asker
        if asker is None:
            return ApprovalDecision(False, BY_NOBODY, "no one was there to approve it")
        answer = await asker.ask(request)
        if answer.choice is Choice.ALWAYS:
            self.session_allowed.add(call.name)
        return ApprovalDecision(
            approved=answer.choice in (Choice.APPROVE, Choice.ALWAYS),
            decided_by=answer.decided_by,
            reason=answer.reason,
            stop_turn=answer.choice is Choice.STOP,
        )

    @staticmethod
    async def _review(request: ApprovalRequest) -> str:
        """The tool's reason for a person to see this call; run off the loop (parsing can take a while)."""
        review = request.tool.review if request.tool is not None else None
        if review is None or request.arguments is None:
            return ""
        return await run_in_tool_thread(review, request.arguments)

    def _request(self, call: ToolCall, subject: str | None) -> ApprovalRequest:
        try:
            arguments: dict[str, Any] | None = parse_arguments(call.arguments)
        except ValueError:
            arguments = None
        return ApprovalRequest(call, self._tools.get(call.name), arguments, subject, self._workspace)
