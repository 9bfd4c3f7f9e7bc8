"""What the ledger's views read: a store, and the notebook and user whose records they show by default.

Kept apart from `views.py` (which imports pandas) so the magics can name it at `%load_ext`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from agent_magic.ledger.store import LedgerStore


class LedgerContext(NamedTuple):
    """What the views read: a ledger, and the notebook and user whose records are shown by default."""

    store: LedgerStore
    notebook: str
    user: str
