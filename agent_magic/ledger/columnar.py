"""Ledger query results as pandas DataFrames, read columnar: the backend's ADBC driver fills Arrow
arrays straight from the database, and Arrow hands them to pandas, so a million rows never become a
million Python tuples (`pandas.read_sql` builds one Python object per cell first).

Each view says the kind of each column; the Arrow columns are cast to it first, because ADBC's SQLite
driver infers types from the values (a column with no value at all comes back as integers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from agent_magic.ledger.store import LedgerStore

# Column kinds: "str", "int" (never NULL), "nint" (nullable integer: pandas Int64), "float" (NULL: NaN),
# "bool" (nullable 0/1: pandas boolean), "time" (Unix seconds: timezone-aware UTC timestamps).
Schema = dict[str, str]


def read_frame(store: LedgerStore, sql: str, params: Sequence[Any], schema: Schema) -> pd.DataFrame:
    """The rows of `sql` (selecting exactly `schema`'s columns, in order) as a DataFrame of those kinds."""
    import pandas as pd
    import pyarrow as pa

    table = store.read_arrow(sql, params)
    arrow_types = {"str": pa.string(), "float": pa.float64(), "time": pa.float64()}
    table = pa.table(
        [
            column.cast(arrow_types.get(schema[name], pa.int64()))
            for name, column in zip(schema, table.columns, strict=True)
        ],
        names=list(schema),
    )
    frame = table.to_pandas()
    for name, kind in schema.items():
        if kind == "time":
            frame[name] = pd.to_datetime(frame[name], unit="s", utc=True)
        elif kind == "nint":
            frame[name] = frame[name].astype("Int64")
        elif kind == "bool":
            frame[name] = frame[name].astype("Int64").astype("boolean")
    return frame
