"""Population shifts for monitoring demos: move chosen features of a generated population.

A :class:`Shift` names the features it moves and how (scale and offset for numbers, new
frequencies for categories, extra missing values) and touches nothing else, so a drift monitor
should flag exactly :attr:`Shift.features`. It is applied after the population is drawn, to a
random ``fraction`` of the rows; results are clipped to the field's range, integer fields
rounded, and a moved field is bounded by the unmoved fields it must agree with, so shifted data
stays valid. ``logit_offset`` moves no feature: it raises the odds of
default for everyone (concept drift: the model decays while no input drifts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import pandas as pd

from loan_default.errors import InputError
from loan_default.schema import DAYS_PER_YEAR, FIELDS_BY_NAME, FieldSpec, Kind, Role


@dataclass(frozen=True)
class Shift:
    """How to move a population.

    Attributes:
        name: a label for reports.
        scale: numeric field -> factor (``x * scale + offset``).
        offset: numeric field -> amount added (in the field's unit).
        categories: category field -> {value: weight}; values are redrawn with these weights.
        missing: field -> share of the rows made missing (a data-quality incident).
        fraction: share of the rows that shift, in (0, 1].
        logit_offset: added to the log-odds of default of every row (concept drift).
        group: ``(field, value)``: only the rows of that group shift (e.g. a protected
            group whose applicants carry more risk: a disparity the fairness screens at the
            decision must flag).
    """

    name: str = "custom"
    scale: Mapping[str, float] = field(default_factory=dict)
    offset: Mapping[str, float] = field(default_factory=dict)
    categories: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    missing: Mapping[str, float] = field(default_factory=dict)
    fraction: float = 1.0
    logit_offset: float = 0.0
    group: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if self.group is not None:
            spec = FIELDS_BY_NAME.get(self.group[0])
            if spec is None or self.group[1] not in (spec.categories or ()):
                raise InputError(
                    f"shift {self.name!r}: group must be (category field, one of its values), "
                    f"got {self.group}"
                )
        if not 0.0 < self.fraction <= 1.0:
            raise InputError(
                f"shift {self.name!r}: fraction must be in (0, 1], got {self.fraction}"
            )
        for name in [*self.scale, *self.offset]:
            spec = _spec(self.name, name)
            if not spec.is_numeric or spec.kind is Kind.BOOLEAN:
                raise InputError(f"shift {self.name!r}: {name!r} is not numeric, cannot scale it")
        for name, weights in self.categories.items():
            spec = _spec(self.name, name)
            if spec.kind is not Kind.CATEGORY:
                raise InputError(f"shift {self.name!r}: {name!r} is not a category field")
            unknown = set(weights) - set(spec.categories or weights)
            if unknown or not weights or min(weights.values()) < 0 or sum(weights.values()) <= 0:
                raise InputError(
                    f"shift {self.name!r}: weights for {name!r} must be non-negative, not all "
                    f"zero, over {spec.rule()}; got {dict(weights)}"
                )
        for name, share in self.missing.items():
            if _spec(self.name, name).required or not 0.0 <= share <= 1.0:
                raise InputError(
                    f"shift {self.name!r}: missing share for {name!r} must be in [0, 1] and "
                    f"the field optional; got {share}"
                )

    @property
    def features(self) -> tuple[str, ...]:
        """The fields this shift moves (a drift monitor should flag these and no others)."""
        names = [*self.scale, *self.offset, *self.categories, *self.missing]
        return tuple(dict.fromkeys(names))


def _spec(shift: str, name: str) -> FieldSpec:
    spec = FIELDS_BY_NAME.get(name)
    if spec is None or spec.role not in (Role.FEATURE, Role.PROTECTED):
        raise InputError(f"shift {shift!r}: {name!r} is not a canonical feature field")
    return spec


_SCORES = ("score_source_1", "score_source_2", "score_source_3")
PRESETS: Mapping[str, Shift] = MappingProxyType(
    {
        "none": Shift("none"),
        "income_drop": Shift("income_drop", scale={"client_income": 0.7}),
        # Adult years shrink by 20% towards 18: the median applicant is ~5 years younger.
        "younger": Shift(
            "younger",
            scale={"age_days": 0.8},
            offset={"age_days": 0.2 * 18 * DAYS_PER_YEAR},
        ),
        "score_shift": Shift("score_shift", scale=dict.fromkeys(_SCORES, 0.8)),
        "credit_growth": Shift(
            "credit_growth", scale={"credit_amount": 1.35, "loan_annuity": 1.35}
        ),
        "missing_scores": Shift("missing_scores", missing={"score_source_2": 0.5}),
        "default_surge": Shift("default_surge", logit_offset=0.8),
        # Women's bureau scores fall by 40%: their true risk rises (labels follow), the model
        # declines them more often, and the four-fifths screen at the decision must flag it.
        "group_risk": Shift(
            "group_risk", scale=dict.fromkeys(_SCORES, 0.6), group=("client_gender", "female")
        ),
    }
)
"""Named shifts: ``loanctl data generate --shift NAME``."""


def resolve_shift(shift: str | Shift | None) -> Shift | None:
    """A :class:`Shift` from a preset name; ``InputError`` listing the presets if unknown."""
    if shift is None or isinstance(shift, Shift):
        return shift
    try:
        return PRESETS[shift]
    except KeyError:
        raise InputError(f"unknown shift {shift!r}; choose one of {', '.join(PRESETS)}") from None


def apply_shift(frame: pd.DataFrame, shift: Shift, *, seed: int) -> pd.DataFrame:
    """A copy of a canonical ``frame`` with ``shift`` applied (its own random stream)."""
    rng = np.random.default_rng([seed, 0x5817])
    out = frame.copy()
    n = len(out)
    rows = rng.random(n) < shift.fraction
    if shift.group is not None:
        rows &= (out[shift.group[0]].astype(object) == shift.group[1]).to_numpy(dtype=bool)
    for name in dict.fromkeys([*shift.scale, *shift.offset]):
        spec = FIELDS_BY_NAME[name]
        values = out[name].to_numpy(np.float64, copy=True)
        moved = values * shift.scale.get(name, 1.0) + shift.offset.get(name, 0.0)
        if spec.kind is Kind.INTEGER:
            moved = np.round(moved)
        low = -np.inf if spec.minimum is None else spec.minimum
        high = np.inf if spec.maximum is None else spec.maximum
        values[rows] = np.clip(moved, low, high)[rows]
        out[name] = values
    _keep_consistent(out, set(shift.scale) | set(shift.offset))
    for name, weights in shift.categories.items():
        vocab = np.asarray(list(weights), dtype=object)
        p = np.array(list(weights.values()), dtype=np.float64)
        drawn = vocab[rng.choice(len(vocab), size=n, p=p / p.sum())]
        values = out[name].to_numpy(object, copy=True)
        change = rows & pd.notna(values)
        values[change] = drawn[change]
        out[name] = values
    for name, share in shift.missing.items():
        gone = rows & (rng.random(n) < share)
        numeric = FIELDS_BY_NAME[name].is_numeric
        values = out[name].to_numpy(np.float64 if numeric else object, copy=True)
        values[gone] = np.nan if numeric else None
        out[name] = values
    return out


_WORKING_AGE = 14 * DAYS_PER_YEAR


def _keep_consistent(frame: pd.DataFrame, moved: set[str]) -> None:
    """Bound each moved field by the unmoved fields it must agree with, in place.

    The cross-field rules of ``loan_default.data.validation`` (employment within adult life, an
    instalment not above the credit, a family that counts its children) would otherwise reject
    some shifted rows; only the moved field changes, so the others stay bit-identical.
    """

    def bound(name: str, limit: pd.Series, *, upper: bool) -> None:
        values = frame[name]
        broken = values > limit if upper else values < limit
        frame[name] = values.where(~broken, limit)

    if "employed_days" in moved:
        bound("employed_days", frame["age_days"] - _WORKING_AGE, upper=True)
    elif "age_days" in moved:
        bound("age_days", frame["employed_days"] + _WORKING_AGE, upper=False)
    if "loan_annuity" in moved:
        bound("loan_annuity", frame["credit_amount"], upper=True)
    elif "credit_amount" in moved:
        bound("credit_amount", frame["loan_annuity"], upper=False)
    if "child_count" in moved:
        bound("child_count", frame["client_family_members"] - 1, upper=True)
    elif "client_family_members" in moved:
        bound("client_family_members", frame["child_count"] + 1, upper=False)
