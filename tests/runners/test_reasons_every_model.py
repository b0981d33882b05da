"""Reason codes hold up for every model type training can register (issue 11, item 5).

For each algorithm of ``training.candidates`` (scorecard, logistic regression, decision tree,
random forest, LightGBM with and without SMOTE's imputer) and a blend of a scorecard and
LightGBM, trained on tiny generated data with a calibration map on top, and for random
applications (hypothesis: fields taken from generated rows, any optional field left out):

* the contributions plus the base value reproduce the model's raw score (its margin before
  calibration), and that raw score is the estimator's own (its link gives ``predict_proba``);
* folded per application field they still do;
* each reason the explainer gives is a field the model actually scored, with a positive
  (adverse) folded contribution, cited once; a field the applicant did not give only with its
  "missing" statement and only when that contribution is material; and the reasons are the
  largest eligible contributions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loan_default.attribution import fold_contributions
from loan_default.blend import BlendEstimator
from loan_default.contributions import probability_of_raw
from loan_default.data.generate import generate_applications
from loan_default.derived import feature_sources
from loan_default.model import ScoringModel
from loan_default.reasons import reason_codes
from loan_default.schema import FEATURE_FIELDS, LABEL, frame_to_records
from loan_default.store import LoadedModel, ModelMetadata
from runners.explainer import ExplainerCore
from training.calibration import fit_calibrator
from training.candidates import build_pipeline, fit_params, scoring_estimator
from training.config import TrainingConfig

CANDIDATES: dict[str, dict[str, Any]] = {
    "scorecard": {"algorithm": "scorecard", "params": {"max_n_bins": 4}},
    "logistic_regression": {"algorithm": "logistic_regression", "imbalance": "class_weight"},
    "decision_tree": {"algorithm": "decision_tree", "params": {"min_samples_leaf": 20}},
    "random_forest": {"algorithm": "random_forest",
                      "params": {"n_estimators": 15, "max_depth": 6, "max_samples": 0.5}},
    "lightgbm": {"algorithm": "lightgbm", "params": {"n_estimators": 40, "min_child_samples": 20,
                                                     "min_data_per_group": 20}},
    "lightgbm_smote": {"algorithm": "lightgbm", "imbalance": "smote",
                       "params": {"n_estimators": 30, "min_child_samples": 20}},
}  # fmt: skip
KINDS = [*CANDIDATES, "blend"]
PROPERTY = settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
CODES = reason_codes()
OPTIONAL = [f.name for f in FEATURE_FIELDS if not f.required]


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return generate_applications(1200, seed=5)


@pytest.fixture(scope="module")
def pool(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame_to_records(frame.drop(columns=[LABEL]).tail(200))


@pytest.fixture(scope="module")
def fitted(frame: pd.DataFrame) -> dict[str, ScoringModel]:
    train = frame.head(1000)
    X, y = train.drop(columns=[LABEL]), train[LABEL].to_numpy()
    config = TrainingConfig.from_dict(
        {"candidates": [{"name": name, **spec} for name, spec in CANDIDATES.items()]}
    )
    models: dict[str, ScoringModel] = {}
    parts, calibrators = [], []
    for name in CANDIDATES:
        cand = config.candidate(name)
        pipeline = build_pipeline(cand, seed=1).fit(X, y, **fit_params(cand))
        features, estimator = scoring_estimator(pipeline)
        p = estimator.predict_proba(features.transform(X))[:, 1]
        calibrator = fit_calibrator(p, y, "isotonic")
        models[name] = ScoringModel(features, estimator, calibrator)
        if name in ("scorecard", "lightgbm"):
            parts.append(estimator)
            calibrators.append(calibrator)
    blend = BlendEstimator(parts, calibrators, [0.4, 0.6], ["scorecard", "lightgbm"])
    p = blend.predict_proba(models["lightgbm"].features.transform(X))[:, 1]
    models["blend"] = ScoringModel(
        models["lightgbm"].features, blend, fit_calibrator(p, y, "platt")
    )
    return models


def _explainer(model: ScoringModel, kind: str) -> ExplainerCore:
    meta = ModelMetadata(version=f"v{kind}", algorithm=model.algorithm,
                         created_at=datetime.now(UTC), feature_names=model.feature_names,
                         data_hash="0" * 64, data_rows=1000)  # fmt: skip
    return ExplainerCore(LoadedModel(model, meta, Path()), CODES)


@st.composite
def applications(draw: st.DrawFn, pool: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """1-3 applications: each field's value from any pool row, optional fields maybe left out."""
    out = []
    for _ in range(draw(st.integers(1, 3))):
        rows = draw(st.lists(st.integers(0, len(pool) - 1), min_size=len(FEATURE_FIELDS),
                             max_size=len(FEATURE_FIELDS)))  # fmt: skip
        dropped = draw(st.sets(st.sampled_from(OPTIONAL)))
        app = {}
        for spec, r in zip(FEATURE_FIELDS, rows, strict=True):
            value = pool[r].get(spec.name)
            if value is None and spec.required:
                value = pool[0][spec.name]
            if value is not None and spec.name not in dropped:
                app[spec.name] = value
        out.append(app)
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_reasons_are_scored_factors_that_add_up_to_the_raw_score(
    kind: str, fitted: dict[str, ScoringModel], pool: list[dict[str, Any]]
) -> None:
    model = fitted[kind]
    explainer = _explainer(model, kind)
    sources = feature_sources()
    names = model.feature_names

    @PROPERTY
    @given(apps=applications(pool))
    def check(apps: list[dict[str, Any]]) -> None:
        X = model.features.transform_records(apps)
        raw = model.raw_score_matrix(X)
        # The raw score is the estimator's own margin: its link gives predict_proba, and the
        # model's calibration map of that is the served probability.
        p = model.estimator.predict_proba(X)[:, 1]
        np.testing.assert_allclose(probability_of_raw(model.estimator, raw), p, atol=1e-9)
        assert model.calibrator is not None
        np.testing.assert_allclose(model.predict_proba_matrix(X), model.calibrator(p), atol=1e-9)
        contributions = model.contributions_matrix(X)
        np.testing.assert_allclose(contributions.sum(axis=1), raw, atol=1e-6)
        folded = fold_contributions(contributions, X, names)
        np.testing.assert_allclose(folded.values.sum(axis=1) + folded.base, raw, atol=1e-6)
        answers = explainer.explain(apps)
        for i, (app, answer) in enumerate(zip(apps, answers, strict=True)):
            assert answer["base_value"] == pytest.approx(contributions[i, -1])
            reasons = answer["reasons"]
            values = folded.values[i]
            adverse = values[values > 0].sum()
            floor = CODES.missing_material_share * adverse
            cited = [r["feature"] for r in reasons]
            assert len(cited) == len(set(cited)) <= 4
            assert [r["contribution"] for r in reasons] == sorted(
                (r["contribution"] for r in reasons), reverse=True
            )
            for r in reasons:
                k = folded.fields.index(r["feature"])
                assert r["contribution"] > 0 and r["contribution"] == pytest.approx(values[k])
                scored = [j for j, n in enumerate(names) if r["feature"] in sources[n]]
                assert np.any(contributions[i, scored] != 0)  # a factor the model scored
                code = CODES.codes[r["feature"]]
                if r["feature"] in app:
                    assert (r["value"], r["reason"]) == (app[r["feature"]], code.reason)
                else:  # never given: only as missing, only when material
                    assert (r["value"], r["reason"]) == (None, code.missing)
                    assert r["contribution"] >= floor
            eligible = sorted(
                (values[k] for k, f in enumerate(folded.fields)
                 if values[k] > 0 and (folded.given[i, k] or values[k] >= floor)),
                reverse=True,
            )[:4]  # fmt: skip
            assert [r["contribution"] for r in reasons] == pytest.approx(eligible)

    check()
