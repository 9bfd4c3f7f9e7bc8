"""Named conversations in the ledger: an event subscriber that keeps each conversation's transcript as the
model sees it, and the reader that brings one back after a restart.

The transcript is kept from the session's events: each `MessageAdded` adds a row; a `TranscriptCompacted`
writes the new transcript as the next *epoch* and then points the conversation at it (so a crash in
between leaves the old one whole); a `TranscriptRewound` (undo) deletes the rows from its position on.
Messages are stored as they were sent: secrets are masked only where they were masked before sending
(tool results), since a resumed conversation must be the one the model saw. Compactions and undos are
also rows of `conversation_events`. A database error is logged and never breaks a turn.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent_magic.contracts import History
from agent_magic.events import (
    Event,
    MessageAdded,
    SessionOpened,
    TranscriptCompacted,
    TranscriptRewound,
    TurnStarted,
    TurnUndone,
)

if TYPE_CHECKING:
    # The store (sqlite3) loads with the first event or read, not at `%load_ext`.
    from agent_magic.ledger.store import LedgerStore

log = logging.getLogger("agent_magic.ledger")


@dataclass(frozen=True)
class StoredConversation:
    """A conversation read back from the ledger: its id, name and history (transcript and totals)."""

    session_id: str
    name: str
    history: History


@dataclass
class _Known:
    """What the archive knows of a conversation it has seen this kernel."""

    name: str
    forked_from: str | None = None
    epoch: int = 0


@dataclass
class ConversationListing:
    """One row of `%agent sessions`."""

    name: str
    session_id: str
    turns: int
    tokens: int
    cost_usd: float | None
    last_used: float | None
    forked_from: str | None = None


class ConversationArchive:
    """Keeps one user's conversations of one notebook in the ledger (an `EventSubscriber`) and reads them
    back: another user's conversations of a notebook at the same path are never found.

    Example:
        >>> archive = ConversationArchive(lambda: store, notebook="analysis.ipynb", user="ana")
        >>> archive.latest("eda")                       # the newest conversation named eda, or None
        >>> archive.load(session_id).history.messages   # its transcript as the model saw it
    """

    def __init__(self, store: Callable[[], LedgerStore], *, notebook: str, user: str) -> None:
        self._store = store
        self.notebook = notebook
        self.user = user
        self._known: dict[str, _Known] = {}
        self._failed = False

    # -- writing, from events --------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        """Record one event (never raises: the archive must not break a turn)."""
        try:
            self._record(event)
        except Exception:
            if not self._failed:  # say it once per kernel; the traceback goes to the log
                log.exception("named conversations could not be written to the ledger")
            self._failed = True

    def _record(self, event: Event) -> None:
        if isinstance(event, SessionOpened):
            known = self._known.setdefault(event.session_id, _Known(event.name))
            known.name, known.forked_from = event.name, event.forked_from
            if event.messages:
                self._save(event.session_id, event.at)
                self._write_messages(event.session_id, known.epoch, event.messages, event.turn_ids, event.at)
        elif isinstance(event, TurnStarted):
            self._save(event.session_id, event.at)
        elif isinstance(event, MessageAdded):
            epoch = self._conversation(event.session_id).epoch
            self._write_messages(event.session_id, epoch, (event.message,), (event.turn_id,), event.at, event.position)
        elif isinstance(event, TranscriptCompacted):
            self._replace(event)
        elif isinstance(event, TranscriptRewound):
            self._store().write(
                "DELETE FROM conversation_messages WHERE session_id = ? AND epoch = ? AND position >= ?",
                (event.session_id, self._conversation(event.session_id).epoch, event.position),
            )
        elif isinstance(event, TurnUndone):
            detail = {"restored": event.restored, "refused": event.refused, "not_undone": event.not_undone}
            self._event_row(event.session_id, event.at, "undo", event.undone_turn, None, None, detail)

    def _conversation(self, session_id: str) -> _Known:
        """What is known of `session_id`, read from its row the first time (a conversation resumed here)."""
        known = self._known.get(session_id)
        if known is None:
            rows = self._store().query(
                "SELECT name, forked_from, epoch FROM conversations WHERE session_id = ?", (session_id,)
            )
            name, forked_from, epoch = rows[0] if rows else ("default", None, 0)
            known = self._known[session_id] = _Known(name, forked_from, epoch)
        return known

    def _save(self, session_id: str, at: float) -> None:
        """Create the conversation's row, or mark it used now."""
        known = self._conversation(session_id)
        self._store().write(
            "INSERT INTO conversations (session_id, user_name, notebook, name, created_at, last_used_at, forked_from, "
            "epoch) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (session_id) DO UPDATE SET last_used_at = excluded.last_used_at",
            (session_id, self.user, self.notebook, known.name, at, at, known.forked_from, known.epoch),
        )

    def _write_messages(
        self,
        session_id: str,
        epoch: int,
        messages: tuple[dict[str, Any], ...],
        turn_ids: tuple[str, ...],
        at: float,
        first_position: int = 0,
    ) -> None:
        store = self._store()
        for offset, message in enumerate(messages):
            turn_id = turn_ids[offset] if offset < len(turn_ids) else ""
            store.write(
                "INSERT INTO conversation_messages (session_id, epoch, position, turn_id, message) VALUES "
                "(?, ?, ?, ?, ?) ON CONFLICT (session_id, epoch, position) DO UPDATE SET "
                "turn_id = excluded.turn_id, message = excluded.message",
                (session_id, epoch, first_position + offset, turn_id, json.dumps(message, ensure_ascii=False)),
            )

    def _replace(self, event: TranscriptCompacted) -> None:
        """Write the compacted transcript as the next epoch, switch to it, then drop the old one."""
        known = self._conversation(event.session_id)
        old, new = known.epoch, known.epoch + 1
        self._write_messages(event.session_id, new, event.messages, event.turn_ids, event.at)
        store = self._store()
        store.write("UPDATE conversations SET epoch = ? WHERE session_id = ?", (new, event.session_id))
        known.epoch = new
        store.write("DELETE FROM conversation_messages WHERE session_id = ? AND epoch = ?", (event.session_id, old))
        detail = {
            "trigger": event.trigger.value,
            "summarised_turns": event.summarised_turns,
            "shortened_results": event.shortened_results,
        }
        self._event_row(
            event.session_id, event.at, "compaction", event.turn_id, event.tokens_before, event.tokens_after, detail
        )

    def _event_row(
        self,
        session_id: str,
        at: float,
        kind: str,
        turn_id: str | None,
        before: int | None,
        after: int | None,
        detail: dict[str, Any],
    ) -> None:
        self._store().write(
            "INSERT INTO conversation_events (event_id, session_id, at, kind, turn_id, tokens_before, tokens_after, "
            "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (uuid.uuid4().hex, session_id, at, kind, turn_id or None, before, after, json.dumps(detail)),
        )

    # -- reading --------------------------------------------------------------------------------------

    def latest(self, name: str, *, other_than: str | None = None) -> str | None:
        """The id of this user's most recently used conversation named `name` in this notebook (not
        `other_than`)."""
        rows = self._store().query(
            "SELECT session_id FROM conversations WHERE user_name = ? AND notebook = ? AND name = ? "
            "AND session_id != ? ORDER BY last_used_at DESC",
            (self.user, self.notebook, name, other_than or ""),
        )
        return rows[0][0] if rows else None

    def load(self, session_id: str) -> StoredConversation:
        """A conversation's name and history: its current transcript and what it has used so far."""
        known = self._conversation(session_id)
        rows = self._store().query(
            "SELECT turn_id, message FROM conversation_messages WHERE session_id = ? AND epoch = ? ORDER BY position",
            (session_id, known.epoch),
        )
        history = History(
            messages=tuple(json.loads(message) for _, message in rows),
            turn_ids=tuple(turn_id for turn_id, _ in rows),
            used=self._store().totals(session_id=session_id),
        )
        return StoredConversation(session_id, known.name, history)

    def listing(self) -> list[ConversationListing]:
        """This user's conversations of this notebook, most recently used first."""
        rows = self._store().query(
            "SELECT c.name, c.session_id, c.last_used_at, c.forked_from, "
            "(SELECT count(*) FROM turns t WHERE t.session_id = c.session_id), "
            "(SELECT coalesce(sum(m.input_tokens + m.output_tokens), 0) FROM model_calls m "
            "WHERE m.session_id = c.session_id), "
            "(SELECT sum(m.cost_usd) FROM model_calls m WHERE m.session_id = c.session_id) "
            "FROM conversations c WHERE c.user_name = ? AND c.notebook = ? ORDER BY c.last_used_at DESC",
            (self.user, self.notebook),
        )
        return [
            ConversationListing(name, session_id, turns, tokens, cost, last_used, forked_from)
            for name, session_id, last_used, forked_from, turns, tokens, cost in rows
        ]
