"""The notebook renderer's outputs in the running cell, and streamed text shown as settled blocks.

`CellOutputs` creates every output the renderer shows, in order. A status line waits at the bottom as a
slot: the next output takes its place (so a status line leaves nothing behind once content arrives), or
it is emptied when something else (an approval prompt) is shown below it.

`BlockStream` shows streamed Markdown as finished blocks, each settled once into an output that is never
sent again, plus one open output redrawn as text arrives (`markdown_blocks.split_settled` decides where
a block ends), so the bytes sent grow with the answer, not with its square.
"""

from __future__ import annotations

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
    settles: only finished blocks are sent.
    """

    def __init__(self, outputs: CellOutputs, render: Render, *, live: bool = True) -> None:
        self._outputs = outputs
        self._render = render
        self._live = live
        self._parts: list[str] = []
        self._open = ""
        self._open_output: Output | None = None
        self._made: list[Output] = []
        self.chars = 0

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

    def flush(self, *, final: bool = False) -> None:
        """Settle the finished blocks and redraw the open one (`final`: settle everything)."""
        if not self._parts and not final:
            return
        text = self._open + "".join(self._parts)
        self._parts = []
        settled, self._open = (text, "") if final else split_settled(text)
        if settled:
            self._draw(settled, final=True)
        if self._open and self._live:
            self._draw(self._open, final=False)

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
