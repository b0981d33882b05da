"""Behavioural tests of the model: invariance, direction, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loan_default.model import ScoringModel
from training.candidates import build_pipeline, fit_params, scoring_estimator
from training.config import TrainingConfig


def _fit(config: TrainingConfig, name: str, frame: pd.DataFrame, seed: int = 3) -> ScoringModel:
    cand = config.candidate(name)
    X, y = frame.drop(columns=["default"]), frame["default"].to_numpy()
    pipeline = build_pipeline(cand, seed=seed).fit(X, y, **fit_params(cand))
    return ScoringModel(*scoring_estimator(pipeline))


@pytest.fixture(scope="module")
def lightgbm(tiny_config: TrainingConfig, applications: pd.DataFrame) -> ScoringModel:
    return _fit(tiny_config, "lightgbm", applications)


@pytest.mark.parametrize("name", ["lightgbm", "logistic_regression", "random_forest"])
def test_id_and_gender_never_change_the_score(
    tiny_config: TrainingConfig, applications: pd.DataFrame, name: str
) -> None:
    model = _fit(tiny_config, name, applications)
    rows = applications.drop(columns=["default"]).head(200)
    base = model.predict_proba(rows)
    other = rows.assign(
        application_id=[f"someone-else-{i}" for i in range(len(rows))],
        client_gender=rows["client_gender"].map({"male": "female", "female": "male"}),
    )
    np.testing.assert_array_equal(model.predict_proba(other), base)
    np.testing.assert_array_equal(model.predict_proba(rows.assign(client_gender=None)), base)


def test_higher_debt_to_income_never_lowers_risk(
    lightgbm: ScoringModel, applications: pd.DataFrame
) -> None:
    rows = applications.drop(columns=["default"]).head(100)
    annuities = np.linspace(0.0, 2.0, 21)  # instalment as a share of the fixed income
    scores = np.column_stack(
        [
            lightgbm.predict_proba(rows.assign(loan_annuity=rows["client_income"] * share))
            for share in annuities
        ]
    )
    assert (np.diff(scores, axis=1) >= -1e-12).all()
    assert (scores[:, -1] > scores[:, 0]).mean() > 0.5  # and it does move


def test_predictions_are_deterministic_for_a_seed(
    tiny_config: TrainingConfig, applications: pd.DataFrame, lightgbm: ScoringModel
) -> None:
    rows = applications.drop(columns=["default"]).head(300)
    for name, model in (
        ("lightgbm", lightgbm),
        ("random_forest", _fit(tiny_config, "random_forest", applications)),
    ):
        again = _fit(tiny_config, name, applications)
        np.testing.assert_array_equal(again.predict_proba(rows), model.predict_proba(rows))
