"""The WoE scorecard: monotone points, the scaling formula, reason codes, no leakage."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedKFold

from loan_default.data.generate import generate_applications
from loan_default.features import FeatureEngineer
from loan_default.model import ScoringModel
from loan_default.schema import LABEL
from loan_default.scorecard import WoEScorecard
from training.candidates import build_pipeline, risk_directions, scoring_estimator
from training.config import TrainingConfig
from training.evaluation import oof_predictions

MONOTONE = {"loan_annuity": 1, "annuity_to_credit": 1}
CONFIG = TrainingConfig.from_dict(
    {
        "folds": 3,
        "candidates": [
            {
                "name": "scorecard",
                "algorithm": "scorecard",
                "imbalance": "none",
                "monotone": MONOTONE,
                "special_codes": {"child_count": [0]},
                "params": {"min_iv": 0.005, "C": 1.0},
            }
        ],
    }
)


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_applications(3000, seed=5)


@pytest.fixture(scope="module")
def fitted(frame: pd.DataFrame) -> ScoringModel:
    cand = CONFIG.candidate("scorecard")
    pipeline = build_pipeline(cand, seed=1).fit(frame.drop(columns=[LABEL]), frame[LABEL])
    features, estimator = scoring_estimator(pipeline)
    assert isinstance(estimator, WoEScorecard)
    return ScoringModel(features, estimator)


def _card(model: ScoringModel) -> WoEScorecard:
    card = model.scorecard()
    assert card is not None
    return card


def test_points_are_monotone_in_every_configured_direction(fitted: ScoringModel) -> None:
    card = _card(fitted)
    directions = risk_directions(MONOTONE)
    checked = 0
    for char, points in zip(card.characteristics_, card.points_, strict=True):
        direction = 0 if char.categorical else directions[char.name]
        ordered = points[: char.n_bins]
        if direction > 0:  # riskier as the value rises: never more points
            assert np.all(np.diff(ordered) <= 1e-12), char.name
            checked += 1
        elif direction < 0:
            assert np.all(np.diff(ordered) >= -1e-12), char.name
            checked += 1
    assert checked >= 3
    assert "debt_to_income" in card.information_values


def test_a_higher_debt_to_income_never_earns_more_points(
    fitted: ScoringModel, frame: pd.DataFrame
) -> None:
    card = _card(fitted)
    applicants = frame.drop(columns=[LABEL]).head(40)
    for _, applicant in applicants.iterrows():
        grid = pd.DataFrame([applicant] * 30)
        grid["loan_annuity"] = np.linspace(1_000, 200_000, 30)  # rising debt-to-income
        scores = card.score(fitted.features.transform(grid))
        assert np.all(np.diff(scores) <= 1e-9)


def test_points_reproduce_the_probability_through_the_scaling(
    fitted: ScoringModel, frame: pd.DataFrame
) -> None:
    card = _card(fitted)
    X = fitted.features.transform(frame.drop(columns=[LABEL]))
    score = card.points(X).sum(axis=1)
    np.testing.assert_allclose(card.probability_of_score(score), card.predict_proba(X)[:, 1],
                               rtol=1e-10)  # fmt: skip
    # 600 points at good:bad odds 19:1 (P(default) = 5%), 20 points double the odds.
    assert card.probability_of_score(np.array([600.0]))[0] == pytest.approx(0.05)
    odds = [(1 - p) / p for p in card.probability_of_score(np.array([600.0, 620.0]))]
    assert odds[1] / odds[0] == pytest.approx(2.0)
    assert card.factor == pytest.approx(20 / math.log(2))


def test_reason_codes_are_the_largest_point_losses(
    fitted: ScoringModel, frame: pd.DataFrame
) -> None:
    from loan_default.attribution import fold_contributions
    from loan_default.reasons import ReasonCode, ReasonCodes, principal_reasons

    card = _card(fitted)
    X = fitted.features.transform(frame.drop(columns=[LABEL]).head(50))
    lost = card.max_points() - card.points(X)
    contributions = fitted.contributions_matrix(X)
    np.testing.assert_allclose(contributions.sum(axis=1), card.decision_function(X), atol=1e-10)
    for k, c in enumerate(card.characteristics_):  # each column: its points lost / factor
        np.testing.assert_allclose(contributions[:, c.column] * card.factor, lost[:, k], atol=1e-9)
    folded = fold_contributions(contributions, X, fitted.feature_names)
    np.testing.assert_allclose(folded.values.sum(axis=1) * card.factor, lost.sum(axis=1))
    codes = ReasonCodes({f: ReasonCode(f, f, f"no {f}") for f in folded.fields}, 0.0)
    for i in range(len(X)):
        reasons = principal_reasons(folded, i, {}, codes)
        expected = [folded.fields[k] for k in np.argsort(-folded.values[i], kind="stable")
                    if folded.values[i, k] > 0][:4]  # fmt: skip
        assert [r["feature"] for r in reasons] == expected  # every field cited: share 0


def test_missing_and_special_values_have_bins_of_their_own(fitted: ScoringModel) -> None:
    card = _card(fitted)
    by_name = {c.name: c for c in card._all}
    children = by_name["child_count"]
    x = np.array([0.0, 1.0, np.nan])
    assert children.bins(x).tolist()[0] == children.n_bins  # special: 0 children
    assert children.bins(x).tolist()[2] == children.n_bins + 1  # missing
    assert children.counts[children.n_bins] > 0


def test_a_fold_that_never_sees_a_category_scores_it_as_missing(frame: pd.DataFrame) -> None:
    X = frame.drop(columns=[LABEL]).reset_index(drop=True)
    y = frame[LABEL].to_numpy()
    splits = list(StratifiedKFold(3, shuffle=True, random_state=CONFIG.seed).split(X, y))
    _, first_validation = splits[0]
    X["client_housing_type"] = "home"
    X.loc[first_validation[:300], "client_housing_type"] = "office"  # only fold 0 sees none
    cand = CONFIG.candidate("scorecard")
    pipeline = build_pipeline(cand, seed=1)
    _, _, fold_model = oof_predictions(pipeline, cand, X, y, folds=3, seed=CONFIG.seed, n_jobs=1)
    features, card = scoring_estimator(fold_model)
    code = float(features.vocabularies_["client_housing_type"].index("office"))
    housing = [c for c in card._all if c.name == "client_housing_type"]
    if housing:  # binned in this fold: "office" is in none of its groups
        assert all(code not in group for group in housing[0].groups)
        assert housing[0].bins(np.array([code]))[0] == housing[0].n_bins + 1
    everything = build_pipeline(cand, seed=1).fit(X, y)
    _, full = scoring_estimator(everything)
    seen = next(c for c in full._all if c.name == "client_housing_type")
    assert any(code in group for group in seen.groups)  # the full fit does see it


def test_one_row_matches_the_batch_and_survives_pickling(
    fitted: ScoringModel, frame: pd.DataFrame
) -> None:
    rows = frame.drop(columns=[LABEL]).head(20)
    batch = fitted.predict_proba(rows)
    copy = pickle.loads(pickle.dumps(fitted))
    records = rows.to_dict("records")
    single = [copy.predict_proba_records([r])[0] for r in records]
    np.testing.assert_allclose(single, batch, rtol=1e-12)
    # Scorecards pickled before the characteristics had a module of their own still load.
    moved = b"loan_default.characteristics\nCharacteristic"
    old = pickle.dumps(fitted, protocol=2).replace(moved, b"loan_default.scorecard\nCharacteristic")
    assert b"loan_default.scorecard\nCharacteristic" in old
    np.testing.assert_allclose(pickle.loads(old).predict_proba(rows), batch, rtol=1e-12)


def test_an_unfitted_feature_list_must_match_the_matrix() -> None:
    with pytest.raises(ValueError, match="names for"):
        WoEScorecard(["a", "b"]).fit(np.zeros((20, 3)), np.array([0, 1] * 10))


def test_scorecard_config_rules() -> None:
    from loan_default.errors import ConfigError

    base = {"candidates": [{"name": "s", "algorithm": "scorecard", "imbalance": "smote"}]}
    with pytest.raises(ConfigError, match="smote"):
        TrainingConfig.from_dict(base)
    bad = {"candidates": [{"name": "l", "algorithm": "logistic_regression",
                           "special_codes": {"child_count": [0]}}]}  # fmt: skip
    with pytest.raises(ConfigError, match="special_codes"):
        TrainingConfig.from_dict(bad)
    blend = {"candidates": [{"name": "b", "algorithm": "blend", "parts": ["x", "y"]}]}
    with pytest.raises(ConfigError, match="blend parts"):
        TrainingConfig.from_dict(blend)


def test_feature_engineer_stays_fitted_per_fold(frame: pd.DataFrame) -> None:
    fe = FeatureEngineer().fit(frame.head(100))
    assert fe.n_features_out_ == len(fe.get_feature_names_out())
