"""Blends, permutation importance per field and the library-output routing, on tiny data."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loan_default.model import ScoringModel
from loan_default.schema import FEATURE_FIELDS
from training.blending import cross_validate_blend, fit_blend
from training.candidates import build_pipeline, fit_params
from training.config import TrainingConfig
from training.evaluation import cross_validate
from training.importance import field_importance, pipeline_predict
from training.output import library_output


@pytest.fixture(scope="module")
def data(applications: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    rows = applications.head(1500)
    return rows.drop(columns=["default"]), rows["default"].to_numpy()


def test_a_blend_averages_its_parts_calibrated_scores(
    tiny_config: TrainingConfig, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, y = data
    parts = [
        cross_validate(tiny_config.candidate(name), X, y, folds=3, seed=3, n_jobs=2)
        for name in ("logistic_regression", "lightgbm")
    ]
    blend_cfg = tiny_config.candidate("blend").model_copy(
        update={"parts": ["logistic_regression", "lightgbm"], "weights": [1.0, 3.0]}
    )
    result = cross_validate_blend(blend_cfg, parts, y, seed=3)
    expected = 0.25 * parts[0].calibrated_oof + 0.75 * parts[1].calibrated_oof
    np.testing.assert_allclose(result.oof, expected)
    assert len(result.folds) == 3
    features, blend = fit_blend(blend_cfg, parts, X, y, seed=3, y_oof=y)
    model = ScoringModel(features, blend)
    p = model.predict_proba(X.head(50))
    assert ((p >= 0) & (p <= 1)).all()
    contrib = model.contributions_matrix(features.transform(X.head(5)))
    assert contrib.shape == (5, len(model.feature_names) + 1)


def test_blend_parts_must_share_folds(
    tiny_config: TrainingConfig, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, y = data
    a = cross_validate(tiny_config.candidate("logistic_regression"), X, y, folds=3, seed=3,
                       n_jobs=1)  # fmt: skip
    b = cross_validate(tiny_config.candidate("decision_tree"), X, y, folds=3, seed=4, n_jobs=1)
    blend_cfg = tiny_config.candidate("blend").model_copy(
        update={"parts": ["logistic_regression", "decision_tree"]}
    )
    with pytest.raises(ValueError, match="same folds"):
        cross_validate_blend(blend_cfg, [a, b], y, seed=3)


def test_importance_is_per_original_field_for_a_one_hot_model(
    tiny_config: TrainingConfig, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, y = data
    cand = tiny_config.candidate("logistic_regression")
    pipeline = build_pipeline(cand, seed=1).fit(X.iloc[:1000], y[:1000], **fit_params(cand))
    shares = field_importance(pipeline_predict(pipeline), X.iloc[1000:], y[1000:], seed=1)
    assert set(shares.index) <= {f.name for f in FEATURE_FIELDS}
    assert shares.sum() == pytest.approx(1.0) and (shares >= 0).all()
    # One field, however many one-hot columns it has, is one entry with a modest share.
    assert shares.get("type_organization", 0.0) < 0.2
    assert shares.head(3).sum() > 0.3


def test_library_output_goes_to_the_run_folder_unless_verbose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "library.log"
    before = (logging.getLogger("mlflow").propagate, list(logging.getLogger("mlflow").handlers))
    with library_output(log, verbose=False):
        logging.getLogger("mlflow.test").warning("a library warning")
        warnings.warn("a python warning", UserWarning, stacklevel=1)
    captured = capsys.readouterr()
    assert "warning" not in captured.err + captured.out
    text = log.read_text()
    assert "a library warning" in text and "a python warning" in text
    with library_output(tmp_path / "verbose.log", verbose=True):
        logging.getLogger("mlflow.test").info("shown when verbose")
    assert "shown when verbose" in capsys.readouterr().err
    after = (logging.getLogger("mlflow").propagate, list(logging.getLogger("mlflow").handlers))
    assert after == before  # restored
