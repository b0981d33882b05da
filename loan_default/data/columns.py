"""A field's values on their way through a source mapping's steps, and the helpers the steps
share: text keys of values, functions applied once per distinct value, number parsing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

# Object columns holding only numbers (e.g. the output of a value map) convert directly.
_NUMBER_OBJECTS = frozenset({"integer", "floating", "mixed-integer-float", "boolean", "empty"})


@dataclass(slots=True)
class Column:
    """A field's values on their way through the steps, with the rows found invalid so far."""

    values: pd.Series
    invalid: pd.Series | None = None

    def __post_init__(self) -> None:
        if self.invalid is None:
            self.invalid = pd.Series(False, index=self.values.index)

    @property
    def bad(self) -> pd.Series:
        """Rows whose value was found invalid."""
        assert self.invalid is not None
        return self.invalid

    def replace(self, values: pd.Series, invalid: pd.Series | None = None) -> Column:
        return Column(values, self.bad if invalid is None else self.bad | invalid)


def key_of(value: Any) -> str | None:
    """A value's comparison text: ``None`` when missing; ``1.0`` and ``1`` both give ``"1"``."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value).strip()


def per_unique(values: pd.Series, function: Callable[[Any], Any]) -> pd.Series:
    """``values.map(function)`` computed once per distinct value (missing gives ``None``)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    table = np.empty(len(uniques) + 1, dtype=object)
    table[: len(uniques)] = [function(value) for value in uniques]
    table[-1] = function(None)
    return pd.Series(table[codes], index=values.index, dtype=object)


def keys_of(values: pd.Series) -> pd.Series:
    """:func:`key_of` of every value."""
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return values.astype(object).where(values.notna())  # already stripped by _raw
    return per_unique(values, key_of)


def as_numbers(
    column: Column,
    missing: Sequence[str] = (),
    *,
    strip: Sequence[str] = (),
    decimal: str = ".",
) -> Column:
    """Parse values as float64; present values that are not finite numbers become invalid."""
    values = column.values
    numeric = pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values)
    if numeric or pd.api.types.infer_dtype(values, skipna=True) in _NUMBER_OBJECTS:
        numbers = values.astype("float64")
        infinite = pd.Series(np.isinf(numbers.to_numpy()), index=numbers.index)
        return column.replace(numbers.where(~infinite), infinite)
    text = keys_of(values)
    absent = text.isna() | text.isin(list(missing))
    cleaned = text.where(~absent)
    for token in strip:
        cleaned = cleaned.str.replace(token, "", regex=False)
    if decimal != ".":
        cleaned = cleaned.str.replace(decimal, ".", regex=False)
    numbers = pd.to_numeric(cleaned, errors="coerce").astype("float64")
    numbers = numbers.where(np.isfinite(numbers))
    return column.replace(numbers, ~absent & numbers.isna())
