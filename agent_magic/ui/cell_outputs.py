"""The notebook renderer's outputs in the running cell, and streamed text shown as settled blocks.

`CellOutputs` creates every output the renderer shows, in order. A status line waits at the bottom as a
slot: the next output takes its place (so a status line leaves nothing behind once content arrives), or
it is emptied when something else (an approval prompt) is shown below it.

`BlockStream` shows streamed Markdown as finished blocks, each settled once into an output that is never
sent again, plus one open output redrawn as text arrives (`markdown_blocks.split_settled` decides where
a block ends), so the bytes sent grow with the answer, not with its square. Settled text is sent once
with its text/plain twin (twice its size: the floor); what redraws cost beyond that is kept within a
budget, so an answer streamed as fast as a server can send it costs at most about 2.4x its size plus
`REDRAW_ALLOWANCE`, and a slow one still redraws a few times a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from IPython.display import DisplayHandle

from agent_magic.ui.markdown_blocks import split_settled

Bundle = dict[str, str]
# `IPython.display.display`, or a stand-in with its signature (tests).
Show = Callable[..., DisplayHandle | None]
# Text → the bundle that shows it; `final` bundles carry their text/plain twin.
Render = Callable[[str, bool], Bundle]

EMPTY: Bundle = {"text/plain": ""}

# An iopub display message's envelope (header, parent header, metadata, display id) as JSON, in bytes.
MESSAGE_OVERHEAD = 550
# What redraws may cost beyond the settled text: a fixed allowance (short answers stream smoothly), plus
# a share of the text received (long fast answers) or an amount per second of streaming (slow ones),
# whichever is more.
REDRAW_ALLOWANCE = 12_000
REDRAW_SHARE = 0.4
REDRAW_BYTES_PER_SECOND = 1_200
# With nobody watching, finished blocks are sent in batches of at least this many characters.
UNWATCHED_BATCH_CHARS = 4_000


class Output:
    """One output in the cell: its display handle and the bundle it shows now."""

    def __init__(self, handle: DisplayHandle | None, bundle: Bundle) -> None:
        self._handle = handle
        self.bundle = bundle

    def update(self, bundle: Bundle, metadata: dict[str, Any] | None = None) -> None:
        """Show `bundle` instead (with output `metadata`, when given)."""
        self.bundle = bundle
        if self._handle is not None:
            extra = {"metadata": metadata} if metadata is not None else {}
            self._handle.update(bundle, raw=True, **extra)


class CellOutputs:
    """Creates the renderer's outputs, in order; `last` is the latest one that is not a status line."""

    def __init__(self, show: Show) -> None:
        self._show = show
        self._status: Output | None = None
        self.last: Output | None = None

    def add(self, bundle: Bundle, metadata: dict[str, Any] | None = None) -> Output:
        """A new output at the bottom (in place of the status line, if one is shown)."""
        if self._status is not None:
            output, self._status = self._status, None
            output.update(bundle, metadata)
        else:
            extra = {"metadata": metadata} if metadata is not None else {}
            output = Output(self._show(bundle, raw=True, display_id=True, **extra), bundle)
        self.last = output
        return output

    def show_status(self, bundle: Bundle) -> None:
        """Show (or redraw) the status line at the bottom."""
        if self._status is None:
            self._status = Output(self._show(bundle, raw=True, display_id=True), bundle)
        else:
            self._status.update(bundle)

    def drop_status(self) -> None:
        """Empty the status line, if any (outputs shown by others are below it, or the turn is over)."""
        if self._status is not None:
            self._status.update(EMPTY)
            self._status = None


class BlockStream:
    """Text streamed into the cell as settled blocks plus one open output.

    `add()` takes pieces; `flush()` shows them (call it at most every display interval); `flush(final=
    True)` settles everything. With `live=False` (nobody watching) the open block is not drawn until it
    settles: only finished blocks are sent, in batches.
    """

    def __init__(
        self, outputs: CellOutputs, render: Render, *, live: bool = True, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._outputs = outputs
        self._render = render
        self._live = live
        self._clock = clock
        self._parts: list[str] = []
        self._open = ""
        self._open_output: Output | None = None
        self._made: list[Output] = []
        self.chars = 0
        self._started: float | None = None
        self._redraw_spent = 0

    @property
    def pending(self) -> bool:
        """True when text arrived since the last flush."""
        return bool(self._parts)

    @property
    def shown(self) -> bool:
        """True once anything of this stream is in the cell."""
        return bool(self._made)

    def add(self, text: str) -> None:
        """Take a streamed piece (shown at the next flush)."""
        # Parts, joined only when drawn: `str +=` on an attribute copies the whole text per token.
        self._parts.append(text)
        self.chars += len(text)
        if self._started is None:
            self._started = self._clock()

    def flush(self, *, final: bool = False) -> None:
        """Settle the finished blocks and redraw the open one (`final`: settle everything). A redraw
        that would pass the budget waits for a later flush."""
        if not self._parts and not final:
            return
        new = "".join(self._parts)
        text = self._open + new
        settled, rest = (text, "") if final else split_settled(text)
        if not final:
            cost = self._redraw_cost(settled, rest)
            if cost is None:
                self._parts = [new]  # kept for a later flush
                return
            self._redraw_spent += cost
        self._parts, self._open = [], rest
        if settled:
            self._draw(settled, final=True)
        if rest and self._live:
            self._draw(rest, final=False)

    def _redraw_cost(self, settled: str, rest: str) -> int | None:
        """Bytes this flush costs beyond the settled text itself, or None when it must wait (over budget,
        or nobody watches and too little has settled to be worth a message)."""
        if not self._live:
            return MESSAGE_OVERHEAD if len(settled) >= UNWATCHED_BATCH_CHARS else None
        cost = MESSAGE_OVERHEAD * (bool(settled) + bool(rest)) + len(rest.encode())
        elapsed = self._clock() - (self._started or 0.0)
        budget = REDRAW_ALLOWANCE + max(REDRAW_SHARE * self.chars, REDRAW_BYTES_PER_SECOND * elapsed)
        return cost if self._redraw_spent + cost <= budget else None

    def _draw(self, text: str, *, final: bool) -> None:
        bundle = self._render(text, final)
        output = self._open_output
        if output is None:
            output = self._outputs.add(bundle)
            self._made.append(output)
        else:
            output.update(bundle)
        self._open_output = None if final else output

    def discard(self) -> None:
        """Take back everything shown (the answer restarted): the outputs are emptied."""
        for output in self._made:
            output.update(EMPTY)
        self._parts, self._open, self._open_output, self._made, self.chars = [], "", None, [], 0
        self._started, self._redraw_spent = None, 0
