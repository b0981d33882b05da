"""The rule vocabulary of source mappings (``steps`` in ``configs/sources/*.yaml``).

A step is written as a bare name (``negate``) or a one-key mapping (``scale: {divide: 30}``):

==============  ===========================================================================
``number``      parse text as a number; ``strip`` removes tokens first (``["$", ","]``),
                ``decimal: ","`` reads decimal commas. Text that is still not a number
                (``#VALUE!``, ``$``) is invalid.
``scale``       multiply (``scale: 0.5`` or ``{multiply: 0.5}``) and/or ``{divide: 30}``.
``negate``      flip the sign (Home Credit stores day counts negative).
``missing``     sentinel values meaning unknown: ``missing: [365243, XNA]`` or
                ``{values: [...], ignore_case: true}``.
``map``         a value map: ``{values: {Y: 1, N: 0}, ignore_case: true, other: invalid}``;
                ``other`` says what an unlisted value does: ``invalid`` (default),
                ``missing`` or ``keep``. A ``null`` target means missing.
``snake_case``  lower snake_case text (``Industry: type 1`` -> ``industry_type_1``).
==============  ===========================================================================

Values are compared by their text, so ``1``, ``1.0`` and ``"1"`` are the same key. After the
steps, :func:`finish` converts the values to the canonical field's kind and marks the ones that
do not fit as invalid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from loan_default.data.columns import Column, as_numbers, key_of, keys_of, per_unique
from loan_default.schema import FieldSpec, Kind

_SNAKE = re.compile(r"[^0-9a-z]+")
_OPEN_CATEGORY = re.compile(r"^[a-z0-9_]+$")


class Step(BaseModel):
    """One rule; subclasses declare ``rule`` (the YAML name) and implement :meth:`apply`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    rule: ClassVar[str]

    def apply(self, column: Column, missing: Sequence[str]) -> Column:
        raise NotImplementedError

    @classmethod
    def from_argument(cls, argument: Any) -> Step:
        """Build from the YAML value after the rule's name (``None`` for a bare name)."""
        return cls.model_validate({} if argument is None else argument)


class NumberStep(Step):
    rule: ClassVar[str] = "number"
    strip: tuple[str, ...] = ()
    decimal: Literal[".", ","] = "."

    def apply(self, column: Column, missing: Sequence[str]) -> Column:
        return as_numbers(column, missing, strip=self.strip, decimal=self.decimal)


class ScaleStep(Step):
    rule: ClassVar[str] = "scale"
    multiply: float = Field(1.0, allow_inf_nan=False)
    divide: float = Field(1.0, allow_inf_nan=False)

    @field_validator("divide")
    @classmethod
    def _not_zero(cls, value: float) -> float:
        if value == 0:
            raise ValueError("divide must not be 0")
        return value

    @classmethod
    def from_argument(cls, argument: Any) -> Step:
        if isinstance(argument, int | float) and not isinstance(argument, bool):
            return cls(multiply=argument)
        return super().from_argument(argument)

    def apply(self, column: Column, missing: Sequence[str]) -> Column:
        numbers = as_numbers(column, missing)
        return numbers.replace(numbers.values * self.multiply / self.divide)


class NegateStep(Step):
    rule: ClassVar[str] = "negate"

    def apply(self, column: Column, missing: Sequence[str]) -> Column:
        numbers = as_numbers(column, missing)
        return numbers.replace(0.0 - numbers.values)  # 0.0 - x: no negative zeros


class MissingStep(Step):
    rule: ClassVar[str] = "missing"
    values: tuple[Any, ...]
    ignore_case: bool = False

    @classmethod
    def from_argument(cls, argument: Any) -> Step:
        if isinstance(argument, list | tuple):
            return cls(values=tuple(argument))
        return super().from_argument(argument)

    def apply(self, column: Column, missing: Sequence[str]) -> Column:
        fold = str.lower if self.ignore_case else str
        sentinels = {fold(k) for k in map(key_of, self.values) if k is not None}
        hit = per_unique(
            column.values, lambda v: (k := key_of(v)) is not None and fold(k) in sentinels
        ).astype(bool)
        return column.replace(column.values.astype(object).where(~hit))


class MapStep(Step):
    rule: ClassVar[str] = "map"
    values: dict[str | int | float, Any]
    ignore_case: bool = False
    other: Literal["invalid", "missing", "keep"] = "invalid"

    @field_validator("values", mode="before")
    @classmethod
    def _no_boolean_keys(cls, value: Any) -> Any:
        if isinstance(value, dict) and (flags := [k for k in value if isinstance(k, bool)]):
            raise ValueError(
                f"key {flags[0]!r} is a YAML boolean: unquoted yes/no/on/off/true/false are "
                "read as true/false, quote them ('Yes': 1)"
            )
        return value

    def apply(self, column: Column, missing: Sequence[str]) -> Column:
        fold = str.lower if self.ignore_case else str
        table = {fold(str(key_of(k))): v for k, v in self.values.items()}
        codes, uniques = pd.factorize(column.values, use_na_sentinel=True)
        keys = [key_of(value) for value in uniques] + [None]  # the last: missing (code -1)
        listed = np.array([k is not None and fold(k) in table for k in keys])
        unknown = np.array([k is not None and fold(k) not in table for k in keys])
        targets = np.empty(len(keys), dtype=object)
        targets[:] = [table.get(fold(k)) if k is not None else None for k in keys]
        index = column.values.index
        found = pd.Series(listed[codes], index=index)
        unlisted = pd.Series(unknown[codes], index=index)
        result = pd.Series(targets[codes], index=index, dtype=object).where(found)
        if self.other == "keep":
            result = result.where(~unlisted, column.values.astype(object))
        return column.replace(result, unlisted if self.other == "invalid" else None)


class SnakeCaseStep(Step):
    rule: ClassVar[str] = "snake_case"

    def apply(self, column: Column, missing: Sequence[str]) -> Column:
        def snake(value: Any) -> str | None:
            key = key_of(value)
            return (_SNAKE.sub("_", key.lower()).strip("_") or None) if key is not None else None

        return column.replace(per_unique(column.values, snake))


RULES: Mapping[str, type[Step]] = {
    step.rule: step
    for step in (NumberStep, ScaleStep, NegateStep, MissingStep, MapStep, SnakeCaseStep)
}


def parse_step(item: Any) -> Step:
    """A step from its YAML form: ``"negate"`` or ``{"scale": {"divide": 30}}``."""
    if isinstance(item, Step):
        return item
    if isinstance(item, str):
        name, argument = item, None
    elif isinstance(item, dict) and len(item) == 1:
        name, argument = next(iter(item.items()))
    else:
        raise ValueError(f"a rule is a name or a one-key mapping, got {item!r}")
    if name not in RULES:
        raise ValueError(f"unknown rule {name!r}; known rules: {', '.join(RULES)}")
    try:
        return RULES[name].from_argument(argument)
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"rule {name!r}: {details}") from None


def expected(spec: FieldSpec) -> str:
    """What :func:`finish` accepts for ``spec``, in words (ranges are validation's job)."""
    if spec.kind is Kind.CATEGORY:
        return spec.rule()
    return {
        Kind.NUMBER: "a number",
        Kind.INTEGER: "a whole number",
        Kind.BOOLEAN: "0 or 1",
        Kind.TIMESTAMP: "a date and time",
    }.get(spec.kind, "text")


def finish(column: Column, spec: FieldSpec, missing: Sequence[str]) -> Column:
    """Convert values to ``spec``'s kind; values that do not fit are marked invalid."""
    if spec.kind is Kind.BOOLEAN and not pd.api.types.is_numeric_dtype(column.values):
        words = {"true": 1.0, "false": 0.0}  # JSON-style flags in canonical text files
        column = column.replace(
            per_unique(column.values, lambda v: words.get(str(v).strip().lower(), v))
        )
    if spec.kind in (Kind.NUMBER, Kind.INTEGER, Kind.BOOLEAN):
        numbers = as_numbers(column, missing)
        values = numbers.values
        bad = values.notna() & (values != values.round()) if spec.kind is not Kind.NUMBER else None
        if spec.kind is Kind.BOOLEAN:
            bad = values.notna() & ~values.isin([0.0, 1.0])
        return numbers.replace(values.where(~bad) if bad is not None else values, bad)
    if spec.kind is Kind.TIMESTAMP:
        present = keys_of(column.values).notna()
        stamps = pd.to_datetime(
            column.values.where(present), errors="coerce", utc=True, format="mixed"
        )
        return column.replace(stamps, present & stamps.isna())
    keys = keys_of(column.values)
    keys = keys.where(~keys.isin(list(missing)))
    if spec.kind is Kind.TEXT:
        return column.replace(keys.astype(object))
    allowed = (
        keys.isin(list(spec.categories))
        if spec.categories is not None
        else per_unique(keys, lambda key: key is not None and bool(_OPEN_CATEGORY.match(key)))
    )
    bad = keys.notna() & ~allowed.astype(bool)
    return column.replace(keys.astype(object).where(~bad), bad)
