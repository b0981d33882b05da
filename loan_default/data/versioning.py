"""Data version: a content hash of a canonical data set.

The hash identifies *what* the data says, not how it was stored: the same applications give
the same hash whether they come from CSV or Parquet, in any row order, with columns in any
order, across runs and machines. It is computed as

1. :func:`loan_default.schema.coerce_frame`: canonical columns, order and dtypes;
2. each row's canonical bytes: its numeric fields as little-endian float64 (every NaN the
   same NaN, ``-0.0`` as ``0.0``), then its text, category and timestamp fields as UTF-8
   separated by ``\\x1f`` (missing as an empty field, timestamps in ISO 8601 UTC);
3. the SHA-256 of each row's bytes; the digests sorted (row order does not matter, while
   duplicate rows still count);
4. the SHA-256 of a header naming the hash version and the columns, then the sorted digests.

One changed value, one more or one fewer row, or the label's presence changes the hash.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from loan_default.schema import FIELDS_BY_NAME, Kind, coerce_frame

HASH_VERSION = "loan-default-data-v1"
_SEPARATOR = "\x1f"


def _numeric_bytes(frame: pd.DataFrame) -> list[bytes]:
    matrix = frame.to_numpy(dtype="<f8", na_value=np.nan) + 0.0  # + 0.0 turns -0.0 into 0.0
    matrix[np.isnan(matrix)] = np.nan  # one NaN bit pattern
    row_bytes = matrix.shape[1] * 8
    buffer = np.ascontiguousarray(matrix).tobytes()
    return [buffer[i : i + row_bytes] for i in range(0, len(buffer), row_bytes)]


def _text_lines(frame: pd.DataFrame) -> pd.Series:
    texts = []
    for name in frame.columns:
        column = frame[name]
        if FIELDS_BY_NAME[str(name)].kind is Kind.TIMESTAMP:
            text = column.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        else:
            text = column.astype(object).where(column.notna()).map(str, na_action="ignore")
        texts.append(text.fillna("").astype(str))
    if len(texts) == 1:
        return texts[0]
    return texts[0].str.cat(pd.concat(texts[1:], axis=1), sep=_SEPARATOR)


def row_digests(frame: pd.DataFrame) -> list[bytes]:
    """The SHA-256 digest of each row's canonical bytes, in row order."""
    canonical = coerce_frame(frame).reset_index(drop=True)
    if canonical.empty:
        return []
    numeric = [c for c in canonical.columns if FIELDS_BY_NAME[str(c)].is_numeric]
    other = [c for c in canonical.columns if c not in numeric]
    numbers = _numeric_bytes(canonical[numeric])
    lines = _text_lines(canonical[other]).tolist()
    return [
        hashlib.sha256(row + line.encode("utf-8")).digest()
        for row, line in zip(numbers, lines, strict=True)
    ]


def data_hash(frame: pd.DataFrame) -> str:
    """The content hash (64 hex digits) of a canonical data set, independent of row order.

    Args:
        frame: a DataFrame with canonical column names (extra columns are ignored; the label
            is part of the content when present).
    """
    columns = list(coerce_frame(frame.head(0)).columns)
    digest = hashlib.sha256(f"{HASH_VERSION}\n{','.join(map(str, columns))}\n".encode())
    for row in sorted(row_digests(frame)):
        digest.update(row)
    return digest.hexdigest()
