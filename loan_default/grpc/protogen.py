"""Generate ``loan_scoring.proto`` from the canonical schema, keeping field numbers stable.

The ``LoanApplication`` message has one ``optional`` field per input field of
:mod:`loan_default.schema` (explicit presence: an unset field is "missing", exactly like an
omitted JSON key), typed by the field's kind and documented with its description, unit and
rule. Everything else in the file (the service, requests, responses) is written by hand in
``loan_scoring.proto.template``.

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
import string
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from loan_default.decision import DECISIONS
from loan_default.schema import (
    INPUT_FIELDS,
    RISK_CATEGORIES,
    FieldSpec,
    Kind,
    schema_fingerprint,
)

PROTO_PATH = Path(__file__).with_name("loan_scoring.proto")
TEMPLATE_PATH = Path(__file__).with_name("loan_scoring.proto.template")
"""The hand-written rest of the proto (service, requests, responses); ``$application`` marks
where the generated ``LoanApplication`` goes."""
PACKAGE = "loan_default.v1"

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


def generate(previous_text: str | None = None) -> str:
    """The proto text for the current schema, numbered after ``previous_text`` if given."""
    previous = read_numbering(previous_text) if previous_text else Numbering()
    numbering = assign(INPUT_FIELDS, previous)
    risk_values = ["  RISK_CATEGORY_UNSPECIFIED = 0;"] + [
        f"  RISK_CATEGORY_{name} = {i};" for i, name in enumerate(RISK_CATEGORIES, start=1)
    ]
    decision_values = ["  DECISION_UNSPECIFIED = 0;"] + [
        f"  DECISION_{name.upper()} = {i};" for i, name in enumerate(DECISIONS, start=1)
    ]
    template = string.Template(TEMPLATE_PATH.read_text(encoding="utf-8"))
    return template.substitute(
        fingerprint=schema_fingerprint(),
        package=PACKAGE,
        risk_values="\n".join(risk_values),
        decision_values="\n".join(decision_values),
        application=render_application(INPUT_FIELDS, numbering),
    )


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
