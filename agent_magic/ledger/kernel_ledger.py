"""One kernel's ledger wiring: the store for the configured home, the recorder and the JSONL log as one
event subscriber, following `AgentMagic.home` live.

Nothing is opened at `%load_ext`: the database and the log file are created by the first event (or the
first read).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent_magic.events import Event, TextDelta
from agent_magic.ledger.identity import current_notebook
from agent_magic.ledger.jsonlog import EventLog, attach_file_handler

if TYPE_CHECKING:
    # Loaded with the first event or read, not at `%load_ext` (sqlite3).
    from agent_magic.config import AgentMagic
    from agent_magic.ledger.recorder import LedgerRecorder
    from agent_magic.ledger.store import LedgerStore


class KernelLedger:
    """The ledger of one kernel: an `EventSubscriber` (ledger rows + JSONL log) and its store."""

    def __init__(self, config: AgentMagic, namespace: dict[str, Any]) -> None:
        self.config = config
        self.notebook = current_notebook(namespace)
        self._opened: tuple[LedgerStore, LedgerRecorder] | None = None
        self._log = EventLog()
        config.observe(self._home_changed, names=["home"])

    def _home_changed(self, _change: Any) -> None:
        self._opened = None  # the next event or read opens the store at the new home

    def open(self) -> tuple[LedgerStore, LedgerRecorder]:
        """The store at the configured home and its recorder, opened on first use."""
        if self._opened is None:
            from agent_magic.ledger.recorder import LedgerRecorder
            from agent_magic.ledger.store import LedgerStore, resolve_home

            home = resolve_home(self.config.home)
            store = LedgerStore(home)
            self._opened = (store, LedgerRecorder(store, notebook=self.notebook))
            attach_file_handler(home)
        return self._opened

    @property
    def store(self) -> LedgerStore:
        """The store at the configured home."""
        return self.open()[0]

    def handle(self, event: Event) -> None:
        """Record the event in the ledger and the JSONL log."""
        if not isinstance(event, TextDelta):
            # Per token, and the ledger keeps answers whole (from AssistantMessage): only the log may want it.
            self.open()[1].handle(event)
        self._log.handle(event)
