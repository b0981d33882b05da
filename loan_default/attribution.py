"""Per-feature contributions folded into the application fields they were computed from.

Reason codes must name characteristics an applicant can recognise and act on, and each one
once: ``age_days`` and its derived ``age_years`` are one characteristic, and a ratio such as
``debt_to_income`` is made of two. :func:`fold_contributions` turns a model's per-feature
contributions (``ScoringModel.contributions_matrix``) into per-field contributions with the
sources the feature engineering itself declares (:func:`loan_default.derived.feature_sources`).

The rule (docs/serving.md, "Explanations"), for each model column in each row:

* a canonical field's own column goes to that field;
* a derived column's contribution is shared **equally** among some of its source fields:

  - if its value is present: among the sources the applicant gave (a ratio is present only when
    both its fields were given; the mean of the external scores among the scores given);
  - if its value is missing: among the sources that were missing, since their absence is what
    the model scored (``debt_to_income`` without an income is the missing income);
  - a column that counts missing sources (``ext_score_missing``): among the missing sources,
    whatever its value;
  - when the chosen set is empty (a ratio undefined because its denominator is below one unit
    though both fields were given; no score missing for ``ext_score_missing``): among all its
    sources.

Each row's shares sum to one, so the folded contributions plus the base value still sum to the
model's raw score exactly (up to floating point). A field counts as given when its model column
is not missing (NaN): what the model saw, not what was typed (``employed_days`` of the source's
"not employed" sentinel is missing to the model, and worded as such).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from loan_default.derived import counts_missing, feature_sources
from loan_default.schema import FEATURE_FIELDS


@dataclass(frozen=True)
class FieldContributions:
    """Contributions per application field (rows: applications)."""

    fields: tuple[str, ...]
    """Canonical feature fields, in schema order."""
    values: np.ndarray
    """``(n, len(fields))``: each field's share of the raw score (positive: towards default)."""
    base: np.ndarray
    """``(n,)``: the model's base value; ``values`` plus ``base`` sum to the raw score."""
    given: np.ndarray
    """``(n, len(fields))``: the field had a value the model scored (not missing)."""


def unknown_features(feature_names: Sequence[str]) -> list[str]:
    """Model columns that are neither a canonical field nor a derived feature."""
    sources = feature_sources()
    return [name for name in feature_names if name not in sources]


@dataclass(frozen=True)
class _Plan:
    """How one model's columns fold (built once per list of feature names)."""

    fields: tuple[str, ...]
    field_columns: np.ndarray
    """The model column of each field (its given-ness)."""
    single: np.ndarray
    """``(n_features, n_fields)``: 1 where a single-source column goes to its field."""
    shared: tuple[tuple[int, np.ndarray, bool], ...]
    """Multi-source columns: (column, field indices, counts missing)."""


@lru_cache(maxsize=16)
def _plan(feature_names: tuple[str, ...]) -> _Plan:
    if unknown := unknown_features(feature_names):
        raise ValueError(f"no source field known for model feature(s) {', '.join(unknown)}")
    sources = feature_sources()
    used = {field for name in feature_names for field in sources[name]}
    fields = tuple(spec.name for spec in FEATURE_FIELDS if spec.name in used)
    column = {name: j for j, name in enumerate(feature_names)}
    if absent := [f for f in fields if f not in column]:
        raise ValueError(f"source field(s) {', '.join(absent)} are not model columns")
    at = {field: k for k, field in enumerate(fields)}
    single = np.zeros((len(feature_names), len(fields)))
    shared = []
    missingness = counts_missing()
    for j, name in enumerate(feature_names):
        targets = np.array([at[field] for field in sources[name]], dtype=np.intp)
        if len(targets) == 1:
            single[j, targets[0]] = 1.0
        else:
            shared.append((j, targets, name in missingness))
    columns = np.array([column[f] for f in fields], dtype=np.intp)
    return _Plan(fields, columns, single, tuple(shared))


def fold_contributions(
    contributions: np.ndarray, X: np.ndarray, feature_names: Sequence[str]
) -> FieldContributions:
    """Fold ``(n, n_features + 1)`` contributions (base value last) into application fields.

    Args:
        contributions: the model's per-feature contributions, base value in the last column.
        X: the feature matrix they explain (the FeatureEngineer's output, NaN = missing).
        feature_names: the model's column names, in order.

    Raises:
        ValueError: a column has no known source, or a source field is not a model column.
    """
    plan = _plan(tuple(feature_names))
    X = np.asarray(X, dtype=np.float64)
    contributions = np.asarray(contributions, dtype=np.float64)
    given = ~np.isnan(X[:, plan.field_columns])
    values = contributions[:, :-1] @ plan.single
    for j, targets, missingness in plan.shared:
        gave = given[:, targets]
        if missingness:
            chosen = ~gave
        else:
            present = ~np.isnan(X[:, j])
            chosen = np.where(present[:, None], gave, ~gave)
        chosen = np.where(chosen.any(axis=1, keepdims=True), chosen, True)
        weights = chosen / chosen.sum(axis=1, keepdims=True)
        values[:, targets] += contributions[:, j, None] * weights
    return FieldContributions(plan.fields, values, contributions[:, -1].copy(), given)
