"""The "Thinking" block: a model call's streamed reasoning in the cell, above its answer.

`AgentMagic.show_reasoning` picks the form:
- "collapsed" (default): while the model reasons, one line with the time, the length and the last words;
  when the call ends, a collapsed `<details>` block holding all of it, with the reasoning tokens the
  server reported. (Settled once, at the end: redrawing a `<details>` would close it under the reader.)
- "expanded": a header line, and the reasoning streamed below it as it comes (settled blocks, like the
  answer), the header completed with the time and tokens when the call ends.
- "hidden": nothing is shown (the reasoning is still recorded in the ledger).

Reasoning is model output: it is shown escaped, as text, never rendered as Markdown or HTML.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable

from agent_magic.ui.cell_outputs import EMPTY, BlockStream, Bundle, CellOutputs, Output
from agent_magic.ui.progress import clock_text

REASONING_MODES = ("collapsed", "expanded", "hidden")
PREVIEW_CHARS = 160
_BODY_STYLE = (
    "white-space:pre-wrap;opacity:.75;font-size:92%;border-left:3px solid #bbb;padding-left:.6em;margin:.2em 0"
)


def _body_html(text: str) -> str:
    return f"<div class='agent-magic-thinking-text' style='{_BODY_STYLE}'>{html.escape(text)}</div>"


def reasoning_bundle(text: str, final: bool) -> Bundle:
    """A piece of reasoning shown expanded: escaped text (with its plain twin when final)."""
    bundle = {"text/html": _body_html(text)}
    if final:
        bundle["text/plain"] = text
    return bundle


class ThinkingBlock:
    """One model call's reasoning in the cell: `add()` pieces, `flush()` on the display tick, `answer_started()`
    when the answer begins, `finish(reasoning_tokens)` when the call ends."""

    def __init__(
        self,
        outputs: CellOutputs,
        *,
        expanded: bool,
        live: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._outputs = outputs
        self._expanded = expanded
        self._live = live
        self._clock = clock
        self._started = clock()
        self._ended: float | None = None
        self._parts: list[str] = []
        self.chars = 0
        self._head: Output | None = None
        self._stream = BlockStream(outputs, reasoning_bundle, live=live) if expanded else None
        self._finished = False

    def _text(self) -> str:
        # Parts, joined only when drawn (and kept joined): `str +=` would copy the whole text per token.
        text = "".join(self._parts)
        self._parts = [text]
        return text

    def add(self, text: str) -> None:
        """Take a streamed piece of reasoning."""
        self._parts.append(text)
        self.chars += len(text)
        if self._stream is not None:
            self._stream.add(text)

    def _headline(self, tokens: int | None = None) -> str:
        seconds = clock_text((self._ended or self._clock()) - self._started)
        facts = [f"{self.chars:,} characters"] + ([f"{tokens:,} reasoning tokens"] if tokens else [])
        verb = "Thought for" if self._ended is not None else "Thinking…"
        return f"💭 {verb} {seconds} · {' · '.join(facts)}"

    def _show_head(self, bundle: Bundle) -> None:
        if self._head is None:
            self._head = self._outputs.add(bundle)
        else:
            self._head.update(bundle)

    def flush(self) -> None:
        """Redraw what is being thought (nothing when nobody watches: only the end is shown then)."""
        if not self._live or self._finished:
            return
        line = html.escape(self._headline())
        if self._stream is not None:
            self._show_head({"text/html": f"<div class='agent-magic-thinking'>{line}</div>"})
            self._stream.flush()
            return
        tail = self._text()[-PREVIEW_CHARS:].replace("\n", " ").strip()
        preview = f" <i style='opacity:.8'>…{html.escape(tail)}</i>" if tail and self._ended is None else ""
        self._show_head({"text/html": f"<div class='agent-magic-thinking' style='opacity:.7'>{line}{preview}</div>"})

    def answer_started(self) -> None:
        """The answer began: the thinking time stops here."""
        if self._ended is None:
            self._ended = self._clock()
            self.flush()

    def finish(self, reasoning_tokens: int | None = None) -> None:
        """Show the whole reasoning, with the reasoning tokens the server reported (once; later calls
        do nothing)."""
        if self._finished:
            return
        if self._ended is None:
            self._ended = self._clock()
        line = self._headline(reasoning_tokens)
        text = self._text()
        if self._stream is not None:
            self._show_head(
                {"text/html": f"<div class='agent-magic-thinking'>{html.escape(line)}</div>", "text/plain": line}
            )
            self._stream.flush(final=True)
        else:
            markup = (
                f"<details class='agent-magic-thinking'><summary style='opacity:.7'>{html.escape(line)}</summary>"
                f"{_body_html(text)}</details>"
            )
            self._show_head({"text/html": markup, "text/plain": f"{line}\n{text}"})
        self._finished = True

    def discard(self) -> None:
        """Take back everything shown (the answer restarted)."""
        if self._head is not None:
            self._head.update(EMPTY)
        if self._stream is not None:
            self._stream.discard()
        self._finished = True
