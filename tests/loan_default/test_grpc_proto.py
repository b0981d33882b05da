"""The generated proto: up to date with the schema, stable numbers, stubs match, conversions."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from loan_default import model
from loan_default.errors import InputError
from loan_default.grpc import loan_scoring_pb2 as pb
from loan_default.grpc import messages, protogen
from loan_default.schema import INPUT_FIELDS, Kind, field
from runners.grpc import convert
from runners.grpc.status import field_path


def test_checked_in_proto_is_up_to_date_with_the_schema():
    checked_in = protogen.PROTO_PATH.read_text(encoding="utf-8")
    assert checked_in == protogen.generate(checked_in), "run `make proto`"
    assert protogen.main(["--check"]) == 0


def test_check_fails_on_a_stale_proto(tmp_path: Path, capsys):
    stale = tmp_path / "loan_scoring.proto"
    stale.write_text(protogen.PROTO_PATH.read_text().replace("  optional double age_days", "  x"))
    assert protogen.main(["--check", "--path", str(stale)]) == 1
    assert "out of date" in capsys.readouterr().out


def test_generated_stubs_match_the_checked_in_proto():
    numbering = protogen.read_numbering(protogen.PROTO_PATH.read_text())
    in_stubs = {fd.name: fd.number for fd in pb.LoanApplication.DESCRIPTOR.fields}
    assert in_stubs == {name: number for name, (number, _) in numbering.fields.items()}
    assert list(in_stubs) == [spec.name for spec in INPUT_FIELDS]
    assert all(fd.has_presence for fd in pb.LoanApplication.DESCRIPTOR.fields)


def test_field_types_follow_the_schema_kinds():
    by_kind = {
        Kind.NUMBER: pb.LoanApplication.DESCRIPTOR.fields_by_name["client_income"].type,
        Kind.INTEGER: pb.LoanApplication.DESCRIPTOR.fields_by_name["child_count"].type,
        Kind.BOOLEAN: pb.LoanApplication.DESCRIPTOR.fields_by_name["car_owned"].type,
    }
    for fd in pb.LoanApplication.DESCRIPTOR.fields:
        kind = field(fd.name).kind
        expected = by_kind.get(kind, fd.TYPE_STRING)
        assert fd.type == expected, fd.name
    assert by_kind == {Kind.NUMBER: 1, Kind.INTEGER: 3, Kind.BOOLEAN: 8}  # double, int64, bool


def test_risk_categories_match_the_schema():
    names = [v.name for v in pb.RiskCategory.DESCRIPTOR.values][1:]
    assert names == [f"RISK_CATEGORY_{c}" for c in model.RISK_CATEGORIES]


def test_numbers_stay_stable_when_the_schema_changes():
    old = protogen.read_numbering(protogen.PROTO_PATH.read_text())
    age, income = old.fields["age_days"], old.fields["client_income"]
    # A new field inserted first, a removed field, a field whose kind changes.
    new_spec = replace(field("client_income"), name="monthly_debt")
    specs = [new_spec] + [
        replace(s, kind=Kind.INTEGER) if s.name == "age_days" else s
        for s in INPUT_FIELDS
        if s.name != "credit_bureau"
    ]
    numbering = protogen.assign(specs, old)
    top = max(n for n, _ in old.fields.values())
    assert numbering.fields["client_income"] == income
    assert numbering.fields["monthly_debt"] == (top + 1, "double")
    assert numbering.fields["age_days"] == (top + 2, "int64")
    assert {age[0], old.fields["credit_bureau"][0]} <= numbering.reserved_numbers
    assert "credit_bureau" in numbering.reserved_names
    assert "age_days" not in numbering.reserved_names
    # Written and read back, the reservations survive, and a re-added name gets a new number.
    text = protogen.render_application(specs, numbering)
    again = protogen.assign(list(INPUT_FIELDS), protogen.read_numbering(text))
    assert again.fields["credit_bureau"][0] > top + 2
    assert numbering.reserved_numbers <= again.reserved_numbers


def _compile(proto: Path, root: Path, out: Path) -> descriptor_pb2.FileDescriptorProto:
    # protoc runs in a subprocess: grpc_tools' compiler carries its own C++ protobuf, which
    # corrupts the heap of a process that also runs ortools' (optbinning's scorecard fits).
    spec = importlib.util.find_spec("grpc_tools")
    assert spec is not None and spec.submodule_search_locations
    include = Path(next(iter(spec.submodule_search_locations))) / "_proto"
    descriptors = out / "descriptors.pb"
    args = [f"-I{root}", f"-I{include}", f"--descriptor_set_out={descriptors}", str(proto)]
    done = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", *args], check=False)
    assert done.returncode == 0
    compiled = descriptor_pb2.FileDescriptorSet.FromString(descriptors.read_bytes()).file[0]
    messages = list(compiled.message_type)
    while messages:  # generated modules embed descriptors without these (map entries too)
        message = messages.pop()
        messages.extend(message.nested_type)
        for fd in message.field:
            fd.ClearField("json_name")
    return compiled


def test_checked_in_stubs_were_generated_from_the_checked_in_proto(tmp_path: Path):
    root = protogen.PROTO_PATH.parents[2]
    compiled = _compile(protogen.PROTO_PATH, root, tmp_path)
    in_stubs = descriptor_pb2.FileDescriptorProto.FromString(pb.DESCRIPTOR.serialized_pb)
    assert compiled == in_stubs, "run `make proto`"


def test_a_fresh_proto_compiles(tmp_path: Path):
    proto = tmp_path / "loan_scoring.proto"
    proto.write_text(protogen.generate(None))
    compiled = _compile(proto, tmp_path, tmp_path)
    assert compiled.message_type[0].name == "LoanApplication"
    assert [s.name for s in compiled.service] == ["LoanScoring"]


@pytest.mark.parametrize(
    ("loc", "root", "path"),
    [
        (["age_days"], "application", "application.age_days"),
        ([0, "age_days"], "application", "application.age_days"),
        (["applications", 3, "age_days"], "applications", "applications[3].age_days"),
        ([3, "age_days"], "applications", "applications[3].age_days"),
        (["age_days"], "applications", "applications.age_days"),
        (["applications"], "applications", "applications"),
        (["observed_default"], "", "observed_default"),
    ],
)
def test_field_paths(loc, root, path):
    assert field_path(loc, root=root) == path


def test_application_round_trip_keeps_set_values_only():
    application = {
        "client_income": 0.0, "car_owned": False, "child_count": 0, "client_gender": "female",
        "application_date": "2026-11-02T10:15:00Z", "employed_days": None,
    }  # fmt: skip
    message = messages.application_from_dict(application)
    back = convert.application_to_dict(pb.LoanApplication.FromString(message.SerializeToString()))
    assert back == {k: v for k, v in application.items() if v is not None}
    assert type(back["child_count"]) is int and type(back["car_owned"]) is bool


def test_pandas_and_numpy_values_encode_like_json():
    import numpy as np
    import pandas as pd

    message = messages.application_from_dict(
        {
            "client_income": np.float64(5000.5), "child_count": np.int64(2),
            "car_owned": np.bool_(True), "application_date": pd.Timestamp("2026-11-02", tz="UTC"),
            "age_days": np.float64("nan"), "employed_days": pd.NA, "phone_change": pd.NaT,
        }
    )  # fmt: skip
    assert convert.application_to_dict(message) == {
        "application_date": "2026-11-02T00:00:00+00:00", "client_income": 5000.5,
        "car_owned": True, "child_count": 2,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("application", "message"),
    [
        (
            {"child_count": 2**70},
            "child_count: 1180591620717411303424 cannot be sent as an integer",
        ),
        ({"client_income": True}, "client_income: True is not a number"),
        ({"client_gender": 1}, "client_gender: 1 is not a string"),
        ({"default": 1}, "'default' is not a field of a loan application"),
    ],
)
def test_what_cannot_be_encoded_is_named(application, message):
    with pytest.raises(InputError) as raised:
        messages.application_from_dict(application)
    assert str(raised.value).startswith(message)


def test_metadata_struct_holds_what_rest_would_send():
    import uuid
    from datetime import UTC, datetime

    import numpy as np

    from loan_default.store import ThresholdSettings

    run = uuid.UUID(int=7)
    metadata = {
        "trained": datetime(2026, 11, 1, tzinfo=UTC), "run": run, "rows": np.int64(3),
        "auc": np.float32(0.5), "missing": float("nan"), "thresholds": ThresholdSettings(),
        "features": ["a", "b"], "path": Path("/models/x"),
    }  # fmt: skip
    back = messages.metadata_to_dict(
        pb.MetadataResponse.FromString(convert.metadata_to_proto(metadata).SerializeToString())
    )
    assert back == {
        "trained": "2026-11-01T00:00:00+00:00", "run": str(run), "rows": 3.0, "auc": 0.5,
        "missing": None, "thresholds": {"medium": 0.3, "high": 0.7, "decision": 0.5},
        "features": ["a", "b"], "path": "/models/x",
    }  # fmt: skip
