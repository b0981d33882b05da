"""Feature engineering, written once for training and serving.

:class:`FeatureEngineer` is a scikit-learn transformer that sits first in every model pipeline,
so the service runs exactly the code that training ran. It has two entry points:

* :meth:`FeatureEngineer.transform` takes a canonical DataFrame (vectorised, millions of rows);
* :meth:`FeatureEngineer.transform_records` takes application dicts (the API's path: one row in
  about 12 microseconds, because building a one-row DataFrame alone costs a millisecond).

Both fill the same *base matrix* (canonical features as floats, categories as integer codes) and
then derive the features of :mod:`loan_default.derived` from it: blocks with its
:func:`~loan_default.derived._derive`, a few records row by row with its transcription
:func:`~loan_default.derived.derive_row`, held to the same values by a property test.

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

import math
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from loan_default.derived import (
    _EMPLOYED,
    _EMPLOYED_SENTINEL,
    DERIVED,
    INTERACTIONS,
    FeatureInfo,
    _derive,
    derive_row,
)
from loan_default.schema import FEATURE_FIELDS, Kind

_PLAN_STATE = frozenset({"_plan", "_numeric_columns", "_fields"})
"""What :meth:`FeatureEngineer._build_plan` derives from the vocabularies (rebuilt when a pickle
lacks any of it)."""
ROW_PATH_ROWS = 6
"""Calls of up to this many records take the row-by-row path (measured crossover: 6-8)."""

# Known directions of risk for canonical features (used as LightGBM monotone constraints).
_BASE_MONOTONE: Mapping[str, int] = {
    "score_source_1": -1,
    "score_source_2": -1,
    "score_source_3": -1,
    "social_circle_default": +1,
    "client_city_rating": +1,
}


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
        self.__dict__.pop("_row_bounds_", None)
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
        self._numeric_columns = [i for i, (_, lk, _) in enumerate(plan) if lk is None]
        self._fields = itemgetter(*self.base_names_)  # a record's fields in plan order
        self.n_features_out_ = len(self.feature_names_out_)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        if (
            "vocabularies_" in state
            and not {"_plan", "_numeric_columns", "_fields"} <= state.keys()
        ):
            self._build_plan()  # pickled before the plan (or part of it) was kept

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
        """Fast path for a few application dicts (absent keys and None are missing).

        Up to :data:`ROW_PATH_ROWS` records go row by row in Python floats
        (:func:`~loan_default.derived.derive_row`: 12 us a row, against 60-70 us for a small
        block, numpy's per-call overhead), more through the block path; same values.
        """
        if 0 < len(records) <= ROW_PATH_ROWS:
            return np.array([self._row(record) for record in records], dtype=np.float64)
        try:  # the API's validated applications hold every field: one C call a record
            columns: list[Sequence[Any]] = list(zip(*map(self._fields, records), strict=True))
        except KeyError:  # records that leave fields out
            columns = [[rec.get(name) for rec in records] for name, _, _ in self._plan]
        base = np.empty((len(records), len(self._plan)), dtype=np.float64)
        if records:
            numeric = self._numeric_columns
            base[:, numeric] = np.array([columns[j] for j in numeric], dtype=np.float64).T
            nan = math.nan
            for j, (_, lookup, unseen) in enumerate(self._plan):
                if lookup is not None:  # None is missing; an unseen value gets ``unseen``
                    base[:, j] = [nan if v is None else lookup.get(v, unseen) for v in columns[j]]
        return self._finish(base)

    def _row(self, record: Mapping[str, Any]) -> list[float]:
        """One application's model inputs as Python floats: :meth:`_finish` for one row."""
        nan = math.nan
        row = [
            nan
            if (v := record.get(name)) is None
            else float(v if lookup is None else lookup.get(v, unseen))
            for name, lookup, unseen in self._plan
        ]
        if row[_EMPLOYED] >= _EMPLOYED_SENTINEL:
            row[_EMPLOYED] = nan
        derive_row(row)
        for j, low, high in self._row_bounds():  # NaN stays NaN, as with np.maximum/minimum
            v = row[j]
            if v < low:
                row[j] = low
            elif v > high:
                row[j] = high
        return row

    def _row_bounds(self) -> list[tuple[int, float, float]]:
        """``clip_range_`` as (column, low, high) Python floats, columns with a finite bound
        only; cached (dropped when pickled, and when a refit measures new ranges)."""
        bounds = self.__dict__.get("_row_bounds_")
        if bounds is None:
            ranges = getattr(self, "clip_range_", None)  # absent in old pickles and with clip off
            bounds = [] if ranges is None else [
                (j, float(low), float(high))
                for j, (low, high) in enumerate(zip(ranges[0], ranges[1], strict=True))
                if math.isfinite(low) or math.isfinite(high)
            ]  # fmt: skip
            self.__dict__["_row_bounds_"] = bounds
        return bounds

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_row_bounds_", None)
        return state

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
