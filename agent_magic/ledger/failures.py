"""What went wrong with a ledger, in one line that says how to fix it, and whether waiting can help.

The writer keeps the rows it could not write and tries again for the transient problems (a server
down, a lock held by another process, a full disk, a folder that cannot be written yet); a statement
the database refuses is a bug, logged and skipped so it cannot hold back the rows after it. A damaged
SQLite file is moved aside, never overwritten or deleted, and a new ledger started.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

UNREACHABLE = "unreachable"  # the shared server cannot be reached or dropped the connection
LOCKED = "locked"  # another process holds the SQLite file's write lock
FULL = "full"  # no space left for the file
UNWRITABLE = "unwritable"  # permissions, a read-only file system, a file that cannot be opened
NOT_A_FOLDER = "not a folder"  # the agent home (or a parent) is a file
DAMAGED = "damaged"  # the SQLite file is not a database or is corrupt
STATEMENT = "statement"  # the database refused one statement: a bug, not a condition that passes

_HOME_HINT = "point AgentMagic.home (or $AGENT_MAGIC_HOME) at a writable folder"


@dataclass(frozen=True)
class Problem:
    """A diagnosed failure: its kind, a one-line explanation with the fix, and whether to retry."""

    kind: str
    message: str

    @property
    def transient(self) -> bool:
        """True when keeping the rows and trying again later can succeed."""
        return self.kind != STATEMENT


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def diagnose(exc: BaseException, *, location: str, home: Path | None = None) -> Problem:
    """The `Problem` behind `exc`, raised while opening or writing the ledger at `location` (whose agent
    home is `home`, for a SQLite ledger)."""
    home = home or Path(location).parent
    if isinstance(exc, sqlite3.Error):
        return _sqlite_problem(exc, location, home)
    if isinstance(exc, NotADirectoryError | FileExistsError):
        return Problem(NOT_A_FOLDER, f"the agent home {home} is not a folder: {_HOME_HINT}")
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return Problem(FULL, f"the disk holding {location} is full: free some space")
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return Problem(UNWRITABLE, f"{location} cannot be written ({exc.strerror}): {_HOME_HINT}")
    if _is_postgres_outage(exc):
        return Problem(UNREACHABLE, f"the shared ledger {location} is unreachable ({_first_line(exc)})")
    if type(exc).__module__.startswith("adbc_driver_manager"):
        return _adbc_problem(exc, location)
    return Problem(STATEMENT, f"the ledger {location} refused a statement ({type(exc).__name__}: {_first_line(exc)})")


def _sqlite_problem(exc: sqlite3.Error, location: str, home: Path) -> Problem:
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return Problem(LOCKED, f"{location} is locked by another process (a program holding it open?)")
    if name.startswith("SQLITE_FULL"):
        return Problem(FULL, f"the disk holding {location} is full: free some space")
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return Problem(DAMAGED, f"{location} is damaged ({_first_line(exc)})")
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_IOERR", "SQLITE_AUTH")):
        if home.exists() and not home.is_dir():
            return Problem(NOT_A_FOLDER, f"the agent home {home} is not a folder: {_HOME_HINT}")
        return Problem(UNWRITABLE, f"{location} cannot be written ({_first_line(exc)}): {_HOME_HINT}")
    return Problem(STATEMENT, f"the ledger {location} refused a statement ({_first_line(exc)})")


def _adbc_problem(exc: BaseException, location: str) -> Problem:
    """An error of ADBC's PostgreSQL driver (a columnar read): libpq's I/O errors, or the query's."""
    if type(exc).__name__ == "OperationalError":  # libpq could not connect, or the connection broke
        return Problem(UNREACHABLE, f"the shared ledger {location} is unreachable ({_first_line(exc)})")
    return Problem(STATEMENT, f"the ledger {location} refused a query ({_first_line(exc)})")


def _is_postgres_outage(exc: BaseException) -> bool:
    """psycopg's OperationalError covers a refused or dropped connection, a server shutting down, a
    timeout; InterfaceError a connection already closed. Both pass; other errors are the statement's."""
    try:
        import psycopg
    except ImportError:
        return False
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


def is_damaged(path: Path) -> bool:
    """True when the SQLite file at `path` fails SQLite's own check (checked again before moving it, so
    a file another kernel has just replaced with a healthy one is left alone)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return False  # gone or unopenable: nothing to move
    try:
        (result,) = db.execute("PRAGMA quick_check").fetchone()
        return result != "ok"
    except sqlite3.DatabaseError as exc:
        name = getattr(exc, "sqlite_errorname", "") or ""
        return name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
    finally:
        db.close()


def move_aside(path: Path) -> Path:
    """Rename a damaged ledger file (and its -wal / -shm companions) to a new, unused name beside it;
    returns that name. Nothing is deleted: the user may want to recover rows from it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.stem}.damaged-{stamp}-{os.getpid()}{path.suffix}")
    n = 1
    while aside.exists():  # never rename over an earlier copy
        aside = path.with_name(f"{path.stem}.damaged-{stamp}-{os.getpid()}-{n}{path.suffix}")
        n += 1
    os.rename(path, aside)
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            os.rename(companion, aside.with_name(aside.name + suffix))
    return aside
