"""Scorecard points for /v1/explain (the principal reasons are in :mod:`loan_default.reasons`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def _value(feature: str, application: Mapping[str, Any], computed: float) -> Any:
    """The applicant's value: as sent for application fields, computed for derived ones."""
    if feature in application:
        value = application[feature]
        return value if isinstance(value, str | bool | int | float) or value is None else str(value)
    return None if np.isnan(computed) else float(computed)


def scorecard_points(
    card: Any, X: np.ndarray, applications: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Per application: the total ``score`` and the ``points`` of every characteristic.

    Args:
        card: a fitted :class:`~loan_default.scorecard.WoEScorecard`.
        X: the applications' feature matrix (the FeatureEngineer's output).
        applications: the validated applications (for the values of application fields).
    """
    points = card.points(X)
    best = card.max_points()
    out = []
    for i, application in enumerate(applications):
        rows = [
            {
                "characteristic": char.name,
                "value": _value(char.name, application, float(X[i, char.column])),
                "points": float(points[i, k]),
                "max_points": float(best[k]),
            }
            for k, char in enumerate(card.characteristics_)
        ]
        out.append({"score": float(points[i].sum()), "points": rows})
    return out
