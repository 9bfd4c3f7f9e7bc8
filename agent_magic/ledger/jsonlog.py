"""The structured log: every event as one JSON line in `<home>/logs/agent.jsonl`, through stdlib logging;
and the one-line notices agent_magic's warnings become in the cell.

Events go to the `agent_magic.events` logger at INFO (streamed text pieces at DEBUG, since the whole
message follows in `AssistantMessage`), so users can add their own handlers or silence it with the
usual logging calls. Each line has the time, event type, session, turn and trace id; secrets are masked.
`KernelLedger` calls `EventLog.handle` on the ledger's writer thread, so formatting and writing a line
never happens on the event loop. Warnings of any `agent_magic` logger go to the same file, with their
traceback, and to the cell as one line without it (`CellNotices`).
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import enum
import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any

from agent_magic.events import Event, TextDelta, TurnEnded, TurnStarted
from agent_magic.policy.secrets import mask_secrets

LOGGER_NAME = "agent_magic.events"
PACKAGE_LOGGER = "agent_magic"
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
        """One JSON line, secrets masked: an event's fields, or a warning's logger, message and traceback."""
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
        }
        fields = getattr(record, "agent_event", None)
        if fields is not None:
            line["event"] = record.getMessage()
            line.update(fields)
        else:
            line.update(logger=record.name, message=record.getMessage())
            if record.exc_info:
                line["traceback"] = self.formatException(record.exc_info)
        return mask_secrets(json.dumps(line, default=str, ensure_ascii=False))


class EventLog:
    """An `EventSubscriber` that logs every event to the `agent_magic.events` logger."""

    def __init__(self) -> None:
        self.logger = logging.getLogger(LOGGER_NAME)
        self._trace_ids: dict[str, str] = {}
        self._waiting: list[Event] = []

    def wants_text(self) -> bool:
        """True when streamed text pieces are logged (the logger is at DEBUG)."""
        return self.logger.isEnabledFor(logging.DEBUG)

    def handle(self, event: Event) -> None:
        """Log one event (never raises). Events before the turn's `TurnStarted` (its first state change)
        wait for it, so that every line carries the trace id; events of no turn (empty turn id) go at once."""
        if isinstance(event, TextDelta) and not self.logger.isEnabledFor(logging.DEBUG):
            return  # one per streamed token: skip the bookkeeping when nobody logs them
        if isinstance(event, TurnStarted):
            self._trace_ids[event.turn_id] = event.trace_id
        elif event.turn_id and event.turn_id not in self._trace_ids and not isinstance(event, TurnEnded):
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
    """Write the events, and agent_magic's warnings, to `<home>/logs/agent.jsonl` (once per file);
    returns the handler."""
    logger = logging.getLogger(PACKAGE_LOGGER)
    path = (home / "logs" / "agent.jsonl").resolve()
    for handler in logger.handlers:
        if isinstance(handler, logging.FileHandler) and Path(handler.baseFilename) == path:
            return handler
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(JsonLinesFormatter())
    handler.setLevel(logging.INFO)
    logger.addHandler(handler)
    events = logging.getLogger(LOGGER_NAME)
    if events.level == logging.NOTSET or events.level > logging.INFO:
        events.setLevel(logging.INFO)
    return handler


class CellNotices(logging.Handler):
    """agent_magic's warnings as one line in the cell (stderr), never a stack dump: the traceback stays
    in the JSONL log. Events (INFO) are not shown.

    A warning raised on another thread (the ledger's writer) waits until `drain` is called on the
    main thread by a running `%%agent` cell, so it lands in a cell rather than wherever the thread's
    output would go (ipykernel sends a thread's output to the latest request, or drops it once the cell
    has finished).
    """

    MAX_WAITING = 100

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._waiting: collections.deque[str] = collections.deque(maxlen=self.MAX_WAITING)

    def emit(self, record: logging.LogRecord) -> None:
        """Write the record's first line now (main thread), or keep it for the next `drain`."""
        try:
            text = record.getMessage().strip().splitlines()
            line = f"agent_magic: {text[0] if text else record.levelname.lower()}"
        except Exception:
            self.handleError(record)
            return
        if threading.current_thread() is threading.main_thread():
            self.drain()
            self._write(line)
        else:
            self._waiting.append(line)

    def drain(self) -> None:
        """Write the lines other threads left (call from the main thread, in a running cell)."""
        while self._waiting:
            self._write(self._waiting.popleft())

    @staticmethod
    def _write(line: str) -> None:
        # sys.stderr is looked up each time: ipykernel replaces it with the cell's stream.
        print(line, file=sys.stderr, flush=True)


def attach_cell_notices() -> CellNotices:
    """The `CellNotices` handler of the `agent_magic` logger (added once per process)."""
    logger = logging.getLogger(PACKAGE_LOGGER)
    for handler in logger.handlers:
        if isinstance(handler, CellNotices):
            return handler
    handler = CellNotices()
    logger.addHandler(handler)
    return handler
