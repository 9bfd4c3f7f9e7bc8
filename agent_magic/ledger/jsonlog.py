"""The structured log: every event as one JSON line in `<home>/logs/agent.jsonl`, through stdlib logging.

Events go to the `agent_magic.events` logger at INFO (streamed text pieces at DEBUG, since the whole
message follows in `AssistantMessage`), so users can add their own handlers or silence it with the
usual logging calls. Each line has the time, event type, session, turn and trace id; secrets are masked.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import logging
from pathlib import Path
from typing import Any

from agent_magic.events import Event, TextDelta, TurnEnded, TurnStarted
from agent_magic.policy.secrets import mask_secrets

LOGGER_NAME = "agent_magic.events"
MAX_FIELD_CHARS = 2_000  # tool results and answers can be huge; the ledger keeps them whole
# Fields left out of the log: a tool's structured data and a model call's whole request (the transcript so
# far, resent with every call) would make the log grow with the square of a conversation's length.
BULKY_FIELDS = frozenset({"data", "request"})


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
        return value[:MAX_FIELD_CHARS] + f"… ({len(value):,} chars)"
    return value


class JsonLinesFormatter(logging.Formatter):
    """Formats a record as one JSON object; the event's fields come from `record.agent_event`."""

    def format(self, record: logging.LogRecord) -> str:
        """One JSON line, secrets masked."""
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "event": record.getMessage(),
        }
        line.update(getattr(record, "agent_event", {}))
        return mask_secrets(json.dumps(line, default=str, ensure_ascii=False))


class EventLog:
    """An `EventSubscriber` that logs every event to the `agent_magic.events` logger."""

    def __init__(self) -> None:
        self.logger = logging.getLogger(LOGGER_NAME)
        self._trace_ids: dict[str, str] = {}
        self._waiting: list[Event] = []

    def handle(self, event: Event) -> None:
        """Log one event (never raises). Events before the turn's `TurnStarted` (its first state change)
        wait for it, so that every line carries the trace id."""
        if isinstance(event, TextDelta) and not self.logger.isEnabledFor(logging.DEBUG):
            return  # one per streamed token: skip the bookkeeping when nobody logs them
        if isinstance(event, TurnStarted):
            self._trace_ids[event.turn_id] = event.trace_id
        elif event.turn_id not in self._trace_ids and not isinstance(event, TurnEnded):
            self._waiting.append(event)
            return
        for waiting in self._waiting:
            self._emit(waiting)
        self._waiting.clear()
        self._emit(event)
        if isinstance(event, TurnEnded):
            self._trace_ids.pop(event.turn_id, None)

    def _emit(self, event: Event) -> None:
        level = logging.DEBUG if isinstance(event, TextDelta) else logging.INFO
        fields = {
            f.name: _plain(getattr(event, f.name)) for f in dataclasses.fields(event) if f.name not in BULKY_FIELDS
        }
        fields["trace_id"] = self._trace_ids.get(event.turn_id, "")
        fields["at"] = dt.datetime.fromtimestamp(event.at, dt.UTC).isoformat(timespec="milliseconds")
        try:
            self.logger.log(level, type(event).__name__, extra={"agent_event": fields})
        except Exception:  # a broken handler must not break a turn
            pass


def attach_file_handler(home: Path) -> logging.Handler:
    """Write the events logger to `<home>/logs/agent.jsonl` (once per file); returns the handler."""
    logger = logging.getLogger(LOGGER_NAME)
    path = (home / "logs" / "agent.jsonl").resolve()
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename) == path:
            return handler
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(JsonLinesFormatter())
    handler.setLevel(logging.INFO)
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    return handler
