"""Principal reasons: which features raised an applicant's risk most, in plain language.

Pure functions over the model's own per-row contributions (``ScoringModel.contributions_matrix``),
so the reasons given are the factors actually scored (US Regulation B asks for at most four).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from loan_default.errors import ConfigError


@dataclass(frozen=True)
class ReasonBook:
    """Plain-language adverse-action reason per model feature (``configs/reasons.yaml``)."""

    reasons: Mapping[str, str]
    source: str = "<memory>"

    @classmethod
    def load(cls, path: str | Path) -> ReasonBook:
        """Read the YAML; ``ConfigError`` naming the file and the bad entry if malformed."""
        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{p}: cannot read adverse-action reasons ({exc})") from None
        reasons = data.get("reasons") if isinstance(data, dict) else None
        if not isinstance(reasons, dict):
            raise ConfigError(f"{p}: expected a mapping 'reasons: {{feature: text}}'")
        for feature, text in reasons.items():
            if not isinstance(text, str) or not text.strip():
                raise ConfigError(f"{p}: reason for {feature!r} must be a non-empty string")
        return cls({str(k): v.strip() for k, v in reasons.items()}, str(p))

    def missing(self, features: Sequence[str]) -> list[str]:
        """Model features without a reason (a model must not be served with any)."""
        return [f for f in features if f not in self.reasons]

    def require(self, features: Sequence[str]) -> None:
        """``ConfigError`` listing the features that have no reason."""
        if absent := self.missing(features):
            raise ConfigError(f"{self.source}: no adverse-action reason for {', '.join(absent)}")


def _value(feature: str, application: Mapping[str, Any], computed: float) -> Any:
    """The applicant's value: as sent for application fields, computed for derived ones."""
    if feature in application:
        value = application[feature]
        return value if isinstance(value, str | bool | int | float) or value is None else str(value)
    return None if np.isnan(computed) else float(computed)


def principal_reasons(
    contributions: np.ndarray,
    features: Sequence[str],
    row: np.ndarray,
    application: Mapping[str, Any],
    book: ReasonBook,
    *,
    limit: int = 4,
) -> list[dict[str, Any]]:
    """Up to ``limit`` features with the largest positive contributions, largest first.

    Args:
        contributions: one row of contributions, ``len(features) + 1`` long (base value last).
        features: model feature names, in model order.
        row: the applicant's model feature values (for derived features' values).
        application: the validated application (for the values of application fields).
        book: the reasons.
        limit: how many reasons at most.
    """
    per_feature = contributions[: len(features)]
    order = np.argsort(-per_feature, kind="stable")[:limit]
    out = []
    for j in order:
        c = float(per_feature[j])
        if c <= 0:
            break
        name = features[j]
        out.append(
            {
                "feature": name,
                "value": _value(name, application, float(row[j])),
                "contribution": c,
                "reason": book.reasons.get(name, name.replace("_", " ")),
            }
        )
    return out


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
