"""Named sessions: the conversations of one kernel by name, and which one `%%agent` cells use now.

A conversation is opened by name: the one in memory if there is one; else, for a name other than the
default, the latest conversation of that name this notebook kept in the ledger (so `%%agent --session
eda` after a restart continues where it was); else a new one. The default conversation never resumes
by itself after a restart (a fresh start is what people expect): `%agent resume` brings it back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent_magic.errors import AgentUsageError
from agent_magic.events import SessionOrigin

if TYPE_CHECKING:
    from agent_magic.contracts import History
    from agent_magic.ledger.conversations import ConversationArchive, ConversationListing
    from agent_magic.policy.approval import ApprovalGate
    from agent_magic.session import Session

DEFAULT_NAME = "default"
_VALID_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_name(name: str) -> str:
    """`name` if it can name a session, else an `AgentUsageError` saying what a name may be."""
    if not _VALID_NAME.fullmatch(name):
        raise AgentUsageError(
            f"{name!r} is not a valid session name: use up to 64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit (e.g. eda-2)"
        )
    return name


@dataclass
class Conversation:
    """One named conversation in memory: its session (transcript, totals) and its approval gate (the
    "always allow" answers given in it)."""

    name: str
    session: Session
    gate: ApprovalGate


# Builds a conversation: (name, its id and history when it continues one, how it came to be, the
# conversation it was forked from).
Opener = Callable[[str, str | None, "History | None", SessionOrigin, str | None], Conversation]


@dataclass(frozen=True)
class Switch:
    """The outcome of opening a conversation by name, for the one line a command prints."""

    conversation: Conversation
    origin: SessionOrigin | None  # None: it was already in memory

    def describe(self) -> str:
        """e.g. "session 'eda' (resumed from the ledger: 12 messages)"."""
        session = self.conversation.session
        what = {
            None: "in memory",
            SessionOrigin.NEW: "new",
            SessionOrigin.RESUMED: f"resumed from the ledger: {len(session.messages)} messages",
            SessionOrigin.FORKED: f"forked: {len(session.messages)} messages copied",
        }[self.origin]
        return f"session {self.conversation.name!r} ({what}; id {session.session_id})"


SESSION_COLUMNS = ("name", "current", "turns", "tokens", "cost_usd", "last_used", "session", "forked_from")


def conversation_rows(
    stored: Sequence[ConversationListing], in_memory: dict[str, str], current: str | None
) -> list[dict[str, Any]]:
    """One row per name, with the `SESSION_COLUMNS`: the conversation in memory (`in_memory`: name → id),
    else the latest the ledger kept (`stored`, most recent first); `last_used` is Unix seconds, None before
    a conversation's first turn. Most recently used first."""
    by_id = {row.session_id: row for row in stored}
    chosen = {name: (session_id, by_id.get(session_id)) for name, session_id in in_memory.items()}
    for row in stored:
        chosen.setdefault(row.name, (row.session_id, row))
    rows = [
        {
            "name": name,
            "current": name == current,
            "turns": row.turns if row else 0,
            "tokens": row.tokens if row else 0,
            "cost_usd": row.cost_usd if row else None,
            "last_used": row.last_used if row else None,
            "session": session_id,
            "forked_from": row.forked_from if row else None,
        }
        for name, (session_id, row) in chosen.items()
    ]
    return sorted(rows, key=lambda row: -(row["last_used"] or float("inf")))


def sessions_frame(rows: list[dict[str, Any]]) -> Any:
    """`conversation_rows` as a pandas DataFrame (times in UTC, an unknown cost as NaN)."""
    import pandas as pd

    frame = pd.DataFrame.from_records(rows, columns=list(SESSION_COLUMNS))
    frame["last_used"] = pd.to_datetime(frame["last_used"].astype(float), unit="s", utc=True)
    frame["cost_usd"] = frame["cost_usd"].astype(float)
    return frame


class SessionBook:
    """The named conversations of one kernel (see the module docstring).

    Example:
        >>> book = SessionBook(open_conversation, archive)
        >>> book.use("eda").describe()
        "session 'eda' (new; id 3f2a…)"
    """

    def __init__(self, open_conversation: Opener, archive: Callable[[], ConversationArchive]) -> None:
        self._open = open_conversation
        self._archive = archive
        self._by_name: dict[str, Conversation] = {}
        self.current_name = DEFAULT_NAME

    @property
    def current(self) -> Conversation:
        """The conversation cells use now (the default one is started by the first use)."""
        conversation = self._by_name.get(self.current_name)
        if conversation is None:
            conversation = self._start(self.current_name, None, None, SessionOrigin.NEW)
        return conversation

    def in_memory(self) -> dict[str, Conversation]:
        """The conversations opened in this kernel, by name."""
        return dict(self._by_name)

    def _start(
        self,
        name: str,
        session_id: str | None,
        history: History | None,
        origin: SessionOrigin,
        forked_from: str | None = None,
    ) -> Conversation:
        conversation = self._open(name, session_id, history, origin, forked_from)
        self._by_name[name] = conversation
        self.current_name = name
        return conversation

    def fresh(self, name: str | None = None) -> Switch:
        """Start a new conversation under `name` (default: the current name) and use it; the old one stays
        in the ledger."""
        name = check_name(name or self.current_name)
        return Switch(self._start(name, None, None, SessionOrigin.NEW), SessionOrigin.NEW)

    def use(self, name: str) -> Switch:
        """Use the conversation called `name`: in memory, else (not the default) the latest one the ledger
        kept, else a new one."""
        name = check_name(name)
        if name in self._by_name:
            self.current_name = name
            return Switch(self._by_name[name], None)
        if name != DEFAULT_NAME:
            session_id = self._archive().latest(name)
            if session_id is not None:
                return self._restore(session_id)
        return Switch(self._start(name, None, None, SessionOrigin.NEW), SessionOrigin.NEW)

    def resume(self, name: str | None = None) -> Switch:
        """Bring back the latest conversation called `name` (default: the current name) that the ledger
        kept, other than the one in memory; an `AgentUsageError` when there is none."""
        name = check_name(name or self.current_name)
        loaded = self._by_name.get(name)
        session_id = self._archive().latest(name, other_than=loaded.session.session_id if loaded else None)
        if session_id is None:
            raise AgentUsageError(
                f"no earlier session named {name!r} in this notebook's ledger to resume; "
                "%agent sessions lists the ones there are"
            )
        return self._restore(session_id)

    def _restore(self, session_id: str) -> Switch:
        stored = self._archive().load(session_id)
        return Switch(
            self._start(stored.name, session_id, stored.history, SessionOrigin.RESUMED), SessionOrigin.RESUMED
        )

    def table(self) -> list[dict[str, Any]]:
        """This kernel's and the ledger's conversations, one row per name (see `conversation_rows`)."""
        in_memory = {name: conversation.session.session_id for name, conversation in self._by_name.items()}
        return conversation_rows(self._archive().listing(), in_memory, self.current_name)

    def fork(self, name: str) -> Switch:
        """Copy the current conversation's transcript into a new one called `name` and use it (the first
        stays as it was). A fork's usage and session budget count from the fork."""
        from agent_magic.contracts import History

        name = check_name(name)
        if name in self._by_name or self._archive().latest(name) is not None:
            raise AgentUsageError(
                f"a session named {name!r} exists already; choose another name, or switch to it with "
                f"%agent session {name}"
            )
        source = self.current.session
        history = History(messages=tuple(source.messages), turn_ids=tuple(source.message_turns))
        return Switch(self._start(name, None, history, SessionOrigin.FORKED, source.session_id), SessionOrigin.FORKED)
