"""The canonical schema: complete field specs, a strict request model, frame coercion."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from dataclasses import replace
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pytest
from pydantic import ValidationError

from loan_default import schema
from loan_default.schema import (
    CANONICAL_COLUMNS,
    FIELDS,
    INPUT_FIELDS,
    LABEL,
    REQUIRED_FIELDS,
    Kind,
    LoanApplication,
    Role,
    canonical_dtypes,
    coerce_frame,
    field,
    records_to_frame,
    schema_fingerprint,
)

MINIMAL = {"client_income": 6750.0, "credit_amount": 61190.55, "age_days": 13957.0}


def test_every_field_is_described_and_consistent() -> None:
    assert len({f.name for f in FIELDS}) == len(FIELDS)
    for spec in FIELDS:
        assert spec.description.strip() and spec.source_name, spec.name
        assert isinstance(spec.kind, Kind) and isinstance(spec.role, Role)
        assert re.fullmatch(r"[a-z][a-z0-9_]*", spec.name), spec.name
        if spec.minimum is not None and spec.maximum is not None:
            assert spec.minimum <= spec.maximum, spec.name
        if spec.categories is not None:
            assert all(re.fullmatch(r"[a-z0-9_]+", c) for c in spec.categories), spec.name
        assert spec.rule(), spec.name
    assert {f.name for f in REQUIRED_FIELDS} == set(MINIMAL)
    assert field("client_gender").role is Role.PROTECTED
    with pytest.raises(KeyError, match="'nope' is not a canonical field"):
        field("nope")


def test_examples_form_a_valid_application() -> None:
    example = {f.name: f.example for f in INPUT_FIELDS if f.example is not None}
    application = LoanApplication.model_validate(example)
    assert application.model_dump()["client_income"] == 6750.0


def test_optional_fields_may_be_omitted_or_null() -> None:
    application = LoanApplication.model_validate({**MINIMAL, "score_source_1": None})
    dumped = application.model_dump()
    assert set(dumped) == {f.name for f in INPUT_FIELDS}
    assert dumped["score_source_1"] is None and dumped["client_gender"] is None


@pytest.mark.parametrize(
    ("change", "location", "words"),
    [
        ({"salary": 1.0}, "salary", "Extra inputs are not permitted"),
        ({"client_income": "6750"}, "client_income", "valid number"),
        ({"client_income": math.nan}, "client_income", "finite number"),
        ({"client_income": math.inf}, "client_income", "finite number"),
        ({"client_income": -1.0}, "client_income", "greater than or equal to 1"),
        ({"age_days": 17 * 365.0}, "age_days", "greater than or equal to"),
        ({"score_source_2": 1.5}, "score_source_2", "less than or equal to 1"),
        ({"child_count": 1.5}, "child_count", "valid integer"),
        ({"car_owned": 1}, "car_owned", "valid boolean"),
        ({"client_education": "wizardry"}, "client_education", "secondary"),
        ({"type_organization": "Bank!"}, "type_organization", "pattern"),
        ({"application_date": "yesterday"}, "application_date", "datetime"),
    ],
)
def test_the_request_model_rejects_bad_values_naming_the_field(
    change: dict[str, Any], location: str, words: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        LoanApplication.model_validate({**MINIMAL, **change})
    errors = caught.value.errors()
    assert [e["loc"] for e in errors] == [(location,)]
    assert words in errors[0]["msg"]


def test_a_required_field_cannot_be_missing() -> None:
    for name in MINIMAL:
        with pytest.raises(ValidationError, match=name):
            LoanApplication.model_validate({k: v for k, v in MINIMAL.items() if k != name})


def test_the_label_is_not_an_input() -> None:
    with pytest.raises(ValidationError, match=LABEL):
        LoanApplication.model_validate({**MINIMAL, LABEL: 1})


def test_coerce_frame_gives_canonical_columns_and_dtypes() -> None:
    raw = pd.DataFrame(
        {
            "client_income": ["6750", "oops"],
            "car_owned": [True, None],
            "client_education": ["secondary", np.nan],
            "application_date": ["2026-11-02T10:15:00Z", None],
            "extra": [1, 2],
            LABEL: [0, 1],
        }
    )
    out = coerce_frame(raw)
    assert tuple(out.columns) == CANONICAL_COLUMNS
    assert out.dtypes.astype(str).to_dict() == canonical_dtypes()
    assert out["client_income"].iloc[0] == 6750.0 and math.isnan(out["client_income"].iloc[1])
    assert out["car_owned"].tolist()[0] == 1.0 and math.isnan(out["car_owned"].iloc[1])
    assert out["client_education"].tolist() == ["secondary", None]
    assert out["application_date"].iloc[0] == pd.Timestamp("2026-11-02T10:15:00Z")
    assert out["score_source_1"].isna().all()
    assert LABEL not in coerce_frame(raw, with_label=False).columns
    assert LABEL not in coerce_frame(raw.drop(columns=[LABEL])).columns
    assert LABEL in coerce_frame(raw.drop(columns=[LABEL]), with_label=True).columns
    assert coerce_frame(raw.iloc[:0]).shape == (0, len(CANONICAL_COLUMNS))


def test_records_to_frame_from_the_request_model() -> None:
    application = LoanApplication.model_validate({**MINIMAL, "car_owned": True})
    frame = records_to_frame([application.model_dump()])
    assert LABEL not in frame.columns and len(frame) == 1
    assert frame["car_owned"].iloc[0] == 1.0 and frame["client_income"].iloc[0] == 6750.0


def test_schema_fingerprint_is_stable_and_tracks_the_schema() -> None:
    fingerprint = schema_fingerprint()
    assert re.fullmatch(r"[0-9a-f]{16}", fingerprint)
    code = "from loan_default.schema import schema_fingerprint; print(schema_fingerprint())"
    other_process = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123"},
    )
    assert other_process.stdout.strip() == fingerprint
    compute = schema_fingerprint.__wrapped__
    changed = tuple(
        replace(f, maximum=2e9) if f.name == "client_income" else f for f in INPUT_FIELDS
    )
    original = schema.INPUT_FIELDS
    try:
        schema.INPUT_FIELDS = changed
        assert compute() != fingerprint
    finally:
        schema.INPUT_FIELDS = original
    assert compute() == fingerprint


def test_frame_to_records_gives_valid_json_requests_that_round_trip() -> None:
    import orjson

    from loan_default.data.generate import generate_applications
    from loan_default.schema import frame_to_records, records_to_frame

    frame = coerce_frame(generate_applications(50, seed=3))
    records = frame_to_records(frame)
    assert len(records) == 50
    assert all("default" not in r for r in records)  # the label is not an input
    assert all(not any(v is None for v in r.values()) for r in records)  # missing is omitted
    for record in records:  # what an underwriting system would send is accepted as is
        LoanApplication.model_validate_json(orjson.dumps(record))
    back = records_to_frame(records)
    pd.testing.assert_frame_equal(
        back.drop(columns=["application_date"]),
        frame.drop(columns=["default", "application_date"]),
        check_dtype=False,
    )


@pytest.mark.parametrize(
    ("change", "location", "words"),
    [
        ({"client_income": 2.2e-311}, "client_income", "greater than or equal to 1"),
        ({"client_income": 0.0}, "client_income", "greater than or equal to 1"),
        ({"credit_amount": 1e-320}, "credit_amount", "greater than or equal to 1"),
        ({"application_date": 0}, "application_date", "string with a timezone"),
        ({"application_date": "2026-11-02T10:15:00"}, "application_date", "timezone"),
        ({"application_date": "9999-12-31T00:00:00Z"}, "application_date", "in the future"),
        ({"application_date": "1970-01-01T00:00:00Z"}, "application_date", "before 2000-01-01"),
        ({"application_id": "APP\u202e321"}, "application_id", "pattern"),
        ({"application_id": "APP\x00-1"}, "application_id", "pattern"),
        ({"application_id": "APP\n1"}, "application_id", "pattern"),
        ({"application_id": "\u200b"}, "application_id", "pattern"),
    ],
)
def test_implausible_values_are_refused_naming_the_rule(
    change: dict[str, Any], location: str, words: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        LoanApplication.model_validate_json(orjson.dumps({**MINIMAL, **change}))
    errors = caught.value.errors()
    assert [e["loc"] for e in errors] == [(location,)]
    assert words in errors[0]["msg"]


def test_plausible_dates_and_identifiers_are_accepted() -> None:
    ok = LoanApplication.model_validate_json(
        orjson.dumps(
            {
                **MINIMAL,
                "application_date": "2026-11-02T10:15:00+05:30",
                "application_id": "ÄPP-ünïcödé 123 / x",
            }
        )
    )
    assert ok.application_date.utcoffset() is not None  # type: ignore[attr-defined]
