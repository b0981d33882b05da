"""Validation: every rule, the quarantine reasons, the failure-share stop and the config."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loan_default.data.validation import Freshness, ValidationConfig, validate
from loan_default.errors import ConfigError, DataValidationError
from loan_default.schema import DAYS_PER_YEAR, FIELDS, LABEL

NOW = datetime(2026, 11, 1, tzinfo=UTC)
LENIENT = ValidationConfig(max_failure_share=1.0)


def applications(n: int = 10, **changes: Any) -> pd.DataFrame:
    """``n`` valid applications built from the schema's examples, then ``changes`` applied."""
    row = {spec.name: spec.example for spec in FIELDS if spec.name != LABEL}
    frame = pd.DataFrame([row] * n)
    frame["application_id"] = [f"A{i}" for i in range(n)]
    frame["application_date"] = pd.Timestamp("2026-10-01", tz="UTC")
    frame["client_income"] = np.linspace(1000, 9000, n)
    frame[LABEL] = [i % 2 for i in range(n)]
    for name, values in changes.items():
        frame[name] = values
    return frame


def reasons(frame: pd.DataFrame, config: ValidationConfig = LENIENT) -> dict[str, str]:
    """application_id -> reasons of the rows that failed."""
    result = validate(frame, config, now=NOW)
    assert len(result.valid) + len(result.quarantine) == len(frame)
    return dict(zip(result.quarantine["application_id"], result.quarantine["reasons"], strict=True))


def test_valid_applications_pass() -> None:
    result = validate(applications(), LENIENT, now=NOW)
    assert len(result.valid) == 10 and len(result.quarantine) == 0
    assert result.report.passed and result.report.failure_share == 0.0


def test_completeness_of_required_fields_and_label() -> None:
    found = reasons(applications(3, credit_amount=[6e4, None, 6e4], default=[0, 1, None]))
    assert found == {"A1": "credit_amount: missing (required)", "A2": "default: missing (required)"}


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("age_days", 17 * DAYS_PER_YEAR, "age_days: 6209.25 is not a finite number from 6574.5"),
        ("age_days", 101 * DAYS_PER_YEAR, "age_days"),
        ("client_income", -1.0, "client_income: -1 is not"),
        ("score_source_2", 1.2, "score_source_2: 1.2 is not a finite number from 0 to 1"),
        ("child_count", 1.5, "child_count: 1.5 is not an integer"),
        ("car_owned", 2, "car_owned: 2 is not true or false"),
        ("client_city_rating", 4, "client_city_rating"),
        ("default", 2, "default: 2"),
    ],
)
def test_ranges(name: str, value: float, fragment: str) -> None:
    values = [value] + [applications(1)[name].iloc[0]] * 2
    found = reasons(applications(3, **{name: values}))
    assert list(found) == ["A0"]
    assert fragment in found["A0"]


def test_categories_closed_and_open() -> None:
    found = reasons(
        applications(3, client_education=["phd", "secondary", None],
                     type_organization=["bank", "Big Bank", None]),
    )  # fmt: skip
    assert "client_education: 'phd' is not one of junior_secondary" in found["A0"]
    assert "type_organization: 'Big Bank' is not a non-empty category name" in found["A1"]
    assert "A2" not in found  # missing optional values are fine


def test_consistency_rules() -> None:
    frame = applications(4)
    frame.loc[0, "employed_days"] = 13_957.0 - 10 * DAYS_PER_YEAR  # from age 28
    frame.loc[1, "loan_annuity"] = 70_000.0
    frame.loc[2, ["client_family_members", "child_count"]] = [2, 2]
    found = reasons(frame)
    assert "employed_days" in found["A0"] and "longer than adult life" in found["A0"]
    assert "loan_annuity" in found["A1"] and "above credit_amount" in found["A1"]
    assert "less than child_count + 1" in found["A2"]
    assert "A3" not in found


def test_consistency_rules_can_be_switched_off() -> None:
    frame = applications(2)
    frame.loc[0, "loan_annuity"] = 70_000.0  # credit_amount 61,190.55
    frame.loc[1, "employed_days"] = 13_957.0  # = age_days
    config = ValidationConfig.model_validate(
        {"max_failure_share": 1.0,
         "consistency": {"annuity_at_most_credit": False, "min_working_age_years": None}}
    )  # fmt: skip
    assert reasons(frame, config) == {}


def test_exact_duplicates_keep_the_first_copy() -> None:
    frame = applications(3)
    frame = pd.concat([frame, frame.iloc[[1]]], ignore_index=True)
    result = validate(frame, LENIENT, now=NOW)
    assert result.quarantine.index.tolist() == [3]
    assert result.quarantine["reasons"].iloc[0] == "exact duplicate of an earlier row"


def test_conflicting_application_ids_all_fail() -> None:
    frame = applications(3, application_id=["A", "A", "B"])
    found = validate(frame, LENIENT, now=NOW).quarantine
    assert found.index.tolist() == [0, 1]
    assert "application_id: 'A' appears more than once" in found["reasons"].iloc[0]


def test_future_dates_fail_and_stale_data_is_a_finding() -> None:
    dates = pd.to_datetime(["2026-10-01T00:00", "2026-11-01T00:30", "2026-11-03T00:00"], utc=True)
    found = reasons(applications(3, application_date=dates))
    assert list(found) == ["A2"] and "is in the future" in found["A2"]
    old = applications(2, application_date=pd.Timestamp("2020-01-01", tz="UTC"))
    report = validate(old, LENIENT, now=NOW).report
    assert report.findings and report.findings[0].startswith("stale data")
    assert report.passed  # stale: warn
    strict = LENIENT.model_copy(update={"freshness": Freshness(stale="error")})
    with pytest.raises(DataValidationError, match=r"stale data.*freshness.stale: error"):
        validate(old, strict, now=NOW)


def test_no_dates_no_freshness_check() -> None:
    report = validate(applications(2, application_date=None), LENIENT, now=NOW).report
    assert report.findings == []


def test_failure_share_above_maximum_stops_with_a_clear_message() -> None:
    frame = applications(10, credit_amount=[None] * 3 + [5000.0] * 7)
    config = ValidationConfig(max_failure_share=0.2)
    with pytest.raises(DataValidationError, match=r"3 of 10 rows \(30.0%\).*maximum 20%"):
        validate(frame, config, now=NOW)
    result = validate(frame, config, now=NOW, enforce=False)
    assert not result.report.passed and len(result.quarantine) == 3
    assert validate(frame, ValidationConfig(max_failure_share=0.3), now=NOW).report.passed


def test_empty_data_set_fails() -> None:
    with pytest.raises(DataValidationError, match="no rows"):
        validate(applications(0), LENIENT, now=NOW)


def test_report_dict_and_summary() -> None:
    frame = applications(4, credit_amount=[None, 6e4, 6e4, 6e4], score_source_1=[2.0] * 4)
    report = validate(frame, LENIENT, now=NOW, enforce=False).report
    as_dict = report.to_dict()
    assert as_dict["rows_in"] == 4 and as_dict["rows_quarantined"] == 4
    assert as_dict["failures_by_rule"] == {"completeness": 1, "range": 4}
    assert as_dict["failures_by_field"] == {"credit_amount": 1, "score_source_1": 4}
    summary = report.summary()
    assert summary.startswith("validation FAILED: 4 rows, 0 valid, 4 quarantined (100.0%")
    assert "rule range: 4 failure(s)" in summary
    with pytest.raises(DataValidationError, match="none of the 4 rows passed"):
        report.raise_if_failed()


def test_config_file_loads_and_errors_name_the_problem(tmp_path: Path) -> None:
    shipped = ValidationConfig.load()
    assert 0 < shipped.max_failure_share < 1
    path = tmp_path / "v.yaml"
    path.write_text("max_failure_share: 2\n")
    with pytest.raises(ConfigError, match="max_failure_share"):
        ValidationConfig.load(path)
    path.write_text("consistency: {annuity_above: true}\n")
    with pytest.raises(ConfigError, match="annuity_above"):
        ValidationConfig.load(path)
    with pytest.raises(ConfigError, match="cannot read"):
        ValidationConfig.load(tmp_path / "absent.yaml")
