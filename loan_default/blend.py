"""A blend of calibrated models over one feature matrix (e.g. a scorecard and LightGBM).

Each part is an estimator with its own calibration map; the blend's probability is the
weighted mean of the parts' calibrated probabilities (and the registered
:class:`~loan_default.model.ScoringModel` calibrates the blend once more, as for any model).

Reason codes come from the parts, exactly: the blend's raw score is its probability
``sum_k w_k cal_k(p_k(z_k))`` (``z_k`` a part's raw score, ``p_k`` its link: the logistic
function for log-odds parts, the identity for forests). Each part's contributions ``phi_kj``
(summing to ``z_k - b_k`` over its base value ``b_k``) are rescaled by the secant
``s_k = (cal_k(p_k(z_k)) - cal_k(p_k(b_k))) / (z_k - b_k)``, never negative because both maps are
monotone, so every contribution keeps its sign, and summed with the blend weights; the base value
is ``sum_k w_k cal_k(p_k(b_k))``. Rows then sum to the blend's probability exactly (units:
probability), and a feature ranks as high as it moved the parts' calibrated probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from loan_default.model import Calibrator


class BlendEstimator:
    """Weighted mean of calibrated part probabilities.

    Args:
        parts: fitted estimators over the same feature matrix (``predict_proba``).
        calibrators: one monotone map per part (its out-of-fold calibration).
        weights: one weight per part, summing to 1.
        names: the candidate name of each part (reports, metadata).
    """

    def __init__(
        self,
        parts: Sequence[Any],
        calibrators: Sequence[Calibrator],
        weights: Sequence[float],
        names: Sequence[str],
    ) -> None:
        if not len(parts) == len(calibrators) == len(weights) == len(names) >= 2:
            raise ValueError("a blend needs two or more parts, each with a calibrator and weight")
        total = float(sum(weights))
        self.parts = list(parts)
        self.calibrators = list(calibrators)
        self.weights = [float(w) / total for w in weights]
        self.names = list(names)
        self.classes_ = np.array([0, 1])

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = np.zeros(X.shape[0])
        for part, calibrate, w in zip(self.parts, self.calibrators, self.weights, strict=True):
            p += w * calibrate(part.predict_proba(X)[:, 1])
        return np.column_stack([1.0 - p, p])

    def contributions(self, X: np.ndarray, *, num_threads: int = 0) -> np.ndarray:
        """Per-feature contributions to the blend's probability, base value last (rows sum to
        ``predict_proba(X)[:, 1]``; the rescaling is in the module docstring)."""
        from loan_default.contributions import contributions, probability_of_raw

        out = np.zeros((X.shape[0], X.shape[1] + 1))
        parts = zip(self.parts, self.calibrators, self.weights, strict=True)
        for part, calibrate, w in parts:
            phi = contributions(part, X, num_threads=num_threads)
            base = phi[:, -1]
            raw = phi.sum(axis=1)
            p = calibrate(probability_of_raw(part, raw))
            p0 = calibrate(probability_of_raw(part, base))
            moved = raw - base
            close = np.abs(moved) < 1e-12
            scale = np.where(close, 0.0, (p - p0) / np.where(close, 1.0, moved))
            out[:, :-1] += w * phi[:, :-1] * scale[:, None]
            out[:, -1] += w * p0
        return out
