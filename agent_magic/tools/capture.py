"""Capturing output of unknown length in bounded memory: the head and the tail are kept, the middle is
counted and replaced by the same marker `framing.cap_text` uses."""

from __future__ import annotations

import codecs
from collections import deque

from agent_magic.tools.framing import truncation_marker


class HeadTailBuffer:
    """Keeps the first and last `max_chars // 2` characters written to it, however much is written.

    Example:
        >>> buffer = HeadTailBuffer(10)
        >>> buffer.write("0123456789" * 3)
        >>> buffer.truncated, buffer.text().startswith("01234")
        (True, True)
    """

    def __init__(self, max_chars: int) -> None:
        self._half = max(max_chars // 2, 1)
        self._head: list[str] = []
        self._head_len = 0
        self._tail: deque[str] = deque()
        self._tail_len = 0
        self._dropped_chars = 0
        self._dropped_lines = 0
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    @property
    def truncated(self) -> bool:
        """True when part of the output was dropped."""
        return self._dropped_chars > 0

    def write_bytes(self, data: bytes) -> None:
        """Add raw output (decoded as UTF-8; a character split across writes is reassembled)."""
        self.write(self._decoder.decode(data))

    def write(self, text: str) -> int:
        """Add text; returns its length (so the buffer can stand in for a stream)."""
        written = len(text)
        room = self._half - self._head_len
        if room > 0:
            self._head.append(text[:room])
            self._head_len += min(room, len(text))
            text = text[room:]
        if text:
            self._tail.append(text)
            self._tail_len += len(text)
            while self._tail_len - len(self._tail[0]) >= self._half:
                dropped = self._tail.popleft()
                self._tail_len -= len(dropped)
                self._dropped_chars += len(dropped)
                self._dropped_lines += dropped.count("\n")
        return written

    def text(self) -> str:
        """Everything kept, with a marker where the middle was dropped."""
        self.write(self._decoder.decode(b"", final=True))
        tail = "".join(self._tail)
        excess = max(0, len(tail) - self._half)
        if excess:  # the oldest tail piece may stick out past the limit: trim it
            self._dropped_chars += excess
            self._dropped_lines += tail[:excess].count("\n")
            self._tail = deque([tail[excess:]])
            self._tail_len = len(tail) - excess
            tail = tail[excess:]
        head = "".join(self._head)
        if not self._dropped_chars:
            return head + tail
        return head + truncation_marker(self._dropped_lines + 1, self._dropped_chars) + tail
