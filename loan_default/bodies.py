"""The API's response bodies as the serving path builds them: plain dicts, typed.

The hot path answers and logs dicts serialised by orjson, never a pydantic model per row. Each
``*Body`` here is the shape of the pydantic model of :mod:`loan_default.api` with the same name
(which documents it on the OpenAPI page and validates it in tests); ``tests/loan_default/
test_api.py`` keeps every pair identical. The backend, the REST routes, the gRPC server and
the gRPC client all use these; the traffic log's lines are typed here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict

from loan_default.decision import Decision
from loan_default.schema import RiskCategory

LookupOutcome = Literal["hit", "miss", "timeout", "error"]
"""What a feature-store lookup gave (``runners.enrichment``)."""


class EnrichmentBody(TypedDict):
    """:class:`~loan_default.api.Enrichment`: what the feature store filled in."""

    outcome: LookupOutcome
    fields: dict[str, float]  # field -> age of the stored value in seconds
    rejected: list[str]


class PredictionBody(TypedDict):
    """:class:`~loan_default.api.Prediction` as the service builds it (ids and times as strings;
    ``enrichment`` only for an application carrying a client key while a store is configured)."""

    prediction_id: str
    default_probability: float
    risk_category: RiskCategory
    decision: Decision
    model_name: str
    model_version: str
    timestamp: str
    enrichment: NotRequired[EnrichmentBody]


class ReasonBody(TypedDict):
    """:class:`~loan_default.api.Reason`."""

    feature: str
    value: float | str | bool | None
    contribution: float
    reason: str


class CharacteristicPointsBody(TypedDict):
    """:class:`~loan_default.api.CharacteristicPoints` (scorecards only)."""

    characteristic: str
    value: Any
    points: float
    max_points: float


class ExplanationBody(PredictionBody):
    """:class:`~loan_default.api.Explanation` (``score`` and ``points``: scorecards only)."""

    base_value: float
    reasons: list[ReasonBody]
    score: NotRequired[float]
    points: NotRequired[list[CharacteristicPointsBody]]


class BatchPredictionBody(TypedDict):
    """:class:`~loan_default.api.BatchPrediction`."""

    predictions: list[PredictionBody]


class ThresholdsBody(TypedDict):
    """:class:`~loan_default.api.Thresholds`."""

    medium: float
    high: float
    decision: float
    refer_at: float
    decline_at: float
    decision_rule: str


class FieldDescriptionBody(TypedDict):
    """:class:`~loan_default.api.FieldDescription`."""

    name: str
    kind: str
    role: str
    description: str
    unit: str | None
    minimum: float | None
    maximum: float | None
    categories: list[str] | None
    required: bool


class ModelInfoBody(TypedDict):
    """:class:`~loan_default.api.ModelInfo`."""

    model_name: str
    model_version: str
    algorithm: str
    training_date: str
    data_hash: str
    data_rows: int
    data_source: str | None
    mlflow_run_id: str | None
    mlflow_model_version: str | None
    git_commit: str | None
    training_metrics: dict[str, Any]  # TrainingMetrics as JSON
    thresholds: ThresholdsBody
    schema_fingerprint: str
    input_schema: list[FieldDescriptionBody]
    features: list[str]


class FeedbackReceiptBody(TypedDict):
    """:class:`~loan_default.api.FeedbackReceipt`."""

    prediction_id: str
    observed_default: int
    model_version: str
    recorded_at: str


class ErrorDetailBody(TypedDict):
    """:class:`~loan_default.api.ErrorDetail`."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(TypedDict):
    """:class:`~loan_default.api.ErrorResponse`."""

    error: str
    details: list[ErrorDetailBody]


class PredictionLine(TypedDict):
    """One line of the traffic log's ``predictions`` files, as the scorer writes it (read back
    as :class:`loan_default.traffic.PredictionRecord`; a test keeps the two equal)."""

    prediction_id: str
    request_id: str | None
    timestamp: str
    model_name: str
    model_version: str
    endpoint: str
    application: Mapping[str, Any]  # the validated fields, as received
    default_probability: float
    risk_category: RiskCategory
    decision: Decision
    enrichment: NotRequired[EnrichmentBody]


class FeedbackLine(TypedDict):
    """One line of the ``feedback`` files (:class:`loan_default.traffic.FeedbackRecord`)."""

    prediction_id: str
    observed_default: int
    timestamp: str
    model_version: str | None
    request_id: str | None
