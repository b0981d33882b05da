"""Source mappings: every rule of the vocabulary, the quarantine policy and the config errors."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loan_default.data.mappings import SourceMapping, canonical_mapping, load_mapping
from loan_default.data.sources import import_table, map_frame
from loan_default.errors import ConfigError, InputError
from loan_default.schema import CANONICAL_COLUMNS, FIELDS, REQUIRED_FIELDS

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
REQUIRED = {"client_income": "inc", "credit_amount": "cred", "age_days": "age"}


def mapping(**fields: Any) -> SourceMapping:
    """A mapping of the required fields (plain renames) plus ``fields``."""
    return SourceMapping.model_validate({"name": "t", "fields": {**REQUIRED, **fields}})


def source(n: int = 3, **columns: list[Any]) -> pd.DataFrame:
    base = {"inc": [1000.0] * n, "cred": [5000.0] * n, "age": [12000.0] * n}
    return pd.DataFrame({**base, **columns})


def mapped(rule: Any, values: list[Any], name: str = "client_income_type") -> pd.Series:
    frame = source(len(values), raw=values)
    rule = {"column": "raw", **rule} if isinstance(rule, dict) else rule
    return map_frame(frame, mapping(**{name: rule})).data[name]


# --- the rules ---------------------------------------------------------------------------


def test_rename_shorthand() -> None:
    result = map_frame(source(), mapping())
    assert result.data["client_income"].tolist() == [1000.0] * 3
    assert list(result.data.columns) == [c for c in CANONICAL_COLUMNS if c != "default"]


def test_number_parses_text_strip_and_decimal_comma() -> None:
    rule = {"steps": [{"number": {"strip": ["$", " "], "decimal": ","}}]}
    values = ["$1 234,5", " 7 ", None]
    assert mapped(rule, values, "loan_annuity").tolist()[:2] == [1234.5, 7.0]


def test_number_junk_becomes_missing_and_is_counted() -> None:
    frame = source(4, raw=["0.5", "#VALUE!", "$", "inf"])
    result = map_frame(frame, mapping(score_source_1={"column": "raw", "steps": ["number"]}))
    assert result.data["score_source_1"].iloc[0] == 0.5
    assert result.data["score_source_1"].iloc[1:].isna().all()
    assert result.unparseable == {"score_source_1": 3}
    assert len(result.quarantine) == 0


def test_scale_multiply_divide_and_scalar_shorthand() -> None:
    assert mapped({"steps": [{"scale": {"divide": 30}}]}, [300], "loan_annuity").tolist() == [10]
    assert mapped({"steps": [{"scale": 2.5}]}, [2], "loan_annuity").tolist() == [5.0]
    both = {"steps": [{"scale": {"multiply": 3, "divide": 2}}]}
    assert mapped(both, ["4"], "loan_annuity").tolist() == [6.0]


def test_negate_flips_signs_without_negative_zero() -> None:
    values = mapped({"steps": ["negate"]}, [-9461, 0, None], "id_days")
    assert values.iloc[0] == 9461.0
    assert np.signbit(values.iloc[1]) == np.False_
    assert np.isnan(values.iloc[2])


def test_missing_sentinels_numeric_and_text() -> None:
    days = mapped({"steps": [{"missing": [365243]}]}, [365243, "365243", 10], "employed_days")
    assert days.isna().tolist() == [True, True, False]
    rule = {"steps": [{"missing": {"values": ["xna"], "ignore_case": True}}, "snake_case"]}
    assert mapped(rule, ["XNA", "Bank"], "type_organization").tolist() == [None, "bank"]


def test_map_case_insensitive_null_target_and_unlisted_values() -> None:
    values = {"Yes": 1, "No": 0, "Unknown": None}
    rule = {"steps": [{"map": {"values": values, "ignore_case": True}}]}
    frame = source(4, raw=["YES", "no", "unknown", "maybe"])
    result = map_frame(frame, mapping(car_owned={"column": "raw", **rule}))
    assert result.data["car_owned"].iloc[:2].tolist() == [1.0, 0.0]
    assert result.data["car_owned"].iloc[2:].isna().all()  # null target, and "maybe"
    assert result.unparseable == {"car_owned": 1}  # "maybe": other = invalid (default)


def test_map_is_case_sensitive_by_default_and_compares_numbers_as_text() -> None:
    rule = {"steps": [{"map": {"values": {"Y": 1, "N": 0}}}]}
    assert mapped(rule, ["Y", "y"], "car_owned").isna().tolist() == [False, True]
    flip = {"steps": [{"map": {"values": {0: 1, "1": 0}}}]}  # YAML may give int keys
    assert mapped(flip, [0, 1.0, "1"], "client_contact_work_tag").tolist() == [1.0, 0.0, 0.0]


def test_map_other_missing_and_keep() -> None:
    missing = {"steps": [{"map": {"values": {"W": "service"}, "other": "missing"}}]}
    frame = source(2, raw=["W", "Z"])
    result = map_frame(frame, mapping(client_income_type={"column": "raw", **missing}))
    assert result.data["client_income_type"].tolist() == ["service", None]
    assert result.unparseable == {}
    keep = {"steps": [{"map": {"values": {"W": "service"}, "other": "keep"}}]}
    assert mapped(keep, ["W", "retired"]).tolist() == ["service", "retired"]


def test_snake_case() -> None:
    values = ["Business Entity Type 3", "Industry: type 1", "Self-employed", "  "]
    expected = ["business_entity_type_3", "industry_type_1", "self_employed", None]
    assert mapped({"steps": ["snake_case"]}, values, "type_organization").tolist() == expected


def test_ratio_of_two_columns_and_zero_denominator() -> None:
    frame = source(4, d=[1, 0, 2, None], o=[4, 0, "x", 2])
    rule = {"ratio": ["d", "o"]}
    result = map_frame(frame, mapping(social_circle_default=rule))
    values = result.data["social_circle_default"]
    assert values.iloc[0] == 0.25
    assert values.iloc[1:].isna().all()
    assert result.unparseable == {"social_circle_default": 1}  # "x" is not a number


def test_blank_cells_are_missing_whatever_the_missing_values(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("inc,cred,age,s\n1000,5000,12000, \n1000,5000,12000,\n1000,5000,12000,-\n")
    rules = {"name": "t", "missing_values": ["-"], "fields": {**REQUIRED, "score_source_1": "s"}}
    result = import_table(path, SourceMapping.model_validate(rules))
    assert result.data["score_source_1"].isna().all()
    assert result.unparseable == {}


def test_constant() -> None:
    result = map_frame(source(2), mapping(loan_contract_type={"constant": "cash"}))
    assert result.data["loan_contract_type"].tolist() == ["cash", "cash"]


def test_steps_run_in_order() -> None:
    rule = {"steps": [{"missing": [365243]}, "negate"]}
    assert mapped(rule, [365243, -5], "employed_days").tolist()[1] == 5.0
    reversed_rule = {"steps": ["negate", {"missing": [365243]}]}
    assert mapped(reversed_rule, [365243], "employed_days").tolist() == [-365243.0]


# --- conversion to the field's kind and the quarantine policy ------------------------


@pytest.mark.parametrize(
    ("name", "values", "bad"),
    [
        ("child_count", [1, 1.5], [False, True]),
        ("car_owned", [1, 2], [False, True]),
        ("client_education", ["secondary", "phd"], [False, True]),
        ("type_organization", ["bank", "Big Bank"], [False, True]),
        ("application_date", ["2026-01-02", "not a date"], [False, True]),
    ],
)
def test_values_that_do_not_fit_the_kind_are_invalid(name: str, values: list, bad: list) -> None:
    result = map_frame(source(2, raw=values), mapping(**{name: "raw"}))
    assert result.data[name].isna().tolist() == bad
    assert result.unparseable == {name: 1}


def test_true_false_text_is_a_flag() -> None:
    result = map_frame(source(3, raw=["true", "False", None]), mapping(car_owned="raw"))
    assert result.data["car_owned"].tolist()[:2] == [1.0, 0.0]
    assert np.isnan(result.data["car_owned"].iloc[2]) and result.unparseable == {}


def test_identifier_becomes_text_without_float_suffix() -> None:
    result = map_frame(source(2, raw=[100002.0, 100003]), mapping(application_id="raw"))
    assert result.data["application_id"].tolist() == ["100002", "100003"]


def test_invalid_required_value_and_label_quarantine_the_row_with_reasons() -> None:
    frame = source(3, y=[0, "x", 1])
    frame.loc[2, "inc"] = "#VALUE!"
    result = map_frame(frame, mapping(default="y"))
    assert len(result.data) + len(result.quarantine) == result.rows_in == 3
    assert result.quarantine["source_row"].tolist() == [1, 2]
    reasons = result.quarantine["reasons"].tolist()
    assert "default" in reasons[0] and "'x'" in reasons[0]
    assert "client_income" in reasons[1] and "'#VALUE!'" in reasons[1] and "inc" in reasons[1]
    assert result.quarantine["inc"].tolist() == [1000.0, "#VALUE!"]  # rows as read
    assert result.data.index.tolist() == [0]


def test_invalid_policy_can_be_declared() -> None:
    rule = {"column": "raw", "invalid": "quarantine"}
    result = map_frame(source(2, raw=["x", "0.5"]), mapping(score_source_1=rule))
    assert result.quarantine["source_row"].tolist() == [0]
    lenient = {"column": "y", "invalid": "missing"}
    result = map_frame(source(2, y=["x", 1]), mapping(default=lenient))
    assert result.unparseable == {"default": 1} and len(result.quarantine) == 0


def test_missing_column_is_an_input_error_unless_optional() -> None:
    with pytest.raises(InputError, match=r"missing column.*'absent'.*columns found: inc"):
        map_frame(source(), mapping(client_gender="absent"), origin="f.csv")
    optional = mapping(client_gender={"column": "absent", "optional": True})
    assert map_frame(source(), optional).data["client_gender"].isna().all()


def test_label_is_kept_only_when_the_source_has_it() -> None:
    rule = {"column": "y", "optional": True}
    assert "default" not in map_frame(source(), mapping(default=rule)).data.columns
    assert "default" in map_frame(source(2, y=[0, 1]), mapping(default=rule)).data.columns


def test_canonical_mapping_is_the_identity() -> None:
    frame = pd.DataFrame({"client_income": [1.0], "credit_amount": [2.0], "age_days": [7000]})
    result = map_frame(frame, canonical_mapping())
    assert result.data.loc[0, "age_days"] == 7000.0
    assert result.data["client_gender"].isna().all()  # optional canonical columns may be absent
    with pytest.raises(InputError, match="credit_amount"):
        map_frame(frame.drop(columns="credit_amount"), canonical_mapping())
    assert {spec.name for spec in REQUIRED_FIELDS} == set(REQUIRED)


# --- loading mappings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"client_income": {"column": "a", "steps": ["nubmer"]}}, "unknown rule 'nubmer'"),
        ({"income": "a"}, "unknown canonical field.*'income'"),
        ({"client_income": {"column": "a", "constant": 1}}, "exactly one of column"),
        ({"client_income": {"column": "a", "steps": [{"scale": {"by": 2}}]}}, "rule 'scale'"),
        ({"client_income": {"column": "a", "steps": [{"map": {}}]}}, "rule 'map'.*values"),
        ({"client_income": {"column": "a", "steps": [{"a": 1, "b": 2}]}}, "one-key mapping"),
        ({"client_income": {"column": "a", "colour": 1}}, "colour"),
        ({"client_income": {"column": "a", "steps": [{"scale": {"divide": 0}}]}}, "not be 0"),
        ({"car_owned": {"column": "a", "steps": [{"map": {"values": {True: 1}}}]}}, "quote"),
    ],
)
def test_invalid_mappings_name_the_problem(tmp_path: Path, fields: dict, message: str) -> None:
    import yaml

    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump({"fields": {**REQUIRED, **fields}}))
    with pytest.raises(ConfigError, match=message) as info:
        load_mapping(path)
    assert str(path) in str(info.value)


def test_required_fields_must_be_mapped() -> None:
    with pytest.raises(ValueError, match=r"required field.*'credit_amount', 'age_days' not mapped"):
        SourceMapping.model_validate({"name": "t", "fields": {"client_income": "a"}})


def test_unknown_source_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown source .nope.*canonical, home_credit"):
        load_mapping("nope")
    assert load_mapping("canonical") == canonical_mapping()


def test_yaml_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_mapping(path)
    path.write_text("fields: {a: [\n")
    with pytest.raises(ConfigError, match="cannot read YAML"):
        load_mapping(path)


def test_shipped_mappings_load_and_target_every_field_they_can() -> None:
    kaggle = load_mapping("loan_default")
    assert set(kaggle.fields) == {spec.name for spec in FIELDS}
    for spec in FIELDS:
        if spec.name != "application_date":
            assert kaggle.fields[spec.name].column == spec.source_name
    home_credit = load_mapping("home_credit")
    unmapped = {spec.name for spec in FIELDS} - set(home_credit.fields)
    assert unmapped == {"application_date", "bike_owned", "active_loan", "client_id"}


# --- the Kaggle "Loan Default" layout ---------------------------------------------------


def test_loan_default_quirks_file() -> None:
    result = import_table(TESTDATA / "loan_default_quirks.csv", "loan_default")
    data = result.data
    assert (result.rows_in, len(data), len(result.quarantine)) == (8, 6, 2)
    assert result.quarantine["ID"].astype(str).tolist() == ["12150000", "12160000"]
    assert result.unparseable == {"population_region_relative": 1, "score_source_3": 1}
    first = data.loc[0]
    assert first["application_id"] == "12142509"
    assert first["client_permanent_match_tag"] == 1.0
    assert first["type_organization"] == "self_employed"
    assert first["client_marital_status"] == "married"
    assert first["loan_contract_type"] == "cash"
    unemployed = data.loc[2]
    assert np.isnan(unemployed["employed_days"])  # 365243 sentinel
    assert unemployed["client_gender"] is None and unemployed["type_organization"] is None
    assert data.loc[3, "type_organization"] == "industry_type_1"
    assert data.loc[3, "client_income_type"] == "govt_job"
    assert data.loc[3, "client_contact_work_tag"] == 0.0  # "No"
    assert data.loc[4, "client_income"] == 33750.0  # quoted "33,750"
    assert data.loc[4, "accompany_client"] is None  # "##"
    assert data.loc[4, "client_occupation"] == "high_skill_tech"
    assert data["client_city_rating"].notna().all()  # from Cleint_City_Rating
    assert data["default"].tolist() == [0, 0, 0, 1, 0, 0]


# --- the Home Credit layout -------------------------------------------------------------


def pick(row: pd.Series, *names: str) -> list[Any]:
    return [row[name] for name in names]


def test_home_credit_rows_file() -> None:
    """Three invented rows in application_train's layout (tab-separated, index column)."""
    result = import_table(TESTDATA / "home_credit_rows.tsv", "home_credit")
    assert (result.rows_in, len(result.data), len(result.quarantine)) == (3, 3, 0)
    assert result.unparseable == {}
    data = result.data.set_index("application_id")
    assert data.index.tolist() == ["900001", "900002", "900003"]
    first, pensioner, third = (data.iloc[i] for i in range(3))
    assert (first["client_income"], first["credit_amount"], first["loan_annuity"]) == (
        6000.0, 15000.0, 750.0,
    )  # fmt: skip
    assert (first["car_owned"], first["house_own"]) == (0.0, 1.0)
    assert pick(first, "accompany_client", "client_income_type", "client_education") == [
        "alone", "service", "secondary",
    ]  # fmt: skip
    assert pick(first, "client_marital_status", "client_gender", "loan_contract_type") == [
        "single", "male", "cash",
    ]  # fmt: skip
    assert pick(first, "age_days", "employed_days", "registration_days", "id_days") == [
        10000.0, 700.0, 3000.0, 2000.0,
    ]  # fmt: skip
    assert pick(first, "client_occupation", "type_organization") == [
        "laborers", "business_entity_type_3",
    ]  # fmt: skip
    assert (first["application_process_day"], first["client_city_rating"]) == (2.0, 2.0)
    assert (first["client_permanent_match_tag"], first["client_contact_work_tag"]) == (1.0, 0.0)
    assert (first["social_circle_default"], first["phone_change"]) == (0.25, 1000.0)
    assert (first["homephone_tag"], first["workphone_working"], first["default"]) == (1, 0, 1)
    assert np.isnan(first["bike_owned"]) and pd.isna(first["application_date"])

    assert pick(pensioner, "accompany_client", "client_income_type", "client_education") == [
        "partner", "retired", "graduation",
    ]  # fmt: skip
    assert pick(pensioner, "client_marital_status", "client_housing_type") == [
        "married", "family",
    ]  # fmt: skip
    assert np.isnan(pensioner["employed_days"])  # 365243
    assert pensioner["application_process_day"] == 6.0  # "sunday", case-insensitive
    assert pensioner["own_house_age"] == 12.0
    assert pensioner["type_organization"] is None  # XNA
    assert np.isnan(pensioner["social_circle_default"])  # 0 of 0 observed
    assert pensioner["phone_change"] == 0.0 and not np.signbit(pensioner["phone_change"])

    assert pick(third, "accompany_client", "client_education", "client_marital_status") == [
        "others", "junior_secondary", "widowed",
    ]  # fmt: skip
    assert third["client_gender"] is None  # XNA
    assert pick(third, "client_housing_type", "client_occupation") == ["shared", "waiters"]
    assert third["type_organization"] == "industry_type_11"


def test_parquet_and_gzip_sources_give_the_same_result(tmp_path: Path) -> None:
    tsv = TESTDATA / "home_credit_rows.tsv"
    expected = import_table(tsv, "home_credit").data
    parquet = tmp_path / "rows.parquet"
    pd.read_csv(tsv, sep="\t", index_col=0).to_parquet(parquet)
    pd.testing.assert_frame_equal(import_table(parquet, "home_credit").data, expected)
    gz = tmp_path / "rows.tsv.gz"
    gz.write_bytes(gzip.compress(tsv.read_bytes()))
    pd.testing.assert_frame_equal(import_table(gz, "home_credit").data, expected)
