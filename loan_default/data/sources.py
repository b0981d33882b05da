"""Source mappings: turn a lender's own table into canonical applications, declared in YAML.

A mapping (``configs/sources/NAME.yaml``) names, for each canonical field, where its value
comes from (``column``, ``ratio`` of two columns, or a ``constant``) and an ordered list of
``steps`` from a small vocabulary (:mod:`loan_default.data.source_rules`). After the steps, each
value is converted to its field's kind; a value that cannot be (``#VALUE!`` for a number, an
unlisted category) is *invalid*: it becomes missing and is counted, or, for the ID, the label,
required fields and fields declared ``invalid: quarantine``, it sends its row to the
quarantine with a reason. No row is ever dropped: ``rows_in == len(data) + len(quarantine)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loan_default.data.io import read_table
from loan_default.data.mappings import FieldMapping, SourceMapping, load_mapping
from loan_default.data.source_rules import (
    Column,
    as_numbers,
    expected,
    finish,
    key_of,
    per_unique,
)
from loan_default.errors import InputError
from loan_default.schema import (
    FIELDS,
    FIELDS_BY_NAME,
    LABEL,
    coerce_frame,
)


def _source_rows(raw: pd.DataFrame, rows: Sequence[int], reasons: Sequence[str]) -> pd.DataFrame:
    out = raw.iloc[list(rows)].copy()
    out.insert(0, "source_row", list(rows))
    out["reasons"] = list(reasons)
    return out.reset_index(drop=True)


@dataclass(frozen=True, slots=True)
class ImportResult:
    """A source table mapped onto the canonical schema."""

    data: pd.DataFrame
    """Canonical rows (label kept when the source has it); index = source row number."""
    quarantine: pd.DataFrame
    """Source rows that could not be mapped, as read, plus ``source_row`` and ``reasons``."""
    source: str
    rows_in: int
    unparseable: dict[str, int] = field(default_factory=dict)
    """Canonical field -> how many present values could not be parsed and became missing."""
    unreadable: set[str] = field(default_factory=set)
    """Fields none of whose present values could be parsed: a wrong column or type?"""
    origins: dict[str, str] = field(default_factory=dict)
    """Canonical field -> the source column(s) it was read from, for messages."""
    raw: pd.DataFrame = field(default_factory=pd.DataFrame)
    """The source table as read (row ``i`` is ``source_row`` ``i``), for quarantine files."""

    def source_rows(self, rows: Sequence[int], reasons: Sequence[str]) -> pd.DataFrame:
        """Source rows as read, with ``source_row`` and ``reasons`` columns."""
        return _source_rows(self.raw, rows, reasons)

    def summary(self) -> str:
        """Counts for people: rows in/out/quarantined and unparseable values per field."""
        lines = [
            f"source {self.source}: rows in {self.rows_in}, out {len(self.data)}, "
            f"quarantined {len(self.quarantine)}"
        ]
        for name, count in sorted(self.unparseable.items(), key=lambda item: -item[1]):
            hint = " (all of them: wrong column or type?)" if name in self.unreadable else ""
            origin = f" (column {self.origins[name]})" if name in self.origins else ""
            lines.append(f"  {name}{origin}: {count} unparseable value(s) became missing{hint}")
        return "\n".join(lines)


def _origin(frame: pd.DataFrame, rule: FieldMapping, mapping: SourceMapping) -> Column:
    """The field's values before its steps: from a column, a ratio or a constant."""
    if rule.constant is not None:
        return Column(pd.Series([rule.constant] * len(frame), index=frame.index, dtype=object))
    if rule.ratio is not None:
        numerator, denominator = (
            as_numbers(_raw(frame, name, mapping), mapping.missing_values) for name in rule.ratio
        )
        safe = denominator.values.where(denominator.values > 0)
        return Column(numerator.values / safe, numerator.bad | denominator.bad)
    assert rule.column is not None
    return Column(_raw(frame, rule.column, mapping).values)


def _raw(frame: pd.DataFrame, name: str, mapping: SourceMapping) -> Column:
    """A source column as read: text stripped, blanks and ``missing_values`` as missing."""
    column = frame[name] if name in frame.columns else pd.Series(np.nan, index=frame.index)
    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_datetime64_any_dtype(column):
        return Column(column)
    unknown = {"", *mapping.missing_values}

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            return None if value in unknown else value
        return value

    return Column(per_unique(column, clean))


def _check_columns(frame: pd.DataFrame, mapping: SourceMapping, origin: str) -> None:
    absent = sorted(
        {
            name
            for rule in mapping.fields.values()
            if not rule.optional
            for name in rule.columns()
            if name not in frame.columns
        }
    )
    if absent:
        shown = ", ".join(map(repr, absent[:8])) + (
            f" and {len(absent) - 8} more" if len(absent) > 8 else ""
        )
        raise InputError(
            f"{origin}: missing column(s) {shown} required by source "
            f"{mapping.name!r} (columns found: {', '.join(map(str, frame.columns[:12]))}"
            f"{', ...' if len(frame.columns) > 12 else ''})"
        )


def map_frame(
    frame: pd.DataFrame, mapping: SourceMapping, *, origin: str = "input"
) -> ImportResult:
    """Apply ``mapping`` to a source DataFrame (see :func:`import_table`)."""
    _check_columns(frame, mapping, origin)
    if not isinstance(frame.index, pd.RangeIndex) or frame.index.start != 0:
        frame = frame.reset_index(drop=True)
    values: dict[str, pd.Series] = {}
    reasons: dict[int, list[str]] = {}
    unparseable: dict[str, int] = {}
    unreadable: set[str] = set()
    for name, rule in mapping.fields.items():
        spec = FIELDS_BY_NAME[name]
        column = _origin(frame, rule, mapping)
        for step in rule.steps:
            column = step.apply(column, mapping.missing_values)
        column = finish(column, spec, mapping.missing_values)
        values[name] = column.values
        bad = column.bad
        if not bad.any():
            continue
        if mapping.quarantines(spec):
            where = rule.column or rule.ratio or "constant"
            for row in np.flatnonzero(bad.to_numpy()):
                shown = frame[rule.column].iloc[row] if rule.column else column.values.iloc[row]
                reasons.setdefault(int(row), []).append(
                    f"{name}: cannot read {key_of(shown)!r} from {where} as {expected(spec)}"
                )
        else:
            unparseable[name] = int(bad.sum())
            values[name] = column.values.where(~bad)
            if values[name].isna().all():
                unreadable.add(name)
    has_label = LABEL in mapping.fields and any(
        name in frame.columns for name in mapping.fields[LABEL].columns()
    )
    data = pd.DataFrame(values, index=frame.index)
    bad_rows = sorted(reasons)
    canonical = coerce_frame(data.drop(index=bad_rows), with_label=has_label)
    quarantine = _source_rows(frame, bad_rows, ["; ".join(reasons[row]) for row in bad_rows])
    origins = {name: " / ".join(rule.columns()) for name, rule in mapping.fields.items()}
    return ImportResult(
        canonical, quarantine, mapping.name, len(frame), unparseable, unreadable, origins, frame
    )


def import_table(path: str | Path, source: str | Path | SourceMapping) -> ImportResult:
    """Read a source file and map it onto the canonical schema.

    Args:
        path: CSV/TSV/Parquet file, gzip or not (detected).
        source: a mapping, its name in ``configs/sources/`` or a path to a YAML file.

    Raises:
        InputError: the file cannot be read or lacks a column the mapping needs.
        ConfigError: the mapping does not exist or is invalid.
    """
    mapping = source if isinstance(source, SourceMapping) else load_mapping(source)
    text_fields = (
        spec.name for spec in FIELDS if not spec.is_numeric and spec.name in mapping.fields
    )
    text_columns = {name for field in text_fields for name in mapping.fields[field].columns()}
    missing = ["", *mapping.missing_values]  # a blank cell is always missing
    frame = read_table(path, text_columns=text_columns, na_values=missing)
    return map_frame(frame, mapping, origin=str(path))
