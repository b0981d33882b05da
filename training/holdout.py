"""Every candidate on the hold-out rows: the figures beside its cross-validation.

Each non-blend candidate is fitted once more on the training rows (with its searched
parameters) and scores the hold-out; its probabilities are calibrated by the isotonic map of
its own out-of-fold scores, so Brier scores compare across candidates. A blend combines its
parts' calibrated hold-out probabilities, as in its cross-validation. The figures describe how
each recipe generalises to rows from the same population that no choice was made on; the
champion is still chosen on cross-validation alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from training.blending import weights
from training.calibration import brier, fit_calibrator
from training.candidates import build_pipeline, fit_params
from training.config import Algorithm
from training.evaluation import CVResult


def candidate_holdout(
    results: Sequence[CVResult],
    X: pd.DataFrame,
    y: np.ndarray,
    X_test: pd.DataFrame,
    y_test: np.ndarray,
    *,
    seed: int,
) -> dict[str, dict[str, float]]:
    """``{candidate: {"roc_auc": ..., "brier": ...}}`` on the hold-out rows."""
    calibrated: dict[str, np.ndarray] = {}
    for res in results:
        if res.candidate.algorithm is Algorithm.BLEND:
            continue
        pipeline = build_pipeline(res.candidate, res.params, seed=seed)
        pipeline.fit(X, y, **fit_params(res.candidate))
        raw = np.asarray(pipeline.predict_proba(X_test))[:, 1]
        calibrated[res.name] = fit_calibrator(res.oof, y, "isotonic")(raw)
    for res in results:
        if res.candidate.algorithm is Algorithm.BLEND:
            parts = zip(res.candidate.parts, weights(res.candidate), strict=True)
            calibrated[res.name] = np.sum([w * calibrated[name] for name, w in parts], axis=0)
    return {
        name: {"roc_auc": float(roc_auc_score(y_test, p)), "brier": brier(y_test, p)}
        for name, p in calibrated.items()
    }
