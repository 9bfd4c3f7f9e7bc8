"""Finding this kernel's agent runtime from outside the magics: the public helpers that default to "the
running notebook" (`agent_magic.usage()`, `tool_calls()`, `transcript()`, `session_totals()`) look it
up here, and only here, and hand what they found to the ledger's views.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from agent_magic.ledger.context import LedgerContext
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


@contextlib.contextmanager
def ledger_context(home: str | None = None) -> Iterator[LedgerContext]:
    """The ledger to read: the running kernel's when the extension is loaded (so `%config
    AgentMagic.home` and `ledger_url` apply), else the one at `home` (or the default home, or
    $AGENT_MAGIC_LEDGER_URL), with the working directory as the notebook; a ledger opened here is
    closed on leaving the block."""
    from agent_magic.ledger.context import LedgerContext
    from agent_magic.ledger.identity import current_notebook, current_user
    from agent_magic.ledger.store import LedgerStore, resolve_home, resolve_url

    runtime = current_runtime() if home is None else None
    if runtime is not None:
        ledger = runtime.ledger
        yield LedgerContext(ledger.store, ledger.notebook, ledger.user)
        return
    shell = _shell() if home is None else None
    store = LedgerStore(resolve_home(home), url=resolve_url() if home is None else None)
    try:
        yield LedgerContext(store, current_notebook(shell.user_ns if shell is not None else None), current_user())
    finally:
        store.close()


@functools.cache
def public_view(name: str) -> Callable[..., pd.DataFrame]:
    """`agent_magic.usage`, `tool_calls` or `transcript`: the ledger view `name` of the running
    notebook's ledger (or of the one at `home=`), with the view's own documentation."""
    from agent_magic.ledger import views

    view = getattr(views, name)

    def read(
        session: str | Iterable[str] | None = None,
        since: Any = None,
        all_sessions: bool = False,
        *,
        all_users: bool = False,
        home: str | None = None,
    ) -> pd.DataFrame:
        with ledger_context(home) as context:
            return view(context, session, since, all_sessions, all_users=all_users)

    read.__name__ = read.__qualname__ = name
    read.__module__ = "agent_magic"
    read.__doc__ = f"{view.__doc__}\n\n    `home=`: read the ledger at that agent home instead of this kernel's."
    return read


def session_totals(session: str | None = None, *, home: str | None = None) -> dict[str, Any]:
    """Totals of one session (default: the running kernel's current conversation), as plain JSON-ready
    data: see `agent_magic.ledger.totals.read_session_totals` for the keys.

    Example:
        >>> agent_magic.session_totals()["cost_usd"]   # doctest: +SKIP
        0.0123
    """
    from agent_magic.ledger.totals import read_session_totals

    if session is None and home is None:
        runtime = current_runtime()
        session = runtime.session.session_id if runtime is not None else None
    with ledger_context(home) as context:
        return read_session_totals(context.store, session)


def sessions(*, home: str | None = None) -> Any:
    """This notebook's named conversations as a pandas DataFrame, one row per name: name, current, turns,
    tokens, cost_usd (NaN when unpriced), last_used (UTC), session, forked_from (as `%agent sessions`).

    Example:
        >>> agent_magic.sessions()[["name", "turns", "cost_usd"]]   # doctest: +SKIP
    """
    from agent_magic.conversation.book import conversation_rows, sessions_frame
    from agent_magic.ledger.conversations import ConversationArchive

    runtime = current_runtime() if home is None else None
    if runtime is not None:
        return sessions_frame(runtime.conversations.table())
    with ledger_context(home) as (store, notebook, user):
        archive = ConversationArchive(lambda: store, notebook=notebook, user=user)
        return sessions_frame(conversation_rows(archive.listing(), {}, None))
