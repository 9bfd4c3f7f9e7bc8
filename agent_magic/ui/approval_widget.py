"""Approve / Deny / Always allow / Stop buttons in the running cell (ipywidgets).

The cell is an awaited coroutine, so while it waits here the kernel's event loop keeps running and, with
ipykernel >= 7.4, delivers the button's comm message to a handler that settles a future. The request is
shown above the buttons exactly as it will run (escaped HTML with a text/plain twin, never Markdown; see
`approval_view`), and after the answer the buttons are disabled; the renderer then prints the decision
line, so a saved notebook reads well without widget state.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from IPython.display import display

from agent_magic.events import DecidedBy
from agent_magic.policy.approval import Answer, ApprovalRequest, Choice
from agent_magic.ui.approval_view import describe_request

# How long one wait slice lasts: an interrupt (CancelledError) is seen at the latest after this.
WAIT_SLICE = 0.2


class ApprovalButtons:
    """One request's widgets: the buttons, the deny-reason box, and the future they settle."""

    def __init__(self, tool_name: str, loop: asyncio.AbstractEventLoop) -> None:
        import ipywidgets as widgets  # deferred: loading the extension stays fast

        self._loop = loop
        self.answer: asyncio.Future[Answer] = loop.create_future()
        self.clicked_at: float | None = None
        self.approve = widgets.Button(description="Approve", button_style="success", icon="check")
        self.deny = widgets.Button(description="Deny", button_style="danger", icon="times")
        self.always = widgets.Button(
            description=f"Always allow {tool_name} this session",
            icon="check-double",
            layout=widgets.Layout(width="auto"),
        )
        self.stop = widgets.Button(description="Stop", button_style="warning", icon="stop")
        self.reason = widgets.Text(
            placeholder="reason for denying (optional; the model reads it)", layout=widgets.Layout(width="40em")
        )
        self.approve.on_click(self._on(Choice.APPROVE))
        self.deny.on_click(self._on(Choice.DENY))
        self.always.on_click(self._on(Choice.ALWAYS))
        self.stop.on_click(self._on(Choice.STOP))
        self.box = widgets.VBox(
            [widgets.HBox([self.approve, self.deny, self.always, self.stop]), self.reason],
            layout=widgets.Layout(margin="4px 0 8px 0"),
        )

    def _on(self, choice: Choice) -> Callable[[Any], None]:
        def clicked(_button: Any) -> None:
            self.clicked_at = time.monotonic()
            reason = self.reason.value.strip() if choice is Choice.DENY else ""
            # The comm handler may run off the loop's thread (kernel subshells): settle thread-safely.
            self._loop.call_soon_threadsafe(self._settle, Answer(choice, DecidedBy.CLICK, reason))

        return clicked

    def _settle(self, answer: Answer) -> None:
        if not self.answer.done():  # the first click wins; a double click is ignored
            self.answer.set_result(answer)

    def disable(self) -> None:
        """Grey out every control (after the answer, or when the wait was interrupted)."""
        for control in (self.approve, self.deny, self.always, self.stop, self.reason):
            control.disabled = True


class ButtonAsker:
    """Asks with buttons in the cell and waits, in short slices, for a click.

    `last_latency` is the time from the click handler to the answer reaching the gate (for the benchmark).
    """

    def __init__(self, show: Callable[..., Any] = display) -> None:
        self._show = show
        self.last_latency: float | None = None

    async def ask(self, request: ApprovalRequest) -> Answer:
        """Show the request and the buttons; return the clicked answer."""
        self._show(describe_request(request).bundle(), raw=True)
        buttons = ApprovalButtons(request.call.name, asyncio.get_running_loop())
        self._show(buttons.box)
        try:
            while not buttons.answer.done():
                await asyncio.wait({buttons.answer}, timeout=WAIT_SLICE)
        finally:
            buttons.disable()
        answer = buttons.answer.result()
        if buttons.clicked_at is not None:
            self.last_latency = time.monotonic() - buttons.clicked_at
        return answer
