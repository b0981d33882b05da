"""A Parquet data set in partitions: the unit of work of the scale-out paths.

A data set is one Parquet file or a folder of them (read in sorted name order, recursively).
Its partitions are its row groups, each cut into slices of at most ``batch_rows`` rows, in file
order: a list of :class:`Fragment` computed from the footers alone, without reading any data.
The streamed path reads them one after the other in one process; the cluster path hands the
same list to Dask (:func:`dask_frame`), so both see the very same partitions, and whatever is
decided per partition (validation, quarantine) is identical.

Reading a slice of a row group decodes the slices before it in that row group: write portfolio
files with row groups of about ``batch_rows`` rows (``write_parts`` does) and nothing is read
twice.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from loan_default.errors import InputError

if TYPE_CHECKING:
    import dask.dataframe as dd

DEFAULT_BATCH_ROWS = 100_000


@dataclass(frozen=True, slots=True)
class Fragment:
    """Rows ``[slice * batch_rows, ...)`` of row group ``row_group`` of one file."""

    index: int
    """Position of this partition in the data set (the output part number)."""
    path: str
    row_group: int
    slice: int
    batch_rows: int
    rows: int
    """Rows in this partition (from the footer)."""


def is_parquet(path: str | Path) -> bool:
    """A folder (a data set of parts) or a file starting with Parquet's magic bytes."""
    path = Path(path)
    if path.is_dir():
        return True
    try:
        with path.open("rb") as handle:
            return handle.read(4) == b"PAR1"
    except OSError:
        return False


def parquet_files(path: str | Path) -> list[Path]:
    """The Parquet files of a data set: the file itself, or a folder's ``*.parquet`` sorted.

    Raises:
        InputError: no such file or folder, or a folder without Parquet files.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.parquet") if p.is_file())
        if not files:
            raise InputError(f"{path}: the folder holds no .parquet file")
        return files
    raise InputError(f"{path}: no such file or folder")


def fragments(path: str | Path, *, batch_rows: int = DEFAULT_BATCH_ROWS) -> list[Fragment]:
    """The partitions of a data set, in order, from the Parquet footers.

    Raises:
        InputError: a file is not Parquet or its footer is unreadable.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if batch_rows < 1:
        raise InputError(f"batch_rows must be >= 1, got {batch_rows}")
    out: list[Fragment] = []
    for file in parquet_files(path):
        try:
            meta = pq.ParquetFile(file).metadata
        except (OSError, pa.ArrowInvalid) as exc:
            raise InputError(f"{file}: not a readable Parquet file ({exc})") from exc
        for group in range(meta.num_row_groups):
            rows = meta.row_group(group).num_rows
            for part in range(max(math.ceil(rows / batch_rows), 1) if rows else 0):
                size = min(batch_rows, rows - part * batch_rows)
                out.append(Fragment(len(out), str(file), group, part, batch_rows, size))
    return out


def read_fragment(fragment: Fragment, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """One partition as a DataFrame (index 0..rows-1).

    Raises:
        InputError: the file changed or cannot be decoded.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(fragment.path)
        names = [c for c in columns if c in handle.schema_arrow.names] if columns else None
        batches = handle.iter_batches(
            batch_size=fragment.batch_rows, row_groups=[fragment.row_group], columns=names
        )
        batch = next(islice(batches, fragment.slice, None), None)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(
            f"{fragment.path}: cannot read row group {fragment.row_group} ({exc})"
        ) from exc
    if batch is None:
        raise InputError(
            f"{fragment.path}: row group {fragment.row_group} has fewer rows than its footer "
            "said (was the file replaced while it was read?)"
        )
    return batch.to_pandas()


def iter_partitions(
    items: Sequence[Fragment], columns: Sequence[str] | None = None
) -> Iterator[tuple[Fragment, pd.DataFrame]]:
    """Each partition in turn: one in memory at a time (the streamed path)."""
    for fragment in items:
        yield fragment, read_fragment(fragment, columns)


def dask_frame(items: Sequence[Fragment], columns: Sequence[str] | None = None) -> dd.DataFrame:
    """The same partitions as a Dask DataFrame: partition ``i`` is ``items[i]``, read by a
    worker (the workers must see the files: a shared volume or the same path)."""
    import dask.dataframe as dd

    if not items:
        raise InputError("the data set has no rows")
    meta = read_fragment(items[0], columns).iloc[:0]
    return dd.from_map(read_fragment, list(items), columns=columns, meta=meta,
                       divisions=None, enforce_metadata=False)  # fmt: skip
