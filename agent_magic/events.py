"""The typed events one agent turn emits.

`Session.run_turn()` yields these, in order; renderers, the ledger and the log subscribe to them.
Streamed pieces come as `TextDelta` (the answer) and `ReasoningDelta` (the model's reasoning).
Nothing in this module knows about IPython, widgets or HTTP: events are plain data.

Events about a conversation rather than one of its turns (a session opened, compacted on demand, a turn
undone) carry an empty `turn_id`.
"""

from __future__ import annotations

import enum
import functools
import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

# Tool-call arguments past these are refused with an error the model reads (issue 16 item 7).
MAX_ARGUMENT_CHARS = 16_000_000  # a whole file's content fits; gigabytes of JSON do not
MAX_ARGUMENT_DEPTH = 64


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


class Decision(enum.StrEnum):
    """How an approval request ended: the call may run, is refused (the model reads why), or the turn stops."""

    APPROVED = "approved"
    DENIED = "denied"
    STOPPED = "stopped"


class DecidedBy(enum.StrEnum):
    """Who or what decided an approval request; the values are what the ledger and the cell show."""

    CLICK = "user click"
    STDIN = "stdin"
    RULE = "rule"
    PRE_APPROVAL = "pre-approval"
    SESSION_ALLOW = "session allow"
    HEADLESS = "headless policy"
    NOBODY = "no approver"
    KEYBOARD = "keyboard shortcut"  # the JupyterLab companion's approve / deny commands


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
    request: ModelRequest | None = None  # what is sent: messages, tools offered, response format


@dataclass(frozen=True)
class TextDelta(Event):
    """A piece of the assistant's answer, as streamed."""

    text: str


@dataclass(frozen=True)
class StreamRestarted(Event):
    """The model call was retried after output had been shown: the partial answer must be discarded."""

    attempt: int
    reason: str
    retry_in_s: float | None = None  # seconds until the next attempt (the renderers count down)


@dataclass(frozen=True)
class AssistantMessage(Event):
    """The model finished one message: its full text and the tool calls it asked for."""

    text: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str
    replayed: bool = False  # answered from a replay recording, not by the model


@dataclass(frozen=True)
class DecodedArguments:
    """A tool call's arguments decoded from JSON: `values` when they are a JSON object, else `error`."""

    values: dict[str, Any] | None
    error: str | None = None


@dataclass(frozen=True)
class ToolCall:
    """One tool call the model asked for; `arguments` is the raw JSON text the model sent.

    `decoded` parses that text once, on first use, for everyone who reads it (the approval gate, the
    rules, the renderers, the runner). `server` names the MCP server whose tool it calls (set by the
    session once the call is routed; None for built-in and notebook tools), so the ledger, the log and
    the audit say where it went.
    """

    call_id: str
    name: str
    arguments: str
    server: str | None = None

    @functools.cached_property
    def decoded(self) -> DecodedArguments:
        """The arguments as a dict, or why they are not one (an empty string means no arguments)."""
        if len(self.arguments) > MAX_ARGUMENT_CHARS:
            return DecodedArguments(
                None, f"arguments are {len(self.arguments):,} characters; at most {MAX_ARGUMENT_CHARS:,}"
            )
        if not self.arguments.strip():
            return DecodedArguments({})
        try:
            value = json.loads(self.arguments)
        except json.JSONDecodeError as exc:
            return DecodedArguments(None, f"arguments are not valid JSON ({exc.msg} at position {exc.pos})")
        except RecursionError:
            return DecodedArguments(None, "arguments are nested too deeply to decode")
        if not isinstance(value, dict):
            return DecodedArguments(None, f"arguments must be a JSON object, got {type(value).__name__}")
        if _depth(value) > MAX_ARGUMENT_DEPTH:  # validation, rules and renderers walk them recursively
            return DecodedArguments(None, f"arguments are nested too deeply (at most {MAX_ARGUMENT_DEPTH} levels)")
        return DecodedArguments(value)


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in a decoded JSON value (iteratively: no recursion limit)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack += [(child, level + 1) for child in (item.values() if isinstance(item, dict) else item)]
    return deepest


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
    """The decision on a tool call and who or what made it."""

    call: ToolCall
    decision: Decision
    decided_by: DecidedBy
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
    cost_usd: float | None = None  # from the price table in force; None when the model has no price
    response_model: str | None = None  # the model the server says answered (a dated snapshot, a deployment)
    replayed: bool = False  # answered from a replay recording: nothing was sent, the cost is 0


class MessageOrigin(enum.StrEnum):
    """Why a message joined the transcript."""

    PROMPT = "prompt"
    ANSWER = "answer"
    TOOL_RESULT = "tool_result"
    REPAIR = "repair"  # added when a turn ended early, so every tool call has a result
    ANSWER_REPAIR = "answer_repair"  # asks the model to fix a final answer its check rejected (--schema)


@dataclass(frozen=True)
class MessageAdded(Event):
    """The session appended `message` (in Chat Completions form) to the transcript at `position`.

    The transcript the model sees is exactly the sequence of these messages: subscribers (the ledger,
    named sessions, replay) keep their copy from these events and never read the session's list.
    """

    message: dict[str, Any]
    position: int
    origin: MessageOrigin
    # What the model streamed as its reasoning before this (assistant) message: recorded, never part of
    # `message`, so it is never sent back to the model (the servers that stream it ask clients not to).
    reasoning: str = ""


@dataclass(frozen=True)
class Notice(Event):
    """A one-line message for the user that is neither answer text nor an error (e.g. a limit warning)."""

    message: str
    retry_in_s: float | None = None  # set when the notice announces a retry: seconds until it starts


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


@dataclass(frozen=True)
class ReasoningDelta(Event):
    """A piece of the model's reasoning, as streamed (`reasoning_content` or `reasoning` in the chunks).

    Shown in a "Thinking" block and recorded with the assistant message (`MessageAdded.reasoning`), but
    never sent back to the model.
    """

    text: str


# -- conversations that last (issue 13): named sessions, compaction, undo -----------------------------


class Bindings:
    """Names of the user namespace and the objects bound to them: references, never copies.

    Shown by name only (`Bindings(df, total)`), so a log line never prints a large object.
    """

    def __init__(self, objects: dict[str, Any]) -> None:
        self.objects = dict(objects)

    def __repr__(self) -> str:
        return f"Bindings({', '.join(sorted(self.objects))})"

    __str__ = __repr__


@dataclass(frozen=True)
class FileChange:
    """A workspace file a tool changed: its state before (a copy kept in the agent home for undo) and after.

    `path` is relative to `workspace`. `snapshot` is the kept copy (None when the file did not exist, or
    when no copy was kept: then `refusal` says why, e.g. the file was larger than the cap). Digests are
    SHA-256 of the bytes; `digest_after` None means the call left no file there.
    """

    workspace: str
    path: str
    existed: bool
    snapshot: str | None
    digest_before: str | None
    mode_before: int | None
    digest_after: str | None
    size_after: int | None
    refusal: str | None = None


@dataclass(frozen=True)
class NamespaceChange:
    """The names a `run_python` call bound, rebound or deleted in the user namespace.

    `before` holds each changed name's previous object (names that did not exist are absent), `after`
    its object after the call (names the call deleted are absent).
    """

    before: Bindings
    after: Bindings


@dataclass(frozen=True)
class ChangesRecorded(Event):
    """A tool call reported what it changed (files, namespace bindings), so the turn can be undone."""

    call: ToolCall
    changes: tuple[FileChange | NamespaceChange, ...]


class SessionOrigin(enum.StrEnum):
    """How a named conversation came to be in this kernel."""

    NEW = "new"
    RESUMED = "resumed"  # read back from the ledger (`%agent resume`, or a named session after a restart)
    FORKED = "forked"  # copied from another conversation (`%agent fork`)


@dataclass(frozen=True)
class SessionOpened(Event):
    """A conversation became available under `name`. A fork carries its copied transcript (`messages`, with
    the turn each belongs to in `turn_ids`): subscribers that keep transcripts start from it."""

    name: str
    origin: SessionOrigin
    forked_from: str | None = None
    messages: tuple[dict[str, Any], ...] = ()
    turn_ids: tuple[str, ...] = ()


class CompactionTrigger(enum.StrEnum):
    """Why a transcript was compacted."""

    PROACTIVE = "window nearly full"
    REFUSED = "the server refused the request as too long"
    ON_DEMAND = "%agent compact"


@dataclass(frozen=True)
class TranscriptCompacted(Event):
    """The session replaced its transcript by a shorter one: old tool results shortened, the oldest turns
    replaced by a summary. `messages` is the whole new transcript and `turn_ids` the turn of each message
    ("" for the summary): subscribers that keep a transcript rebuild it from here. Token counts are
    estimates of the request before and after."""

    messages: tuple[dict[str, Any], ...]
    turn_ids: tuple[str, ...]
    tokens_before: int
    tokens_after: int
    summarised_turns: int
    shortened_results: int
    trigger: CompactionTrigger


@dataclass(frozen=True)
class SummaryWritten(Event):
    """A compaction summary call was answered: `text` summarises one piece of the conversation (it joins
    the transcript only through `TranscriptCompacted`). Replay records it like any answered call, so a
    compacted conversation replays whole."""

    text: str
    finish_reason: str
    replayed: bool = False  # answered from a replay recording, not by the model


@dataclass(frozen=True)
class TranscriptRewound(Event):
    """The messages from `position` on left the transcript the model sees: turn `removed_turn` was taken back."""

    removed_turn: str
    position: int
    removed_messages: int


@dataclass(frozen=True)
class TurnUndone(Event):
    """`%agent undo` took back turn `undone_turn`: one line per thing restored, per thing left as it is (and
    why), and per effect undo cannot take back."""

    undone_turn: str
    restored: tuple[str, ...]
    refused: tuple[str, ...]
    not_undone: tuple[str, ...]


# -- the notebook keeps the agent's work (issue 12): the request on ModelCallStarted, --schema's check ---


@dataclass(frozen=True)
class ModelRequest:
    """One model call's request as the session sends it: the messages (system prompt first), the tools'
    schemas and the `response_format` (None: free text). Subscribers must not change it."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    response_format: dict[str, Any] | None = None


@dataclass(frozen=True)
class AnswerChecked(Event):
    """The turn's final answer was checked (`--schema`): `value` is what it stands for when `ok`; else
    `problem` names what is wrong and `repairing` says whether the model is asked to fix it."""

    ok: bool
    value: Any = None
    problem: str = ""
    repairing: bool = False
