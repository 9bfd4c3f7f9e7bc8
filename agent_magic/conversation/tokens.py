"""How many prompt tokens the next request will take, without a tokenizer.

No tokenizer ships with agent_magic (tiktoken downloads its encodings on first use, which fails offline,
and local models have tokenizers of their own). The count a server reported for the last request is
exact, so the estimate starts from it and adds only what joined the transcript since, at about four
characters a token; with no report yet, everything is estimated that way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD_TOKENS = 4  # role markers and separators a chat template adds around each message


def message_chars(message: dict[str, Any]) -> int:
    """The characters of one Chat Completions message that become tokens: its text and its tool calls."""
    content = message.get("content")
    chars = len(content) if isinstance(content, str) else len(json.dumps(content)) if content else 0
    for call in message.get("tool_calls") or ():
        function = call.get("function", {})
        chars += len(function.get("name", "")) + len(function.get("arguments", ""))
    return chars


def estimate_tokens(messages: Sequence[dict[str, Any]], fixed_chars: int = 0) -> int:
    """Tokens of `messages` plus `fixed_chars` of other request text (system prompt, tool schemas)."""
    chars = fixed_chars + sum(message_chars(m) for m in messages)
    return chars // CHARS_PER_TOKEN + MESSAGE_OVERHEAD_TOKENS * len(messages)


@dataclass(frozen=True)
class _Anchor:
    tokens: int  # what the server counted for the request and its answer
    messages: int  # transcript length after the answer joined it
    fixed_chars: int  # system prompt and tool schemas of that request


class TokenGauge:
    """The prompt size of the next request: the last count a server reported, plus an estimate of what
    was added since. Forgotten whenever the transcript is rewritten (compaction, undo).

    Example:
        >>> gauge = TokenGauge()
        >>> gauge.observe(prompt_tokens=1200, output_tokens=300, transcript_length=4, fixed_chars=800)
        >>> gauge.estimate(transcript, fixed_chars=800)    # 1500 + the messages after the 4th # doctest: +SKIP
    """

    def __init__(self) -> None:
        self._anchor: _Anchor | None = None

    def observe(self, *, prompt_tokens: int, output_tokens: int, transcript_length: int, fixed_chars: int) -> None:
        """Record a server's count: the request of `prompt_tokens` was answered with `output_tokens`, and the
        transcript now holds `transcript_length` messages (the answer included)."""
        self._anchor = _Anchor(prompt_tokens + output_tokens, transcript_length, fixed_chars)

    def forget(self) -> None:
        """The transcript was rewritten: estimate everything until the next report."""
        self._anchor = None

    def estimate(self, messages: Sequence[dict[str, Any]], fixed_chars: int) -> int:
        """Prompt tokens of a request carrying `messages` and `fixed_chars` of system prompt and tools."""
        anchor = self._anchor
        if anchor is None or anchor.messages > len(messages):
            return estimate_tokens(messages, fixed_chars)
        added = estimate_tokens(messages[anchor.messages :], fixed_chars - anchor.fixed_chars)
        return max(1, anchor.tokens + added)
