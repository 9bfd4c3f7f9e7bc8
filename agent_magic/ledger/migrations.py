"""The ledger's schema, as numbered migrations: append-only functions, each applied once per database and
recorded in the `_migrations` table (the shape of simonw/llm's migrations).

Never edit a migration that has shipped; add the next number. Migrations are written in the portable
SQL of `dialect` (`db.execute(sql, params)` with `?` placeholders; TEXT, INTEGER and REAL columns;
`INTEGER PRIMARY KEY` ids), so the same functions build a SQLite file and a PostgreSQL database.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable

from agent_magic.ledger.backends import LedgerConnection, SQLiteConnection
from agent_magic.ledger.identity import current_host, current_user

Migration = Callable[[LedgerConnection], None]
MIGRATIONS: list[tuple[int, str, Migration]] = []


def migration(number: int) -> Callable[[Migration], Migration]:
    """Register `fn` as migration `number` (numbers must increase by one)."""

    def register(fn: Migration) -> Migration:
        assert number == len(MIGRATIONS) + 1, f"migration {number} out of order"
        MIGRATIONS.append((number, fn.__name__, fn))
        return fn

    return register


@migration(1)
def m001_initial(db: LedgerConnection) -> None:
    """Sessions, turns, model calls, tool calls, messages, approval decisions; times are Unix seconds (UTC)."""
    _run_statements(
        db,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE sessions (
            session_id TEXT PRIMARY KEY, started_at REAL NOT NULL, notebook TEXT NOT NULL,
            kernel_pid INTEGER, host TEXT
        );
        CREATE INDEX sessions_notebook ON sessions (notebook);
        CREATE TABLE turns (
            turn_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, trace_id TEXT NOT NULL,
            started_at REAL NOT NULL, ended_at REAL, prompt TEXT, model TEXT,
            cell_id TEXT, execution_count INTEGER, state TEXT, message TEXT
        );
        CREATE INDEX turns_session ON turns (session_id);
        CREATE TABLE model_calls (
            id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, turn_id TEXT NOT NULL, trace_id TEXT NOT NULL,
            at REAL NOT NULL, step INTEGER, model TEXT NOT NULL,
            input_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,
            reasoning_tokens INTEGER NOT NULL, cost_usd REAL, latency_s REAL, ttft_s REAL,
            retries INTEGER NOT NULL, estimated INTEGER NOT NULL, status TEXT NOT NULL,
            cell_id TEXT, execution_count INTEGER
        );
        CREATE INDEX model_calls_session ON model_calls (session_id);
        CREATE INDEX model_calls_turn ON model_calls (turn_id);
        CREATE INDEX model_calls_at ON model_calls (at);
        CREATE TABLE tool_calls (
            id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, turn_id TEXT NOT NULL, trace_id TEXT NOT NULL,
            call_id TEXT NOT NULL, step INTEGER, at REAL NOT NULL, started_at REAL, tool TEXT NOT NULL,
            arguments TEXT, decision TEXT, decided_by TEXT, ok INTEGER, error_code TEXT, duration_s REAL,
            result_chars INTEGER, truncated INTEGER,
            UNIQUE (turn_id, call_id)
        );
        CREATE INDEX tool_calls_session ON tool_calls (session_id);
        CREATE INDEX tool_calls_at ON tool_calls (at);
        CREATE TABLE approvals (
            id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, turn_id TEXT NOT NULL, trace_id TEXT NOT NULL,
            call_id TEXT NOT NULL, at REAL NOT NULL, tool TEXT NOT NULL, decision TEXT NOT NULL,
            decided_by TEXT NOT NULL, reason TEXT, seconds_to_decide REAL
        );
        CREATE INDEX approvals_session ON approvals (session_id);
        CREATE TABLE messages (
            id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, turn_id TEXT NOT NULL, trace_id TEXT NOT NULL,
            at REAL NOT NULL, position INTEGER NOT NULL, role TEXT NOT NULL, content TEXT,
            tool_calls TEXT, tool_call_id TEXT
        );
        CREATE INDEX messages_session ON messages (session_id, position);
        """,
    )
    # Identifies this database file, so derived caches are never applied to another ledger.
    db.execute("INSERT INTO meta (key, value) VALUES ('ledger_id', ?)", (uuid.uuid4().hex,))


@migration(2)
def m002_tool_call_server(db: LedgerConnection) -> None:
    """The MCP server a tool call went to (NULL for built-in and notebook tools), on tool calls and
    approval decisions (issue 14). Plain ALTER TABLE, portable to other SQL backends."""
    db.execute("ALTER TABLE tool_calls ADD COLUMN server TEXT")
    db.execute("ALTER TABLE approvals ADD COLUMN server TEXT")


def _run_statements(db: LedgerConnection, script: str) -> None:
    """Run `;`-separated DDL one statement at a time (`executescript` would commit the open transaction)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def migrate(db: LedgerConnection | sqlite3.Connection) -> int:
    """Apply the pending migrations in one write transaction; returns how many ran.

    Kernels opening a new ledger at once are serialised (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: an
    advisory lock taken before anything else, and DDL is transactional there), and the later ones find
    nothing left to do. An up-to-date ledger is recognised without taking any lock.
    """
    if isinstance(db, sqlite3.Connection):
        db = SQLiteConnection(db)
    if len(_applied(db)) >= len(MIGRATIONS):
        return 0
    applied = 0
    with db.transaction():
        db.lock("agent_magic.ledger.migrations")
        db.execute("CREATE TABLE IF NOT EXISTS _migrations (number INTEGER PRIMARY KEY, name TEXT, applied_at REAL)")
        done = {row[0] for row in db.execute("SELECT number FROM _migrations").fetchall()}
        for number, name, fn in MIGRATIONS:
            if number not in done:
                fn(db)
                db.execute("INSERT INTO _migrations VALUES (?, ?, ?)", (number, name, time.time()))
                applied += 1
    return applied


def _applied(db: LedgerConnection) -> set[int]:
    """The migrations this database has, read outside any transaction (none when it has no table yet)."""
    try:
        return {row[0] for row in db.execute("SELECT number FROM _migrations").fetchall()}
    except Exception:  # no _migrations table yet (each driver names that error its own way)
        return set()


# The tables that record a user's activity: each row says who (user_name) and on which machine (host).
_IDENTIFIED_TABLES = ("turns", "model_calls", "tool_calls", "approvals", "messages")


@migration(3)
def m003_identity(db: LedgerConnection) -> None:
    """Who and where: `user_name` (JupyterHub's user, else the OS user) and `host` on every row, so one
    ledger shared by a team (PostgreSQL) can be read per person. Rows written before this migration
    are attributed to the user and machine that first opens the ledger with it."""
    user, host = current_user(), current_host()
    db.execute("ALTER TABLE sessions ADD COLUMN user_name TEXT")
    db.execute("UPDATE sessions SET user_name = ?, host = coalesce(host, ?)", (user, host))
    db.execute("CREATE INDEX sessions_user ON sessions (user_name)")
    for table in _IDENTIFIED_TABLES:
        db.execute(f"ALTER TABLE {table} ADD COLUMN user_name TEXT")
        db.execute(f"ALTER TABLE {table} ADD COLUMN host TEXT")
        db.execute(f"UPDATE {table} SET user_name = ?, host = ?", (user, host))
    # The day and month budgets sum one user's calls since a time, before every model call.
    db.execute("CREATE INDEX model_calls_user_at ON model_calls (user_name, at)")
    db.execute("CREATE INDEX tool_calls_user_at ON tool_calls (user_name, at)")


@migration(4)
def m004_budget_holds(db: LedgerConnection) -> None:
    """What running turns have used or are about to use, so a user's kernels share one day (and month)
    budget: a budget check counts the other kernels' holds, and records its own, in one transaction."""
    db.execute(
        """CREATE TABLE budget_holds (
            turn_id TEXT PRIMARY KEY, user_name TEXT NOT NULL, host TEXT, at REAL NOT NULL,
            expires_at REAL NOT NULL, model_calls INTEGER NOT NULL, tool_calls INTEGER NOT NULL,
            tokens INTEGER NOT NULL, cost_usd REAL NOT NULL, unpriced_calls INTEGER NOT NULL
        )"""
    )
    db.execute("CREATE INDEX budget_holds_user ON budget_holds (user_name, expires_at)")


@migration(5)
def m005_write_batches(db: LedgerConnection) -> None:
    """The batches of rows a kernel has written to a shared ledger, by id: a batch sent again after an
    outage (its first commit may have landed before the connection dropped) is recognised and skipped,
    so every row arrives exactly once."""
    db.execute("CREATE TABLE write_batches (batch_id TEXT PRIMARY KEY, written_at REAL NOT NULL)")
    db.execute("CREATE INDEX write_batches_written_at ON write_batches (written_at)")


@migration(6)
def m006_named_conversations(db: LedgerConnection) -> None:
    """Conversations that outlive the kernel: each one's name and its transcript as the model sees it now
    (after compaction and undo), and the compactions and undos that shaped it. A conversation belongs to
    a user and a notebook: on a shared ledger, people whose notebooks have the same path (JupyterHub's
    /home/jovyan) never resume or list each other's conversations."""
    _run_statements(
        db,
        """
        CREATE TABLE conversations (
            session_id TEXT PRIMARY KEY, user_name TEXT NOT NULL, notebook TEXT NOT NULL, name TEXT NOT NULL,
            created_at REAL NOT NULL, last_used_at REAL NOT NULL, forked_from TEXT, epoch INTEGER NOT NULL
        );
        CREATE INDEX conversations_name ON conversations (user_name, notebook, name);
        CREATE TABLE conversation_messages (
            session_id TEXT NOT NULL, epoch INTEGER NOT NULL, position INTEGER NOT NULL, turn_id TEXT NOT NULL,
            message TEXT NOT NULL,
            PRIMARY KEY (session_id, epoch, position)
        );
        CREATE TABLE conversation_events (
            event_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, at REAL NOT NULL, kind TEXT NOT NULL,
            turn_id TEXT, tokens_before INTEGER, tokens_after INTEGER, detail TEXT
        );
        CREATE INDEX conversation_events_session ON conversation_events (session_id);
        """,
    )


@migration(7)
def m007_replay_records(db: LedgerConnection) -> None:
    """Replay: one row per answered model call with what replay needs (the request's digests, the answer,
    the tokens the server reported, NULL when it reported none, and the request's size), and
    `model_calls.replayed` for calls answered from a recording."""
    _run_statements(
        db,
        """
        CREATE TABLE replay_records (
            request_key TEXT NOT NULL, session_id TEXT NOT NULL, turn_id TEXT NOT NULL, at REAL NOT NULL,
            model TEXT NOT NULL, tools_key TEXT NOT NULL, format_key TEXT NOT NULL, message_keys TEXT NOT NULL,
            answer TEXT NOT NULL, input_tokens INTEGER, cached_tokens INTEGER, output_tokens INTEGER,
            reasoning_tokens INTEGER, request_chars INTEGER NOT NULL,
            replayed INTEGER NOT NULL,
            PRIMARY KEY (request_key, session_id)
        );
        CREATE INDEX replay_records_key ON replay_records (request_key, at);
        CREATE INDEX replay_records_session ON replay_records (session_id);
        CREATE INDEX replay_records_model ON replay_records (model, at);
        ALTER TABLE model_calls ADD COLUMN replayed INTEGER NOT NULL DEFAULT 0
        """,
    )
