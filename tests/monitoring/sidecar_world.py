"""A small world for the sidecar tests: a tiny registered model with its drift reference, and
traffic logs written the way the service writes them (``loan_default.traffic.TrafficWriter``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lightgbm as lgb

from loan_default.data.generate import generate_applications
from loan_default.data.shifts import Shift
from loan_default.data.versioning import data_hash
from loan_default.features import FeatureEngineer
from loan_default.model import ScoringModel
from loan_default.reference import build_reference
from loan_default.schema import LABEL, frame_to_records
from loan_default.security.records import RecordCipher
from loan_default.store import ModelMetadata, save_model
from loan_default.traffic import FeedbackRecord, PredictionRecord, TrafficWriter
from monitoring.settings import MonitoringConfig, MonitorSettings

SEED = 3
# Five fields move: more than the drift trigger's three.
BIG_SHIFT = Shift(
    "test_big_shift",
    scale={"client_income": 0.6, "credit_amount": 1.6, "loan_annuity": 1.6},
    offset={"registration_days": 2000.0, "phone_change": 600.0},
)


def register_model(version: str, *, rows: int = 3000) -> ScoringModel:
    """Train a 30-tree LightGBM on generated data and register it with its reference (and
    training figures named as ``training.publish`` records them: cross-validated means)."""
    frame = generate_applications(rows, seed=SEED)
    features = FeatureEngineer(min_category_count=5).fit(frame)
    X = features.transform(frame)
    estimator = lgb.LGBMClassifier(
        n_estimators=30,
        num_leaves=15,
        random_state=SEED,
        deterministic=True,
        n_jobs=1,
        verbose=-1,
    )
    estimator.fit(X, frame[LABEL].to_numpy(), categorical_feature=features.categorical_indices_)
    model = ScoringModel(features, estimator)
    p = model.predict_proba(frame)
    reference = build_reference(frame, p, sample_rows=2000, seed=SEED)
    metadata = ModelMetadata(
        version=version,
        algorithm=model.algorithm,
        created_at=datetime.now(UTC),
        feature_names=model.feature_names,
        training_metrics={"roc_auc_mean": 0.8, "ks_mean": 0.45, "brier_mean": 0.07},
        data_hash=data_hash(frame),
        data_rows=len(frame),
        seed=SEED,
    )
    save_model(model, metadata, write_extra=reference.save)
    return model


def write_traffic(
    traffic: Path,
    model: ScoringModel,
    version: str,
    *,
    rows: int,
    seed: int,
    shift: Shift | str | None = None,
    start: datetime | None = None,
    cipher: RecordCipher | None = None,
    enrichment: Callable[[int], dict[str, Any] | None] | None = None,
) -> list[str]:
    """Score generated applications and log them, with every outcome; returns the ids.

    ``enrichment(i)`` is the i-th record's feature-store note (default: none was looked up).
    """
    frame = generate_applications(rows, seed=seed, shift=shift)
    apps = frame_to_records(frame)
    p = model.predict_proba(frame)
    start = start or datetime.now(UTC)
    predictions, outcomes = [], []
    for i, (app, prob, y) in enumerate(zip(apps, p, frame[LABEL], strict=True)):
        pid = str(uuid.UUID(int=seed * 10_000_000 + i))
        at = start + timedelta(milliseconds=10 * i)
        category = "HIGH" if prob >= 0.7 else "MEDIUM" if prob >= 0.3 else "LOW"
        predictions.append(
            PredictionRecord(
                prediction_id=pid,
                timestamp=at,
                model_name="loan_default",
                model_version=version,
                endpoint="predict_batch",
                application=app,
                default_probability=float(prob),
                risk_category=category,
                enrichment=enrichment(i) if enrichment is not None else None,
            )
        )
        outcomes.append(FeedbackRecord(prediction_id=pid, observed_default=int(y), timestamp=at))
    writer = TrafficWriter(traffic, "predictions", cipher=cipher)
    writer.write(predictions)
    writer.close()
    feedback = TrafficWriter(traffic, "feedback", cipher=cipher)
    feedback.write(outcomes)
    feedback.close()
    return [r.prediction_id for r in predictions]


def sidecar_settings(home: Path) -> MonitorSettings:
    return MonitorSettings(home=home, monitor_config=home / "monitoring.yaml")


def sidecar_config(**sections: Any) -> MonitoringConfig:
    base: dict[str, Any] = {
        "windows": {"max_records": 1000, "max_seconds": 86_400, "min_records": 200},
        # fairlearn's MetricFrame costs ~0.5 s an attribute on a busy machine: two are enough.
        "fairness": {"attributes": ["client_gender", "age_band"], "min_group_size": 50},
        "retrain": {"enabled": True, "data": "unused.parquet"},
    }
    return MonitoringConfig.model_validate(base | sections)
