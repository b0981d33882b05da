"""A blend of calibrated models over one feature matrix (e.g. a scorecard and LightGBM).

Each part is an estimator with its own calibration map; the blend's probability is the
weighted mean of the parts' calibrated probabilities (and the registered
:class:`~loan_default.model.ScoringModel` calibrates the blend once more, as for any model).

Reason codes come from the parts: the per-feature contributions of each part (log-odds, the
scorecard's as losses against its best bins, LightGBM's from ``pred_contrib``) are weighted by
the part's weight and summed. The weighted sum is the blend's raw log-odds only approximately
(the blend averages calibrated probabilities, not log-odds), so the blend's ``base_value`` is
the weighted mean of the parts' base values and the reasons rank the features that raised the
parts' scores most, weighted as the blend weights them.
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
        """The parts' per-feature contributions weighted by the blend weights (base last)."""
        from loan_default.contributions import contributions

        out = np.zeros((X.shape[0], X.shape[1] + 1))
        for part, w in zip(self.parts, self.weights, strict=True):
            out += w * contributions(part, X, num_threads=num_threads)
        return out
