"""The outage spool: batches of rows waiting for the shared ledger, kept in a local SQLite file under the
agent home (`ledger-spool-<server>.db`), so they survive a kernel restart.

Each batch keeps the id it was first sent with; the shared ledger records the ids it has committed
(`write_batches`), so a batch whose commit landed just before the connection dropped is recognised
when it is sent again, and every row arrives exactly once. Kernels sharing a home share the spool:
whichever reaches the server first sends it.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from agent_magic.ledger.backends import Statement


def spool_path(home: Path, url: str) -> Path:
    """The spool of the shared ledger at `url` under `home` (one per server: rows never go to another)."""
    digest = hashlib.blake2b(url.encode(), digest_size=6).hexdigest()
    return home / f"ledger-spool-{digest}.db"


@dataclass(frozen=True)
class Batch:
    """Statements written together, in one transaction, under one id."""

    batch_id: str
    statements: tuple[Statement, ...]

    @property
    def rows(self) -> int:
        """How many rows the batch writes or changes (at most)."""
        return sum(len(s.params) if s.many else 1 for s in self.statements)


def _encode(batch: Batch) -> str:
    return json.dumps(
        [[s.sql, list(map(list, s.params)) if s.many else list(s.params), s.many] for s in batch.statements]
    )


def _decode(batch_id: str, text: str) -> Batch:
    statements = tuple(
        Statement(sql, [tuple(row) for row in params] if many else tuple(params), many)
        for sql, params, many in json.loads(text)
    )
    return Batch(batch_id, statements)


class Spool:
    """Batches waiting for the shared ledger, oldest first."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
            try:
                db.execute("PRAGMA journal_mode = WAL")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS batches (seq INTEGER PRIMARY KEY, batch_id TEXT NOT NULL UNIQUE, "
                    "spooled_at REAL NOT NULL, rows INTEGER NOT NULL, statements TEXT NOT NULL)"
                )
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def append(self, batch: Batch) -> None:
        """Keep `batch` (a batch already there is kept once)."""
        self._connection().execute(
            "INSERT INTO batches (batch_id, spooled_at, rows, statements) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (batch_id) DO NOTHING",
            (batch.batch_id, time.time(), batch.rows, _encode(batch)),
        )

    def has_batches(self) -> bool:
        """True when something waits (False when there is no spool file at all)."""
        if self._db is None and not self.path.exists():
            return False
        return self._connection().execute("SELECT 1 FROM batches LIMIT 1").fetchone() is not None

    def batches(self) -> list[Batch]:
        """Every waiting batch, oldest first."""
        if self._db is None and not self.path.exists():
            return []
        rows = self._connection().execute("SELECT batch_id, statements FROM batches ORDER BY seq").fetchall()
        return [_decode(batch_id, text) for batch_id, text in rows]

    def remove(self, batch_id: str) -> None:
        """Forget a batch that reached the server."""
        self._connection().execute("DELETE FROM batches WHERE batch_id = ?", (batch_id,))

    def rows(self) -> int:
        """How many rows wait."""
        if self._db is None and not self.path.exists():
            return 0
        (count,) = self._connection().execute("SELECT coalesce(sum(rows), 0) FROM batches").fetchone()
        return int(count)

    def close(self) -> None:
        """Close the file."""
        if self._db is not None:
            self._db.close()
            self._db = None
