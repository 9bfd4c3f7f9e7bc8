"""The ledger's schema, as numbered migrations: append-only functions, each applied once per database and
recorded in the `_migrations` table (the shape of simonw/llm's migrations).

Never edit a migration that has shipped; add the next number.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[tuple[int, str, Migration]] = []


def migration(number: int) -> Callable[[Migration], Migration]:
    """Register `fn` as migration `number` (numbers must increase by one)."""

    def register(fn: Migration) -> Migration:
        assert number == len(MIGRATIONS) + 1, f"migration {number} out of order"
        MIGRATIONS.append((number, fn.__name__, fn))
        return fn

    return register


@migration(1)
def m001_initial(db: sqlite3.Connection) -> None:
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
def m002_tool_call_server(db: sqlite3.Connection) -> None:
    """The MCP server a tool call went to (NULL for built-in and notebook tools), on tool calls and
    approval decisions (issue 14). Plain ALTER TABLE, portable to other SQL backends."""
    db.execute("ALTER TABLE tool_calls ADD COLUMN server TEXT")
    db.execute("ALTER TABLE approvals ADD COLUMN server TEXT")


def _run_statements(db: sqlite3.Connection, script: str) -> None:
    """Run `;`-separated DDL one statement at a time (`executescript` would commit the open transaction)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def migrate(db: sqlite3.Connection) -> int:
    """Apply the pending migrations in one write transaction; returns how many ran.

    Two kernels opening a new ledger at once are serialised by `BEGIN IMMEDIATE`, and the second finds
    nothing left to do.
    """
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (number INTEGER PRIMARY KEY, name TEXT, applied_at REAL)")
    done = {row[0] for row in db.execute("SELECT number FROM _migrations")}
    if len(done) >= len(MIGRATIONS):
        return 0
    applied = 0
    db.execute("BEGIN IMMEDIATE")
    try:
        done = {row[0] for row in db.execute("SELECT number FROM _migrations")}
        for number, name, fn in MIGRATIONS:
            if number not in done:
                fn(db)
                db.execute("INSERT INTO _migrations VALUES (?, ?, ?)", (number, name, time.time()))
                applied += 1
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return applied
