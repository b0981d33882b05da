"""A real ScoringBackend for the gRPC tests: a tiny trained LightGBM ScoringModel.

It validates applications with ``loan_default.schema.application_model()`` (the REST request
model) and raises the platform's errors the way the serving backend does, so the tests check
the server's translation against genuine scores, validation errors and lookups.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from pydantic import TypeAdapter, ValidationError

from loan_default.data.generate import generate_applications
from loan_default.errors import InputError, LoanError, NotFoundError, UnavailableError
from loan_default.features import FeatureEngineer
from loan_default.model import RiskThresholds, ScoringModel
from loan_default.schema import (
    FEATURE_FIELDS,
    Kind,
    application_model,
    frame_to_records,
    schema_fingerprint,
)

MODEL_NAME = "loan_default"
MODEL_VERSION = "7"


def train_tiny_model(rows: int = 3_000, *, seed: int = 0) -> ScoringModel:
    """FeatureEngineer + a small LightGBM on generated applications (about a second)."""
    frame = generate_applications(rows, seed=seed)
    features = FeatureEngineer(min_category_count=5).fit(frame)
    estimator = LGBMClassifier(
        n_estimators=40, num_leaves=7, learning_rate=0.1, random_state=seed, verbose=-1
    )
    estimator.fit(features.transform(frame), frame["default"].to_numpy())
    return ScoringModel(features, estimator, num_threads=1)


def to_requests(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Canonical rows as REST request bodies: JSON types, missing values omitted."""
    return frame_to_records(frame)


class ReferenceBackend:
    """The ``ScoringBackend`` protocol over a :class:`ScoringModel`.

    Attributes:
        received: the application dicts of the last predict/explain call, as the server built
            them (to check the proto -> dict conversion).
        fail_with: when set, every call raises it (to check the error mapping).
    """

    def __init__(self, model: ScoringModel, thresholds: RiskThresholds | None = None) -> None:
        self.model = model
        self.thresholds = thresholds or RiskThresholds()
        self.predictions: dict[str, dict[str, Any]] = {}
        self.received: list[dict[str, Any]] = []
        self.fail_with: LoanError | None = None
        list_of: Any = list  # a runtime-built model cannot be a static type argument
        self._validator: TypeAdapter[list[Any]] = TypeAdapter(list_of[application_model()])

    def _check(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    def _validate(self, applications: list[dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            valid = self._validator.validate_python(applications)
        except ValidationError as exc:
            names = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
            raise InputError(f"invalid input: {', '.join(names)}") from exc
        return [v.model_dump() for v in valid]

    async def predict(
        self, applications: list[dict[str, Any]], *, endpoint: str
    ) -> list[dict[str, Any]]:
        self._check()
        self.received = applications
        records = self._validate(applications)
        probabilities = self.model.predict_proba_records(records)
        now = datetime.now(UTC)
        out = []
        for p in probabilities:
            prediction = {
                "prediction_id": uuid.uuid4(),
                "default_probability": float(p),
                "risk_category": self.thresholds.category(float(p)),
                "model_name": MODEL_NAME,
                "model_version": MODEL_VERSION,
                "timestamp": now,
            }
            self.predictions[str(prediction["prediction_id"])] = prediction
            out.append(prediction)
        return out

    async def explain(self, application: dict[str, Any]) -> dict[str, Any]:
        self._check()
        (prediction,) = await self.predict([application], endpoint="explain")
        (record,) = self._validate([application])
        X = self.model.features.transform_records([record])
        contributions = self.model.contributions_matrix(X)[0]
        names = self.model.feature_names
        order = np.argsort(-contributions[:-1])
        categorical = {f.name for f in FEATURE_FIELDS if f.kind is Kind.CATEGORY}
        reasons = [
            {
                "feature": names[j],
                "value": record.get(names[j]) if names[j] in categorical else X[0, j],
                "contribution": float(contributions[j]),
                "reason": f"{names[j]} raised the estimated risk",
            }
            for j in order[:4]
            if contributions[j] > 0
        ]
        return prediction | {"base_value": float(contributions[-1]), "reasons": reasons}

    def metadata(self) -> dict[str, Any]:
        self._check()
        return {
            "model_name": MODEL_NAME,
            "model_version": MODEL_VERSION,
            "algorithm": self.model.algorithm,
            "training_date": datetime(2026, 11, 1, tzinfo=UTC),
            "data_rows": 3000,
            "training_metrics": {"auc": 0.75, "brier": 0.07},
            "thresholds": {"medium": self.thresholds.medium, "high": self.thresholds.high},
            "schema_fingerprint": schema_fingerprint(),
            "features": self.model.feature_names,
            "mlflow_run_id": None,
        }

    async def feedback(self, prediction_id: str, observed_default: int) -> dict[str, Any]:
        self._check()
        if observed_default not in (0, 1):
            error = InputError(f"observed_default: must be 0 or 1, got {observed_default}")
            error.details = [{"loc": ["observed_default"], "msg": "must be 0 or 1"}]  # type: ignore[attr-defined]
            raise error
        if prediction_id not in self.predictions:
            raise NotFoundError(f"prediction_id {prediction_id!r} is not a known prediction")
        return {
            "prediction_id": prediction_id,
            "observed_default": observed_default,
            "model_version": self.predictions[prediction_id]["model_version"],
            "recorded_at": datetime.now(UTC),
        }


PAUSED = UnavailableError("scoring is paused by an operator: model review")
