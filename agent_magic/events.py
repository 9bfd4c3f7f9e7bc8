"""The typed events one agent turn emits.

`Session.run_turn()` yields these, in order; renderers, the ledger and the log subscribe to them.
Nothing in this module knows about IPython, widgets or HTTP: events are plain data.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any, Protocol


class TurnState(enum.StrEnum):
    """The states of one turn's state machine (see ARCHITECTURE.md)."""

    RECEIVED = "received"
    MODEL_STREAMING = "model_streaming"
    TOOL_PENDING_APPROVAL = "tool_pending_approval"
    TOOL_RUNNING = "tool_running"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    LIMIT_REACHED = "limit_reached"

    @property
    def is_final(self) -> bool:
        """True for the states a turn ends in."""
        return self in _FINAL_STATES


_FINAL_STATES = {TurnState.COMPLETED, TurnState.CANCELLED, TurnState.FAILED, TurnState.LIMIT_REACHED}


@dataclass(frozen=True)
class Event:
    """Base class: every event carries the session and turn it belongs to and when it happened."""

    session_id: str
    turn_id: str
    at: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True)
class TurnStarted(Event):
    """A prompt was received; `cell_id` and `execution_count` say which notebook cell sent it."""

    prompt: str
    model: str
    trace_id: str
    cell_id: str | None = None
    execution_count: int | None = None


@dataclass(frozen=True)
class StateChanged(Event):
    """The turn moved from one state to another."""

    old: TurnState
    new: TurnState


@dataclass(frozen=True)
class ModelCallStarted(Event):
    """A request to the model is about to be sent (step counts model calls within the turn, from 1)."""

    step: int
    model: str


@dataclass(frozen=True)
class TextDelta(Event):
    """A piece of the assistant's answer, as streamed."""

    text: str


@dataclass(frozen=True)
class StreamRestarted(Event):
    """The model call was retried after output had been shown: the partial answer must be discarded."""

    attempt: int
    reason: str


@dataclass(frozen=True)
class AssistantMessage(Event):
    """The model finished one message: its full text and the tool calls it asked for."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str


@dataclass(frozen=True)
class ToolCall:
    """One tool call the model asked for; `arguments` is the raw JSON text the model sent."""

    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolCallStarted(Event):
    """A tool is about to run (after any approval)."""

    call: ToolCall


@dataclass(frozen=True)
class ApprovalRequested(Event):
    """A tool call waits for a decision; `subject` is what rules match (path, command…), None if unreadable."""

    call: ToolCall
    subject: str | None


@dataclass(frozen=True)
class ApprovalDecided(Event):
    """The decision on a tool call: `decision` is approved/denied/stopped, `decided_by` says who or what."""

    call: ToolCall
    decision: str
    decided_by: str
    reason: str = ""
    seconds_to_decide: float = 0.0


@dataclass(frozen=True)
class ToolFinished(Event):
    """A tool call produced its result (successful or not)."""

    call: ToolCall
    ok: bool
    content: str
    error_code: str | None
    duration_s: float
    truncated: bool = False
    data: Any = None


@dataclass(frozen=True)
class Usage(Event):
    """Token usage and timing of one model call, as the server reported it (or estimated when it did not)."""

    model: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    latency_s: float = 0.0
    ttft_s: float | None = None
    retries: int = 0
    estimated: bool = False
    status: str = "ok"
    response_model: str | None = None  # the model the server says answered (a dated snapshot, a deployment)


@dataclass(frozen=True)
class Notice(Event):
    """A one-line message for the user that is neither answer text nor an error (e.g. a limit warning)."""

    message: str


@dataclass(frozen=True)
class TurnEnded(Event):
    """The turn reached a final state; `message` is the one line shown for anything but COMPLETED."""

    state: TurnState
    message: str = ""
    error: BaseException | None = None


class EventSubscriber(Protocol):
    """Anything that consumes a turn's events: renderers, the ledger, the log."""

    def handle(self, event: Event) -> None:
        """Take one event; must not block (the turn waits for it)."""
