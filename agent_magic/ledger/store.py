"""The ledger's SQLite database: one file under the agent home, WAL mode, written one row at a time.

Each write is its own transaction (autocommit), so a kernel crash loses at most the row in flight. WAL
lets readers (pandas, the budget check) run while another kernel writes; concurrent writers wait for
each other through `busy_timeout` instead of failing.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from agent_magic.contracts import Totals
from agent_magic.ledger.migrations import migrate

DB_NAME = "ledger.db"
BUSY_TIMEOUT_MS = 30_000


def resolve_home(configured: str | os.PathLike[str] | None = None) -> Path:
    """The agent home: `configured`, else $AGENT_MAGIC_HOME, else ./.agent next to the notebook."""
    chosen = configured or os.environ.get("AGENT_MAGIC_HOME") or ".agent"
    return Path(chosen).expanduser().resolve()


class LedgerStore:
    """The ledger database at `<home>/ledger.db`, opened (and migrated) on first use.

    Example:
        >>> store = LedgerStore(resolve_home())
        >>> store.query("SELECT count(*) FROM model_calls")   # doctest: +SKIP
        [(0,)]
    """

    def __init__(self, home: str | os.PathLike[str]) -> None:
        self.home = Path(home)
        self.path = self.home / DB_NAME
        self._db: sqlite3.Connection | None = None
        # The kernel writes from its event-loop thread; pandas readers may call from any thread.
        self._lock = threading.RLock()

    def connection(self) -> sqlite3.Connection:
        """The open connection (created, configured and migrated on first call)."""
        with self._lock:
            if self._db is None:
                self.home.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(
                    self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
                )
                db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                db.execute("PRAGMA journal_mode = WAL")
                # NORMAL in WAL mode: a commit survives a process crash; only power loss can drop the last ones.
                db.execute("PRAGMA synchronous = NORMAL")
                migrate(db)
                self._db = db
            return self._db

    def write(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement as its own transaction."""
        with self._lock:
            self.connection().execute(sql, params)

    def write_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for many rows, in one transaction."""
        with self._lock:
            db = self.connection()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(sql, rows)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """All rows of a read query."""
        with self._lock:
            return self.connection().execute(sql, params).fetchall()

    def cursor(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """A cursor over a read query (for column names via `description`)."""
        with self._lock:
            return self.connection().execute(sql, params)

    def ledger_id(self) -> str:
        """This database's identity (set by the first migration)."""
        return self.query("SELECT value FROM meta WHERE key = 'ledger_id'")[0][0]

    def totals(
        self, *, turn_id: str | None = None, session_id: str | None = None, since: float | None = None
    ) -> Totals:
        """Model calls, tool calls that ran, tokens (input + output) and dollars in one scope."""
        if turn_id is not None:
            where, params = "turn_id = ?", (turn_id,)
        elif session_id is not None:
            where, params = "session_id = ?", (session_id,)
        elif since is not None:
            where, params = "at >= ?", (since,)
        else:
            raise ValueError("totals() needs turn_id, session_id or since")
        calls, tokens, cost, unpriced = self.query(
            "SELECT count(*), coalesce(sum(input_tokens + output_tokens), 0), coalesce(sum(cost_usd), 0), "
            f"coalesce(sum(cost_usd IS NULL), 0) FROM model_calls WHERE {where}",
            params,
        )[0]
        (tools,) = self.query(f"SELECT count(*) FROM tool_calls WHERE {where} AND started_at IS NOT NULL", params)[0]
        return Totals(model_calls=calls, tool_calls=tools, tokens=tokens, cost_usd=float(cost), unpriced_calls=unpriced)

    def close(self) -> None:
        """Close the connection (it reopens on next use)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
