"""Finding this kernel's agent runtime from outside the magics: the public helpers that default to "the
running notebook" (`agent_magic.usage()`, `session_totals()`…) look it up here, and only here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from agent_magic.ledger.store import LedgerStore
    from agent_magic.runtime import AgentRuntime

MAGICS_NAME = "AgentMagics"


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def current_runtime() -> AgentRuntime | None:
    """The runtime of the `%%agent` magics loaded in this process's IPython shell, or None."""
    shell = _shell()
    magics = shell.magics_manager.registry.get(MAGICS_NAME) if shell is not None else None
    return magics.runtime if magics is not None else None


class LedgerContext(NamedTuple):
    """What the pandas views read: a ledger, and the notebook and user whose records are shown by default."""

    store: LedgerStore
    notebook: str
    user: str


def ledger_context(home: str | None = None) -> LedgerContext:
    """The ledger to read: the running kernel's when the extension is loaded (so `%config
    AgentMagic.home` and `ledger_url` apply), else the one at `home` (or the default home, or
    $AGENT_MAGIC_LEDGER_URL), with the working directory as the notebook."""
    from agent_magic.ledger.identity import current_notebook, current_user
    from agent_magic.ledger.store import LedgerStore, resolve_home, resolve_url

    runtime = current_runtime() if home is None else None
    if runtime is not None:
        ledger = runtime.ledger
        return LedgerContext(ledger.store, ledger.notebook, ledger.user)
    shell = _shell() if home is None else None
    store = LedgerStore(resolve_home(home), url=resolve_url() if home is None else None)
    return LedgerContext(store, current_notebook(shell.user_ns if shell is not None else None), current_user())


def session_totals(session: str | None = None, *, home: str | None = None) -> dict[str, Any]:
    """Totals of one session (default: the running kernel's current conversation), as plain JSON-ready
    data: see `agent_magic.ledger.totals.read_session_totals` for the keys.

    Example:
        >>> agent_magic.session_totals()["cost_usd"]   # doctest: +SKIP
        0.0123
    """
    from agent_magic.ledger.totals import read_session_totals

    store = ledger_context(home).store
    if session is None and home is None:
        runtime = current_runtime()
        session = runtime.session.session_id if runtime is not None else None
    return read_session_totals(store, session)
