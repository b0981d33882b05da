"""The derived features: what the model computes from the canonical fields, defined once.

:func:`_derive` is the definition, on a block of rows (numpy, for training's millions and for
batches); :func:`derive_row` is the same arithmetic for one row of Python floats, the API's
single application, where numpy's per-call overhead (some twenty calls of about a microsecond
each) was the whole cost. Both perform the same IEEE operations in the same order, so they give
the same bits; ``tests/loan_default/test_derived.py`` holds them to each other with generated
rows (missing values, tiny and negative denominators, the employment sentinel, extremes).
:class:`loan_default.features.FeatureEngineer` calls them; :func:`feature_sources` says which
canonical fields each column reads, from the same tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from loan_default.schema import DAYS_PER_YEAR, FEATURE_FIELDS

# Sentinel some sources use for "not employed"; canonical data has NaN, but be defensive.
_EMPLOYED_SENTINEL = 365_000.0
MIN_DENOMINATOR = 1.0
"""A ratio's denominator below this (currency units, days, people) makes the ratio missing."""


@dataclass(frozen=True, slots=True)
class FeatureInfo:
    """A model input column: what it means and how risk moves with it."""

    name: str
    description: str
    monotone: int = 0
    """+1: risk never falls as the value rises; -1: never rises; 0: no constraint."""
    categorical: bool = False
    counts_missing: bool = False
    """The value counts which of its source fields are missing (reason codes: its contribution
    is the absence of those fields, :func:`loan_default.attribution.fold_contributions`)."""


DERIVED: tuple[FeatureInfo, ...] = (
    # The six ratios come first, in the order of _RATIOS below.
    FeatureInfo(
        "debt_to_income", "Instalment divided by income (loan_annuity / client_income).", +1
    ),
    FeatureInfo("credit_to_income", "Credit applied for divided by income.", +1),
    FeatureInfo("annuity_to_credit", "Instalment divided by credit: high means a short term."),
    FeatureInfo("employment_stability", "Share of adult life spent in the current employment.", -1),
    FeatureInfo("income_per_family_member", "Income divided by the number of family members.", -1),
    FeatureInfo("registration_to_age", "Days since registration change divided by age in days."),
    FeatureInfo("age_years", "Age in years.", -1),
    FeatureInfo("employed_years", "Years in the current employment (missing if not employed).", -1),
    FeatureInfo("ext_score_mean", "Mean of the available external scores.", -1),
    FeatureInfo("ext_score_min", "Lowest available external score.", -1),
    FeatureInfo("ext_score_max", "Highest available external score.", -1),
    FeatureInfo(
        "ext_score_missing",
        "How many of the three external scores are missing (0-3).",
        counts_missing=True,
    ),
)

_BASE: tuple[str, ...] = tuple(spec.name for spec in FEATURE_FIELDS)


def _idx(*names: str) -> np.ndarray:
    return np.array([_BASE.index(name) for name in names], dtype=np.intp)


# (numerator, denominator, amount subtracted from the denominator): the first six derived.
_RATIOS = (
    ("loan_annuity", "client_income", 0.0),
    ("credit_amount", "client_income", 0.0),
    ("loan_annuity", "credit_amount", 0.0),
    ("employed_days", "age_days", 18 * DAYS_PER_YEAR),  # share of adult life
    ("client_income", "client_family_members", 0.0),
    ("registration_days", "age_days", 0.0),
)
_NUM = _idx(*(r[0] for r in _RATIOS))
_DEN = _idx(*(r[1] for r in _RATIOS))
_DEN_OFFSET = np.array([r[2] for r in _RATIOS])
_STABILITY = 3
_YEARS = _idx("age_days", "employed_days")
_EMPLOYED = int(_idx("employed_days")[0])
_SCORES = _idx("score_source_1", "score_source_2", "score_source_3")
_GATHER = np.concatenate([_NUM, _DEN, _YEARS, _SCORES])


def _derive(base: np.ndarray, out: np.ndarray) -> None:
    """Write the derived features of :data:`DERIVED`, then the :data:`INTERACTIONS`, into
    ``out`` (n x (len(DERIVED) + len(INTERACTIONS))).

    ``base`` holds the canonical feature columns in schema order (NaN = missing). This is the
    definition of every derived feature (:func:`derive_row` transcribes it for one row). It
    works on whole column blocks with few numpy calls: a million rows well under a second.
    A ratio whose denominator is missing or below :data:`MIN_DENOMINATOR` is NaN.
    """
    # One gather of every input column (6 numerators, 6 denominators, 2 day counts, 3 scores):
    # numpy's per-call overhead, not arithmetic, is the cost of a single row.
    block = base[:, _GATHER]
    den = block[:, 6:12]
    den -= _DEN_OFFSET
    ratios = out[:, 0:6]
    ratios.fill(np.nan)
    np.divide(block[:, 0:6], den, out=ratios, where=den >= MIN_DENOMINATOR)
    stability = out[:, _STABILITY]
    np.minimum(stability, 1.0, out=stability)
    np.divide(block[:, 12:14], DAYS_PER_YEAR, out=out[:, 6:8])
    scores = block[:, 14:17]
    missing = np.isnan(scores)
    n_present = 3 - missing.sum(axis=1)
    total = np.where(missing, 0.0, scores).sum(axis=1)
    out[:, 8] = np.nan
    np.divide(total, n_present, out=out[:, 8], where=n_present > 0)
    np.fmin.reduce(scores, axis=1, out=out[:, 9])
    np.fmax.reduce(scores, axis=1, out=out[:, 10])
    out[:, 11] = 3 - n_present
    _interact(scores, missing, out[:, : len(DERIVED)], out[:, len(DERIVED) :])


# -- Interactions: features that earned their place on the real sample (docs/training.md). ---
# Kept apart from the ratios above: each is finite for any accepted input (missing in, missing
# out), and each was measured (out-of-fold and hold-out ROC AUC) before it was kept.
INTERACTIONS: tuple[FeatureInfo, ...] = (
    FeatureInfo(
        "ext_score_product",
        "Product of the three external scores (a missing one replaced by the mean of the "
        "available ones; missing when none is available).",
        -1,
    ),
    FeatureInfo("ext_score_spread", "Highest minus lowest available external score (0-1)."),
)


def _interact(
    scores: np.ndarray, missing: np.ndarray, derived: np.ndarray, out: np.ndarray
) -> None:
    """Write the :data:`INTERACTIONS` into ``out`` from the external scores (``missing``: which
    are NaN) and the derived columns (``_derive`` calls it with what it has gathered).

    Scores lie in [0, 1] (the schema refuses anything else), so both are finite for any
    accepted input; no scores at all gives missing.
    """
    filled = np.where(missing, derived[:, 8:9], scores)  # a missing score -> the mean of the rest
    np.multiply.reduce(filled, axis=1, out=out[:, 0])
    np.subtract(derived[:, 10], derived[:, 9], out=out[:, 1])


def feature_sources() -> dict[str, tuple[str, ...]]:
    """The canonical fields each model input column is computed from, in column order.

    A canonical field is its own source. The derived features and interactions take theirs from
    the very tables :func:`_derive` and :func:`_interact` read (``_RATIOS``, ``_YEARS``,
    ``_SCORES``), so the mapping follows the computation; ``tests/loan_default/
    test_feature_sources.py`` also changes every field in turn and checks which columns move.
    Reason codes fold contributions into these fields (:mod:`loan_default.attribution`).
    """
    scores = tuple(_BASE[i] for i in _SCORES)
    years = [(_BASE[i],) for i in _YEARS]
    # _derive: the six ratios, the two day counts in years, four statistics of the scores.
    derived = [(num, den) for num, den, _ in _RATIOS] + years + [scores] * 4
    out: dict[str, tuple[str, ...]] = {name: (name,) for name in _BASE}
    out.update(zip((d.name for d in DERIVED), derived, strict=True))
    out.update((d.name, scores) for d in INTERACTIONS)  # _interact: the scores and their stats
    return out


def counts_missing() -> frozenset[str]:
    """Model columns whose value counts missing sources (:attr:`FeatureInfo.counts_missing`)."""
    return frozenset(d.name for d in (*DERIVED, *INTERACTIONS) if d.counts_missing)


_ROW_RATIOS = tuple(
    (int(n), int(d), float(o)) for n, d, o in zip(_NUM, _DEN, _DEN_OFFSET, strict=True)
)
_ROW_AGE, _ROW_EMPLOYED = (int(i) for i in _YEARS)
_ROW_SCORES = tuple(int(i) for i in _SCORES)


def derive_row(row: list[float]) -> None:
    """Append to ``row`` (one row's canonical columns as floats, NaN = missing, the employment
    sentinel already NaN) its derived features and interactions: :func:`_derive` for one row,
    operation for operation (about 4 us instead of 25)."""
    nan = math.nan
    for num, den, offset in _ROW_RATIOS:
        d = row[den] - offset
        row.append(row[num] / d if d >= MIN_DENOMINATOR else nan)
    stability = len(row) - 6 + _STABILITY
    if row[stability] > 1.0:
        row[stability] = 1.0
    row.append(row[_ROW_AGE] / DAYS_PER_YEAR)
    row.append(row[_ROW_EMPLOYED] / DAYS_PER_YEAR)
    s1, s2, s3 = (row[i] for i in _ROW_SCORES)
    present = [s for s in (s1, s2, s3) if s == s]
    if present:
        # numpy's sum of three, left to right, a missing score counting 0
        total = (s1 if s1 == s1 else 0.0) + (s2 if s2 == s2 else 0.0) + (s3 if s3 == s3 else 0.0)
        mean, low, high = total / len(present), min(present), max(present)
    else:
        mean = low = high = nan
    row += (mean, low, high, float(3 - len(present)))
    # _interact: a missing score -> the mean of the rest; the product, left to right
    f1, f2, f3 = (s if s == s else mean for s in (s1, s2, s3))
    row += (f1 * f2 * f3, high - low)
