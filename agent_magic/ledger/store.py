"""The ledger database of a kernel: a SQLite file under the agent home, or a shared PostgreSQL database
(`AgentMagic.ledger_url`), with one interface for both.

Writes (`write`, `write_many`, and the recorder's jobs) are queued for the writer thread (`writer.py`),
which commits each burst as one transaction off the event loop and keeps what it cannot write. Reads
(`query`, `read_arrow`, `totals`) first wait for the writes queued before them, so they see every row
written before the read; pandas views read Arrow columns (`read_arrow`).

SQL is portable (`dialect.py`): `?` placeholders, TEXT / INTEGER / REAL columns, `ON CONFLICT`
upserts, no boolean sums; the same statements run on both backends.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_magic.contracts import Totals
from agent_magic.errors import AgentUsageError
from agent_magic.ledger.backends import Backend, LedgerConnection, Statement, backend_for
from agent_magic.ledger.failures import DAMAGED, UNREACHABLE, diagnose
from agent_magic.ledger.migrations import migrate
from agent_magic.ledger.spool import Spool, spool_path
from agent_magic.ledger.writer import LedgerWriter

if TYPE_CHECKING:
    import pyarrow as pa

READ_FLUSH_TIMEOUT_S = 10.0  # a read waits this long for earlier writes (a ledger locked elsewhere)


def resolve_home(configured: str | os.PathLike[str] | None = None) -> Path:
    """The agent home: `configured`, else $AGENT_MAGIC_HOME, else ./.agent next to the notebook."""
    chosen = configured or os.environ.get("AGENT_MAGIC_HOME") or ".agent"
    return Path(chosen).expanduser().resolve()


def resolve_url(configured: str | None = None) -> str | None:
    """The shared ledger's URL: `configured`, else $AGENT_MAGIC_LEDGER_URL; None for the local SQLite file."""
    chosen = configured or os.environ.get("AGENT_MAGIC_LEDGER_URL") or ""
    return chosen.strip() or None


class LedgerReadError(AgentUsageError):
    """The ledger could not be read; the message says why and what to do, in one line."""


class LedgerStore:
    """One ledger: `<home>/ledger.db`, or the PostgreSQL database at `url`; opened on first use.

    `say` receives the one-line notices of the writer (a ledger that cannot be written, and when it
    can again); by default they go to the `agent_magic.ledger` logger.

    Example:
        >>> store = LedgerStore(resolve_home())
        >>> store.write("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", ("a", "b"))
        >>> store.query("SELECT value FROM meta WHERE key = ?", ("a",))   # doctest: +SKIP
        [('b',)]
    """

    def __init__(
        self,
        home: str | os.PathLike[str],
        *,
        url: str | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.home = Path(home)
        self.backend: Backend = backend_for(url, self.home)
        self.location = self.backend.location
        spool = Spool(spool_path(self.home, self.location)) if self.backend.remote else None
        self.writer = LedgerWriter(self.backend, spool=spool, say=say or _log_notice)
        self._reader: LedgerConnection | None = None
        self._read_lock = threading.RLock()

    @property
    def remote(self) -> bool:
        """True for a shared (PostgreSQL) ledger."""
        return self.backend.remote

    # -- writing ---------------------------------------------------------------------------------------

    def write(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Queue one statement; it is committed with the rest of its burst, off the event loop."""
        self.writer.write(Statement(sql, tuple(params)))

    def write_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Queue one statement for many rows (committed in one transaction)."""
        self.writer.write(Statement(sql, [tuple(row) for row in rows], many=True))

    def submit(self, job: Callable[[], None]) -> None:
        """Run `job` on the writer thread, in order with the writes; what it writes joins that burst."""
        self.writer.submit(job)

    def flush(self, timeout: float | None = READ_FLUSH_TIMEOUT_S, *, retry: bool = True) -> bool:
        """Wait for the queued writes; True when everything was written. `retry`: try a ledger that
        failed just now again at once, rather than after the writer's back-off."""
        return self.writer.flush(timeout, retry=retry)

    # -- reading ---------------------------------------------------------------------------------------

    def query(
        self, sql: str, params: Sequence[Any] = (), *, wait: float = READ_FLUSH_TIMEOUT_S
    ) -> list[tuple[Any, ...]]:
        """All rows of a read query, after the writes queued before it (waiting at most `wait` seconds
        for them: a read on the event loop passes a short wait)."""
        self._flush_for_read(wait)
        return self._read(lambda conn: conn.execute(sql, params).fetchall())

    def read_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """A read query's result as an Arrow table, after the queued writes."""
        self._flush_for_read()
        return self._read(lambda conn: self.backend.read_arrow(conn, sql, params))

    def _flush_for_read(self, wait: float = READ_FLUSH_TIMEOUT_S) -> None:
        """Wait for the queued writes; a server the writer has just failed to reach is not tried twice."""
        if not self.flush(wait):
            problem = self.writer.problem
            if problem is not None and problem.kind == UNREACHABLE:
                raise LedgerReadError(f"cannot read the ledger: {problem.message}")

    def _read(self, run: Callable[[LedgerConnection], Any], *, again: bool = True) -> Any:
        with self._read_lock:
            try:
                if self._reader is None:
                    conn = self.backend.connect()
                    try:
                        migrate(conn)
                    except BaseException:
                        conn.close()
                        raise
                    self._reader = conn
                return run(self._reader)
            except Exception as exc:
                problem = diagnose(exc, location=self.location, home=self.backend.home)
                if not problem.transient:
                    raise
                self._close_reader()
                # Once more on a new connection: the server may have restarted since the last read.
                if again and (problem.kind != DAMAGED or self.writer.set_aside_damaged()):
                    return self._read(run, again=False)
                raise LedgerReadError(f"cannot read the ledger: {problem.message}") from None

    def _close_reader(self) -> None:
        if self._reader is not None:
            try:
                self._reader.close()
            finally:
                self._reader = None

    def ledger_id(self) -> str:
        """This database's identity (set by the first migration)."""
        return self.query("SELECT value FROM meta WHERE key = 'ledger_id'")[0][0]

    def totals(
        self,
        *,
        turn_id: str | None = None,
        session_id: str | None = None,
        since: float | None = None,
        user: str | None = None,
    ) -> Totals:
        """Model calls, tool calls that ran, tokens (input + output) and dollars in one scope (a turn, a
        session, or everything since a time), optionally one user's only."""
        if turn_id is not None:
            where, params = ["turn_id = ?"], [turn_id]
        elif session_id is not None:
            where, params = ["session_id = ?"], [session_id]
        elif since is not None:
            where, params = ["at >= ?"], [since]
        else:
            raise ValueError("totals() needs turn_id, session_id or since")
        if user is not None:
            where.append("user_name = ?")
            params.append(user)
        clause = " AND ".join(where)
        calls, tokens, cost, unpriced = self.query(
            "SELECT count(*), coalesce(sum(input_tokens + output_tokens), 0), coalesce(sum(cost_usd), 0), "
            f"coalesce(sum(CASE WHEN cost_usd IS NULL THEN 1 ELSE 0 END), 0) FROM model_calls WHERE {clause}",
            params,
        )[0]
        (tools,) = self.query(f"SELECT count(*) FROM tool_calls WHERE {clause} AND started_at IS NOT NULL", params)[0]
        return Totals(int(calls), int(tools), int(tokens), float(cost), int(unpriced))

    def close(self) -> None:
        """Write what is queued, stop the writer and close the connections (a later use reopens)."""
        self.writer.close()
        with self._read_lock:
            self._close_reader()


def _log_notice(message: str) -> None:
    import logging

    logging.getLogger("agent_magic.ledger").warning(message)
