"""Generate ``loan_scoring.proto`` from the canonical schema, keeping field numbers stable.

The ``LoanApplication`` message has one ``optional`` field per input field of
:mod:`loan_default.schema` (explicit presence: an unset field is "missing", exactly like an
omitted JSON key), typed by the field's kind and documented with its description, unit and
rule. Everything else in the file (requests, responses, the service) is fixed here.

Field numbers are the wire contract with integrators, so they never follow the schema's order:
a field keeps the number it has in the checked-in proto; a new field gets the next unused
number; a removed field's number and name become ``reserved``; a field whose type changes gets
a new number (the old one is reserved), because a changed type on an old number would be
misread by clients built from the previous proto.

Run ``python -m loan_default.grpc.protogen`` (``make proto`` also regenerates the Python
stubs); ``--check`` exits 1 when the checked-in proto is out of date with the schema.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from loan_default.schema import INPUT_FIELDS, FieldSpec, Kind, schema_fingerprint

PROTO_PATH = Path(__file__).with_name("loan_scoring.proto")
PACKAGE = "loan_default.v1"
RISK_CATEGORIES = ("LOW", "MEDIUM", "HIGH")
"""Must equal ``loan_default.model.RISK_CATEGORIES`` (a test checks; not imported, to keep
this generator free of the model's heavy imports)."""

PROTO_TYPES: dict[Kind, str] = {
    Kind.NUMBER: "double",
    Kind.INTEGER: "int64",
    Kind.BOOLEAN: "bool",
    Kind.CATEGORY: "string",
    Kind.TEXT: "string",
    Kind.TIMESTAMP: "string",
}

_MESSAGE = re.compile(r"^message LoanApplication \{\n(?P<body>.*?)^\}", re.M | re.S)
_FIELD = re.compile(r"^\s*optional (?P<type>\w+) (?P<name>\w+) = (?P<number>\d+);", re.M)
_RESERVED = re.compile(r"^\s*reserved (?P<items>[^;]+);", re.M)


@dataclass
class Numbering:
    """Field numbers of the ``LoanApplication`` message, as read from a proto file."""

    fields: dict[str, tuple[int, str]] = field(default_factory=dict)
    """Field name -> (number, proto type)."""
    reserved_numbers: set[int] = field(default_factory=set)
    reserved_names: set[str] = field(default_factory=set)

    @property
    def used(self) -> set[int]:
        return {number for number, _ in self.fields.values()} | self.reserved_numbers


def read_numbering(proto_text: str) -> Numbering:
    """The numbering of ``LoanApplication`` in a proto file this module wrote."""
    match = _MESSAGE.search(proto_text)
    if match is None:
        raise ValueError("no 'message LoanApplication' block in the proto text")
    body = match["body"]
    numbering = Numbering()
    for m in _FIELD.finditer(body):
        numbering.fields[m["name"]] = (int(m["number"]), m["type"])
    for m in _RESERVED.finditer(body):
        for item in (part.strip() for part in m["items"].split(",")):
            if item.startswith('"'):
                numbering.reserved_names.add(item.strip('"'))
            else:
                numbering.reserved_numbers.add(int(item))
    return numbering


def assign(specs: Sequence[FieldSpec], previous: Numbering) -> Numbering:
    """Numbers for ``specs``: keep the previous ones, reserve retired ones, append new ones."""
    out = Numbering(
        reserved_numbers=set(previous.reserved_numbers),
        reserved_names=set(previous.reserved_names),
    )
    used = previous.used
    next_number = max(used, default=0) + 1
    for spec in specs:
        proto_type = PROTO_TYPES[spec.kind]
        old = previous.fields.get(spec.name)
        if old is not None and old[1] == proto_type:
            out.fields[spec.name] = old
            continue
        if old is not None:  # type changed: the old number must never be read as the new type
            out.reserved_numbers.add(old[0])
        out.fields[spec.name] = (next_number, proto_type)
        next_number += 1
        out.reserved_names.discard(spec.name)
    for name, (number, _) in previous.fields.items():
        if name not in out.fields:
            out.reserved_numbers.add(number)
            out.reserved_names.add(name)
    return out


def _comment(text: str, indent: str) -> list[str]:
    return [
        f"{indent}// {line}" for line in textwrap.wrap(text, width=96 - len(indent) - 3) or [""]
    ]


def _field_doc(spec: FieldSpec) -> str:
    parts = [spec.description.rstrip(".") + "."]
    if spec.unit:
        parts.append(f"Unit: {spec.unit}.")
    if spec.kind is Kind.TIMESTAMP:
        parts.append("Valid: an ISO 8601 date-time.")
    elif spec.kind is Kind.TEXT:
        parts.append("Valid: 1 to 64 characters.")
    else:
        parts.append(f"Valid: {spec.rule()}.")
    parts.append("Required." if spec.required else "Optional: leave unset when unknown.")
    return " ".join(parts)


def render_application(specs: Sequence[FieldSpec], numbering: Numbering) -> str:
    """The ``LoanApplication`` message."""
    lines = [
        "// One loan application in the canonical schema (loan_default/schema.py). Unset fields",
        "// are missing values; the service validates every field exactly like the REST API.",
        "message LoanApplication {",
    ]
    if numbering.reserved_numbers:
        numbers = ", ".join(str(n) for n in sorted(numbering.reserved_numbers))
        lines.append(f"  reserved {numbers};")
    if numbering.reserved_names:
        names = ", ".join(f'"{n}"' for n in sorted(numbering.reserved_names))
        lines.append(f"  reserved {names};")
    for spec in specs:
        number, proto_type = numbering.fields[spec.name]
        lines.extend(_comment(_field_doc(spec), "  "))
        lines.append(f"  optional {proto_type} {spec.name} = {number};")
    lines.append("}")
    return "\n".join(lines)


_HEADER = """\
// Generated by loan_default/grpc/protogen.py from loan_default/schema.py: do not edit.
// Regenerate with `make proto`. Input schema fingerprint: {fingerprint}.
syntax = "proto3";

package {package};

import "google/protobuf/struct.proto";

// Scores loan applications for their probability of default. Invalid input is rejected with
// INVALID_ARGUMENT naming the field and the rule (google.rpc.BadRequest field violations in
// grpc-status-details-bin); an unknown prediction_id gives NOT_FOUND; no model ready or
// scoring paused by an operator gives UNAVAILABLE (retry later or fall back).
service LoanScoring {{
  // Score one application.
  rpc Predict(PredictRequest) returns (PredictResponse);
  // Score many applications in one call (at most the server's batch limit, 10,000 by
  // default); a field violation names the application by index: applications[3].age_days.
  rpc PredictBatch(PredictBatchRequest) returns (PredictBatchResponse);
  // Score one application and give the principal reasons behind its score.
  rpc Explain(ExplainRequest) returns (ExplainResponse);
  // What is serving: model name and version, metrics, risk thresholds, input schema.
  rpc Metadata(MetadataRequest) returns (MetadataResponse);
  // Record the observed outcome of an earlier prediction (for performance monitoring).
  rpc Feedback(FeedbackRequest) returns (FeedbackResponse);
}}

// Risk band of a default probability (thresholds in Metadata).
enum RiskCategory {{
{risk_values}
}}
"""

_MESSAGES = """\
// A scored application.
message Prediction {
  // Identifies this prediction; quote it in Feedback.
  string prediction_id = 1;
  // Calibrated probability of default, 0 to 1.
  double default_probability = 2;
  RiskCategory risk_category = 3;
  string model_name = 4;
  string model_version = 5;
  // When the prediction was made (ISO 8601, UTC).
  string timestamp = 6;
}

message PredictRequest {
  LoanApplication application = 1;
}

message PredictResponse {
  Prediction prediction = 1;
}

message PredictBatchRequest {
  repeated LoanApplication applications = 1;
}

message PredictBatchResponse {
  // One prediction per application, in the order of the request.
  repeated Prediction predictions = 1;
}

message ExplainRequest {
  LoanApplication application = 1;
}

// One principal reason for a score.
message Reason {
  // The model feature (a canonical field or a derived one such as debt_to_income).
  string feature = 1;
  // The applicant's value of the feature (null when missing).
  google.protobuf.Value value = 2;
  // Contribution to the log-odds of default; positive values raise the risk.
  double contribution = 3;
  // The reason in words, for an adverse action notice.
  string reason = 4;
}

message ExplainResponse {
  Prediction prediction = 1;
  // The model's average score (log-odds) before this applicant's features.
  double base_value = 2;
  // The principal reasons (features that raised the risk), strongest first.
  repeated Reason reasons = 3;
}

message MetadataRequest {}

message MetadataResponse {
  // The REST /metadata body as JSON (numbers are doubles, as in any JSON).
  google.protobuf.Struct metadata = 1;
}

message FeedbackRequest {
  // The prediction_id of an earlier prediction.
  string prediction_id = 1;
  // 1 if the loan defaulted, 0 if it did not. Required.
  optional int64 observed_default = 2;
}

message FeedbackResponse {
  string prediction_id = 1;
  int64 observed_default = 2;
  // The model version that made the prediction.
  string model_version = 3;
  // When the outcome was recorded (ISO 8601, UTC).
  string recorded_at = 4;
}
"""


def generate(previous_text: str | None = None) -> str:
    """The proto text for the current schema, numbered after ``previous_text`` if given."""
    previous = read_numbering(previous_text) if previous_text else Numbering()
    numbering = assign(INPUT_FIELDS, previous)
    risk_values = ["  RISK_CATEGORY_UNSPECIFIED = 0;"] + [
        f"  RISK_CATEGORY_{name} = {i};" for i, name in enumerate(RISK_CATEGORIES, start=1)
    ]
    header = _HEADER.format(
        fingerprint=schema_fingerprint(), package=PACKAGE, risk_values="\n".join(risk_values)
    )
    return f"{header}\n{render_application(INPUT_FIELDS, numbering)}\n\n{_MESSAGES}"


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or ``--check``) the proto file; exit code 1 when the check fails."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    parser.add_argument("--path", type=Path, default=PROTO_PATH, help="the proto file")
    args = parser.parse_args(argv)
    path: Path = args.path
    current = path.read_text(encoding="utf-8") if path.exists() else None
    wanted = generate(current)
    if args.check:
        if current != wanted:
            print(f"{path} is out of date with loan_default/schema.py: run `make proto`")
            return 1
        print(f"{path} is up to date")
        return 0
    path.write_text(wanted, encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
