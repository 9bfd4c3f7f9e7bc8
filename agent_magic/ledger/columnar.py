"""A columnar snapshot of an append-only ledger table, so reading a million rows into pandas stays fast.

Python's sqlite3 builds one Python object per cell: a million model calls take seconds to fetch. The
snapshot (`<home>/cache/<table>.npz`, plain NumPy arrays, no pickle) holds the rows up to an id; a read
loads it and fetches only the newer rows from SQLite, and rewrites it when that tail has grown. SQLite
stays the record: the snapshot is derived, checked against the ledger's id, and can be deleted anytime.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from agent_magic.ledger.store import LedgerStore

FORMAT = 1
REWRITE_AFTER_ROWS = 2_000  # rewrite the snapshot once this many rows are newer than it


def _as_object_categories(values: pd.Categorical) -> pd.Categorical:
    """The same values with object-dtype categories (snapshots and fresh rows must agree to be joined)."""
    return pd.Categorical.from_codes(values.codes, categories=pd.Index(values.categories, dtype=object))


def _to_columns(rows: list[tuple[Any, ...]], schema: dict[str, str]) -> dict[str, Any]:
    """Rows → {column: array or Categorical}; kinds: int, float (None → NaN), str (Categorical)."""
    by_column = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    columns: dict[str, Any] = {}
    for (name, kind), values in zip(schema.items(), by_column, strict=True):
        if kind == "str":
            columns[name] = _as_object_categories(pd.Categorical(values))
        elif kind == "int":
            columns[name] = np.asarray(values, dtype=np.int64)
        else:
            columns[name] = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    return columns


def _save(path: Path, columns: dict[str, Any], *, ledger_id: str, last_id: int) -> None:
    arrays: dict[str, np.ndarray] = {
        "_format": np.asarray(FORMAT),
        "_ledger_id": np.asarray(ledger_id),
        "_last_id": np.asarray(last_id),
    }
    for name, values in columns.items():
        if isinstance(values, pd.Categorical):
            arrays[f"{name}.codes"] = values.codes
            arrays[f"{name}.categories"] = np.asarray(values.categories, dtype=str)
        else:
            arrays[name] = values
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(partial, **arrays)
    os.replace(partial, path)  # atomic: another kernel reading sees the old file or the new one


def _load(path: Path, schema: dict[str, str], ledger_id: str) -> tuple[dict[str, Any], int] | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["_format"]) != FORMAT or str(data["_ledger_id"]) != ledger_id:
                return None
            columns: dict[str, Any] = {}
            for name, kind in schema.items():
                if kind == "str":
                    categories = pd.Index(data[f"{name}.categories"].astype(object), dtype=object)
                    columns[name] = pd.Categorical.from_codes(data[f"{name}.codes"], categories=categories)
                else:
                    columns[name] = data[name]
            return columns, int(data["_last_id"])
    except (OSError, KeyError, ValueError):
        return None  # missing or unreadable: rebuild from SQLite


def _concat(head: dict[str, Any], tail: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, values in head.items():
        if isinstance(values, pd.Categorical):
            out[name] = pd.api.types.union_categoricals([values, tail[name]])
        else:
            out[name] = np.concatenate([values, tail[name]])
    return out


def read_table(store: LedgerStore, table: str, schema: dict[str, str]) -> pd.DataFrame:
    """Every row of append-only `table` (which has an `id` primary key) as a DataFrame of `schema`'s columns."""
    assert "id" in schema, "the snapshot is keyed on the id column"
    path = store.home / "cache" / f"{table}.npz"
    ledger_id = store.ledger_id()
    cached = _load(path, schema, ledger_id)
    (max_id,) = store.query(f"SELECT coalesce(max(id), 0) FROM {table}")[0]
    if cached is not None and cached[1] > max_id:
        cached = None  # rows were removed behind our back: the snapshot no longer matches
    after = cached[1] if cached is not None else 0
    select = ", ".join(schema)
    tail = _to_columns(store.query(f"SELECT {select} FROM {table} WHERE id > ? ORDER BY id", (after,)), schema)
    columns = _concat(cached[0], tail) if cached is not None else tail
    if len(tail["id"]) >= REWRITE_AFTER_ROWS:
        _save(path, columns, ledger_id=ledger_id, last_id=int(columns["id"][-1]))
    return pd.DataFrame(columns, copy=False)
