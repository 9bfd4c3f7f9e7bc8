"""The ledger as pandas DataFrames: `usage()`, `tool_calls()`, `transcript()` of a `LedgerContext` (the
public `agent_magic.usage()`… in `kernel.py` pass the running kernel's).

By default each shows the context's user's records of its notebook (see `identity`); `session=`
picks sessions, `since=` a start time, `all_sessions=True` every notebook, `all_users=True` every
user (an admin's view of a shared ledger). Filters run in SQL and the rows are read columnar
(`columnar.read_frame`). Times are timezone-aware (UTC). pandas is imported here, on first use, never
at `%load_ext`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pandas as pd

from agent_magic.ledger.columnar import read_frame
from agent_magic.ledger.jsonlog import attach_cell_notices

if TYPE_CHECKING:
    from agent_magic.ledger.context import LedgerContext


# Each view's columns, in order, with their kinds (see `columnar.Schema`) and the SQL that reads them.
USAGE = {
    "time": ("at", "time"),
    "session": ("session_id", "str"),
    "turn": ("turn_id", "str"),
    "step": ("step", "nint"),
    "model": ("model", "str"),
    "input_tokens": ("input_tokens", "int"),
    "cached_tokens": ("cached_tokens", "int"),
    "output_tokens": ("output_tokens", "int"),
    "reasoning_tokens": ("reasoning_tokens", "int"),
    "cost_usd": ("cost_usd", "float"),
    "latency_s": ("latency_s", "float"),
    "ttft_s": ("ttft_s", "float"),
    "retries": ("retries", "int"),
    "status": ("status", "str"),
    "estimated": ("estimated", "bool"),
    "trace_id": ("trace_id", "str"),
    "cell_id": ("cell_id", "str"),
    "execution_count": ("execution_count", "nint"),
    "user": ("user_name", "str"),
    "host": ("host", "str"),
    "replayed": ("replayed", "bool"),
}
TOOLS = {
    "time": ("at", "time"),
    "session": ("session_id", "str"),
    "turn": ("turn_id", "str"),
    "step": ("step", "nint"),
    "tool": ("tool", "str"),
    "server": ("server", "str"),
    "arguments": ("arguments", "str"),
    "decision": ("decision", "str"),
    "decided_by": ("decided_by", "str"),
    "ok": ("ok", "bool"),
    "error_code": ("error_code", "str"),
    "duration_s": ("duration_s", "float"),
    "result_chars": ("result_chars", "nint"),
    "truncated": ("truncated", "bool"),
    "call_id": ("call_id", "str"),
    "trace_id": ("trace_id", "str"),
    "user": ("user_name", "str"),
    "host": ("host", "str"),
}
TRANSCRIPT = {
    "time": ("at", "time"),
    "session": ("session_id", "str"),
    "turn": ("turn_id", "str"),
    "position": ("position", "int"),
    "role": ("role", "str"),
    "content": ("content", "str"),
    "tool_calls": ("tool_calls", "str"),
    "tool_call_id": ("tool_call_id", "str"),
    "reasoning": ("reasoning", "str"),
    "trace_id": ("trace_id", "str"),
    "user": ("user_name", "str"),
    "host": ("host", "str"),
}
USAGE_COLUMNS = list(USAGE)
TOOL_COLUMNS = list(TOOLS)
TRANSCRIPT_COLUMNS = list(TRANSCRIPT)


def since_timestamp(since: Any) -> float | None:
    """`since` as Unix seconds: a datetime/Timestamp/date/ISO string (naive = local time) or a timedelta
    meaning "that long ago"."""
    if since is None:
        return None
    if isinstance(since, dt.timedelta | pd.Timedelta):
        return (dt.datetime.now(dt.UTC) - since).timestamp()
    stamp = pd.Timestamp(since)
    if stamp.tzinfo is None:
        stamp = pd.Timestamp(stamp.to_pydatetime().astimezone())  # naive: the user's wall clock
    return stamp.timestamp()


def _sessions(session: str | Iterable[str] | None) -> list[str] | None:
    if session is None:
        return None
    return [session] if isinstance(session, str) else list(session)


def _scope_sql(
    notebook: str, user: str, session: Any, since: Any, all_sessions: bool, all_users: bool
) -> tuple[str, list[Any]]:
    """A WHERE clause (on session_id, user_name and at) for the filters."""
    clauses, params = ["1 = 1"], []
    sessions = _sessions(session)
    if sessions is not None:
        clauses.append(f"session_id IN ({', '.join('?' * len(sessions))})")
        params += sessions
    elif not all_sessions:
        clauses.append("session_id IN (SELECT session_id FROM sessions WHERE notebook = ?)")
        params.append(notebook)
    if not all_users:
        clauses.append("user_name = ?")
        params.append(user)
    start = since_timestamp(since)
    if start is not None:
        clauses.append("at >= ?")
        params.append(start)
    return " AND ".join(clauses), params


def _view(
    context: LedgerContext,
    table: str,
    columns: dict[str, tuple[str, str]],
    *,
    session: Any,
    since: Any,
    all_sessions: bool,
    all_users: bool,
) -> pd.DataFrame:
    where, params = _scope_sql(context.notebook, context.user, session, since, all_sessions, all_users)
    select = ", ".join(f"{source} AS {name}" for name, (source, _kind) in columns.items())
    schema = {name: kind for name, (_source, kind) in columns.items()}
    try:
        return read_frame(context.store, table, select, where, params, schema)
    finally:
        attach_cell_notices().drain()  # what the writer said meanwhile (a ledger it could not write)


def usage(
    context: LedgerContext,
    session: str | Iterable[str] | None = None,
    since: Any = None,
    all_sessions: bool = False,
    *,
    all_users: bool = False,
) -> pd.DataFrame:
    """One row per model call: time, session, turn, model, tokens (input, cached, output, reasoning),
    cost_usd (NaN when the model has no price), latency_s, ttft_s, retries, status, estimated (the server
    reported no usage, tokens are a length estimate), trace_id, cell_id, execution_count, user, host.

    Example:
        >>> df = agent_magic.usage()                       # this notebook   # doctest: +SKIP
        >>> df.groupby("model")[["input_tokens", "output_tokens", "cost_usd"]].sum()   # doctest: +SKIP
        >>> agent_magic.usage(all_sessions=True, all_users=True)   # a team's shared ledger   # doctest: +SKIP
    """
    return _view(
        context, "model_calls", USAGE, session=session, since=since, all_sessions=all_sessions, all_users=all_users
    )


def tool_calls(
    context: LedgerContext,
    session: str | Iterable[str] | None = None,
    since: Any = None,
    all_sessions: bool = False,
    *,
    all_users: bool = False,
) -> pd.DataFrame:
    """One row per tool call: time, session, turn, tool, server (the MCP server it went to; None for
    built-in and notebook tools), arguments (secrets masked), decision (auto: no approval needed;
    approved: a person said yes; rule / headless: a rule or the headless policy allowed it; denied /
    stopped), decided_by, ok, error_code, duration_s, result_chars, truncated, user, host."""
    return _view(
        context, "tool_calls", TOOLS, session=session, since=since, all_sessions=all_sessions, all_users=all_users
    )


def transcript(
    context: LedgerContext,
    session: str | Iterable[str] | None = None,
    since: Any = None,
    all_sessions: bool = False,
    *,
    all_users: bool = False,
) -> pd.DataFrame:
    """The messages, in order: time, session, turn, position (within its session), role, content
    (secrets masked), tool_calls (JSON), tool_call_id, reasoning (what the model streamed as its reasoning
    before an assistant message, masked; missing when it streamed none), trace_id, user, host."""
    return _view(
        context, "messages", TRANSCRIPT, session=session, since=since, all_sessions=all_sessions, all_users=all_users
    )
