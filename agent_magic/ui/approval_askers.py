"""Who is asked to approve in this cell: buttons, `input()` on stdin, or the headless policy.

`choose_asker()` looks at the running execute request: `allow_stdin = False` means a headless run
(nbclient, nbconvert, papermill, nbval), where no one can answer; otherwise buttons when the kernel
delivers comm messages to a cell that is awaiting (feature-detected, ipykernel >= 7.4), else `input()`.
"""

from __future__ import annotations

import asyncio
import builtins
import importlib.util
import inspect
from collections.abc import Callable
from typing import Any

from agent_magic.errors import AgentUsageError
from agent_magic.events import DecidedBy
from agent_magic.policy.approval import (
    ALL_TOOLS,
    NO_ONE_COULD_APPROVE,
    Answer,
    ApprovalGate,
    ApprovalRequest,
    Asker,
    CellApproval,
    CellApprover,
    Choice,
    HeadlessApprovalError,
)
from agent_magic.ui.approval_view import describe_request, visible_html, visible_text
from agent_magic.ui.format import call_signature

STDIN_PROMPT = "Approve? y(es) / n(o) [reason] / a(lways this session) / s(top): "
STDIN_CHOICES = {
    "y": Choice.APPROVE,
    "yes": Choice.APPROVE,
    "n": Choice.DENY,
    "no": Choice.DENY,
    "a": Choice.ALWAYS,
    "always": Choice.ALWAYS,
    "s": Choice.STOP,
    "stop": Choice.STOP,
}
MAX_STDIN_TRIES = 3


def parse_stdin_answer(text: str) -> Answer | None:
    """`y`, `n [reason]`, `a` or `s` (and their long forms) as an answer; None for anything else.

    Example:
        >>> parse_stdin_answer("n not that file")
        Answer(choice=<Choice.DENY: 'deny'>, decided_by=<DecidedBy.STDIN: 'stdin'>, reason='not that file')
    """
    word, _, rest = text.strip().partition(" ")
    choice = STDIN_CHOICES.get(word.lower())
    if choice is None:
        return None
    return Answer(choice, DecidedBy.STDIN, rest.strip() if choice is Choice.DENY else "")


class StdinAsker:
    """Asks with `input()`: the kernel's stdin channel (older kernels, Colab) or a terminal."""

    def __init__(self, show: Callable[[str], None] = print, read: Callable[[str], str] | None = None) -> None:
        self._show = show
        self._read = read

    async def ask(self, request: ApprovalRequest) -> Answer:
        """Print the request and read the answer; an unclear answer is asked again, end of input denies."""
        self._show(describe_request(request).plain())
        # Looked up at call time: ipykernel installs its stdin-channel `input` while a cell executes.
        read = self._read or builtins.input
        for _ in range(MAX_STDIN_TRIES):
            try:
                text = read(STDIN_PROMPT)
            except EOFError:
                return Answer(Choice.DENY, DecidedBy.STDIN, "no answer (end of input)")
            except KeyboardInterrupt:
                # An interrupt while blocked in input(): end the turn the way an interrupt does.
                raise asyncio.CancelledError("interrupted at the approval prompt") from None
            answer = parse_stdin_answer(text)
            if answer is not None:
                return answer
            self._show(f"Please answer y, n, a or s (got {text.strip()!r}).")
        return Answer(Choice.DENY, DecidedBy.STDIN, "no clear answer")


class HeadlessAsker:
    """No one can answer: apply `AgentMagic.headless_approval` and say so in the cell."""

    def __init__(self, policy: str, show: Callable[[str], None] = print) -> None:
        self.policy = policy
        self._show = show

    async def ask(self, request: ApprovalRequest) -> Answer:
        """Deny (the default), allow, or fail the turn, printing the request either way."""
        signature = call_signature(request.call)
        setting = f"AgentMagic.headless_approval = {self.policy!r}"
        if request.review:  # e.g. a command the guard could not read: no policy approves it unseen
            self._show(f"🔐 not run in a headless run: {request.review}: {signature}")
            return Answer(Choice.DENY, DecidedBy.HEADLESS, f"{request.review}; a person must approve it")
        if self.policy == "error":
            raise HeadlessApprovalError(
                f"{request.call.name} needs approval but this run is headless ({setting}); pre-approve it with "
                f"%%agent --approve {request.call.name}, or set AgentMagic.headless_approval to 'deny' or 'allow'"
            )
        self._show(f"🔐 approval needed in a headless run: {signature} ({setting})")
        if self.policy == "allow":
            return Answer(Choice.APPROVE, DecidedBy.HEADLESS, f"allowed by {setting}")
        return Answer(Choice.DENY, DecidedBy.HEADLESS, NO_ONE_COULD_APPROVE)


def clicks_reach_running_cell(kernel: Any) -> bool:
    """True when the kernel dispatches comm messages (button clicks) while a cell awaits.

    Feature-detected, not version-parsed: ipykernel 7.4 added the `concurrent` dispatch of comm
    messages for a running async cell.
    """
    dispatch = getattr(kernel, "dispatch_shell", None)
    if dispatch is None:
        return False
    try:
        return "concurrent" in inspect.signature(dispatch).parameters
    except (TypeError, ValueError):
        return False


def _show_in_cell(text: str) -> None:
    """Show a line that quotes the model's arguments: escaped HTML, never Markdown the model could shape."""
    from IPython.display import display

    display({"text/html": f"<div>{visible_html(text)}</div>", "text/plain": visible_text(text)}, raw=True)


def choose_asker(shell: Any, headless_policy: str, prompt: str = "auto") -> Asker:
    """The asker for the cell that is running now in `shell` (see the module docstring).

    `prompt` is `AgentMagic.approval_prompt`: "auto", "buttons" or "stdin".
    """
    kernel = getattr(shell, "kernel", None)
    if kernel is None:  # terminal IPython
        return StdinAsker()
    try:
        allow_stdin = bool(kernel.get_parent().get("content", {}).get("allow_stdin", False))
    except Exception:  # no parent request to read: nobody can be assumed to be there
        allow_stdin = False
    if not allow_stdin:
        return HeadlessAsker(headless_policy, show=_show_in_cell)
    has_widgets = importlib.util.find_spec("ipywidgets") is not None
    if prompt == "buttons" or (prompt == "auto" and has_widgets and clicks_reach_running_cell(kernel)):
        from agent_magic.ui.approval_widget import ButtonAsker

        return ButtonAsker()
    return StdinAsker(show=print)


def parse_approve_option(value: str | None, tool_names: list[str]) -> frozenset[str]:
    """`--approve write_file,run_python` (or `all`) as a set of names; unknown names are a usage error."""
    if not value:
        return frozenset()
    names = frozenset(name.strip() for name in value.split(",") if name.strip())
    unknown = sorted(names - set(tool_names) - {ALL_TOOLS})
    if unknown:
        raise AgentUsageError(
            f"--approve: no tool named {', '.join(map(repr, unknown))}; tools: {', '.join(tool_names)} (or all)"
        )
    return names


def cell_approver(
    gate: ApprovalGate, tool_names: list[str], shell: Any, config: Any, approve: str | None
) -> CellApprover:
    """The approver of the cell running now: its `--approve` pre-approvals and who is asked.

    `approve` is the cell's `--approve` value; `--approve all` prints a warning in the cell.
    """
    pre_approved = parse_approve_option(approve, tool_names)
    if ALL_TOOLS in pre_approved:
        print("⚠️ --approve all: every tool call in this cell runs without asking (deny rules still apply).")
    asker = choose_asker(shell, config.headless_approval, config.approval_prompt)
    return gate.for_cell(CellApproval(pre_approved, asker))
