"""The notebook renderer: the streamed answer as Markdown, tool calls as collapsible cards.

One `display(..., display_id=True)` per assistant message, updated at most once per `interval`
(jupyter_server silently drops iopub traffic above ~1000 messages/s, so never one update per token),
and flushed when the message ends. Every display carries a text/plain version, so a notebook saved by a
headless run reads well without a browser.
"""

from __future__ import annotations

import asyncio
import html
import json
import time
from collections.abc import Callable
from typing import Any

from IPython.display import DisplayHandle, display

from agent_magic.events import (
    ApprovalDecided,
    AssistantMessage,
    Event,
    ModelCallStarted,
    Notice,
    StreamRestarted,
    TextDelta,
    ToolCallStarted,
    ToolFinished,
    TurnEnded,
    TurnState,
)
from agent_magic.ui.format import call_signature, decision_line, ending_line, outcome_line

MAX_SHOWN_RESULT_CHARS = 4_000
# Each update resends the whole answer. jupyter_server drops iopub data above 1 MB/s, so long answers
# are redrawn less often: at most this many bytes per second, whatever `interval` says.
MAX_UPDATE_BYTES_PER_SECOND = 250_000


def _bundle(markdown: str, *, final: bool = True) -> dict[str, str]:
    """Markdown, plus its text/plain twin for saved notebooks; streaming updates skip the twin."""
    return {"text/markdown": markdown, "text/plain": markdown} if final else {"text/markdown": markdown}


def _pretty_result(event: ToolFinished) -> str:
    """The result as indented JSON (the data, or the error), shortened for the page."""
    if event.ok:
        shown: Any = event.data
    else:
        shown = {"error_code": event.error_code, "content": event.content}
    text = json.dumps(shown, indent=2, ensure_ascii=False, default=str)
    if len(text) > MAX_SHOWN_RESULT_CHARS:
        text = text[:MAX_SHOWN_RESULT_CHARS] + f"\n… ({len(text):,} characters in all)"
    return text


def _tool_card(signature: str, status: str, body: str | None) -> dict[str, str]:
    """An HTML card (a <details> block when there is a result) with a plain-text twin."""
    summary = f"🔧 <code>{html.escape(signature)}</code> <span style='opacity:.7'>{html.escape(status)}</span>"
    if body is None:
        markup = f"<div class='agent-magic-tool'>{summary}</div>"
    else:
        markup = (
            f"<details class='agent-magic-tool'><summary>{summary}</summary>"
            f"<pre style='max-height:24em;overflow:auto'>{html.escape(body)}</pre></details>"
        )
    return {"text/html": markup, "text/plain": f"🔧 {signature} — {status}"}


class NotebookRenderer:
    """Renders a turn's events into the running cell."""

    def __init__(
        self,
        *,
        interval: float = 0.1,
        show: Callable[..., DisplayHandle | None] = display,
        turn_metadata: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.interval = interval
        self._show = show
        # Called in close(); its result becomes the output metadata `agent_magic` of the turn's final output.
        self._turn_metadata = turn_metadata
        self._last: tuple[DisplayHandle, dict[str, str]] | None = None  # the latest output and its bundle
        self._answer: DisplayHandle | None = None
        # Parts, joined only when drawn: `str +=` on an attribute copies the whole answer per token.
        self._parts: list[str] = []
        self._shown_chars = 0
        self._last_update = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._cards: dict[str, tuple[DisplayHandle | None, str]] = {}

    # -- the streamed answer --------------------------------------------------------------------------

    def _flush(self, *, final: bool = False) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        text = "".join(self._parts)
        if self._answer is None or (len(text) == self._shown_chars and not final):
            return
        self._parts = [text]
        bundle = _bundle(text, final=final)
        self._answer.update(bundle, raw=True)
        self._last = (self._answer, bundle)
        self._shown_chars = len(text)
        self._last_update = time.monotonic()

    def _on_text(self, text: str) -> None:
        self._parts.append(text)
        if self._answer is None:
            bundle = _bundle(text, final=False)
            self._answer = self._show(bundle, raw=True, display_id=True)
            self._shown_chars, self._last_update = len(text), time.monotonic()
            self._keep_last(self._answer, bundle)
            return
        interval = max(self.interval, self._shown_chars / MAX_UPDATE_BYTES_PER_SECOND)
        wait = interval - (time.monotonic() - self._last_update)
        if wait <= 0:
            self._flush()
        elif self._timer is None:
            try:
                self._timer = asyncio.get_running_loop().call_later(wait, self._flush)
            except RuntimeError:  # no loop (a synchronous caller): the next delta or the end flushes
                pass

    def _end_message(self) -> None:
        self._flush(final=True)
        self._answer, self._parts, self._shown_chars = None, [], 0

    # -- events ---------------------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        """Render one event."""
        if isinstance(event, TextDelta):
            self._on_text(event.text)
        elif isinstance(event, ModelCallStarted | AssistantMessage):
            self._end_message()
        elif isinstance(event, StreamRestarted):
            self._parts = [f"*(the answer restarted: {event.reason})*\n\n"]
            self._shown_chars = -1  # force a redraw even if the length happens to match
            self._flush()
        elif isinstance(event, ToolCallStarted):
            self._end_message()
            signature = call_signature(event.call)
            card = _tool_card(signature, "running…", None)
            handle = self._show(card, raw=True, display_id=True)
            self._keep_last(handle, card)
            self._cards[event.call.call_id] = (handle, signature)
        elif isinstance(event, ToolFinished):
            handle, signature = self._cards.get(event.call.call_id, (None, call_signature(event.call)))
            card = _tool_card(signature, outcome_line(event), _pretty_result(event))
            if handle is None:
                handle = self._show(card, raw=True, display_id=True)
            else:
                handle.update(card, raw=True)
            if self._last is None or self._last[0] is handle:
                self._keep_last(handle, card)
        elif isinstance(event, ApprovalDecided):
            self._note(decision_line(event))
        elif isinstance(event, Notice):
            self._note(event.message)
        elif isinstance(event, TurnEnded):
            self._end_message()
            if event.state is not TurnState.COMPLETED:
                self._note(ending_line(event))

    def _note(self, text: str) -> None:
        self._end_message()
        bundle = _bundle(text)
        self._keep_last(self._show(bundle, raw=True, display_id=True), bundle)

    def _keep_last(self, handle: DisplayHandle | None, bundle: dict[str, str]) -> None:
        if handle is not None:
            self._last = (handle, bundle)

    def close(self) -> None:
        """Flush whatever is pending; attach the turn's metadata (`turn_metadata`) to its final output."""
        self._end_message()
        record = self._turn_metadata() if self._turn_metadata is not None else None
        if not record:  # no callable, or a turn that never started: nothing to attach
            return
        metadata = {"agent_magic": record}
        if self._last is None:  # the turn showed nothing: a (blank) output of its own carries the metadata
            self._show({"text/plain": ""}, raw=True, metadata=metadata)
        else:
            handle, bundle = self._last
            handle.update(bundle, raw=True, metadata=metadata)
