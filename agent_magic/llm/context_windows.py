"""How many prompt tokens each model accepts: the shipped table (`context_windows.json`, next to the
prices), the user's `AgentMagic.context_windows`, and what servers taught us by refusing a request.

A window learned from a refusal wins over both (the server is the authority on what it accepts); a
user's setting wins over the shipped table. Learned windows last as long as the kernel.
"""

from __future__ import annotations

import functools
import json
import threading
from pathlib import Path
from typing import Any

from agent_magic.llm.pricing import _DATED_SNAPSHOT

WINDOW_FILE = Path(__file__).with_name("context_windows.json")
MIN_WINDOW = 256  # smaller than any real model's window: a setting below it is a typo
WINDOWS_HELP = 'set AgentMagic.context_windows to {"model": tokens}, e.g. {"llama3.1": 8192}'


@functools.lru_cache(maxsize=1)
def shipped_windows() -> dict[str, int]:
    """The shipped table: model name → prompt tokens."""
    return dict(json.loads(WINDOW_FILE.read_text(encoding="utf-8"))["models"])


def validate_windows(windows: dict[str, Any]) -> None:
    """Raise `ValueError` with a one-line fix when `AgentMagic.context_windows` is malformed."""
    for model, tokens in windows.items():
        if not isinstance(tokens, int) or isinstance(tokens, bool) or tokens < MIN_WINDOW:
            raise ValueError(
                f"context window of {model!r} must be a whole number of tokens ≥ {MIN_WINDOW}; {WINDOWS_HELP}"
            )


def _names(model: str) -> tuple[str, ...]:
    """The names a model is looked up under: as given, without a dated snapshot suffix, and without a
    provider prefix ("openai/gpt-4o" through LiteLLM or OpenRouter)."""
    bare = model.rsplit("/", 1)[-1]
    return tuple(dict.fromkeys((model, _DATED_SNAPSHOT.sub("", model), bare, _DATED_SNAPSHOT.sub("", bare))))


class ContextWindows:
    """Looks up a model's context window.

    Example:
        >>> windows = ContextWindows({"llama3.1": 8192})
        >>> windows.window_for("llama3.1"), windows.window_for("gpt-4o-2024-08-06"), windows.window_for("x")
        (8192, 128000, None)
        >>> windows.learn("llama3.1", 4096)
        >>> windows.window_for("llama3.1")
        4096
    """

    def __init__(self, overrides: dict[str, Any] | None = None) -> None:
        self.overrides = dict(overrides or {})
        validate_windows(self.overrides)
        self._learned: dict[str, int] = {}
        self._lock = threading.Lock()

    def window_for(self, model: str) -> int | None:
        """The prompt tokens `model` accepts, or None when nobody knows yet."""
        with self._lock:
            learned = self._learned.get(model)
        if learned is not None:
            return learned
        for table in (self.overrides, shipped_windows()):
            for name in _names(model):
                if name in table:
                    return int(table[name])
        return None

    def learn(self, model: str, tokens: int) -> None:
        """Remember what a server said `model` accepts (from a refused request)."""
        if tokens >= 1:
            with self._lock:
                self._learned[model] = tokens

    def learned(self) -> dict[str, int]:
        """The windows learned from refusals so far."""
        with self._lock:
            return dict(self._learned)
