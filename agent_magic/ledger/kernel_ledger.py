"""One kernel's ledger wiring: the store for the configured home (or shared URL), the recorder and the
JSONL log as one event subscriber, following `AgentMagic.home` and `AgentMagic.ledger_url` live.

`handle` runs on the event loop and only counts and queues: recording an event (building its rows,
masking secrets, formatting its log line) happens on the ledger's writer thread, so no write ever
delays a streamed token, nor the end of a turn. What the writer has to say (a ledger it cannot write)
is printed by the next event of a running cell, or the next read. Nothing is opened at `%load_ext`:
the database and the log file are created by the first event (or the first read).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent_magic.errors import AgentUsageError
from agent_magic.events import Event, TextDelta
from agent_magic.ledger.identity import current_host, current_notebook, current_user
from agent_magic.ledger.jsonlog import EventLog, attach_cell_notices, attach_file_handler

if TYPE_CHECKING:
    # Loaded with the first event or read, not at `%load_ext` (sqlite3, the writer thread).
    from agent_magic.config import AgentMagic
    from agent_magic.ledger.recorder import LedgerRecorder
    from agent_magic.ledger.spend import SharedSpend
    from agent_magic.ledger.store import LedgerStore


class KernelLedger:
    """The ledger of one kernel: an `EventSubscriber` (ledger rows + JSONL log) and its store."""

    def __init__(self, config: AgentMagic, namespace: dict[str, Any]) -> None:
        self.config = config
        self.notebook = current_notebook(namespace)
        self.user = current_user()
        self.host = current_host()
        self._opened: tuple[LedgerStore, LedgerRecorder] | None = None
        self._spend: SharedSpend | None = None
        self._log = EventLog()
        self._notices = attach_cell_notices()
        config.observe(self._location_changed, names=["home", "ledger_url"])
        self._send_spooled_rows()

    def _send_spooled_rows(self) -> None:
        """Rows an earlier kernel spooled during an outage are sent when a kernel loads, not only with
        its first write (the writer thread does it; loading does not wait)."""
        home = Path(self.config.home or ".agent").expanduser()
        if self.config.ledger_url and any(home.glob("ledger-spool-*.db")):
            try:
                self.store.submit(lambda: None)
            except AgentUsageError:
                pass  # a URL that cannot be used: the first turn says so, in one line

    def _location_changed(self, _change: Any) -> None:
        # The next event or read opens the new ledger; rows the old one could not write follow it there.
        if self._opened is not None:
            old = self._opened[0]
            self._opened = None
            old.close()
            self.store.writer.adopt(old.writer.take_pending())

    def open(self) -> tuple[LedgerStore, LedgerRecorder]:
        """The store at the configured home (or URL) and its recorder, opened on first use."""
        if self._opened is None:
            from agent_magic.ledger.backends import check_url
            from agent_magic.ledger.recorder import LedgerRecorder
            from agent_magic.ledger.store import LedgerStore, resolve_home

            try:
                url = check_url(self.config.ledger_url)
            except ValueError as exc:
                raise AgentUsageError(str(exc)) from None
            home = resolve_home(self.config.home)
            store = LedgerStore(home, url=url)
            self._opened = (store, LedgerRecorder(store, notebook=self.notebook, user=self.user, host=self.host))
            store.submit(lambda: self._attach_log(home))
        return self._opened

    @staticmethod
    def _attach_log(home: Path) -> None:
        try:
            attach_file_handler(home)
        except OSError as exc:  # an unusable home: the writer says what to do about it
            logging.getLogger("agent_magic.ledger").debug("no JSONL log at %s: %s", home, exc)

    @property
    def store(self) -> LedgerStore:
        """The store at the configured home (or URL)."""
        return self.open()[0]

    @property
    def spend(self) -> SharedSpend:
        """This user's spending across kernels, for the day and user budgets."""
        if self._spend is None:
            from agent_magic.ledger.spend import SharedSpend

            self._spend = SharedSpend(lambda: self.store, user=self.user, host=self.host)
        return self._spend

    def handle(self, event: Event) -> None:
        """Count the event and queue it for the ledger and the JSONL log (written off the event loop)."""
        if isinstance(event, TextDelta) and not self._log.wants_text():
            return  # per token; the ledger keeps answers whole (from MessageAdded)
        self.spend.count(event)
        store, recorder = self.open()
        store.submit(lambda: self._record(recorder, event))
        self._notices.drain()

    def _record(self, recorder: LedgerRecorder, event: Event) -> None:
        if not isinstance(event, TextDelta):
            recorder.handle(event)
        self._log.handle(event)
