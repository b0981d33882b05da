"""What both ends of the gRPC API share: the service name, message limits, and the encoding of
the REST API's JSON shapes (plain dicts) as protobuf messages, as the client needs it.

The gRPC API is a second encoding of the REST API, not a second API: the client turns each dict
into a message and each answer back into the dict the REST route would have returned; the server
(:mod:`runners.grpc.convert`) does the reverse. An unset optional field of a ``LoanApplication``
is an omitted key (a missing value), never ``None`` or zero.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, cast

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor

from loan_default.bodies import (
    CharacteristicPointsBody,
    EnrichmentBody,
    ExplanationBody,
    FeedbackReceiptBody,
    LookupOutcome,
    PredictionBody,
    ReasonBody,
)
from loan_default.decision import Decision
from loan_default.errors import InputError
from loan_default.grpc import loan_scoring_pb2 as pb
from loan_default.schema import RiskCategory

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["LoanScoring"].full_name
"""``loan_default.v1.LoanScoring``: the name health checks ask about."""
DEFAULT_PORT = 3001
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
"""Room for a 10,000-row batch with every field set (about 5 MB) many times over."""

_RISK_PREFIX = "RISK_CATEGORY_"
_APPLICATION = pb.LoanApplication.DESCRIPTOR
APPLICATION_FIELDS: tuple[str, ...] = tuple(fd.name for fd in _APPLICATION.fields)
"""The fields of ``LoanApplication``: the canonical input fields (see ``protogen``)."""
_FIELD_TYPES = {fd.name: fd.type for fd in _APPLICATION.fields}
RISK_NUMBERS: dict[str, int] = {
    v.name.removeprefix(_RISK_PREFIX): pb.RiskCategory.Value(v.name)
    for v in pb.RiskCategory.DESCRIPTOR.values
}
_RISK_NAME = {number: cast(RiskCategory, name) for name, number in RISK_NUMBERS.items()}
_DECISION_PREFIX = "DECISION_"
DECISION_NUMBERS: dict[str, int] = {
    v.name.removeprefix(_DECISION_PREFIX).lower(): pb.Decision.Value(v.name)
    for v in pb.Decision.DESCRIPTOR.values
}
_DECISION_NAME = {number: cast(Decision, name) for name, number in DECISION_NUMBERS.items()}
# What each protobuf type accepts, mirroring the REST model's strict types (no bool for a
# number, no number for a bool, no float for an integer).
_ACCEPTS: dict[int, tuple[tuple[type, ...], str]] = {
    FieldDescriptor.TYPE_DOUBLE: ((int, float), "a number"),
    FieldDescriptor.TYPE_INT64: ((int,), "an integer"),
    FieldDescriptor.TYPE_BOOL: ((bool,), "true or false"),
    FieldDescriptor.TYPE_STRING: ((str,), "a string"),
}
_EXACT: frozenset[tuple[str, type]] = frozenset(
    (name, tp)
    for name, t in _FIELD_TYPES.items()
    for tp in ((float, int) if t == FieldDescriptor.TYPE_DOUBLE else _ACCEPTS[t][0])
)
"""(field, exact type) pairs taken as they are (``type(True) is bool``: no bool slips in)."""


def _is_missing(value: Any) -> bool:
    """None, NaN, NaT or pandas' NA (whose comparisons are neither true nor false)."""
    if value is None:
        return True
    try:
        return bool(value != value)
    except TypeError:
        return True


def application_fields(application: Mapping[str, Any]) -> dict[str, Any]:
    """The values of a REST-style application to set on a ``LoanApplication``.

    Only the encoding is checked here: unknown keys, and types the strict REST model refuses
    (a string or a bool for a number, a number for a bool, a float for an integer). None, NaN,
    NaT and pandas' NA are left out (missing). Ranges and categories are the server's to
    check, exactly as for REST.

    Raises:
        InputError: naming the key that has no field or whose value cannot be encoded.
    """
    fields: dict[str, Any] = {}
    for name, value in application.items():
        if (name, type(value)) in _EXACT and value == value:  # the common case; NaN != NaN
            fields[name] = value
            continue
        proto_type = _FIELD_TYPES.get(name)
        if proto_type is None:
            raise InputError(f"{name!r} is not a field of a loan application")
        if hasattr(value, "dtype") and hasattr(value, "item"):  # numpy scalars
            value = value.item()
        if _is_missing(value):
            continue
        if isinstance(value, datetime):
            value = value.isoformat()
        accepted, words = _ACCEPTS[proto_type]
        if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in accepted):
            raise InputError(f"{name}: {value!r} is not {words}")
        fields[name] = value
    return fields


def application_from_dict(application: Mapping[str, Any]) -> pb.LoanApplication:
    """A ``LoanApplication`` from a REST-style dict (see :func:`application_fields`)."""
    return add_application(pb.LoanApplication, application)


def add_application(
    constructor: Callable[..., pb.LoanApplication], application: Mapping[str, Any]
) -> pb.LoanApplication:
    """``constructor(**fields)``: the message class, or a batch's ``applications.add``.

    Raises:
        InputError: as :func:`application_fields`, or naming an integer beyond int64.
    """
    fields = application_fields(application)
    try:
        return constructor(**fields)
    except ValueError:  # an integer beyond int64: find and name the field
        for name, value in fields.items():
            try:
                pb.LoanApplication(**{name: value})
            except ValueError as exc:
                words = _ACCEPTS[_FIELD_TYPES[name]][1]
                raise InputError(f"{name}: {value!r} cannot be sent as {words} ({exc})") from exc
        raise


def prediction_to_dict(message: pb.Prediction) -> PredictionBody:
    """The REST body of a prediction."""
    body = PredictionBody(
        prediction_id=message.prediction_id,
        default_probability=message.default_probability,
        risk_category=_RISK_NAME[message.risk_category],
        decision=_DECISION_NAME[message.decision],
        model_name=message.model_name,
        model_version=message.model_version,
        timestamp=message.timestamp,
    )
    if message.HasField("enrichment"):
        enrichment = message.enrichment
        body["enrichment"] = EnrichmentBody(
            outcome=cast(LookupOutcome, enrichment.outcome),
            fields=dict(enrichment.fields),
            rejected=list(enrichment.rejected),
        )
    return body


def explanation_to_dict(message: pb.ExplainResponse) -> ExplanationBody:
    """The REST body of an explanation."""
    prediction = prediction_to_dict(message.prediction)
    reasons = [
        ReasonBody(
            feature=reason.feature,
            value=cast(Any, json_format.MessageToDict(reason.value)),  # a Value: scalar or None
            contribution=reason.contribution,
            reason=reason.reason,
        )
        for reason in message.reasons
    ]
    out = ExplanationBody(**prediction, base_value=message.base_value, reasons=reasons)
    if message.HasField("score"):
        out["score"] = message.score
        out["points"] = [
            CharacteristicPointsBody(
                characteristic=row.characteristic,
                value=json_format.MessageToDict(row.value),
                points=row.points,
                max_points=row.max_points,
            )
            for row in message.points
        ]
    return out


def metadata_to_dict(message: pb.MetadataResponse) -> dict[str, Any]:
    """The REST body of the metadata (every number a float, as JSON has only one kind)."""
    return json_format.MessageToDict(message.metadata)


def feedback_to_dict(message: pb.FeedbackResponse) -> FeedbackReceiptBody:
    """The REST body of a feedback receipt."""
    return FeedbackReceiptBody(
        prediction_id=message.prediction_id,
        observed_default=message.observed_default,
        model_version=message.model_version,
        recorded_at=message.recorded_at,
    )
