"""The response bodies: the TypedDicts the serving path builds equal the documented models."""

from __future__ import annotations

from typing import get_type_hints

import pytest
from pydantic import BaseModel

from loan_default import api, bodies, traffic

PAIRS = [
    (bodies.EnrichmentBody, api.Enrichment),
    (bodies.PredictionBody, api.Prediction),
    (bodies.ReasonBody, api.Reason),
    (bodies.ExplanationBody, api.Explanation),
    (bodies.BatchPredictionBody, api.BatchPrediction),
    (bodies.ThresholdsBody, api.Thresholds),
    (bodies.FieldDescriptionBody, api.FieldDescription),
    (bodies.ModelInfoBody, api.ModelInfo),
    (bodies.FeedbackReceiptBody, api.FeedbackReceipt),
    (bodies.ErrorDetailBody, api.ErrorDetail),
    (bodies.ErrorBody, api.ErrorResponse),
]


@pytest.mark.parametrize(("body", "model"), PAIRS, ids=[m.__name__ for _, m in PAIRS])
def test_every_body_has_exactly_the_fields_of_its_model(body: type, model: type[BaseModel]) -> None:
    assert list(get_type_hints(body)) == list(model.model_fields)


def test_a_built_body_validates_against_its_model() -> None:
    prediction = bodies.PredictionBody(
        prediction_id="7e0e6d2c-2f7b-4c55-9b0a-3c1f7c1e0a11",
        default_probability=0.25,
        risk_category="LOW",
        decision="approve",
        model_name="loan_default",
        model_version="v1",
        timestamp="2026-12-01T23:00:00+00:00",
    )
    reason = bodies.ReasonBody(
        feature="debt_to_income", value=0.6, contribution=0.3, reason="High debt"
    )
    explanation = bodies.ExplanationBody(**prediction, base_value=-2.0, reasons=[reason])
    assert api.Explanation.model_validate(explanation).reasons[0].feature == "debt_to_income"
    assert api.BatchPrediction.model_validate({"predictions": [prediction]}).predictions


def test_risk_categories_are_defined_once() -> None:
    from loan_default.model import RISK_CATEGORIES
    from loan_default.schema import RISK_CATEGORIES as SCHEMA_CATEGORIES

    assert RISK_CATEGORIES is SCHEMA_CATEGORIES == ("LOW", "MEDIUM", "HIGH")
    enum = api.Prediction.model_json_schema()["properties"]["risk_category"]["enum"]
    assert tuple(enum) == RISK_CATEGORIES


@pytest.mark.parametrize(
    ("line", "record"),
    [
        (bodies.PredictionLine, traffic.PredictionRecord),
        (bodies.FeedbackLine, traffic.FeedbackRecord),
    ],
)
def test_the_traffic_log_lines_written_are_the_records_read(
    line: type, record: type[BaseModel]
) -> None:
    assert list(get_type_hints(line)) == list(record.model_fields)
