"""What a turn is waiting for, as the one status line the renderers show while nothing streams.

The loop never ticks: it only says, through its events, when a wait begins (a model call starts, a retry
is scheduled, an approval is requested) and content ends it. A renderer keeps a `Waiting` from those
events and redraws `status_line(waiting, now)` from one asyncio timer, at most once a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from agent_magic.ui.format import seconds_text

# Seconds between redraws of the status line and of the clocks of running tool cards.
TICK_SECONDS = 1.0


@dataclass(frozen=True)
class Waiting:
    """A wait of the turn: for the model `subject` (from `since`, after a retry backoff ending at
    `retry_at`) or for a person's decision on the tool `subject`. Times are `time.monotonic()`."""

    kind: Literal["model", "approval"]
    subject: str
    since: float
    retry_at: float | None = None


def clock_text(seconds: float) -> str:
    """Whole seconds for a ticking clock: `0 s`, `12 s`, `3 min 05 s`."""
    return f"{int(seconds)} s" if seconds < 60 else seconds_text(seconds)


def status_line(waiting: Waiting, now: float) -> str:
    """The status line at `now`.

    Example:
        >>> status_line(Waiting("model", "gpt-4.1", since=100.0), now=112.2)
        '… waiting for gpt-4.1 — 12 s'
        >>> status_line(Waiting("model", "gpt-4.1", since=100.0, retry_at=103.0), now=100.5)
        '⟳ retrying gpt-4.1 in 3 s'
    """
    if waiting.kind == "approval":
        return f"🔐 waiting for your decision on {waiting.subject} — {clock_text(now - waiting.since)}"
    if waiting.retry_at is not None and now < waiting.retry_at:
        return f"⟳ retrying {waiting.subject} in {math.ceil(waiting.retry_at - now)} s"
    started = max(waiting.since, waiting.retry_at or waiting.since)
    return f"… waiting for {waiting.subject} — {clock_text(now - started)}"


def next_tick(waiting: Waiting | None, now: float) -> float:
    """Seconds until the next redraw, on the wait's whole seconds (so the clock never skips or repeats
    one); a second when nothing waits (only tool cards tick)."""
    if waiting is None:
        return TICK_SECONDS
    reference = waiting.retry_at if waiting.retry_at is not None else waiting.since
    return TICK_SECONDS - (now - reference) % TICK_SECONDS + 0.02


def someone_watching(shell: Any, live_status: str) -> bool:
    """Whether this cell shows live progress (`AgentMagic.live_status`): "on", "off", or "auto" — unless
    the run is headless (the execute request allows no `input()`: nbclient, nbconvert, papermill), where
    nobody watches and the saved notebook should hold no status churn."""
    if live_status != "auto":
        return live_status == "on"
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return True
    from agent_magic.ui.approval_askers import request_allows_stdin

    return request_allows_stdin(kernel)
