"""The feature repository's offline tables (Parquet): the bureau table the import writes.

A table has ``client_id``, ``event_timestamp`` (UTC: when the values became known) and one
float64 column per field. Rows without a client key are not kept (nothing can be looked up
for them); a client may have many rows (updates over time): point-in-time joins pick the
latest at or before each application's date.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from loan_default.schema import BUREAU_FIELDS, CLIENT_ID, TIMESTAMP

EVENT_TIME = "event_timestamp"


def empty_table(fields: Sequence[str]) -> pd.DataFrame:
    columns: dict[str, pd.Series] = {
        CLIENT_ID: pd.Series([], dtype="object"),
        EVENT_TIME: pd.Series([], dtype="datetime64[ns, UTC]"),
    }
    columns.update({name: pd.Series([], dtype="float64") for name in fields})
    return pd.DataFrame(columns)


def ensure_table(path: Path, fields: Sequence[str]) -> None:
    """Create an empty table at ``path`` if there is none, with explicit column types (Feast
    reads the file's schema, and appends pushed rows cast to it)."""
    if path.exists():
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [(CLIENT_ID, pa.string()), (EVENT_TIME, pa.timestamp("us", tz="UTC"))]
        + [(name, pa.float64()) for name in fields]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    pq.write_table(schema.empty_table(), partial)
    partial.replace(path)


def write_atomic(frame: pd.DataFrame, path: Path) -> None:
    """Write Parquet through a temporary file and a rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    frame.to_parquet(partial, index=False)
    partial.replace(path)


def bureau_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The bureau rows of a canonical frame: what the bureau had reported at each application.

    Each application with a client key and an ``application_date`` gives one row stamped at
    that date (its bureau fields were known then). Applications without either are skipped.
    """
    if CLIENT_ID not in frame.columns or TIMESTAMP not in frame.columns:
        return empty_table([f.name for f in BUREAU_FIELDS])
    keep = frame[CLIENT_ID].notna() & frame[TIMESTAMP].notna()
    rows = pd.DataFrame(
        {
            CLIENT_ID: frame.loc[keep, CLIENT_ID].astype("object"),
            EVENT_TIME: pd.to_datetime(frame.loc[keep, TIMESTAMP], utc=True),
        }
    )
    for spec in BUREAU_FIELDS:
        values = frame.loc[keep, spec.name] if spec.name in frame else pd.Series(dtype="float64")
        rows[spec.name] = pd.to_numeric(values, errors="coerce").astype("float64")
    return rows.reset_index(drop=True)


def append_rows(path: Path, rows: pd.DataFrame, fields: Sequence[str]) -> int:
    """Add ``rows`` to the table at ``path`` (exact duplicates dropped); the table's size."""
    table = pd.read_parquet(path) if path.exists() else empty_table(fields)
    combined = pd.concat([table, rows[list(table.columns)]], ignore_index=True)
    combined = combined.drop_duplicates().sort_values([EVENT_TIME, CLIENT_ID], kind="stable")
    write_atomic(combined.reset_index(drop=True), path)
    return len(combined)
