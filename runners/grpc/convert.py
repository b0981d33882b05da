"""From the backend's answers to protobuf messages, and from request messages to the REST API's
JSON bodies (plain dicts): the server's half of the encoding (the client's half, and what both
share, is :mod:`loan_default.grpc.messages`).

The gRPC API is a second encoding of the REST API, not a second API: the server turns each
message into the dict the REST route would have received, calls the same backend, and turns
the dict it returns into a message. An unset optional field of a ``LoanApplication`` is an
omitted key (a missing value), never ``None`` or zero.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import PurePath
from typing import Any

import orjson
from google.protobuf import json_format, struct_pb2
from pydantic import BaseModel

from loan_default.grpc import loan_scoring_pb2 as pb
from loan_default.grpc.messages import APPLICATION_FIELDS
from loan_default.grpc.messages import DECISION_NUMBERS as _DECISION
from loan_default.grpc.messages import RISK_NUMBERS as _RISK


def jsonable(value: Any) -> Any:
    """``value`` as JSON types, as the REST API would send it: datetimes and UUIDs as strings,
    numpy scalars as numbers, NaN as None, pydantic models dumped, paths as strings."""
    option = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    return orjson.loads(orjson.dumps(value, default=_json_default, option=option))


def _json_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, PurePath):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _iso(value: datetime | str) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


# -- applications ---------------------------------------------------------------------------
def application_to_dict(message: pb.LoanApplication) -> dict[str, Any]:
    """The REST body of an application: the set fields only (unset = omitted = missing)."""
    # HasField + getattr by name is twice as fast as ListFields() with the upb runtime.
    has: Callable[[str], bool] = message.HasField  # type: ignore[assignment]
    return {name: getattr(message, name) for name in APPLICATION_FIELDS if has(name)}


# -- predictions ----------------------------------------------------------------------------
def prediction_to_proto(
    prediction: Mapping[str, Any], constructor: Callable[..., pb.Prediction] = pb.Prediction
) -> pb.Prediction:
    """A ``Prediction`` from the backend's prediction dict (``constructor``: see batches)."""
    enrichment = prediction.get("enrichment")
    return constructor(
        prediction_id=str(prediction["prediction_id"]),
        default_probability=float(prediction["default_probability"]),
        risk_category=_RISK[prediction["risk_category"]],
        decision=_DECISION[prediction["decision"]],
        model_name=str(prediction["model_name"]),
        model_version=str(prediction["model_version"]),
        timestamp=_iso(prediction["timestamp"]),
        enrichment=None if enrichment is None else pb.Enrichment(**enrichment),
    )


def batch_to_proto(predictions: Sequence[Mapping[str, Any]]) -> pb.PredictBatchResponse:
    """A ``PredictBatchResponse``, each prediction built in place (no copy)."""
    response = pb.PredictBatchResponse()
    for prediction in predictions:
        prediction_to_proto(prediction, response.predictions.add)
    return response


def explanation_to_proto(explanation: Mapping[str, Any]) -> pb.ExplainResponse:
    """An ``ExplainResponse`` from the backend's explanation (a prediction plus reasons)."""
    reasons = [
        pb.Reason(
            feature=str(reason["feature"]),
            value=json_format.ParseDict(jsonable(reason["value"]), struct_pb2.Value()),
            contribution=float(reason["contribution"]),
            reason=str(reason["reason"]),
        )
        for reason in explanation["reasons"]
    ]
    points = [
        pb.CharacteristicPoints(
            characteristic=str(row["characteristic"]),
            value=json_format.ParseDict(jsonable(row["value"]), struct_pb2.Value()),
            points=float(row["points"]),
            max_points=float(row["max_points"]),
        )
        for row in explanation.get("points") or []
    ]
    score = explanation.get("score")
    return pb.ExplainResponse(
        prediction=prediction_to_proto(explanation),
        base_value=float(explanation["base_value"]),
        reasons=reasons,
        score=None if score is None else float(score),
        points=points,
    )


# -- metadata and feedback ------------------------------------------------------------------
def metadata_to_proto(metadata: Mapping[str, Any]) -> pb.MetadataResponse:
    """A ``MetadataResponse`` carrying the backend's metadata as a JSON object."""
    struct = json_format.ParseDict(jsonable(dict(metadata)), struct_pb2.Struct())
    return pb.MetadataResponse(metadata=struct)


def feedback_to_proto(receipt: Mapping[str, Any]) -> pb.FeedbackResponse:
    """A ``FeedbackResponse`` from the backend's receipt."""
    return pb.FeedbackResponse(
        prediction_id=str(receipt["prediction_id"]),
        observed_default=int(receipt["observed_default"]),
        model_version=str(receipt["model_version"]),
        recorded_at=_iso(receipt["recorded_at"]),
    )
