"""The ledger as pandas DataFrames: `usage()`, `tool_calls()`, `transcript()` (exported by `agent_magic`).

By default each shows the current notebook's records (see `identity.current_notebook`); `session=`
picks sessions, `since=` a start time, `all_sessions=True` everything in the ledger. Times are
timezone-aware (UTC). pandas is imported here, on first use, never at `%load_ext`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from agent_magic.kernel import ledger_context
from agent_magic.ledger.columnar import read_table
from agent_magic.ledger.store import LedgerStore

_MODEL_CALLS = {
    "id": "int",
    "at": "float",
    "session_id": "str",
    "turn_id": "str",
    "trace_id": "str",
    "step": "float",
    "model": "str",
    "input_tokens": "int",
    "cached_tokens": "int",
    "output_tokens": "int",
    "reasoning_tokens": "int",
    "cost_usd": "float",
    "latency_s": "float",
    "ttft_s": "float",
    "retries": "int",
    "estimated": "int",
    "status": "str",
    "cell_id": "str",
    "execution_count": "float",
}
USAGE_COLUMNS = [
    "time",
    "session",
    "turn",
    "step",
    "model",
    "input_tokens",
    "cached_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "latency_s",
    "ttft_s",
    "retries",
    "status",
    "estimated",
    "trace_id",
    "cell_id",
    "execution_count",
]
TOOL_COLUMNS = [
    "time",
    "session",
    "turn",
    "step",
    "tool",
    "server",
    "arguments",
    "decision",
    "decided_by",
    "ok",
    "error_code",
    "duration_s",
    "result_chars",
    "truncated",
    "call_id",
    "trace_id",
]
TRANSCRIPT_COLUMNS = [
    "time",
    "session",
    "turn",
    "position",
    "role",
    "content",
    "tool_calls",
    "tool_call_id",
    "trace_id",
]
_RENAMES = {"at": "time", "session_id": "session", "turn_id": "turn"}


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


def _scope_sql(store: LedgerStore, notebook: str, session: Any, since: Any, all_sessions: bool) -> tuple[str, list]:
    """A WHERE clause (on session_id and at) for the filters."""
    clauses, params = ["1"], []
    sessions = _sessions(session)
    if sessions is not None:
        clauses.append(f"session_id IN ({', '.join('?' * len(sessions))})")
        params += sessions
    elif not all_sessions:
        clauses.append("session_id IN (SELECT session_id FROM sessions WHERE notebook = ?)")
        params.append(notebook)
    start = since_timestamp(since)
    if start is not None:
        clauses.append("at >= ?")
        params.append(start)
    return " AND ".join(clauses), params


def _times(seconds: Any) -> pd.Series:
    return pd.to_datetime(np.asarray(seconds, dtype=np.float64), unit="s", utc=True)


def _frame(store: LedgerStore, sql: str, params: list) -> pd.DataFrame:
    cursor = store.cursor(sql, params)
    return pd.DataFrame.from_records(cursor.fetchall(), columns=[d[0] for d in cursor.description])


def usage(
    session: str | Iterable[str] | None = None,
    since: Any = None,
    all_sessions: bool = False,
    *,
    home: str | None = None,
) -> pd.DataFrame:
    """One row per model call: time, session, turn, model, tokens (input, cached, output, reasoning),
    cost_usd (NaN when the model has no price), latency_s, ttft_s, retries, status, estimated (the server
    reported no usage, tokens are a length estimate), trace_id, cell_id, execution_count.

    Example:
        >>> df = agent_magic.usage()                       # this notebook   # doctest: +SKIP
        >>> df.groupby("model")[["input_tokens", "output_tokens", "cost_usd"]].sum()   # doctest: +SKIP
    """
    store, notebook = ledger_context(home)
    sessions = _sessions(session)
    if sessions is not None:  # a few sessions: an indexed query
        where, params = _scope_sql(store, notebook, sessions, since, all_sessions)
        frame = _frame(store, f"SELECT {', '.join(_MODEL_CALLS)} FROM model_calls WHERE {where} ORDER BY id", params)
        for column, kind in _MODEL_CALLS.items():  # the same dtypes as the snapshot path
            if kind == "str":
                frame[column] = frame[column].astype("category")
    else:  # possibly millions of rows: the columnar snapshot, filtered here
        frame = read_table(store, "model_calls", _MODEL_CALLS)
        if not all_sessions:
            mine = [row[0] for row in store.query("SELECT session_id FROM sessions WHERE notebook = ?", (notebook,))]
            frame = frame[frame["session_id"].isin(mine)]
        start = since_timestamp(since)
        if start is not None:
            frame = frame[frame["at"].to_numpy() >= start]
    frame = frame.rename(columns=_RENAMES)
    frame["time"] = _times(frame["time"])
    frame["estimated"] = frame["estimated"].astype(bool)
    for column in ("step", "execution_count"):
        frame[column] = frame[column].astype("Int64")
    frame["cost_usd"] = frame["cost_usd"].astype(float)
    return frame[USAGE_COLUMNS].reset_index(drop=True)


def tool_calls(
    session: str | Iterable[str] | None = None,
    since: Any = None,
    all_sessions: bool = False,
    *,
    home: str | None = None,
) -> pd.DataFrame:
    """One row per tool call: time, session, turn, tool, server (the MCP server it went to; None for
    built-in and notebook tools), arguments (secrets masked), decision (auto: no approval needed;
    approved: a person said yes; rule / headless: a rule or the headless policy allowed it; denied /
    stopped), decided_by, ok, error_code, duration_s, result_chars, truncated."""
    store, notebook = ledger_context(home)
    where, params = _scope_sql(store, notebook, session, since, all_sessions)
    frame = _frame(
        store,
        "SELECT at, session_id, turn_id, step, tool, server, arguments, decision, decided_by, ok, error_code, "
        f"duration_s, result_chars, truncated, call_id, trace_id FROM tool_calls WHERE {where} ORDER BY id",
        params,
    )
    frame = frame.rename(columns=_RENAMES)
    frame["time"] = _times(frame["time"])
    for column in ("ok", "truncated"):
        frame[column] = frame[column].astype("boolean")
    for column in ("step", "result_chars"):
        frame[column] = frame[column].astype("Int64")
    frame["duration_s"] = frame["duration_s"].astype(float)
    return frame[TOOL_COLUMNS]


def transcript(
    session: str | Iterable[str] | None = None,
    since: Any = None,
    all_sessions: bool = False,
    *,
    home: str | None = None,
) -> pd.DataFrame:
    """The messages, in order: time, session, turn, position (within its session), role, content
    (secrets masked), tool_calls (JSON), tool_call_id, trace_id."""
    store, notebook = ledger_context(home)
    where, params = _scope_sql(store, notebook, session, since, all_sessions)
    frame = _frame(
        store,
        "SELECT at, session_id, turn_id, position, role, content, tool_calls, tool_call_id, trace_id "
        f"FROM messages WHERE {where} ORDER BY id",
        params,
    )
    frame = frame.rename(columns=_RENAMES)
    frame["time"] = _times(frame["time"])
    return frame[TRANSCRIPT_COLUMNS]
