"""Feature importance an analyst can read: per original field, the same for every model type.

Permutation importance on rows the model never saw: shuffle one canonical input field (every
derived feature computed from it moves with it, since the FeatureEngineer runs inside the
model), and measure how much the ROC AUC falls. Shares are the positive falls normalised to
sum to 1 (a field whose shuffling does not hurt gets 0). A one-hot logistic regression, a
forest and LightGBM are measured the same way, so no model's bookkeeping (summed one-hot
coefficients, split counts) decides what looks important. A scorecard also reports its
characteristics' information values (``scorecard.csv``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from loan_default.schema import FEATURE_FIELDS

Predict = Callable[[pd.DataFrame], np.ndarray]


MAX_ROWS = 5_000
"""Rows measured at most (a random sample beyond): the cost is fields x repeats predictions."""


def field_importance(
    predict: Predict,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    seed: int,
    repeats: int = 3,
    max_rows: int = MAX_ROWS,
) -> pd.Series:
    """Share of the ROC AUC lost when each canonical field is shuffled (largest first).

    Args:
        predict: P(default) of a canonical frame (a fitted pipeline or ScoringModel).
        X: rows the model did not see in fitting, with labels ``y``.
        seed: the shuffles' seed.
        repeats: shuffles per field (their mean is used).
        max_rows: measure on a random sample of at most this many rows.
    """
    rng = np.random.default_rng(seed)
    if len(X) > max_rows:
        keep = np.sort(rng.choice(len(X), size=max_rows, replace=False))
        X, y = X.iloc[keep], np.asarray(y)[keep]
    base = float(roc_auc_score(y, predict(X)))
    drops: dict[str, float] = {}
    for spec in FEATURE_FIELDS:
        if spec.name not in X.columns:
            continue
        shuffled = X.copy()
        losses = []
        for _ in range(repeats):
            shuffled[spec.name] = X[spec.name].to_numpy()[rng.permutation(len(X))]
            losses.append(base - float(roc_auc_score(y, predict(shuffled))))
        drops[spec.name] = float(np.mean(losses))
    values = pd.Series(drops).clip(lower=0.0)
    total = float(values.sum())
    shares = values / total if total > 0 else values
    return shares.sort_values(ascending=False, kind="stable")


def pipeline_predict(model: object) -> Predict:
    """``predict`` for a fitted pipeline (``predict_proba`` of a frame, column 1)."""

    def predict(frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(model.predict_proba(frame))[:, 1]  # type: ignore[attr-defined]

    return predict
