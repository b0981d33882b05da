"""Calibration of default probabilities (isotonic or Platt) as a picklable monotone map.

The risk categories (LOW < 0.3 <= MEDIUM < 0.7 <= HIGH) are cut on probabilities, so they must
mean what they say, whatever class weights or SMOTE did to the raw scores. The map is fitted on
out-of-fold predictions (never on rows the model was fitted on) and stored as a
:class:`~loan_default.model.InterpolatingCalibrator`: isotonic regression's own breakpoints, or
Platt's sigmoid sampled on a dense logit grid (error below 1e-5), so the served model needs
nothing but numpy to apply it.

Both maps stay within ``[PD_FLOOR, 1 - PD_FLOOR]``: an isotonic step over a score range with no
observed default would otherwise say 0, a certainty no lender's data supports (and a log-odds of
minus infinity for anything that takes one). The floor is the Basel retail PD floor, 5 basis
points.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.special import expit, logit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from loan_default.model import InterpolatingCalibrator

Method = Literal["isotonic", "platt"]
_EPS = 1e-6
PD_FLOOR = 0.0005
_GRID = expit(np.linspace(-14.0, 14.0, 4001))


def _platt(p: np.ndarray, y: np.ndarray) -> InterpolatingCalibrator:
    z = logit(np.clip(p, _EPS, 1 - _EPS)).reshape(-1, 1)
    fit = LogisticRegression(C=1e6, max_iter=1000).fit(z, y)
    a, b = float(fit.coef_[0, 0]), float(fit.intercept_[0])
    x = np.concatenate(([0.0], _GRID, [1.0]))
    y_grid = expit(a * logit(np.clip(x, _EPS, 1 - _EPS)) + b)
    bounded = np.clip(np.maximum.accumulate(y_grid), PD_FLOOR, 1 - PD_FLOOR)
    return InterpolatingCalibrator(x=x, y=bounded)


def _isotonic(p: np.ndarray, y: np.ndarray) -> InterpolatingCalibrator:
    iso = IsotonicRegression(y_min=PD_FLOOR, y_max=1 - PD_FLOOR, out_of_bounds="clip").fit(p, y)
    x, fitted = iso.X_thresholds_, iso.y_thresholds_
    if len(x) < 2:  # constant predictions: one level
        level = float(np.clip(np.mean(y), PD_FLOOR, 1 - PD_FLOOR))
        x, fitted = np.array([0.0, 1.0]), np.repeat(level, 2)
    return InterpolatingCalibrator(x=np.asarray(x, float), y=np.asarray(fitted, float))


def fit_calibrator(p: np.ndarray, y: np.ndarray, method: Method) -> InterpolatingCalibrator:
    """Fit the monotone map from raw probabilities ``p`` to observed defaults ``y``."""
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    return _isotonic(p, y) if method == "isotonic" else _platt(p, y)


def cross_fitted(
    p: np.ndarray, y: np.ndarray, method: Method, *, folds: int = 5, seed: int = 0
) -> np.ndarray:
    """Calibrated probabilities where each row's map was fitted without that row.

    Used to judge a calibration method and to compare candidates on calibrated scores
    without the optimism of fitting and scoring the same rows.
    """
    out = np.empty(len(p), dtype=np.float64)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit_idx, apply_idx in splitter.split(p.reshape(-1, 1), y):
        out[apply_idx] = fit_calibrator(p[fit_idx], y[fit_idx], method)(p[apply_idx])
    return out


def brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((np.asarray(p, float) - y) ** 2))


def choose_method(
    p: np.ndarray, y: np.ndarray, requested: Literal["isotonic", "platt", "auto"], *, seed: int
) -> tuple[Method, dict[str, float]]:
    """The method to use and the cross-fitted Brier score of each one tried."""
    methods: tuple[Method, ...] = ("isotonic", "platt") if requested == "auto" else (requested,)
    scores: dict[str, float] = {m: brier(y, cross_fitted(p, y, m, seed=seed)) for m in methods}
    best = min(methods, key=lambda m: scores[m])
    return best, scores
