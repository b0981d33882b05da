"""Training metrics: one typed naming, flat for MLflow, and old flat metadata still read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from loan_default.api import ModelInfo
from loan_default.store import ModelMetadata
from loan_default.training_metrics import Spread, TrainingMetrics

METRICS = TrainingMetrics(
    cv={"roc_auc": Spread(mean=0.78, std=0.01), "brier": Spread(mean=0.09, std=0.002)},
    folds=5,
    holdout={"roc_auc": 0.77, "brier": 0.071},
    holdout_rows=2000,
    decision_threshold=0.21,
    calibration_brier=0.072,
)


def test_flat_names_round_trip() -> None:
    flat = METRICS.flat()
    assert flat["roc_auc_mean"] == 0.78 and flat["roc_auc_std"] == 0.01
    assert flat["holdout_roc_auc"] == 0.77 and flat["threshold"] == 0.21
    assert TrainingMetrics.from_flat(flat) == METRICS


def test_metadata_written_as_a_flat_dict_is_still_read() -> None:
    legacy = {  # what training stored before the metrics were typed
        "roc_auc_mean": 0.8, "roc_auc_std": 0.02, "roc_auc_se": 0.009, "ks_mean": 0.45,
        "threshold": 0.3, "seconds": 12.5, "calibration_brier": 0.07, "holdout_roc_auc": 0.79,
        "auc": 0.5,
    }  # fmt: skip
    meta = ModelMetadata.model_validate(
        {"version": "v1", "algorithm": "LGBMClassifier", "created_at": datetime.now(UTC),
         "feature_names": ["x"], "data_hash": "h", "data_rows": 1, "training_metrics": legacy}
    )  # fmt: skip
    read = meta.training_metrics
    assert read.cv["roc_auc"] == Spread(mean=0.8, std=0.02)
    assert read.cv["ks"] == Spread(mean=0.45, std=None)
    assert read.holdout == {"roc_auc": 0.79}
    assert (read.decision_threshold, read.calibration_brier) == (0.3, 0.07)
    assert read.other == {"auc": 0.5}  # kept, not dropped
    stored = meta.model_dump(mode="json")["training_metrics"]
    assert TrainingMetrics.model_validate(stored) == read  # and the new form reads back


def test_the_baseline_is_the_holdout_figure_when_there_is_one() -> None:
    assert METRICS.baseline("roc_auc") == 0.77
    assert TrainingMetrics(cv={"ks": Spread(mean=0.4)}).baseline("ks") == 0.4
    assert METRICS.baseline("log_loss") is None


def test_unknown_sections_are_refused() -> None:
    with pytest.raises(ValidationError):
        TrainingMetrics.model_validate({"cv": {}, "test": {"roc_auc": 0.7}})


def test_the_metadata_page_says_what_the_figures_are() -> None:
    field = ModelInfo.model_json_schema()["properties"]["training_metrics"]
    text = str(ModelInfo.model_fields["training_metrics"].description)
    assert "cross-validation" in text and "held-out test split" in text
    assert "held-out test set" not in text  # CV figures are not test-set figures
    assert field  # documented on the OpenAPI page
