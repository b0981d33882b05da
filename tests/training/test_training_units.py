"""Metrics, calibration, the champion rule, pipelines and contributions on tiny data."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.special import logit

from loan_default.model import InterpolatingCalibrator, ScoringModel
from training.calibration import PD_FLOOR, choose_method, cross_fitted, fit_calibrator
from training.candidates import build_pipeline, fit_params, scoring_estimator
from training.config import TrainingConfig
from training.evaluation import (
    CVResult,
    cross_validate,
    f1_optimal_threshold,
    ks_statistic,
    threshold_metrics,
)
from training.search import sample_settings
from training.selection import choose_champion


def test_ks_is_one_for_a_perfect_ranking_and_zero_for_a_constant() -> None:
    y = np.array([0, 0, 1, 1])
    assert ks_statistic(y, np.array([0.1, 0.2, 0.8, 0.9])) == pytest.approx(1.0)
    assert ks_statistic(y, np.full(4, 0.5)) == pytest.approx(0.0)


def test_threshold_metrics_by_hand() -> None:
    y = np.array([1, 1, 0, 0, 1])
    p = np.array([0.9, 0.4, 0.6, 0.1, 0.7])
    m = threshold_metrics(y, p, 0.5)  # predicted: 1, 0, 1, 0, 1 -> tp 2, fp 1, fn 1
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    # Cutting at 0.4 catches all three defaults with one false alarm: F1 = 6/7, the best.
    assert f1_optimal_threshold(y, p) == pytest.approx(0.4)


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibrators_are_monotone_bounded_and_picklable(method: str) -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 4000)
    y = (rng.uniform(0, 1, 4000) < p**2).astype(int)  # over-confident scores
    cal = fit_calibrator(p, y, method)  # type: ignore[arg-type]
    assert isinstance(cal, InterpolatingCalibrator)
    grid = np.linspace(0, 1, 501)
    out = cal(grid)
    assert np.all(np.diff(out) >= -1e-12)
    # Never a certainty: the lowest scores saw no default, and still get the PD floor, not 0.
    assert out.min() == pytest.approx(PD_FLOOR, rel=0.01) and out.max() <= 1 - PD_FLOOR
    assert np.allclose(pickle.loads(pickle.dumps(cal))(grid), out)
    # Calibrated scores are closer to the truth than the raw ones.
    assert np.mean((cal(p) - y) ** 2) < np.mean((p - y) ** 2)


def test_auto_calibration_reports_both_methods() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, 2000)
    y = (rng.uniform(0, 1, 2000) < p).astype(int)
    method, scores = choose_method(p, y, "auto", seed=0)
    assert set(scores) == {"isotonic", "platt"} and scores[method] == min(scores.values())
    assert len(cross_fitted(p, y, "platt", seed=0)) == len(p)


def test_search_samples_distinct_settings_reproducibly() -> None:
    space: dict[str, list[Any]] = {"a": [1, 2, 3], "b": ["x", "y"]}
    first = sample_settings(space, 4, seed=3)
    assert first == sample_settings(space, 4, seed=3)
    assert len({tuple(sorted(s.items())) for s in first}) == 4
    assert len(sample_settings(space, 50, seed=3)) == 6


def _result(config: TrainingConfig, name: str, aucs: list[float], y: np.ndarray) -> CVResult:
    folds = [{"roc_auc": a, "gini": 0, "ks": 0, "precision": 0, "recall": 0, "f1": 0,
              "brier": 0, "log_loss": 0} for a in aucs]  # fmt: skip
    p = np.full(len(y), y.mean())
    return CVResult(config.candidate(name), {}, folds, p, p, 0.5, 1.0)


def test_champion_rule_paired_one_standard_error_then_simplicity(
    tiny_config: TrainingConfig,
) -> None:
    y = np.array([0, 1] * 10)
    lgbm = _result(tiny_config, "lightgbm", [0.80, 0.81, 0.82], y)
    close = _result(tiny_config, "logistic_regression", [0.805, 0.81, 0.815], y)
    far = _result(tiny_config, "decision_tree", [0.70, 0.71, 0.72], y)
    assert choose_champion([lgbm, close, far], y).name == "logistic_regression"
    assert choose_champion([lgbm, far], y).name == "lightgbm"
    # A small gap on every fold (paired differences) is not a tie, however noisy the folds.
    steady = _result(tiny_config, "logistic_regression", [0.795, 0.804, 0.816], y)
    assert choose_champion([lgbm, steady], y).name == "lightgbm"


def test_among_the_tied_the_lower_calibrated_brier_wins(tiny_config: TrainingConfig) -> None:
    y = np.array([0, 1] * 10)
    lgbm = _result(tiny_config, "lightgbm", [0.80, 0.81, 0.82], y)
    lgbm.calibrated_oof = np.where(y == 1, 0.7, 0.3)  # sharper, accurate probabilities
    close = _result(tiny_config, "logistic_regression", [0.805, 0.81, 0.815], y)
    assert choose_champion([close, lgbm], y).name == "lightgbm"


def test_contributions_sum_to_the_raw_score_for_every_algorithm(
    tiny_config: TrainingConfig, applications: pd.DataFrame
) -> None:
    X = applications.drop(columns=["default"])
    y = applications["default"].to_numpy()
    for cand in tiny_config.candidates:
        if cand.parts:  # a blend: built from its parts (tests/training/test_blend_importance.py)
            continue
        pipeline = build_pipeline(cand, seed=1).fit(X, y, **fit_params(cand))
        features, estimator = scoring_estimator(pipeline)
        model = ScoringModel(features, estimator)
        matrix = features.transform(X.head(40))
        contrib = model.contributions_matrix(matrix)
        assert contrib.shape == (40, len(model.feature_names) + 1)
        raw = model.predict_proba_matrix(matrix)
        log_odds = cand.algorithm.value in ("lightgbm", "logistic_regression", "scorecard")
        expected = logit(raw) if log_odds else raw
        assert np.allclose(contrib.sum(axis=1), expected, atol=1e-6), cand.name


def test_smote_runs_inside_training_folds_only(
    tiny_config: TrainingConfig, applications: pd.DataFrame
) -> None:
    X = applications.drop(columns=["default"])
    y = applications["default"].to_numpy()
    cand = tiny_config.candidate("lightgbm_smote")
    result = cross_validate(cand, X, y, folds=3, seed=1, n_jobs=2)
    assert len(result.oof) == len(y) and np.isfinite(result.oof).all()
    pipeline = build_pipeline(cand, seed=1).fit(X, y)
    # After fitting on resampled rows, scoring never resamples: one probability per input row.
    assert pipeline.predict_proba(X.head(7)).shape == (7, 2)
    _, estimator = scoring_estimator(pipeline)
    assert not any(hasattr(step, "fit_resample") for _, step in estimator.steps)
