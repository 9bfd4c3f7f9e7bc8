"""Ledger query results as pandas DataFrames, read as Arrow columns: PostgreSQL's ADBC driver fills
Arrow arrays straight from a binary COPY; a SQLite ledger is read with Python's own sqlite3 (never a
second copy of SQLite in the process: see `SQLiteBackend.read_arrow`) and turned into Arrow columns.

Each view says the kind of each column; the Arrow columns are cast to it first, because types are
inferred from the values (a column with no value at all comes back as nulls or integers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from agent_magic.ledger.store import LedgerStore

# Column kinds: "str", "int" (never NULL), "nint" (nullable integer: pandas Int64), "float" (NULL: NaN),
# "bool" (nullable 0/1: pandas boolean), "time" (Unix seconds: timezone-aware UTC timestamps).
Schema = dict[str, str]


def read_frame(
    store: LedgerStore,
    table: str,
    select: str,
    where: str,
    params: Sequence[Any],
    schema: Schema,
) -> pd.DataFrame:
    """`SELECT {select} FROM {table} WHERE {where} ORDER BY id` (selecting exactly `schema`'s columns, in
    order) as a DataFrame of those kinds."""
    import pandas as pd

    table_read = store.read_arrow(f"SELECT {select} FROM {table} WHERE {where} ORDER BY id", params)
    frame = _typed(table_read, schema).to_pandas()
    for name, kind in schema.items():
        if kind == "time":
            frame[name] = pd.to_datetime(frame[name], unit="s", utc=True)
        elif kind == "nint":
            frame[name] = frame[name].astype("Int64")
        elif kind == "bool":
            frame[name] = frame[name].astype("Int64").astype("boolean")
    return frame


def _typed(table: pa.Table, schema: Schema) -> pa.Table:
    import pyarrow as pa

    arrow_types = {"str": pa.string(), "float": pa.float64(), "time": pa.float64()}
    columns = [
        column.cast(arrow_types.get(schema[name], pa.int64()))
        for name, column in zip(schema, table.columns, strict=True)
    ]
    return pa.table(columns, names=list(schema))
