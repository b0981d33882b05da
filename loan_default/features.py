"""Feature engineering, written once for training and serving.

:class:`FeatureEngineer` is a scikit-learn transformer that sits first in every model pipeline,
so the service runs exactly the code that training ran. It has two entry points:

* :meth:`FeatureEngineer.transform` takes a canonical DataFrame (vectorised, millions of rows);
* :meth:`FeatureEngineer.transform_records` takes application dicts (the API's path: one row in
  tens of microseconds, because building a one-row DataFrame alone costs milliseconds).

Both fill the same *base matrix* (canonical features as floats, categories as integer codes) and
then call the same :func:`_derive` on it, so the derived features cannot differ between them.

Defined results at the edges (docs/serving.md, "Edges of the input"):

* a ratio whose denominator is missing or below :data:`MIN_DENOMINATOR` (one currency unit,
  one day, one family member: zero, negative and vanishing values alike) is NaN (missing),
  never infinity and never an astronomically large number; every estimator accepts NaN;
* every numeric model input (canonical numbers and derived features alike) is clipped to the
  range seen in training (:attr:`FeatureEngineer.clip_range_`), so a value the model never
  saw gets the nearest one it did. A tree model is unchanged by this (its splits lie inside
  that range) and a linear model's contribution, which grows with the value, stays within
  what training produced: the explainer never reports 1e302, nor 2e5 for an instalment of
  1e9 (``clip=False`` turns it off);
* a category value not seen in training is scored as the open vocabulary's ``other`` code, or
  as missing for a closed vocabulary; it never raises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from loan_default.schema import DAYS_PER_YEAR, FEATURE_FIELDS, Kind

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


# Known directions of risk for canonical features (used as LightGBM monotone constraints).
_BASE_MONOTONE: Mapping[str, int] = {
    "score_source_1": -1,
    "score_source_2": -1,
    "score_source_3": -1,
    "social_circle_default": +1,
    "client_city_rating": +1,
}

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
    single definition of every derived feature. It works on whole column blocks with few numpy
    calls, so one row costs tens of microseconds and a million rows well under a second.
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


class FeatureEngineer(TransformerMixin, BaseEstimator):
    """Canonical applications -> model feature matrix (float64, NaN for missing).

    Columns: every canonical feature field (categories as integer codes, in schema order), then
    the derived features of :data:`DERIVED`. ``categorical_indices_`` lists the code columns
    (for LightGBM's ``categorical_feature``); ``monotone_constraints()`` the known directions.

    Args:
        min_category_count: open-vocabulary values seen fewer times than this in training are
            pooled into the ``other`` code, together with values never seen.
        clip: clip every numeric output column to the range seen in training.
    """

    def __init__(self, min_category_count: int = 20, clip: bool = True) -> None:
        self.min_category_count = min_category_count
        self.clip = clip

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y: Any = None) -> FeatureEngineer:
        vocab: dict[str, tuple[str, ...]] = {}
        for spec in FEATURE_FIELDS:
            if spec.kind is not Kind.CATEGORY:
                continue
            if spec.categories is not None:
                vocab[spec.name] = spec.categories
                continue
            counts: dict[str, int] = {}
            if spec.name in X.columns:
                observed = X[spec.name].dropna().astype(str).value_counts()
                counts = {str(k): int(n) for k, n in observed.items()}
            kept = [(k, n) for k, n in counts.items() if n >= self.min_category_count]
            # Most frequent first, ties by name: stable codes for the same data.
            ordered = sorted(kept, key=lambda kv: (-kv[1], kv[0]))
            vocab[spec.name] = tuple(name for name, _ in ordered)
        self.vocabularies_ = vocab
        self._build_plan()
        self.__dict__.pop("clip_range_", None)  # a refit measures the ranges afresh
        if self.clip:
            self.clip_range_ = self._ranges(self.transform(X))
        return self

    def _ranges(self, out: np.ndarray) -> np.ndarray:
        """(2, n columns): the lowest and highest value of each numeric column in ``out``;
        -inf/+inf for category codes and for columns never seen."""
        seen = ~np.isnan(out)
        low = np.where(seen, out, np.inf).min(axis=0, initial=np.inf)
        high = np.where(seen, out, -np.inf).max(axis=0, initial=-np.inf)
        free = ~seen.any(axis=0)
        free[self.categorical_indices_] = True
        low[free], high[free] = -np.inf, np.inf
        return np.stack([low, high])

    def _build_plan(self) -> None:
        """Precompute the per-column lookups both transform paths use."""
        plan: list[tuple[str, dict[str, float] | None, float]] = []
        for spec in FEATURE_FIELDS:
            if spec.kind is Kind.CATEGORY:
                cats = self.vocabularies_[spec.name]
                lookup = {c: float(i) for i, c in enumerate(cats)}
                # Open vocabulary: unseen values get their own "other" code; closed: missing.
                unseen = float(len(cats)) if spec.categories is None else np.nan
                plan.append((spec.name, lookup, unseen))
            else:
                plan.append((spec.name, None, np.nan))
        self._plan = plan
        self.base_names_ = [name for name, _, _ in plan]
        self.feature_names_out_ = np.array(
            self.base_names_ + [d.name for d in (*DERIVED, *INTERACTIONS)], dtype=object
        )
        self.categorical_indices_ = [i for i, (_, lk, _) in enumerate(plan) if lk is not None]
        self.n_features_out_ = len(self.feature_names_out_)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if "vocabularies_" in state and "_plan" not in state:
            self._build_plan()

    # -- transforming ------------------------------------------------------------------------
    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Vectorised: a canonical DataFrame (absent optional columns are missing)."""
        n = len(X)
        base = np.full((n, len(self._plan)), np.nan, dtype=np.float64, order="F")
        for j, (name, lookup, unseen) in enumerate(self._plan):
            if name not in X.columns:
                continue
            column = X[name]
            if lookup is None:
                base[:, j] = pd.to_numeric(column, errors="coerce").to_numpy(
                    np.float64, na_value=np.nan
                )
                continue
            codes = pd.Categorical(column, categories=list(lookup)).codes.astype(np.float64)
            # -1 is missing or unseen: tell them apart on those rows only (isna is the cost).
            other = np.flatnonzero(codes < 0)
            codes[other] = np.where(pd.isna(column.to_numpy()[other]), np.nan, unseen)
            base[:, j] = codes
        return self._finish(base)

    def transform_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Fast path for a few application dicts (absent keys and None are missing)."""
        plan = self._plan
        rows = [
            [
                rec.get(name)
                if lookup is None
                else (None if (v := rec.get(name)) is None else lookup.get(v, unseen))
                for name, lookup, unseen in plan
            ]
            for rec in records
        ]
        base = np.array(rows, dtype=np.float64).reshape(len(rows), len(plan))
        return self._finish(base)

    def _finish(self, base: np.ndarray) -> np.ndarray:
        # The sentinel means "not employed": missing in the output column and everything after.
        employed = base[:, _EMPLOYED]
        employed[employed >= _EMPLOYED_SENTINEL] = np.nan
        n_base = base.shape[1]
        fortran = base.flags.f_contiguous and base.shape[0] > 1
        n_derived = n_base + len(DERIVED)
        out = np.empty(
            (base.shape[0], n_derived + len(INTERACTIONS)),
            dtype=np.float64,
            order="F" if fortran else "C",
        )
        out[:, :n_base] = base
        _derive(base, out[:, n_base:])
        bounds = getattr(self, "clip_range_", None)  # absent while fitting and in old pickles
        if bounds is not None:  # np.clip's checks cost more than these two calls on a row
            np.maximum(out, bounds[0], out=out)  # NaN stays NaN
            np.minimum(out, bounds[1], out=out)
        return out

    # -- describing --------------------------------------------------------------------------
    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return self.feature_names_out_

    def feature_info(self) -> list[FeatureInfo]:
        """Description and risk direction of every output column, in order."""
        base = [
            FeatureInfo(
                spec.name,
                spec.description,
                _BASE_MONOTONE.get(spec.name, 0),
                categorical=spec.kind is Kind.CATEGORY,
            )
            for spec in FEATURE_FIELDS
        ]
        return base + list(DERIVED) + list(INTERACTIONS)

    def monotone_constraints(self) -> list[int]:
        """LightGBM ``monotone_constraints``: one direction per output column."""
        return [info.monotone for info in self.feature_info()]
