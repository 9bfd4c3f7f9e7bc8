"""Ledger query results as pandas DataFrames, read columnar: the backend's ADBC driver fills Arrow
arrays straight from the database, and Arrow hands them to pandas, so a million rows never become a
million Python tuples (`pandas.read_sql` builds one Python object per cell first).

Each view says the kind of each column; the Arrow columns are cast to it first, because ADBC's SQLite
driver infers types from the values (a column with no value at all comes back as integers). A large
SQLite table is read in id ranges on a few threads at once (the driver releases the GIL while it
reads), then put back together in id order.
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from agent_magic.ledger.store import LedgerStore

# Column kinds: "str", "int" (never NULL), "nint" (nullable integer: pandas Int64), "float" (NULL: NaN),
# "bool" (nullable 0/1: pandas boolean), "time" (Unix seconds: timezone-aware UTC timestamps).
Schema = dict[str, str]
ROWS_PER_PART = 250_000  # below this a table is read in one go
MAX_PARTS = 4


def read_frame(
    store: LedgerStore,
    table: str,
    select: str,
    where: str,
    params: Sequence[Any],
    schema: Schema,
    *,
    split: bool = True,
) -> pd.DataFrame:
    """`SELECT {select} FROM {table} WHERE {where} ORDER BY id` (selecting exactly `schema`'s columns, in
    order) as a DataFrame of those kinds. `split=False` for a filter an index answers (a few sessions):
    reading id ranges in parallel only pays when most of the table is read."""
    import pandas as pd
    import pyarrow as pa

    ranges = _id_ranges(store, table) if split else None
    if ranges is None:
        parts = [_typed(store.read_arrow(f"SELECT {select} FROM {table} WHERE {where} ORDER BY id", params), schema)]
    else:
        sql = f"SELECT {select} FROM {table} WHERE ({where}) AND id > ? AND id <= ? ORDER BY id"
        with concurrent.futures.ThreadPoolExecutor(len(ranges)) as pool:
            parts = list(pool.map(lambda r: _typed(store.read_arrow(sql, [*params, *r]), schema), ranges))
    frame = pa.concat_tables(parts).to_pandas()
    for name, kind in schema.items():
        if kind == "time":
            frame[name] = pd.to_datetime(frame[name], unit="s", utc=True)
        elif kind == "nint":
            frame[name] = frame[name].astype("Int64")
        elif kind == "bool":
            frame[name] = frame[name].astype("Int64").astype("boolean")
    return frame


def _id_ranges(store: LedgerStore, table: str) -> list[tuple[int, int]] | None:
    """Id ranges to read a large SQLite table on several threads (None: read it in one go)."""
    if store.remote:
        return None  # PostgreSQL streams one binary COPY; splitting it would only add round trips
    (low, high) = store.query(f"SELECT coalesce(min(id), 0), coalesce(max(id), 0) FROM {table}")[0]
    parts = min(MAX_PARTS, os.cpu_count() or 1, (high - low) // ROWS_PER_PART + 1)
    if parts < 2:
        return None
    step = (high - low) // parts + 1
    return [(low - 1 + k * step, min(high, low - 1 + (k + 1) * step)) for k in range(parts)]


def _typed(table: pa.Table, schema: Schema) -> pa.Table:
    import pyarrow as pa

    arrow_types = {"str": pa.string(), "float": pa.float64(), "time": pa.float64()}
    columns = [
        column.cast(arrow_types.get(schema[name], pa.int64()))
        for name, column in zip(schema, table.columns, strict=True)
    ]
    return pa.table(columns, names=list(schema))
