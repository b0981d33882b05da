"""The deployable scoring model: features + estimator + calibration, and the risk bands.

A :class:`ScoringModel` is what training registers and what the service, ``loanctl predict``
and the monitoring load. It scores canonical applications (a DataFrame or dicts) and returns
calibrated default probabilities; for LightGBM it goes straight to the booster on a numpy
matrix (the fast path measured in ``../shared/NOTES.md``), and a single row takes LightGBM's
single-row C path (:mod:`loan_default.single_row`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd

from loan_default.features import FeatureEngineer
from loan_default.schema import RISK_CATEGORIES, RiskCategory
from loan_default.single_row import SingleRowPredictor

SINGLE_ROW_CALLS = 3
"""LightGBM scores up to this many rows one by one through its single-row C path (22 us a
row) rather than ``Booster.predict`` (about 60 us per call before its first row)."""


@dataclass(frozen=True, slots=True)
class RiskThresholds:
    """Bands of default probability: LOW < medium <= MEDIUM < high <= HIGH."""

    medium: float = 0.3
    high: float = 0.7

    def __post_init__(self) -> None:
        if not 0.0 < self.medium < self.high < 1.0:
            raise ValueError(
                f"risk thresholds must satisfy 0 < medium < high < 1, got medium={self.medium}, "
                f"high={self.high}"
            )

    def category(self, probability: float) -> RiskCategory:
        if probability >= self.high:
            return "HIGH"
        if probability >= self.medium:
            return "MEDIUM"
        return "LOW"

    def categories(self, probabilities: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`category` (an array of the category strings)."""
        idx = (probabilities >= self.medium).astype(np.int8) + (probabilities >= self.high)
        return np.asarray(RISK_CATEGORIES, dtype=object)[idx]


class Calibrator(Protocol):
    """Maps the estimator's probability to a calibrated probability, monotonically."""

    def __call__(self, p: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class InterpolatingCalibrator:
    """Piecewise-linear monotone map (e.g. from isotonic regression), applied with np.interp.

    Cheap enough for the serving path (a microsecond), picklable, and it never leaves [0, 1].
    """

    x: np.ndarray
    y: np.ndarray

    def __call__(self, p: np.ndarray) -> np.ndarray:
        return np.interp(p, self.x, self.y)


def _lightgbm_booster(estimator: Any) -> Any | None:
    booster = getattr(estimator, "booster_", None)
    if booster is not None and type(booster).__module__.startswith("lightgbm"):
        return booster
    return None


class ScoringModel:
    """Canonical applications -> calibrated default probabilities.

    Args:
        features: the fitted :class:`FeatureEngineer` of the training pipeline.
        estimator: a fitted binary classifier over ``features``' output (``predict_proba``).
        calibrator: optional monotone map applied to the estimator's probabilities.
        num_threads: LightGBM threads per call; serving workers use 1 (the OpenMP trap in
            NOTES), batch scoring 0 (all cores).
    """

    def __init__(
        self,
        features: FeatureEngineer,
        estimator: Any,
        calibrator: Calibrator | None = None,
        *,
        num_threads: int = 0,
    ) -> None:
        self.features = features
        self.estimator = estimator
        self.calibrator = calibrator
        self.num_threads = num_threads

    @property
    def feature_names(self) -> list[str]:
        return [str(n) for n in self.features.get_feature_names_out()]

    @property
    def algorithm(self) -> str:
        est = self.estimator
        if hasattr(est, "steps"):
            est = est.steps[-1][1]
        return type(est).__name__

    def predict_proba_matrix(self, X: np.ndarray) -> np.ndarray:
        """Calibrated P(default) for a feature matrix from ``self.features``."""
        booster = _lightgbm_booster(self.estimator)
        if booster is not None:
            if 1 <= X.shape[0] <= SINGLE_ROW_CALLS:  # LightGBM's C fast path, row by row
                single = self._single_row(booster)
                raw = np.array([single.raw_score(np.ascontiguousarray(row)) for row in X])
            else:
                raw = booster.predict(X, raw_score=True, num_threads=self.num_threads)
            p = 1.0 / (1.0 + np.exp(-raw))
        else:
            p = self.estimator.predict_proba(X)[:, 1]
        if self.calibrator is not None:
            p = self.calibrator(p)
        return np.asarray(p, dtype=np.float64)

    def scorecard(self) -> Any | None:
        """The :class:`~loan_default.scorecard.WoEScorecard` scoring here (the estimator
        itself or a blend's part), or ``None``."""
        from loan_default.scorecard import WoEScorecard

        for part in getattr(self.estimator, "parts", [self.estimator]):
            if isinstance(part, WoEScorecard):
                return part
        return None

    def _single_row(self, booster: Any) -> SingleRowPredictor:
        predictor: SingleRowPredictor | None = self.__dict__.get("_single")
        if predictor is None:
            predictor = self.__dict__["_single"] = SingleRowPredictor(
                booster, booster.num_feature()
            )
        return predictor

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_single"}  # a C handle

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated P(default) for each row of a canonical DataFrame."""
        return self.predict_proba_matrix(self.features.transform(frame))

    def predict_proba_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Calibrated P(default) for application dicts (the serving fast path)."""
        return self.predict_proba_matrix(self.features.transform_records(records))

    def contributions_matrix(self, X: np.ndarray) -> np.ndarray:
        """Per-row contributions of each feature to the model's raw score.

        Returns an ``(n, n_features + 1)`` array whose last column is the base value; a row
        sums to :meth:`raw_score_matrix` (the score before calibration). Positive values push
        towards default. Units are log-odds for LightGBM, logistic regression and scorecards,
        probability for trees, forests (path attribution) and blends; see
        :mod:`loan_default.contributions`.

        Raises:
            TypeError: the estimator is of a kind that cannot be explained.
        """
        booster = _lightgbm_booster(self.estimator)
        if booster is not None:
            return np.asarray(
                booster.predict(X, pred_contrib=True, num_threads=self.num_threads),
                dtype=np.float64,
            )
        from loan_default.contributions import contributions

        return contributions(self.estimator, X, num_threads=self.num_threads)

    def raw_score_matrix(self, X: np.ndarray) -> np.ndarray:
        """The raw score the contributions explain: the estimator's margin before this model's
        calibration (log-odds, or a probability for trees, forests and blends)."""
        from loan_default.contributions import raw_scores

        return raw_scores(self.estimator, X, num_threads=self.num_threads)
