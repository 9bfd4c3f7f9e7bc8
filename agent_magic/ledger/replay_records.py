"""Replay records in the ledger: written from a turn's events, read back by replay and `%%agent --estimate`.

`ReplayRecorder` is an event subscriber: `ModelCallStarted` carries the request (fingerprinted here),
`Usage` the tokens the server reported, `AssistantMessage` the complete answer, which is when the row is
written; a call that failed leaves no record. Answers are secret-masked like every ledger text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent_magic.events import AssistantMessage, Event, ModelCallStarted, SummaryWritten, ToolCall, TurnEnded, Usage
from agent_magic.llm.recording import Recording, RequestFingerprint
from agent_magic.policy.secrets import mask_secrets

if TYPE_CHECKING:
    from agent_magic.ledger.store import LedgerStore

log = logging.getLogger("agent_magic.ledger")

# The latest calls of a model that calibrate the estimate: enough to average out, recent enough to follow
# a change of tokenizer behind the same name.
CALIBRATION_CALLS = 200
_COLUMNS = (
    "request_key, model, tools_key, format_key, message_keys, answer, input_tokens, cached_tokens, "
    "output_tokens, reasoning_tokens"
)


@dataclass
class _Call:
    fingerprint: RequestFingerprint
    usage: Usage | None = None


class ReplayRecorder:
    """An `EventSubscriber` that records every answered model call for replay (in the ledger of `store()`)."""

    def __init__(self, store: Callable[[], LedgerStore]) -> None:
        self._store = store
        self._calls: dict[str, _Call] = {}
        self._failed = False

    def handle(self, event: Event) -> None:
        """Record one event (never raises: recording must not break a turn)."""
        try:
            self._record(event)
        except Exception:
            if not self._failed:
                log.exception("replay records could not be written")
            self._failed = True

    def _record(self, event: Event) -> None:
        if isinstance(event, ModelCallStarted) and event.request is not None:
            request = event.request
            fingerprint = RequestFingerprint.of(event.model, request.messages, request.tools, request.response_format)
            self._calls[event.turn_id] = _Call(fingerprint)
        elif isinstance(event, Usage) and event.turn_id in self._calls:
            self._calls[event.turn_id].usage = event
        elif isinstance(event, AssistantMessage | SummaryWritten):
            call = self._calls.pop(event.turn_id, None)
            if call is not None:
                self._write(event, call)
        elif isinstance(event, TurnEnded):
            self._calls.pop(event.turn_id, None)

    def _write(self, event: AssistantMessage | SummaryWritten, call: _Call) -> None:
        usage = call.usage
        asked = event.tool_calls if isinstance(event, AssistantMessage) else ()
        recording = Recording(
            call.fingerprint,
            mask_secrets(event.text),
            tuple(ToolCall(c.call_id, c.name, mask_secrets(c.arguments)) for c in asked),
            event.finish_reason,
            response_model=usage.response_model if usage is not None else None,
        )
        fp = call.fingerprint
        tokens: tuple[int | None, ...] = (None, None, None, None)  # the server reported none: nothing to replay
        if usage is not None and not usage.estimated:
            tokens = (usage.input_tokens, usage.cached_tokens, usage.output_tokens, usage.reasoning_tokens)
        self._store().write(
            "INSERT INTO replay_records (request_key, session_id, turn_id, at, model, tools_key, format_key, "
            "message_keys, answer, input_tokens, cached_tokens, output_tokens, reasoning_tokens, request_chars, "
            "replayed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (request_key, session_id) DO UPDATE SET at = excluded.at, answer = excluded.answer, "
            "input_tokens = excluded.input_tokens, cached_tokens = excluded.cached_tokens, "
            "output_tokens = excluded.output_tokens, reasoning_tokens = excluded.reasoning_tokens, "
            "replayed = excluded.replayed",
            (
                fp.key,
                event.session_id,
                event.turn_id,
                event.at,
                fp.model,
                fp.tools,
                fp.response_format,
                json.dumps(list(fp.messages)),
                json.dumps(recording.answer_json(), ensure_ascii=False),
                *tokens,
                fp.chars,
                int(event.replayed),
            ),
        )


def _recording(row: tuple[Any, ...]) -> Recording:
    key, model, tools, response_format, messages, answer, *tokens = row
    data = {
        "key": key,
        "model": model,
        "tools": tools,
        "response_format": response_format,
        "messages": json.loads(messages),
        "answer": json.loads(answer),
        "usage": None
        if tokens[0] is None
        else {"input": tokens[0], "cached": tokens[1], "output": tokens[2], "reasoning": tokens[3]},
    }
    return Recording.from_json(data)


# Replay looks recordings up on the event loop, before a model call: it does not wait long for the
# writer's queue (which holds only this kernel's newest rows, never needed by the call being answered).
LOOKUP_WAIT_S = 0.5


def find_recording(store: LedgerStore, key: str) -> Recording | None:
    """The latest recording of the request `key` in the ledger."""
    rows = store.query(
        f"SELECT {_COLUMNS} FROM replay_records WHERE request_key = ? ORDER BY at DESC LIMIT 1",
        (key,),
        wait=LOOKUP_WAIT_S,
    )
    return _recording(rows[0]) if rows else None


def _latest_per_request(store: LedgerStore, where: str, params: tuple[Any, ...]) -> list[Recording]:
    rows = store.query(f"SELECT {_COLUMNS} FROM replay_records WHERE {where} ORDER BY at", params)
    latest = {recording.fingerprint.key: recording for recording in map(_recording, rows)}
    return list(latest.values())


def notebook_recordings(store: LedgerStore, notebook: str) -> list[Recording]:
    """Every recording of the notebook's sessions, in the order they were made, one per request."""
    return _latest_per_request(store, "session_id IN (SELECT session_id FROM sessions WHERE notebook = ?)", (notebook,))


def session_recordings(store: LedgerStore, sessions: list[str]) -> list[Recording]:
    """Every recording of these sessions, in the order they were made, one per request."""
    if not sessions:
        return []
    return _latest_per_request(store, f"session_id IN ({', '.join('?' * len(sessions))})", tuple(sessions))


def calibration_sample(store: LedgerStore, model: str) -> tuple[int, int, int]:
    """(request characters, input tokens, calls) of `model`'s latest live calls whose usage the server
    reported: what `%%agent --estimate` calibrates its characters per token on."""
    chars, tokens, calls = store.query(
        "SELECT coalesce(sum(request_chars), 0), coalesce(sum(input_tokens), 0), count(*) FROM ("
        "SELECT request_chars, input_tokens FROM replay_records WHERE model = ? AND replayed = 0 "
        "AND input_tokens > 0 ORDER BY at DESC LIMIT ?) AS latest",
        (model, CALIBRATION_CALLS),
    )[0]
    return int(chars), int(tokens), int(calls)
