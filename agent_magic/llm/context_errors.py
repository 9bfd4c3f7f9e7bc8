"""Recognising a server's "the request is longer than my context window" answer, and the window it names.

Each server words it its own way (the messages below are what they send; tests/test_context_windows.py
replays each through the loopback server):

- OpenAI: 400, code `context_length_exceeded`, "This model's maximum context length is 128000 tokens.
  However, your messages resulted in 130017 tokens…", or "Input tokens exceed the configured limit of
  272000 tokens…", or (no number) "Your input exceeds the context window of this model…".
- vLLM: 400 `BadRequestError`, "This model's maximum context length is 4096 tokens. However, you requested
  5000 tokens (…)" or "…and your request has 5000 input tokens…".
- Ollama and llama.cpp's server: 400 `exceed_context_size_error`, "request (8889 tokens) exceeds the
  available context size (4096 tokens), try increasing it" (with `n_ctx` in the body); older Ollama:
  "the input length exceeds the context length" (no number). Ollama truncates silently unless told not to.
- LiteLLM's proxy: 400 with the upstream message wrapped, "litellm.ContextWindowExceededError:
  litellm.BadRequestError: ContextWindowExceededError: OpenAIException - This model's maximum context
  length is 8192 tokens…", or from Anthropic "prompt is too long: 209303 tokens > 200000 maximum".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_SAYS_TOO_LONG = re.compile(
    r"context_length_exceeded|exceed_context_size|contextwindowexceeded|context length|context window|"
    r"context size|maximum context|prompt is too long|input tokens exceed|maximum number of tokens allowed",
    re.IGNORECASE,
)
_NUMBER = r"(\d[\d,]*)"
_WINDOW = [
    re.compile(rf"maximum context length is {_NUMBER} tokens", re.IGNORECASE),
    re.compile(rf"configured limit of {_NUMBER} tokens", re.IGNORECASE),
    re.compile(rf"available context size \({_NUMBER} tokens\)", re.IGNORECASE),
    re.compile(rf"\d[\d,]* tokens > {_NUMBER} maximum", re.IGNORECASE),
    re.compile(rf"exceed context limit: \d+ \+ \d+ > {_NUMBER}", re.IGNORECASE),
    re.compile(rf"maximum number of tokens allowed \({_NUMBER}\)", re.IGNORECASE),
]
_PROMPT = [
    re.compile(rf"messages resulted in {_NUMBER} tokens", re.IGNORECASE),
    re.compile(rf"request has {_NUMBER} input tokens", re.IGNORECASE),
    re.compile(rf"you requested {_NUMBER} tokens", re.IGNORECASE),
    re.compile(rf"request \({_NUMBER} tokens\)", re.IGNORECASE),
    re.compile(rf"prompt is too long: {_NUMBER} tokens", re.IGNORECASE),
]


@dataclass(frozen=True)
class ContextOverflow:
    """A refusal for length: the window the server named and the prompt size it counted, when it said."""

    window: int | None
    prompt_tokens: int | None


def _first_number(patterns: list[re.Pattern[str]], text: str) -> int | None:
    for pattern in patterns:
        match = pattern.search(text)
        if match:
            return int(match.group(1).replace(",", ""))
    return None


def _error_object(body: Any) -> dict[str, Any]:
    """The error object of an OpenAI-style body ({"error": {...}}), or the body itself (vLLM's older form)."""
    error = body.get("error", body) if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _body_window(body: Any) -> int | None:
    """`n_ctx` from a llama.cpp / Ollama error body, when it is there."""
    value = _error_object(body).get("n_ctx")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def context_overflow(status: int, detail: str, body: Any = None) -> ContextOverflow | None:
    """What an HTTP error says about the context window, or None when it is about something else.

    Example:
        >>> context_overflow(400, "This model's maximum context length is 4096 tokens. However, you "
        ...                  "requested 5000 tokens (4000 in the messages, 1000 in the completion).")
        ContextOverflow(window=4096, prompt_tokens=5000)
    """
    error = _error_object(body)
    text = f"{detail} {error.get('code') or ''} {error.get('type') or ''}"
    if not (400 <= status < 500 or status == 500) or not _SAYS_TOO_LONG.search(text):
        return None
    return ContextOverflow(
        window=_first_number(_WINDOW, text) or _body_window(body), prompt_tokens=_first_number(_PROMPT, text)
    )
