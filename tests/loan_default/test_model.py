"""ScoringModel and RiskThresholds: bands at the boundaries, both scoring paths agree."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from loan_default.data.generate import generate_applications
from loan_default.features import FeatureEngineer
from loan_default.model import (
    SINGLE_ROW_CALLS,
    InterpolatingCalibrator,
    RiskThresholds,
    ScoringModel,
)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_applications(1500, seed=21)


@pytest.fixture(scope="module")
def features(frame: pd.DataFrame) -> FeatureEngineer:
    return FeatureEngineer().fit(frame)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {str(k): v for k, v in r.items()}
        for r in frame.drop(columns=["default"]).to_dict("records")
    ]


@pytest.fixture(scope="module")
def lightgbm_model(frame: pd.DataFrame, features: FeatureEngineer) -> ScoringModel:
    estimator = lgb.LGBMClassifier(n_estimators=20, num_leaves=7, random_state=0, verbose=-1)
    estimator.fit(features.transform(frame), frame["default"])
    return ScoringModel(features, estimator, num_threads=1)


@pytest.fixture(scope="module")
def logistic_model(frame: pd.DataFrame, features: FeatureEngineer) -> ScoringModel:
    estimator = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(max_iter=500),
    )
    estimator.fit(features.transform(frame), frame["default"])
    return ScoringModel(features, estimator)


@pytest.mark.parametrize(
    ("probability", "category"),
    [
        (0.0, "LOW"),
        (0.2999, "LOW"),
        (0.3, "MEDIUM"),
        (0.6999, "MEDIUM"),
        (0.7, "HIGH"),
        (1.0, "HIGH"),
    ],
)
def test_risk_bands_at_the_exact_boundaries(probability: float, category: str) -> None:
    thresholds = RiskThresholds()
    assert thresholds.category(probability) == category
    assert thresholds.categories(np.array([probability])).tolist() == [category]


@pytest.mark.parametrize(("medium", "high"), [(0.7, 0.3), (0.5, 0.5), (0.0, 0.5), (0.3, 1.0)])
def test_invalid_thresholds_are_refused(medium: float, high: float) -> None:
    with pytest.raises(ValueError, match=f"medium={medium}, high={high}"):
        RiskThresholds(medium=medium, high=high)


def test_custom_thresholds_vectorised_like_one_by_one() -> None:
    thresholds = RiskThresholds(medium=0.1, high=0.2)
    p = np.linspace(0, 1, 101)
    assert thresholds.categories(p).tolist() == [thresholds.category(x) for x in p]


@pytest.mark.parametrize("name", ["lightgbm_model", "logistic_model"])
def test_frame_and_records_paths_give_the_same_probabilities(
    name: str, frame: pd.DataFrame, request: pytest.FixtureRequest
) -> None:
    model: ScoringModel = request.getfixturevalue(name)
    sample = frame.head(200)
    from_frame = model.predict_proba(sample)
    from_records = model.predict_proba_records(_records(sample))
    if name == "lightgbm_model":
        np.testing.assert_array_equal(from_frame, from_records)
    else:  # same matrix (test_features), but BLAS sums C- and F-ordered rows in another order
        np.testing.assert_allclose(from_frame, from_records, rtol=1e-12, atol=0)
    expected = model.estimator.predict_proba(model.features.transform(sample))[:, 1]
    np.testing.assert_allclose(from_frame, expected, rtol=1e-9)
    assert ((from_frame > 0) & (from_frame < 1)).all()


def test_algorithm_and_feature_names(
    lightgbm_model: ScoringModel, logistic_model: ScoringModel
) -> None:
    assert lightgbm_model.algorithm == "LGBMClassifier"
    assert logistic_model.algorithm == "LogisticRegression"
    assert lightgbm_model.feature_names == list(lightgbm_model.features.feature_names_out_)


def test_lightgbm_contributions_sum_to_the_raw_score(
    lightgbm_model: ScoringModel, frame: pd.DataFrame
) -> None:
    X = lightgbm_model.features.transform(frame.head(20))
    contributions = lightgbm_model.contributions_matrix(X)
    assert contributions.shape == (20, X.shape[1] + 1)
    p = 1 / (1 + np.exp(-contributions.sum(axis=1)))
    np.testing.assert_allclose(p, lightgbm_model.predict_proba_matrix(X), rtol=1e-9)


def test_interpolating_calibrator_is_monotone_and_bounded(
    lightgbm_model: ScoringModel, frame: pd.DataFrame
) -> None:
    raw = lightgbm_model.predict_proba(frame)
    isotonic = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(raw, frame["default"])
    calibrator = InterpolatingCalibrator(isotonic.X_thresholds_, isotonic.y_thresholds_)
    grid = np.linspace(-0.5, 1.5, 2001)
    mapped = calibrator(grid)
    assert (np.diff(mapped) >= 0).all()
    assert mapped.min() >= 0 and mapped.max() <= 1
    calibrated = ScoringModel(lightgbm_model.features, lightgbm_model.estimator, calibrator)
    np.testing.assert_allclose(calibrated.predict_proba(frame), calibrator(raw))
    np.testing.assert_allclose(
        calibrated.predict_proba_records(_records(frame.head(5))), calibrator(raw[:5])
    )


def test_single_rows_take_the_c_fast_path_with_the_same_answers(
    lightgbm_model: ScoringModel, frame: pd.DataFrame
) -> None:
    records = _records(frame.head(50))
    together = lightgbm_model.predict_proba_records(records)
    one_by_one = [lightgbm_model.predict_proba_records([r])[0] for r in records]
    np.testing.assert_allclose(one_by_one, together, rtol=1e-12, atol=0)
    for n in range(2, SINGLE_ROW_CALLS + 1):  # a few rows: the fast path row by row
        few = lightgbm_model.predict_proba_records(records[:n])
        np.testing.assert_allclose(few, together[:n], rtol=1e-12, atol=0)
    assert "_single" in lightgbm_model.__dict__  # the single-row predictor was used


def test_single_row_predictor_matches_the_booster_in_every_thread(
    lightgbm_model: ScoringModel, frame: pd.DataFrame
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from loan_default.single_row import SingleRowPredictor

    booster = lightgbm_model.estimator.booster_
    X = lightgbm_model.features.transform(frame.head(40))
    expected = booster.predict(X, raw_score=True, num_threads=1)
    predictor = SingleRowPredictor(booster, X.shape[1])
    rows = [np.ascontiguousarray(row) for row in X]
    with ThreadPoolExecutor(4) as pool:  # one prepared configuration per thread
        got = list(pool.map(predictor.raw_score, rows))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="contiguous float64 row"):
        predictor.raw_score(X[0, :-1].copy())
    predictor.close()
    assert predictor.raw_score(rows[0]) == pytest.approx(expected[0], rel=1e-12)  # re-prepared
    predictor.close()


def test_pickling_drops_the_single_row_handle(lightgbm_model: ScoringModel) -> None:
    import pickle

    lightgbm_model.predict_proba_records([{"client_income": 5000.0}])
    copy = pickle.loads(pickle.dumps(lightgbm_model))
    assert "_single" not in copy.__dict__
    assert copy.predict_proba_records([{"client_income": 5000.0}])[0] == pytest.approx(
        lightgbm_model.predict_proba_records([{"client_income": 5000.0}])[0], rel=1e-12
    )
