"""Data version: a content hash of a canonical data set.

The hash identifies *what* the data says, not how it was stored: the same applications give
the same hash whether they come from CSV or Parquet, in any row order, with columns in any
order, across runs and machines. It is computed as

1. :func:`loan_default.schema.coerce_frame` (canonical columns, order and dtypes);
2. one canonical text line per row: values separated by ``\\x1f``, numbers in Python's
   shortest round-trip ``repr``, missing as an empty field, timestamps in ISO 8601 UTC;
3. the SHA-256 of each line; the digests sorted (so row order does not matter, while
   duplicate rows still count);
4. the SHA-256 of a header naming the hash version and the columns, followed by the
   sorted digests.

A data set differs in its hash as soon as one value, one row or the presence of the label
differs.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from loan_default.schema import FIELDS_BY_NAME, Kind, coerce_frame

HASH_VERSION = "loan-default-data-v1"
_SEPARATOR = "\x1f"


def _float_text(value: float) -> str:
    if np.isnan(value):
        return ""
    if value == 0.0:
        return "0.0"  # -0.0 and 0.0 are the same value
    return repr(float(value))


def _column_text(column: pd.Series, kind: Kind) -> pd.Series:
    """Each value of a canonical column as its canonical text."""
    if kind in (Kind.NUMBER, Kind.INTEGER, Kind.BOOLEAN):
        return column.astype("float64").map(_float_text)
    if kind is Kind.TIMESTAMP:
        return column.map(lambda value: "" if pd.isna(value) else value.isoformat())
    return column.map(lambda value: "" if value is None or value != value else str(value))


def row_digests(frame: pd.DataFrame) -> list[bytes]:
    """The SHA-256 digest of each row's canonical text, in row order."""
    canonical = coerce_frame(frame)
    if canonical.empty:
        return []
    texts = [_column_text(canonical[name], FIELDS_BY_NAME[str(name)].kind) for name in canonical]
    lines = (
        texts[0].str.cat(pd.concat(texts[1:], axis=1), sep=_SEPARATOR)
        if len(texts) > 1
        else texts[0]
    )
    return [hashlib.sha256(line.encode("utf-8")).digest() for line in lines]


def data_hash(frame: pd.DataFrame) -> str:
    """The content hash (64 hex digits) of a canonical data set, independent of row order.

    Args:
        frame: a DataFrame with canonical column names (extra columns are ignored; the label
            is part of the content when present).
    """
    canonical_columns = list(coerce_frame(frame.head(0)).columns)
    digest = hashlib.sha256()
    digest.update(f"{HASH_VERSION}\n{','.join(canonical_columns)}\n".encode())
    for row in sorted(row_digests(frame)):
        digest.update(row)
    return digest.hexdigest()
