"""Reading and writing tables: CSV, TSV and Parquet, plain or gzip-compressed.

Real exports vary, so nothing is assumed from the file name: the format (Parquet or text, gzip
or not) is read from the file's first bytes, the delimiter from its header line, and an unnamed
leading index column (what ``DataFrame.to_csv`` writes by default) or an empty trailing column
(a trailing delimiter on every line) is dropped. Every failure is an :class:`InputError` that
names the file.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import warnings
from collections.abc import Collection, Sequence
from pathlib import Path

import pandas as pd
from pydantic import Field

from loan_default.errors import InputError
from loan_default.settings import LoanSettings

_CONFIGS = Path(__file__).resolve().parents[2] / "configs"
_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_DELIMITERS = (",", "\t", ";", "|")
_UNNAMED = re.compile(r"^Unnamed: \d+$")


class DataSettings(LoanSettings):
    """Where the data stage finds its editable configuration and puts its quarantine files."""

    sources_dir: Path = Field(
        _CONFIGS / "sources",
        description="Folder of source mappings: `--source NAME` reads `<sources_dir>/NAME.yaml`.",
    )
    validation_config: Path = Field(
        _CONFIGS / "validation.yaml",
        description="Validation rules and the maximum share of failing rows (YAML).",
    )
    quarantine_dir: Path | None = Field(
        None,
        description="Where prepare_dataset writes rejected rows when no path is given "
        "(default: <home>/quarantine).",
    )

    @property
    def quarantine_path(self) -> Path:
        return self.quarantine_dir or self.home / "quarantine"


def _head(path: Path, size: int = 8) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(size)
    except OSError as exc:
        raise InputError(f"{path}: cannot read file ({exc.strerror or exc})") from exc


def _content(path: Path, compressed: bool) -> tuple[bytes, str]:
    """The file's bytes (decompressed) and their encoding: UTF-8 (BOM dropped), else Latin-1."""
    try:
        raw = gzip.decompress(path.read_bytes()) if compressed else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"{path}: cannot read file ({exc})") from exc
    if b"\x00" in raw[:4096]:
        raise InputError(f"{path}: not a CSV/TSV or Parquet file (binary content)")
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw, "latin-1"
    return raw, "utf-8-sig"


def sniff_delimiter(header: str) -> str:
    """The delimiter of a header line: the candidate that splits it into the most fields."""
    counts = {sep: len(next(csv.reader([header], delimiter=sep))) for sep in _DELIMITERS}
    return max(_DELIMITERS, key=lambda sep: counts[sep])


def _drop_index_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop an unnamed leading index column and unnamed, entirely empty columns."""
    drop = []
    for position, name in enumerate(frame.columns):
        if not _UNNAMED.match(str(name)) and str(name).strip():
            continue
        column = frame[name]
        empty = column.isna() | (column.astype(str).str.strip() == "")
        if empty.all():
            drop.append(name)
        elif position == 0:
            numbers = pd.to_numeric(column, errors="coerce")
            if numbers.notna().all() and numbers.is_unique:
                drop.append(name)
    return frame.drop(columns=drop)


def read_table(
    path: str | Path,
    *,
    text_columns: Collection[str] = (),
    na_values: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet file, gzip-compressed or not, detecting which.

    Text files: a column holding anything that is not a number (``#VALUE!``, ``$``) stays
    text, so a source mapping sees the junk itself.

    Args:
        path: the file.
        text_columns: text files only: columns kept as text, never parsed as numbers
            (identifiers such as ``000123`` keep their zeros).
        na_values: text files only: the cell texts read as missing, instead of pandas'
            defaults.

    Raises:
        InputError: the file is absent, unreadable, empty, has no data rows or no header.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    head = _head(path)
    if not head:
        raise InputError(f"{path}: the file is empty")
    if head.startswith(_PARQUET_MAGIC):
        try:
            frame = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: unreadable Parquet file ({exc})") from exc
    else:
        raw, encoding = _content(path, compressed=head.startswith(_GZIP_MAGIC))
        start = raw[:65536].decode(encoding, errors="replace").lstrip("\r\n")
        header = start.splitlines()[0] if start.strip() else ""
        if not header:
            raise InputError(f"{path}: the file is empty")
        try:
            with warnings.catch_warnings():  # mixed types in a column are the mapping's job
                warnings.simplefilter("ignore", pd.errors.DtypeWarning)
                frame = pd.read_csv(
                    io.BytesIO(raw),
                    encoding=encoding,
                    sep=sniff_delimiter(header),
                    dtype=dict.fromkeys(text_columns, str),
                    na_values=list(na_values) if na_values is not None else None,
                    keep_default_na=na_values is None,
                )
        except (pd.errors.ParserError, ValueError) as exc:
            raise InputError(f"{path}: malformed CSV/TSV ({exc})") from exc
    frame = _drop_index_columns(frame)
    if frame.empty:
        raise InputError(f"{path}: no data rows (only a header)")
    frame.columns = [str(name).strip() for name in frame.columns]
    return frame.reset_index(drop=True)


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` as Parquet, or as CSV when ``path`` ends in ``.csv`` (or ``.csv.gz``).

    Parent folders are created. Columns of mixed Python types (raw source values in a
    quarantine file) are written as text so Parquet accepts them.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith((".csv", ".csv.gz")):
        frame.to_csv(path, index=False)
        return path
    out = frame.copy()
    for name in out.columns:
        column = out[name]
        if pd.api.types.is_object_dtype(column) and column.map(type).nunique(dropna=True) > 1:
            out[name] = column.map(lambda value: None if pd.isna(value) else str(value))
    out.to_parquet(path, index=False)
    return path
