"""Request and response bodies of the scoring API (REST and, field for field, gRPC).

The application itself is :func:`loan_default.schema.application_model`: every field, unit and
range is declared once, in ``schema.py``. These models are what the OpenAPI page shows, so each
field says what it means, its unit and its range. The service validates requests with them
(strictly: unknown fields, wrong types, NaN/Infinity and out-of-range values are refused) and
its responses are checked against them in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loan_default.decision import Decision
from loan_default.schema import RiskCategory, application_model
from loan_default.security.rbac import CURRENT_PRINCIPAL, Principal
from loan_default.training_metrics import TrainingMetrics

LoanApplication = application_model()
"""One loan application (canonical schema)."""

MAX_BATCH_ROWS = 10_000
"""The most applications one batch call may carry (REST and gRPC); ``LOAN_MAX_BATCH_ROWS``
lowers it per deployment."""
RiskCategoryName = RiskCategory

Transport = Literal["rest", "grpc"]
Endpoint = Literal["predict", "predict_batch", "explain", "metadata", "feedback"]


@dataclass(frozen=True, slots=True)
class CallContext:
    """Where a call to the serving backend comes from: one argument of every backend method,
    so what must apply to every call of both transports (the caller's identity, audit) is
    added in one place.

    Attributes:
        endpoint: the API operation (the traffic log's ``endpoint`` for scoring calls).
        transport: ``rest`` or ``grpc``.
        request_id: the caller's correlation id (REST ``X-Request-ID``), logged with each row.
        principal: who calls, as the transport edge authenticated it (taken from
            ``loan_default.security.rbac.CURRENT_PRINCIPAL`` when the context is made in the
            request's task); None if no edge ran.
    """

    endpoint: Endpoint
    transport: Transport
    request_id: str | None = None
    principal: Principal | None = field(default_factory=CURRENT_PRINCIPAL.get)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BatchRequest(_Body):
    """Applications to score in one call (an underwriting queue, a nightly portfolio)."""

    applications: list[LoanApplication] = Field(  # type: ignore[valid-type]
        ...,
        # Documented here, checked once for both transports by the serving backend (with the
        # deployment's LOAN_MAX_BATCH_ROWS).
        json_schema_extra={"minItems": 1, "maxItems": MAX_BATCH_ROWS},
        description=f"1 to {MAX_BATCH_ROWS:,} applications; results come back in this order. "
        "An invalid application rejects the whole batch (nothing is scored), and the error "
        "names its index.",
    )


class Enrichment(_Body):
    """What the feature store filled in: fields the application left out, found by its
    ``client_id`` (the request's own values always win)."""

    outcome: Literal["hit", "miss", "timeout", "error"] = Field(
        ...,
        description="hit: the store knows the client; miss: it does not; timeout / error: "
        "the store did not answer in time or failed, and the application was scored as sent.",
    )
    fields: dict[str, float] = Field(
        ...,
        description="Each field taken from the store, with the age of its stored value in "
        "seconds at scoring time.",
        examples=[{"score_source_1": 86400.0, "credit_bureau": 604800.0}],
    )
    rejected: list[str] = Field(
        ...,
        description="Stored values not used because they break the field's rule (range, "
        "type): those fields stay missing.",
    )


class Prediction(_Body):
    """The model's assessment of one application."""

    prediction_id: UUID = Field(
        ..., description="Identifier of this prediction: quote it to /v1/feedback."
    )
    default_probability: float = Field(
        ..., ge=0, le=1, description="Calibrated probability that the loan defaults (0-1)."
    )
    risk_category: RiskCategoryName = Field(
        ...,
        description="LOW below the medium threshold, HIGH at or above the high threshold, "
        "MEDIUM in between (thresholds in /v1/metadata).",
    )
    decision: Decision = Field(
        ...,
        description="The model's approved operating policy applied to default_probability: "
        "approve below refer_at, decline at or above decline_at, refer to an underwriter in "
        "between (cuts and the rule that chose them in /v1/metadata thresholds).",
    )
    model_name: str = Field(..., description="Registered model name.", examples=["loan_default"])
    model_version: str = Field(..., description="Version of the model that scored it.")
    timestamp: datetime = Field(..., description="When the prediction was made (UTC, ISO 8601).")
    enrichment: Enrichment | None = Field(
        None,
        description="Only when the application carries a `client_id` and the service has a "
        "feature store: which fields came from the store and how old they were.",
    )


class BatchPrediction(_Body):
    """One prediction per application, in the order of the request."""

    predictions: list[Prediction] = Field(..., description="Same order and length as the input.")


class Reason(_Body):
    """One principal reason: an application field whose value (or absence) raised the risk."""

    feature: str = Field(
        ...,
        description="The application field (an input field of the schema). Contributions of "
        "derived features (e.g. debt_to_income, age_years) are folded into the fields they are "
        "computed from, so a field appears at most once.",
    )
    value: float | str | bool | None = Field(
        ...,
        description="The applicant's value of the field as sent; null when the field was not "
        "given, in which case `reason` states its absence (cited only when the model's "
        "treatment of the absence raised the risk materially).",
    )
    contribution: float = Field(
        ...,
        gt=0,
        description="How much this field raised the raw score: the model's own per-row "
        "contributions of the field and of its share of derived features; with `base_value` "
        "the contributions of all fields sum to the raw score before calibration (log-odds "
        "for LightGBM, logistic regression and scorecards; probability of default for "
        "decision trees, random forests and blends).",
    )
    reason: str = Field(
        ..., description="Plain-language adverse-action reason for a notice (Regulation B)."
    )


class CharacteristicPoints(_Body):
    """Scorecard models: the points one characteristic gave this applicant."""

    characteristic: str = Field(..., description="Model feature scored by the scorecard.")
    value: float | str | bool | None = Field(
        ..., description="The applicant's value (as in `Reason.value`); null when missing."
    )
    points: float = Field(..., description="Points of the applicant's bin.")
    max_points: float = Field(
        ..., description="Points of the characteristic's best bin; the gap is the points lost."
    )


class Explanation(Prediction):
    """A prediction with the principal reasons behind it."""

    base_value: float = Field(
        ...,
        description="The model's base value (in the units of `Reason.contribution`): the raw "
        "score before this applicant's fields; scorecards: the log-odds of an applicant in "
        "every best bin.",
    )
    reasons: list[Reason] = Field(
        ...,
        max_length=10,
        description="Up to 4 (configurable) application fields that raised the risk most, "
        "largest first, each once. Only positive contributions: empty when nothing raised the "
        "risk above the base value. Scorecards: the fields whose characteristics lost the most "
        "points against their best bins (contribution = points lost / (pdo / ln 2)).",
    )
    score: float | None = Field(
        None,
        description="Scorecard models (and blends with a scorecard part) only: the total score "
        "in points, the sum of `points` (higher is safer; every pdo points double the odds of "
        "repaying; the scaling is in /v1/metadata params). The probability is calibrated "
        "after the scorecard, so it is monotone in the score but not its exact formula.",
    )
    points: list[CharacteristicPoints] | None = Field(
        None,
        description="Scorecard models only: the points of every characteristic of the "
        "scorecard, in scorecard order.",
    )


class FieldDescription(_Body):
    """One input field of the application schema."""

    name: str
    kind: str = Field(..., description="number, integer, boolean, category, text or timestamp.")
    role: str = Field(..., description="feature, protected, identifier or timestamp.")
    description: str
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    categories: list[str] | None = Field(None, description="Allowed values (closed lists).")
    required: bool = Field(..., description="A request without it is refused.")


class Thresholds(_Body):
    """Probability cut-offs in force."""

    medium: float = Field(..., description="P(default) >= medium is MEDIUM (or HIGH).")
    high: float = Field(..., description="P(default) >= high is HIGH.")
    decision: float = Field(
        ..., description="Operating point of the training metrics (the approve cut, refer_at)."
    )
    refer_at: float = Field(..., description="P(default) >= refer_at is not approved.")
    decline_at: float = Field(..., description="P(default) >= decline_at is declined.")
    decision_rule: str = Field(
        ...,
        description="How the cuts were chosen at training (target_approval_rate, max_bad_rate, "
        "fixed), or risk_bands for a model trained before decision policies.",
    )


class ModelInfo(_Body):
    """What is served: lineage, performance at training, thresholds and the input schema."""

    model_name: str
    model_version: str
    algorithm: str = Field(..., examples=["LGBMClassifier"])
    training_date: datetime = Field(..., description="When the model was trained (UTC).")
    data_hash: str = Field(..., description="Content hash of the training data.")
    data_rows: int = Field(..., ge=0, description="Rows the model was trained on.")
    data_source: str | None = None
    mlflow_run_id: str | None = Field(None, description="MLflow run that trained the model.")
    mlflow_model_version: str | None = Field(
        None, description="Version in the MLflow registered model 'loan_default'."
    )
    git_commit: str | None = None
    training_metrics: TrainingMetrics = Field(
        ...,
        description="What training measured: per metric, the mean and spread over the "
        "cross-validation folds (`cv`, on which the model was chosen) and the calibrated "
        "model's figures on the held-out test split (`holdout`, when training kept one).",
    )
    thresholds: Thresholds
    schema_fingerprint: str = Field(..., description="Hash of the input schema the model uses.")
    input_schema: list[FieldDescription] = Field(..., description="Every accepted input field.")
    features: list[str] = Field(..., description="Model features, in model order.")


class FeedbackRequest(_Body):
    """The observed outcome of a loan that was scored earlier (for performance monitoring)."""

    prediction_id: UUID = Field(..., description="The prediction_id the scoring call returned.")
    observed_default: int = Field(
        ..., ge=0, le=1, strict=True, description="1 if the loan defaulted, 0 if it was repaid."
    )


class FeedbackReceipt(_Body):
    """Acknowledges a recorded outcome."""

    prediction_id: UUID
    observed_default: int = Field(..., ge=0, le=1)
    model_version: str = Field(..., description="The model that made the prediction.")
    recorded_at: datetime


class ErrorDetail(_Body):
    """One offending input."""

    loc: list[str | int] = Field(
        ...,
        description="Path to the field, e.g. ['client_income'] or ['applications', 3, "
        "'age_days'] (row index 3 of a batch); empty for the body as a whole.",
    )
    msg: str = Field(..., description="What is wrong, in words.")
    type: str = Field(..., description="Machine-readable error type (e.g. extra_forbidden).")


class ErrorResponse(_Body):
    """The one error shape of the API (4xx and 5xx)."""

    error: str = Field(..., description="Summary of the failure.")
    details: list[ErrorDetail] = Field(default_factory=list, description="Each offending input.")


def error_body(error: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An :class:`ErrorResponse` as a plain dict (the hot path skips pydantic)."""
    return {"error": error, "details": details or []}


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """pydantic errors -> :class:`ErrorDetail` dicts, each naming its field (and row index)."""
    out = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        msg = err["msg"]
        loc = list(err["loc"])
        if err["type"] == "extra_forbidden":
            msg = f"unknown field {loc[-1]!r}" if loc else msg
        out.append({"loc": loc, "msg": msg, "type": err["type"]})
    return out


def summarise(details: list[dict[str, Any]], *, limit: int = 5) -> str:
    """One line naming the offending fields, e.g. ``invalid input: client_income, ...``."""
    names = [".".join(str(p) for p in d["loc"]) or "body" for d in details[:limit]]
    more = f" and {len(details) - limit} more" if len(details) > limit else ""
    return f"invalid input: {', '.join(names)}{more}"
