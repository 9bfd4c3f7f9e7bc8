"""The ledger's writer thread: every write of a kernel's ledger, off the event loop, in order, one
transaction per burst.

Callers on the event loop only queue work (a statement, or a job such as "record this event" that
produces statements on this thread), so a slow disk, a lock held by another process or a server that
is down never delays a streamed token. The thread takes whatever is queued at once (a burst: the rows
of one event, or of several that came together) and commits it as one batch.

When a batch cannot be written the rows are kept, never dropped: for a shared (PostgreSQL) ledger in
the local spool (`spool.py`), else in memory; they are written, in order, on the next write after a
short back-off, on the next read (which forces a try), or when the kernel exits. One line tells the
user what is wrong the first time, and one line when it is fixed.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import contextlib
import logging
import queue
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from agent_magic.ledger.backends import Backend, LedgerConnection, SQLiteBackend, Statement
from agent_magic.ledger.failures import DAMAGED, Problem, diagnose, is_damaged, move_aside
from agent_magic.ledger.migrations import migrate
from agent_magic.ledger.spool import Batch, Spool

log = logging.getLogger("agent_magic.ledger")
T = TypeVar("T")

FIRST_RETRY_S = 1.0
MAX_RETRY_S = 30.0
EXIT_FLUSH_S = 5.0  # at interpreter exit, how long to try to write what is left
BATCH_ID_DAYS = 30  # how long a shared ledger remembers a batch id (a resend after longer is not recognised)
MAX_KEPT_ROWS = 500_000  # rows kept in memory at most while the ledger cannot be written (then the oldest go)


class LedgerUnavailable(Exception):
    """The ledger could not be reached or written just now (the rows are kept); `problem` says why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass
class _Job:
    run: Callable[[], None]


@dataclass
class _Sync:
    retry: bool
    done: threading.Event = field(default_factory=threading.Event)
    written: bool = False


@dataclass
class _Call:
    run: Callable[[LedgerConnection], Any]
    future: concurrent.futures.Future


_STOP = object()


class LedgerWriter:
    """One ledger's writer thread (started by the first write).

    Example:
        >>> writer = LedgerWriter(SQLiteBackend(home), spool=None, say=print)
        >>> writer.write(Statement("INSERT INTO meta (key, value) VALUES (?, ?)", ("k", "v")))
        >>> writer.flush(timeout=5)
        True
    """

    def __init__(self, backend: Backend, *, spool: Spool | None, say: Callable[[str], None]) -> None:
        self.backend = backend
        self.spool = spool
        self.say = say
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._conn: LedgerConnection | None = None
        # The burst being built while a job runs, seen only by the thread running it: `close` may already
        # have let go of that thread, and the job's statements must still join its burst.
        self._burst = threading.local()
        self._pending: deque[Batch] = deque()  # batches not written yet and not spooled, oldest first
        self._problem: Problem | None = None
        self._retry_at = 0.0
        self._retry_wait = FIRST_RETRY_S
        self._setting_aside = False
        self._kept_rows = 0  # statements kept in memory (bounded by MAX_KEPT_ROWS)
        # Whether the spool may hold batches (checked on disk only then): it is looked at on every commit.
        self._spooled = spool is not None and spool.path.exists()
        _WRITERS.add(self)

    # -- any thread ------------------------------------------------------------------------------------

    def write(self, statement: Statement) -> None:
        """Queue a statement (on the writer thread, inside a job: add it to the burst being built)."""
        collecting: list[Statement] | None = getattr(self._burst, "statements", None)
        if collecting is not None:
            collecting.append(statement)
        else:
            self._put(statement)

    def submit(self, job: Callable[[], None]) -> None:
        """Run `job` on the writer thread, in order; the statements it writes join the current burst."""
        self._put(_Job(job))

    def flush(self, timeout: float | None = None, *, retry: bool = True) -> bool:
        """Wait until everything queued before this call was handled; True when it is all written.

        `retry` tries the ledger now even while backing off after a failure (a read wants fresh rows).
        Returns False after `timeout` seconds, or when rows are kept because the ledger cannot be written.
        """
        if self._thread is None and not self._pending and self.spool is None:
            return True  # nothing was ever queued
        sync = _Sync(retry=retry)
        self._put(sync)
        return sync.done.wait(timeout) and sync.written

    def call(self, run: Callable[[LedgerConnection], T], timeout: float) -> T:
        """Run `run(connection)` on the writer thread after everything queued before it is written, and
        return its result. Raises `LedgerUnavailable` when the ledger cannot be written right now (or
        not within `timeout` seconds: then `run` is dropped, never run late)."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._put(_Call(run, future))
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            if future.cancel():
                raise LedgerUnavailable(Problem("busy", f"{self.backend.location} is busy")) from None
            return future.result()  # it started just now: wait for it

    @property
    def problem(self) -> Problem | None:
        """What keeps rows from being written, while it lasts."""
        return self._problem

    def set_aside_damaged(self, timeout: float = 10.0) -> bool:
        """Move a damaged SQLite ledger aside (for a read that found it damaged); True when the ledger
        can be opened afresh."""
        done: list[bool] = []
        self._put(_Job(lambda: done.append(self._repair())))
        self.flush(timeout, retry=False)
        return bool(done and done[0])

    def close(self, timeout: float = EXIT_FLUSH_S) -> None:
        """Write what is queued (up to `timeout` seconds), stop the thread, close the connection; a later
        write starts a new thread."""
        with self._start_lock:
            thread, self._thread = self._thread, None
            if thread is not None and thread.is_alive():
                self._queue.put(_STOP)
        if thread is not None:
            thread.join(timeout)

    def take_pending(self) -> list[Batch]:
        """Hand over the batches kept in memory (to the writer of a new home); call after `close`."""
        batches = list(self._pending)
        self._pending.clear()
        return batches

    def adopt(self, batches: list[Batch]) -> None:
        """Write `batches` (kept by a previous writer) before anything queued after this call."""
        if batches:
            self._put(_Job(lambda: self._pending.extend(batches)))

    def _put(self, item: Any) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="agent_magic-ledger", daemon=True)
                self._thread.start()
            self._queue.put(item)

    # -- the writer thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self._idle_timeout())
            except queue.Empty:
                self._write_pending(retry=False)  # the back-off is over: try again
                continue
            burst = [item]
            with contextlib.suppress(queue.Empty):
                while True:
                    burst.append(self._queue.get_nowait())
            if self._handle(burst):
                break
        self._close_connection()
        if self.spool is not None:
            self.spool.close()

    def _idle_timeout(self) -> float | None:
        """How long to wait for work: until the back-off ends while rows wait, else for ever."""
        if not self._pending and not self._spooled:
            return None
        return max(0.05, self._retry_at - time.monotonic())

    def _handle(self, burst: list[Any]) -> bool:
        """Handle one burst; True when the writer must stop."""
        statements: list[Statement] = []
        stop = False
        for item in burst:
            if isinstance(item, Statement):
                statements.append(item)
            elif isinstance(item, _Job):
                self._burst.statements = statements
                try:
                    item.run()
                except Exception:  # a job's bug must not stop the writer or lose the other rows
                    log.exception("a ledger job failed")
                finally:
                    self._burst.statements = None
            elif isinstance(item, _Sync):
                self._commit(statements, retry=item.retry)
                statements = []
                item.written = not self._pending and self._problem is None
                item.done.set()
            elif isinstance(item, _Call):
                self._commit(statements, retry=False)
                statements = []
                self._call(item)
            elif item is _STOP:
                stop = True
        self._commit(statements, retry=stop)
        if stop and self._pending:
            log.warning("%d ledger rows could not be written before exit", sum(b.rows for b in self._pending))
        return stop

    def _call(self, item: _Call) -> None:
        if not item.future.set_running_or_notify_cancel():
            return
        if self._problem is not None:
            item.future.set_exception(LedgerUnavailable(self._problem))
            return
        try:
            item.future.set_result(item.run(self._connection()))
        except Exception as exc:
            problem = diagnose(exc, location=self.backend.location, home=self.backend.home)
            if problem.transient:
                self._close_connection()
                item.future.set_exception(LedgerUnavailable(problem))
            else:
                item.future.set_exception(exc)

    def _commit(self, statements: list[Statement], *, retry: bool) -> None:
        if statements:
            self._pending.append(Batch(uuid.uuid4().hex, tuple(statements)))
            self._kept_rows += len(statements)
        self._write_pending(retry=retry)
        if not self._pending:
            self._kept_rows = 0
        elif self._kept_rows > MAX_KEPT_ROWS:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        """Memory is not endless: past `MAX_KEPT_ROWS` waiting rows, the oldest batches go, loudly."""
        dropped = 0
        while self._kept_rows > MAX_KEPT_ROWS // 2 and len(self._pending) > 1:
            batch = self._pending.popleft()
            self._kept_rows -= len(batch.statements)
            dropped += batch.rows
        self.say(f"{dropped:,} ledger rows kept in memory were dropped (the ledger could not be written for too long)")

    def _waiting(self) -> bool:
        if self._pending:
            return True
        if self._spooled:
            try:
                self._spooled = self.spool is not None and self.spool.has_batches()
            except Exception:
                self._spooled = False  # an unreadable spool holds nothing we can send
        return self._spooled

    def _write_pending(self, *, retry: bool) -> None:
        if not self._waiting():
            return
        if not retry and time.monotonic() < self._retry_at:
            self._park()
            return
        try:
            conn = self._connection()
            if self.spool is not None:
                for batch in self.spool.batches():
                    self._apply(conn, batch)
                    self.spool.remove(batch.batch_id)
            while self._pending:
                self._apply(conn, self._pending[0])
                self._pending.popleft()
        except Exception as exc:
            self._failed(exc)
        else:
            self._recovered()

    def _apply(self, conn: LedgerConnection, batch: Batch) -> None:
        """Commit `batch` in one transaction (once only, on a shared ledger)."""
        try:
            self._apply_batch(conn, batch, isolate=False)
        except Exception as exc:
            if diagnose(exc, location=self.backend.location, home=self.backend.home).transient:
                raise
            # A statement the database refuses (a bug): write the others, each on its own.
            self._apply_batch(conn, batch, isolate=True)

    def _apply_batch(self, conn: LedgerConnection, batch: Batch, *, isolate: bool) -> None:
        with conn.transaction():
            if self.backend.remote and not self._first_time(conn, batch):
                return
            for statement in batch.statements:
                if not isolate:
                    conn.run(statement)
                    continue
                try:
                    with conn.savepoint():
                        conn.run(statement)
                except Exception as exc:
                    if diagnose(exc, location=self.backend.location, home=self.backend.home).transient:
                        raise
                    log.error("ledger statement skipped: %s (%s: %s)", statement.sql[:200], type(exc).__name__, exc)

    @staticmethod
    def _first_time(conn: LedgerConnection, batch: Batch) -> bool:
        cursor = conn.execute(
            "INSERT INTO write_batches (batch_id, written_at) VALUES (?, ?) ON CONFLICT (batch_id) DO NOTHING",
            (batch.batch_id, time.time()),
        )
        return cursor.rowcount != 0

    def _connection(self) -> LedgerConnection:
        if self._conn is None:
            conn = self.backend.connect()
            try:
                migrate(conn)
                conn.refresh_statistics()
                if self.backend.remote:
                    with conn.transaction():
                        conn.execute(
                            "DELETE FROM write_batches WHERE written_at < ?", (time.time() - BATCH_ID_DAYS * 86400,)
                        )
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _close_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def _park(self) -> None:
        """Move the batches kept in memory to the spool (a shared ledger's), when it can take them."""
        if self.spool is None or not self._pending:
            return
        try:
            while self._pending:
                self.spool.append(self._pending[0])
                self._spooled = True
                self._pending.popleft()
        except Exception:
            log.warning("the ledger spool %s cannot be written: rows are kept in memory", self.spool.path)

    def _failed(self, exc: Exception) -> None:
        problem = diagnose(exc, location=self.backend.location, home=self.backend.home)
        self._close_connection()
        if problem.kind == DAMAGED and not self._setting_aside and isinstance(self.backend, SQLiteBackend):
            self._setting_aside = True
            try:
                if self._set_aside():
                    self._write_pending(retry=True)
                    return
            finally:
                self._setting_aside = False
        log.debug("ledger write failed", exc_info=True)
        self._park()
        self._retry_at = time.monotonic() + self._retry_wait
        self._retry_wait = min(self._retry_wait * 2, MAX_RETRY_S)
        if self._problem is None or self._problem.kind != problem.kind:  # said once, not at every retry
            self._problem = problem
            self.say(f"{problem.message}; {self._where_kept()}")

    def _repair(self) -> bool:
        self._close_connection()
        return isinstance(self.backend, SQLiteBackend) and self._set_aside()

    def _set_aside(self) -> bool:
        """Move a damaged SQLite ledger aside (once: a file another kernel already replaced is kept)."""
        assert isinstance(self.backend, SQLiteBackend)
        path = self.backend.path
        if not is_damaged(path):
            return True  # already replaced (by another kernel): just reconnect
        try:
            aside = move_aside(path)
        except OSError:
            log.warning("the damaged ledger %s could not be moved aside", path, exc_info=True)
            return False
        self.say(f"the ledger {path} was damaged: it was moved to {aside.name} (nothing deleted) and a new one started")
        return True

    def _where_kept(self) -> str:
        if self.spool is not None and not self._pending:
            return f"rows wait in {self.spool.path} and are written, once each, when it is back"
        return "rows are kept in memory and written when it can be"

    def _recovered(self) -> None:
        self._retry_wait = FIRST_RETRY_S
        self._retry_at = 0.0
        if self._problem is not None:
            self._problem = None
            self.say(f"the ledger {self.backend.location} is written again; the rows kept meanwhile are in it")


# Writers still running at interpreter exit get a few seconds to write (or spool) what they hold.
_WRITERS: weakref.WeakSet[LedgerWriter] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for writer in list(_WRITERS):
        writer.close(EXIT_FLUSH_S)
