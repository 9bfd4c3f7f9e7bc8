"""The approval buttons in memory: `ButtonAsker` shows the request and its widgets through its injectable
`show`, and the buttons are pressed with ipywidgets' `Button.click()`, which runs the click handlers as a
frontend's click would, with no kernel or browser. Clicks over the Jupyter protocol are tested in a real
kernel (test_approvals_kernel.py) and in JupyterLab (tests/browser)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pytest

from agent_magic.events import DecidedBy, ToolCall
from agent_magic.policy.approval import Answer, ApprovalRequest, Choice
from agent_magic.ui.approval_view import describe_request
from agent_magic.ui.approval_widget import ButtonAsker

CALL = ToolCall("c1", "write_file", '{"path": "notes.txt", "content": "hi"}')


def request(workspace: Path) -> ApprovalRequest:
    return ApprovalRequest(CALL, None, {"path": "notes.txt", "content": "hi"}, "notes.txt", workspace)


class Cell:
    """What the asker showed in the cell, in order; the widgets of its box found by their labels."""

    def __init__(self) -> None:
        self.shown: list[Any] = []

    def show(self, obj: Any, **options: Any) -> None:
        self.shown.append(obj)

    async def buttons_shown(self) -> None:
        while not any(isinstance(obj, widgets.VBox) for obj in self.shown):
            await asyncio.sleep(0)

    @property
    def box(self) -> widgets.VBox:
        (box,) = [obj for obj in self.shown if isinstance(obj, widgets.VBox)]
        return box

    def controls(self) -> list[widgets.DOMWidget]:
        buttons, reason = self.box.children
        return [*buttons.children, reason]

    def button(self, label: str) -> widgets.Button:
        (button,) = [c for c in self.controls() if isinstance(c, widgets.Button) and c.description.startswith(label)]
        return button

    @property
    def reason(self) -> widgets.Text:
        (text,) = [c for c in self.controls() if isinstance(c, widgets.Text)]
        return text


def ask(workspace: Path, act: Callable[[Cell], None]) -> tuple[Answer, Cell, ButtonAsker]:
    """Ask, do `act` once the buttons are shown (as a person would), and return the answer."""
    cell = Cell()
    asker = ButtonAsker(show=cell.show)

    async def scenario() -> Answer:
        asking = asyncio.ensure_future(asker.ask(request(workspace)))
        await cell.buttons_shown()
        act(cell)
        return await asking

    return asyncio.run(scenario()), cell, asker


def test_the_request_is_shown_with_a_plain_text_twin_above_the_buttons(workspace):
    _, cell, _ = ask(workspace, lambda cell: cell.button("Approve").click())

    bundle, box = cell.shown
    assert bundle == describe_request(request(workspace)).bundle()
    assert bundle["text/plain"].startswith("Approval needed: write_file wants to write notes.txt")
    assert box is cell.box


@pytest.mark.parametrize(
    ("label", "choice"),
    [
        ("Approve", Choice.APPROVE),
        ("Deny", Choice.DENY),
        ("Always allow write_file this session", Choice.ALWAYS),
        ("Stop", Choice.STOP),
    ],
)
def test_each_button_answers_its_choice_as_a_click(workspace, label, choice):
    answer, _, _ = ask(workspace, lambda cell: cell.button(label).click())
    assert answer == Answer(choice, DecidedBy.CLICK, "")


def test_deny_carries_the_reason_typed_in_the_box(workspace):
    def deny_with_reason(cell: Cell) -> None:
        cell.reason.value = "  use the scratch folder  "
        cell.button("Deny").click()

    answer, _, _ = ask(workspace, deny_with_reason)

    assert answer == Answer(Choice.DENY, DecidedBy.CLICK, "use the scratch folder")


def test_a_typed_reason_goes_with_a_denial_only(workspace):
    def approve_with_reason(cell: Cell) -> None:
        cell.reason.value = "typed, then changed my mind"
        cell.button("Approve").click()

    answer, _, _ = ask(workspace, approve_with_reason)

    assert answer == Answer(Choice.APPROVE, DecidedBy.CLICK, "")


def test_the_first_click_wins_and_a_second_is_ignored(workspace):
    def double_click(cell: Cell) -> None:
        cell.button("Deny").click()
        cell.button("Approve").click()

    answer, _, _ = ask(workspace, double_click)

    assert answer.choice is Choice.DENY


def test_every_control_is_disabled_once_answered(workspace):
    _, cell, asker = ask(workspace, lambda cell: cell.button("Approve").click())

    assert all(control.disabled for control in cell.controls())
    assert asker.last_latency is not None, "the click-to-answer time is kept for the approval benchmark"


def test_an_interrupt_while_waiting_ends_the_wait_and_disables_the_controls(workspace):
    cell = Cell()

    async def interrupted() -> None:
        asking = asyncio.ensure_future(ButtonAsker(show=cell.show).ask(request(workspace)))
        await cell.buttons_shown()
        asking.cancel()
        await asking

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(interrupted())
    assert all(control.disabled for control in cell.controls())
