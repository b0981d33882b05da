"""Blend candidates: the weighted mean of other candidates' calibrated scores.

A blend is judged like any candidate, on the same folds: its out-of-fold probability is the
weighted mean of its parts' cross-fitted calibrated out-of-fold probabilities (each row's
calibration map was fitted without that row, so nothing leaks). It enters the champion rule as
the most complex algorithm, so it wins only when it beats every simpler candidate by more than
one standard error of the paired fold differences.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from loan_default.blend import BlendEstimator
from loan_default.features import FeatureEngineer
from training.calibration import fit_calibrator
from training.candidates import build_pipeline, fit_params, scoring_estimator
from training.config import CandidateConfig
from training.decision import DecisionRules
from training.evaluation import CVResult, result_from_oof


def weights(cand: CandidateConfig) -> list[float]:
    """The blend's weights, normalised (equal when none are configured)."""
    raw = cand.weights or [1.0] * len(cand.parts)
    total = float(sum(raw))
    return [float(w) / total for w in raw]


def cross_validate_blend(
    cand: CandidateConfig,
    parts: Sequence[CVResult],
    y: np.ndarray,
    *,
    seed: int,
    decision: DecisionRules | None = None,
) -> CVResult:
    """A blend's CV result from its parts' results (no model is fitted)."""
    fold_of = parts[0].fold_of
    if fold_of is None or any(
        p.fold_of is None or not np.array_equal(p.fold_of, fold_of) for p in parts
    ):
        raise ValueError(f"{cand.name}: the parts were not cross-validated on the same folds")
    oof = np.zeros(len(y))
    for part, w in zip(parts, weights(cand), strict=True):
        oof += w * part.calibrated_oof
    result = result_from_oof(cand, oof, fold_of, y, seed=seed, decision=decision)
    result.seconds = sum(p.seconds for p in parts)
    shares = [p.importance for p in parts if p.importance is not None]
    if len(shares) == len(parts):
        table = pd.concat(shares, axis=1).fillna(0.0)
        result.importance = (table * weights(cand)).sum(axis=1).sort_values(ascending=False)
    return result


def fit_blend(
    cand: CandidateConfig,
    parts: Sequence[CVResult],
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    seed: int,
    y_oof: np.ndarray,
) -> tuple[FeatureEngineer, BlendEstimator]:
    """Fit every part on ``X`` and join them, each calibrated on its out-of-fold scores
    (whose labels are ``y_oof``: the training rows, also when ``X`` is every row)."""
    features: FeatureEngineer | None = None
    estimators, calibrators = [], []
    for part in parts:
        pipeline = build_pipeline(part.candidate, part.params, seed=seed)
        pipeline.fit(X, y, **fit_params(part.candidate))
        fe, estimator = scoring_estimator(pipeline)
        if features is None:
            features = fe
        elif fe.vocabularies_ != features.vocabularies_:  # same rows, same code: never
            raise RuntimeError(f"{cand.name}: the parts' feature vocabularies differ")
        estimators.append(estimator)
        calibrators.append(fit_calibrator(part.oof, y_oof, "isotonic"))
    assert features is not None
    blend = BlendEstimator(estimators, calibrators, weights(cand), [p.name for p in parts])
    return features, blend
