"""FeatureEngineer: each derived feature by hand, the edges, and the two paths agreeing."""

from __future__ import annotations

import math
import pickle
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from loan_default.data.generate import generate_applications
from loan_default.derived import DERIVED, INTERACTIONS
from loan_default.features import FeatureEngineer
from loan_default.schema import DAYS_PER_YEAR, FEATURE_FIELDS, field

RECORD: dict[str, Any] = {
    "client_income": 5000.0,
    "loan_annuity": 1000.0,
    "credit_amount": 20000.0,
    "employed_days": 3652.5,
    "age_days": 36525.0,
    "client_family_members": 4,
    "registration_days": 7305.0,
    "score_source_1": 0.2,
    "score_source_2": None,
    "score_source_3": 0.8,
    "client_education": "graduation",
    "type_organization": "school",
}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_applications(3000, seed=11)


@pytest.fixture(scope="module")
def engineer(frame: pd.DataFrame) -> FeatureEngineer:
    """Without clipping: the derivations themselves, on values beyond the training range too."""
    return FeatureEngineer(min_category_count=20, clip=False).fit(frame)


@pytest.fixture(scope="module")
def clipping(frame: pd.DataFrame) -> FeatureEngineer:
    return FeatureEngineer(min_category_count=20).fit(frame)


def _row(engineer: FeatureEngineer, record: dict[str, Any]) -> dict[str, float]:
    """Both paths, checked equal, as {feature name: value}."""
    fast = engineer.transform_records([record])
    slow = engineer.transform(pd.DataFrame([record]))
    np.testing.assert_array_equal(fast, slow)
    return dict(zip(engineer.feature_names_out_, fast[0], strict=True))


def test_each_derived_feature_matches_a_hand_computation(engineer: FeatureEngineer) -> None:
    out = _row(engineer, RECORD)
    assert out["debt_to_income"] == pytest.approx(1000 / 5000)
    assert out["credit_to_income"] == pytest.approx(20000 / 5000)
    assert out["annuity_to_credit"] == pytest.approx(1000 / 20000)
    assert out["employment_stability"] == pytest.approx(3652.5 / (36525 - 18 * DAYS_PER_YEAR))
    assert out["income_per_family_member"] == pytest.approx(5000 / 4)
    assert out["registration_to_age"] == pytest.approx(7305 / 36525)
    assert out["age_years"] == pytest.approx(100.0)
    assert out["employed_years"] == pytest.approx(10.0)
    assert out["ext_score_mean"] == pytest.approx(0.5)
    assert out["ext_score_min"] == pytest.approx(0.2)
    assert out["ext_score_max"] == pytest.approx(0.8)
    assert out["ext_score_missing"] == 1
    assert out["client_income"] == 5000.0
    assert out["client_education"] == field("client_education").categories.index("graduation")  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", [0.0, -10.0, None])
def test_a_ratio_with_a_zero_negative_or_missing_denominator_is_missing(
    engineer: FeatureEngineer, bad: float | None
) -> None:
    out = _row(engineer, {**RECORD, "client_income": bad, "credit_amount": bad})
    for name in ("debt_to_income", "credit_to_income", "annuity_to_credit"):
        assert math.isnan(out[name]), name
    assert not any(math.isinf(v) for v in out.values())


def test_stability_is_missing_below_adult_age_and_capped_at_one(engineer: FeatureEngineer) -> None:
    young = _row(engineer, {**RECORD, "age_days": 17 * DAYS_PER_YEAR})
    assert math.isnan(young["employment_stability"])
    veteran = _row(engineer, {**RECORD, "age_days": 20 * DAYS_PER_YEAR, "employed_days": 5000.0})
    assert veteran["employment_stability"] == 1.0


def test_all_missing_external_scores(engineer: FeatureEngineer) -> None:
    record = {**RECORD, "score_source_1": None, "score_source_3": None}
    out = _row(engineer, record)
    assert all(math.isnan(out[n]) for n in ("ext_score_mean", "ext_score_min", "ext_score_max"))
    assert out["ext_score_missing"] == 3


def test_the_not_employed_sentinel_is_missing_everywhere(engineer: FeatureEngineer) -> None:
    out = _row(engineer, {**RECORD, "employed_days": 365243.0})
    for name in ("employed_days", "employed_years", "employment_stability"):
        assert math.isnan(out[name]), name


def test_unseen_categories_never_crash(engineer: FeatureEngineer) -> None:
    out = _row(
        engineer,
        {**RECORD, "type_organization": "martian_embassy", "client_education": "wizardry"},
    )
    assert out["type_organization"] == len(engineer.vocabularies_["type_organization"])
    assert math.isnan(out["client_education"])


def test_rare_open_vocabulary_values_are_pooled_with_other() -> None:
    data = pd.DataFrame({"type_organization": ["school"] * 30 + ["bank"] * 5})
    engineer = FeatureEngineer(min_category_count=20).fit(data)
    assert engineer.vocabularies_["type_organization"] == ("school",)
    codes = engineer.transform(pd.DataFrame({"type_organization": ["school", "bank", None]}))
    column = list(engineer.feature_names_out_).index("type_organization")
    np.testing.assert_array_equal(codes[:, column], [0.0, 1.0, np.nan])


def test_transform_and_transform_records_agree_on_generated_data(
    engineer: FeatureEngineer, frame: pd.DataFrame
) -> None:
    records = [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]
    np.testing.assert_array_equal(engineer.transform(frame), engineer.transform_records(records))


def test_absent_columns_and_empty_inputs(engineer: FeatureEngineer) -> None:
    X = engineer.transform(pd.DataFrame({"client_income": [1000.0]}))
    assert X.shape == (1, engineer.n_features_out_)
    assert np.isnan(X[0, 1 : len(FEATURE_FIELDS)]).all()
    assert engineer.transform(pd.DataFrame()).shape == (0, engineer.n_features_out_)
    assert engineer.transform_records([]).shape == (0, engineer.n_features_out_)


def test_pickling_round_trip(engineer: FeatureEngineer, frame: pd.DataFrame) -> None:
    restored = pickle.loads(pickle.dumps(engineer))
    np.testing.assert_array_equal(restored.transform(frame), engineer.transform(frame))
    # A pickle without the derived lookup plan rebuilds it.
    state = dict(vars(engineer))
    state.pop("_plan")
    older = FeatureEngineer.__new__(FeatureEngineer)
    older.__setstate__(state)
    np.testing.assert_array_equal(
        older.transform_records([RECORD]), engineer.transform_records([RECORD])
    )


def test_descriptions_and_constraints_cover_every_column(engineer: FeatureEngineer) -> None:
    info = engineer.feature_info()
    assert [i.name for i in info] == list(engineer.feature_names_out_)
    assert len(engineer.monotone_constraints()) == engineer.n_features_out_
    assert set(engineer.monotone_constraints()) <= {-1, 0, 1}
    assert all(i.description for i in info)
    categorical = [i for i, f in enumerate(info) if f.categorical]
    assert categorical == engineer.categorical_indices_
    derived = [d.name for d in (*DERIVED, *INTERACTIONS)]
    assert derived == list(engineer.feature_names_out_[len(FEATURE_FIELDS) :])


def test_a_scikit_learn_estimator(engineer: FeatureEngineer, frame: pd.DataFrame) -> None:
    copy = clone(engineer)
    assert copy.get_params() == {"min_category_count": 20, "clip": False}
    assert not hasattr(copy, "vocabularies_")
    np.testing.assert_array_equal(copy.fit_transform(frame), engineer.transform(frame))


@pytest.mark.parametrize(
    "change",
    [
        {"client_income": 2.2e-311},  # the fuzzer's find: 61190.55 / 2.2e-311 overflows
        {"client_income": 1e-300},
        {"credit_amount": 1e-320, "loan_annuity": 1e9},
        {"client_income": 0.5, "credit_amount": 0.999},
        {"age_days": 18 * DAYS_PER_YEAR + 1e-9},
    ],
)
def test_a_vanishing_denominator_gives_a_missing_ratio_never_a_huge_one(
    engineer: FeatureEngineer, clipping: FeatureEngineer, change: dict[str, float]
) -> None:
    for fitted in (engineer, clipping):
        out = _row(fitted, {**RECORD, **change})
        assert all(math.isfinite(v) or math.isnan(v) for v in out.values())
        for spec in DERIVED[:6]:
            value = out[spec.name]
            assert math.isnan(value) or abs(value) < 1e6, (spec.name, value)


def test_numeric_inputs_are_clipped_to_the_training_range(
    clipping: FeatureEngineer, frame: pd.DataFrame
) -> None:
    low, high = clipping.clip_range_
    names = list(clipping.feature_names_out_)
    categorical = set(clipping.categorical_indices_)
    assert all(np.isinf(low[i]) and np.isinf(high[i]) for i in categorical)
    numeric = [i for i in range(len(names)) if i not in categorical]
    assert np.isfinite(low[numeric]).all() and (low[numeric] <= high[numeric]).all()
    out = _row(clipping, {**RECORD, "client_income": 1.0, "loan_annuity": 1e9})
    assert out["debt_to_income"] == high[names.index("debt_to_income")]  # 1e9 never seen
    assert out["loan_annuity"] == high[names.index("loan_annuity")]
    assert out["client_income"] == low[names.index("client_income")]
    # Training data is inside its own range: it transforms exactly as without clipping.
    unclipped = FeatureEngineer(min_category_count=20, clip=False).fit(frame)
    np.testing.assert_array_equal(unclipped.transform(frame), clipping.transform(frame))


def test_a_tree_model_is_unchanged_by_the_clipping(
    clipping: FeatureEngineer, frame: pd.DataFrame
) -> None:
    import lightgbm as lgb

    X = clipping.transform(frame)
    model = lgb.LGBMClassifier(n_estimators=20, num_leaves=7, verbose=-1, random_state=0)
    model.fit(X, frame["default"].to_numpy())
    extreme = {**RECORD, "client_income": 1.0, "loan_annuity": 1e9, "credit_amount": 1e9}
    unclipped = FeatureEngineer.__new__(FeatureEngineer)
    unclipped.__setstate__({k: v for k, v in vars(clipping).items() if k != "clip_range_"})
    a = model.predict_proba(clipping.transform_records([extreme]))
    b = model.predict_proba(unclipped.transform_records([extreme]))
    np.testing.assert_allclose(a, b)


def test_a_linear_models_contributions_stay_bounded(
    clipping: FeatureEngineer, frame: pd.DataFrame
) -> None:
    """The fuzzer's other find: a logistic regression's reason "worth" 1e302 log-odds."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from loan_default.contributions import contributions

    X = clipping.transform(frame)
    model = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(max_iter=500),
    ).fit(X, frame["default"].to_numpy())
    seen = np.abs(contributions(model, X)[:, :-1]).max()
    extreme = {**RECORD, "client_income": 1.0, "loan_annuity": 1e9, "credit_amount": 1e9}
    worst = np.abs(contributions(model, clipping.transform_records([extreme]))[:, :-1]).max()
    assert worst <= seen + 1e-9
