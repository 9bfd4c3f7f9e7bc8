"""Where a ledger lives: a SQLite file under the agent home (the default) or a PostgreSQL database
(`AgentMagic.ledger_url`), behind one small interface so the rest of the ledger has one code path.

A `Backend` opens `LedgerConnection`s (portable SQL in, see `dialect`; transactions, savepoints, a
transaction-scoped named lock) and reads query results as Arrow tables through ADBC (columnar, no
Python object per cell). sqlite3 is the standard library's; psycopg 3, ADBC and pyarrow are imported
when first used, so `%load_ext` never pays for them.
"""

from __future__ import annotations

import abc
import contextlib
import enum
import hashlib
import importlib.util
import sqlite3
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_magic.ledger import dialect

if TYPE_CHECKING:
    import pyarrow as pa

DB_NAME = "ledger.db"
BUSY_TIMEOUT_S = 5.0  # then the writer keeps the rows and retries: a long lock never blocks a turn
POSTGRES_SCHEMES = ("postgresql", "postgres")
# Libpq settings we choose unless the URL says otherwise: fail fast when the server is down, notice a
# dead peer within ~25 s instead of waiting forever on a half-open socket.
POSTGRES_DEFAULTS = {
    "connect_timeout": "5",
    "keepalives": "1",
    "keepalives_idle": "10",
    "keepalives_interval": "5",
    "keepalives_count": "3",
    "application_name": "agent_magic",
}


@dataclass(frozen=True)
class Statement:
    """One portable SQL statement and its parameters (`many`: `params` is a list of rows)."""

    sql: str
    params: Sequence[Any] = ()
    many: bool = False


class LedgerConnection(abc.ABC):
    """A connection speaking portable ledger SQL; migrations receive one as `db` and call `db.execute`."""

    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; returns a DB-API cursor (`fetchall`, `fetchone`, `rowcount`)."""

    @abc.abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each row."""

    def run(self, statement: Statement) -> Any:
        """Run a `Statement`."""
        if statement.many:
            return self.executemany(statement.sql, statement.params)
        return self.execute(statement.sql, statement.params)

    @abc.abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """A write transaction: committed at the end of the block, rolled back if it raises."""

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """Inside a transaction: a part that is undone alone if it raises."""
        self.execute("SAVEPOINT ledger_part")
        try:
            yield
        except BaseException:
            self.execute("ROLLBACK TO SAVEPOINT ledger_part")
            raise
        else:
            self.execute("RELEASE SAVEPOINT ledger_part")

    @abc.abstractmethod
    def lock(self, name: str) -> None:
        """Inside a transaction: hold the lock `name` until it ends (serialises migrations, budget checks)."""

    @abc.abstractmethod
    def refresh_statistics(self) -> None:
        """Keep the query planner's statistics current (a full read must scan, not walk an index)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection."""


class SQLiteConnection(LedgerConnection):
    """A sqlite3 connection in autocommit mode; transactions are `BEGIN IMMEDIATE` (the write lock is
    taken at the start, so two writers queue instead of deadlocking)."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        """Run one statement."""
        return self.raw.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each row."""
        self.raw.executemany(sql, rows)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """`BEGIN IMMEDIATE` … `COMMIT` (or `ROLLBACK`)."""
        self.raw.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.raw.in_transaction:
                self.raw.execute("ROLLBACK")
            raise
        self.raw.execute("COMMIT")

    def lock(self, name: str) -> None:
        """Nothing more to take: `BEGIN IMMEDIATE` holds the file's only write lock already."""

    def refresh_statistics(self) -> None:
        """`ANALYZE` when the model-call table has doubled since it was last analysed (or never was).

        Without statistics SQLite takes every index for selective: `usage()` would fetch a million rows
        one index lookup at a time and sort them, instead of one scan in id order (measured: 1.5x).
        """
        (rows,) = self.raw.execute("SELECT coalesce(max(id), 0) FROM model_calls").fetchone()
        if rows < 1000:
            return
        try:
            stat = self.raw.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = 'model_calls' LIMIT 1").fetchone()
        except sqlite3.OperationalError:  # no sqlite_stat1 yet
            stat = None
        if stat is None or int(stat[0].split()[0]) * 2 < rows:
            self.raw.execute("ANALYZE")

    def close(self) -> None:
        """Close the connection."""
        self.raw.close()


class PostgresConnection(LedgerConnection):
    """A psycopg 3 connection in autocommit mode; `transaction()` is psycopg's (nested: a savepoint)."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement, rewritten for PostgreSQL."""
        return self.raw.execute(dialect.for_psycopg(sql), _adapt(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each row."""
        with self.raw.cursor() as cursor:
            cursor.executemany(dialect.for_psycopg(sql), [_adapt(row) for row in rows])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """psycopg's transaction block."""
        with self.raw.transaction():
            yield

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested psycopg transaction is a savepoint."""
        with self.raw.transaction():
            yield

    def lock(self, name: str) -> None:
        """A transaction-scoped advisory lock on a 64-bit key derived from `name`."""
        key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
        self.raw.execute("SELECT pg_advisory_xact_lock(%s)", (key,))

    def refresh_statistics(self) -> None:
        """Nothing to do: PostgreSQL's autovacuum keeps its statistics."""

    def close(self) -> None:
        """Close the connection."""
        self.raw.close()


def _adapt(params: Sequence[Any]) -> Sequence[Any]:
    """Parameters as sqlite3 stores them: booleans as 0/1 (PostgreSQL refuses them in BIGINT columns),
    enums as their values (psycopg would send an enum's name)."""
    if any(isinstance(value, bool | enum.Enum) for value in params):
        return [_plain(value) for value in params]
    return params


def _plain(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, enum.Enum):
        return value.value
    return value


class Backend(abc.ABC):
    """Opens connections to one ledger and reads it as Arrow; `location` names it in messages."""

    remote = False
    location = ""
    home: Path | None = None  # a SQLite ledger's folder

    @abc.abstractmethod
    def connect(self) -> LedgerConnection:
        """A new connection (not yet migrated)."""

    @abc.abstractmethod
    def read_arrow(self, conn: LedgerConnection, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """The result of a read query as an Arrow table (`conn`: the store's reading connection)."""


class SQLiteBackend(Backend):
    """The ledger file `<home>/ledger.db`: WAL mode, so readers run while another kernel writes."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / DB_NAME
        self.location = str(self.path)

    def connect(self) -> SQLiteConnection:
        """Open (creating the home and the file if needed) and configure the file."""
        self.home.mkdir(parents=True, exist_ok=True)
        raw = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        try:
            raw.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            raw.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode: a commit survives a process crash; only power loss can drop the last ones.
            raw.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            raw.close()
            raise
        return SQLiteConnection(raw)

    def read_arrow(self, conn: LedgerConnection, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Read through Python's own sqlite3, on the store's reading connection, into Arrow columns.

        Never through ADBC's SQLite driver: it links a second copy of SQLite into the process, and two
        copies do not share SQLite's per-process table of POSIX locks. Closing the driver's connection
        then releases the writer's locks and, taking itself for the last connection, checkpoints and
        deletes the WAL under the writer: rows written afterwards were lost (see
        https://www.sqlite.org/howtocorrupt.html, "multiple copies of SQLite linked into the same
        application")."""
        import pyarrow as pa

        cursor = conn.execute(sql, params)
        names = [column[0] for column in cursor.description]
        rows = cursor.fetchall()
        if not rows:
            return pa.table({name: pa.array([], pa.null()) for name in names})
        return pa.table([pa.array(column) for column in zip(*rows, strict=True)], names=names)


class PostgresBackend(Backend):
    """A PostgreSQL database shared by many kernels (psycopg 3 for writes, ADBC for columnar reads)."""

    remote = True

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.location = masked_url(self.url)

    def connect(self) -> PostgresConnection:
        """Connect, with our libpq defaults where the URL sets nothing."""
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        given = conninfo_to_dict(self.url)
        extra = {key: value for key, value in POSTGRES_DEFAULTS.items() if key not in given}
        raw = psycopg.connect(self.url, autocommit=True, **extra)
        _load_sums_as_numbers(raw)
        return PostgresConnection(raw)

    def read_arrow(self, conn: LedgerConnection, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Read through ADBC's PostgreSQL driver (binary COPY into Arrow)."""
        import adbc_driver_postgresql.dbapi

        with adbc_driver_postgresql.dbapi.connect(self.url) as conn, conn.cursor() as cursor:
            cursor.execute(dialect.numbered(sql), list(params) or None)
            return cursor.fetch_arrow_table()


def _load_sums_as_numbers(raw: Any) -> None:
    """PostgreSQL sums integers as NUMERIC, which psycopg reads as Decimal: read it as int or float, as
    SQLite gives (totals go to JSON and to arithmetic with floats)."""
    from psycopg.adapt import Loader

    class NumberLoader(Loader):
        def load(self, data: Any) -> int | float:
            text = bytes(data)
            try:
                return int(text)
            except ValueError:
                return float(text)

    raw.adapters.register_loader("numeric", NumberLoader)


def normalise_url(url: str) -> str:
    """`postgresql+psycopg://…` (SQLAlchemy's spelling) and `postgres://…` as libpq's `postgresql://…`."""
    scheme, sep, rest = url.strip().partition("://")
    base = scheme.split("+", 1)[0].lower()
    if not sep or base not in POSTGRES_SCHEMES:
        raise ValueError(f"AgentMagic.ledger_url must be a postgresql://user@host:port/db URL, not {masked_url(url)!r}")
    return f"postgresql://{rest}"


def masked_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urllib.parse.urlunsplit(parts._replace(netloc=user + host))


def check_url(url: str) -> str:
    """A usable `AgentMagic.ledger_url` (normalised; empty stays empty), or a one-line ValueError
    saying what to change or install."""
    if not url or not url.strip():
        return ""
    url = normalise_url(url)
    missing = [
        name for name in ("psycopg", "adbc_driver_postgresql", "pyarrow") if importlib.util.find_spec(name) is None
    ]
    if missing:
        raise ValueError(f"a PostgreSQL ledger needs {', '.join(missing)}: pip install 'agent-magic[postgres]'")
    return url


def backend_for(url: str | None, home: Path) -> Backend:
    """The backend for `AgentMagic.ledger_url` (empty: the SQLite file under `home`)."""
    if url and url.strip():
        return PostgresBackend(url)
    return SQLiteBackend(home)
