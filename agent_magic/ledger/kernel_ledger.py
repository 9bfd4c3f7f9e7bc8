"""One kernel's ledger wiring: the store for the configured home, the recorder and the JSONL log as one
event subscriber, the price table and the budget guard, all following `%config AgentMagic` live.

Nothing is opened at `%load_ext`: the database and the log file are created by the first event.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent_magic.events import Event, TextDelta
from agent_magic.ledger.identity import current_notebook
from agent_magic.ledger.jsonlog import EventLog, attach_file_handler

if TYPE_CHECKING:
    # Loaded with the first event or turn, not at `%load_ext` (sqlite3, the price table, budgets).
    from agent_magic.config import AgentMagic
    from agent_magic.ledger.recorder import LedgerRecorder
    from agent_magic.ledger.store import LedgerStore
    from agent_magic.llm.pricing import PriceTable
    from agent_magic.policy.budget import BudgetGuard, Limits
    from agent_magic.session import Session


class KernelLedger:
    """The ledger of one kernel; an `EventSubscriber` (ledger rows + JSONL log) and a guard factory."""

    def __init__(self, config: AgentMagic, namespace: dict[str, Any], current_session: Callable[[], Session]) -> None:
        self.config = config
        self.notebook = current_notebook(namespace)
        self.current_session = current_session
        self._store: LedgerStore | None = None
        self._recorder: LedgerRecorder | None = None
        self._log = EventLog()
        self._prices: tuple[str, PriceTable] | None = None

    @property
    def store(self) -> LedgerStore:
        """The store at the configured home (a new one if `AgentMagic.home` changed)."""
        from agent_magic.ledger.recorder import LedgerRecorder
        from agent_magic.ledger.store import LedgerStore, resolve_home

        home = resolve_home(self.config.home)
        if self._store is None or self._store.home != home:
            self._store = LedgerStore(home)
            self._recorder = LedgerRecorder(
                self._store, notebook=self.notebook, prices=self.prices, transcript_for=self._transcript_for
            )
            attach_file_handler(home)
        return self._store

    def prices(self) -> PriceTable:
        """The price table with the current `AgentMagic.prices` overrides, for the configured endpoint
        (its base URL picks the provider whose prices apply)."""
        from agent_magic.llm.pricing import PriceTable

        base_url = self.config.model_base_url()
        key = json.dumps([self.config.prices, base_url], sort_keys=True, default=str)
        if self._prices is None or self._prices[0] != key:
            self._prices = (key, PriceTable(self.config.prices, base_url=base_url))
        return self._prices[1]

    def limits(self) -> dict[str, Limits]:
        """The configured budgets by scope (turn, session, day)."""
        from agent_magic.policy.budget import SCOPES, Limits

        return {scope: Limits.parse(scope, getattr(self.config, f"{scope}_budget")) for scope in SCOPES}

    def guard(self) -> BudgetGuard:
        """A budget guard reading this ledger."""
        from agent_magic.policy.budget import BudgetGuard

        return BudgetGuard(lambda: self.store, self.limits, lambda model: self.prices().price_for(model) is not None)

    def handle(self, event: Event) -> None:
        """Record the event in the ledger and the JSONL log."""
        if isinstance(event, TextDelta):
            # Per token, and the ledger keeps answers whole (from AssistantMessage): only the log may
            # want it, and opening the store resolves the home path (a realpath) every time.
            self._log.handle(event)
            return
        self.store  # noqa: B018  (opens the store and the recorder for the current home)
        assert self._recorder is not None
        self._recorder.handle(event)
        self._log.handle(event)

    def _transcript_for(self, session_id: str) -> list[dict[str, Any]] | None:
        session = self.current_session()
        return session.messages if session is not None and session.session_id == session_id else None
