"""A tiny real model for the serving tests: FeatureEngineer + LightGBM on generated applications.

Trained in a second or two and saved to the (session-isolated) Bento model store with
:func:`loan_default.store.save_model`, with honest lineage fields for what it is.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import lightgbm as lgb
import pandas as pd

from loan_default.data.generate import generate_applications
from loan_default.data.versioning import data_hash
from loan_default.features import FeatureEngineer
from loan_default.model import ScoringModel
from loan_default.schema import LABEL
from loan_default.store import ModelMetadata, ThresholdSettings, save_model
from loan_default.training_metrics import TrainingMetrics

ROWS = 3_000
SEED = 7


def training_frame(rows: int = ROWS, seed: int = SEED) -> pd.DataFrame:
    return generate_applications(rows, seed=seed)


def train(frame: pd.DataFrame, *, trees: int = 40, seed: int = SEED) -> ScoringModel:
    features = FeatureEngineer(min_category_count=5).fit(frame)
    X = features.transform(frame)
    estimator = lgb.LGBMClassifier(
        n_estimators=trees,
        num_leaves=15,
        learning_rate=0.1,
        min_child_samples=20,
        random_state=seed,
        deterministic=True,
        n_jobs=1,
        verbose=-1,
    )
    estimator.set_params(monotone_constraints=features.monotone_constraints())
    estimator.fit(X, frame[LABEL].to_numpy(), categorical_feature=features.categorical_indices_)
    return ScoringModel(features, estimator)


def save(model: ScoringModel, frame: pd.DataFrame, *, version: str, **meta: Any) -> str:
    """Save to the Bento store; returns the tag ``loan_default:<version>``.

    The decision policy is the shipped rule on the fixture's own training rows (pass
    ``decision_policy=None`` for a model without one)."""
    if "decision_policy" not in meta:
        from training.decision import DecisionRules, choose_policy

        meta["decision_policy"] = choose_policy(
            model.predict_proba(frame), frame[LABEL].to_numpy(), DecisionRules(),
            measured_on="in-sample (test fixture)",
        )  # fmt: skip
    metadata = ModelMetadata(
        version=version,
        algorithm=model.algorithm,
        created_at=datetime.now(UTC),
        feature_names=model.feature_names,
        thresholds=ThresholdSettings(),
        training_metrics=TrainingMetrics(),  # nothing measured: a fixture
        params={"n_estimators": 40, "num_leaves": 15},
        seed=SEED,
        data_hash=data_hash(frame),
        data_rows=len(frame),
        data_source=f"generate_applications(rows={len(frame)}, seed={SEED})",
        **meta,
    )
    save_model(model, metadata, labels={"purpose": "test-fixture"})
    return metadata.tag


def build(version: str = "vtest-fixture", **meta: Any) -> tuple[str, ScoringModel, pd.DataFrame]:
    """Train and save the fixture model: (tag, model, training frame)."""
    frame = training_frame()
    model = train(frame)
    return save(model, frame, version=version, **meta), model, frame


def payloads(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON request bodies for the rows of a canonical frame (missing values omitted)."""
    from loan_default.schema import frame_to_records

    return frame_to_records(frame)


def dev_guard(home: Any) -> Any:
    """A development :class:`Guard` (authentication off, audit on) for backends in tests."""
    from loan_default.security.guard import Guard
    from loan_default.security.settings import SecuritySettings

    settings = SecuritySettings(home=home, auth_mode="off", environment="development")
    return Guard(settings, stream="test")
