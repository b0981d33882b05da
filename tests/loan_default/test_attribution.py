"""Folding contributions into application fields, and choosing the principal reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loan_default.attribution import fold_contributions
from loan_default.features import FeatureEngineer
from loan_default.reasons import (
    ReasonCode,
    ReasonCodes,
    principal_reasons,
    reason_code_table,
    reason_codes,
    validate_reason_codes,
)

APPLICATION = {"client_income": 6750.0, "credit_amount": 61190.55, "age_days": 13957.0,
               "loan_annuity": 3416.85, "score_source_2": 0.478}  # fmt: skip


@pytest.fixture(scope="module")
def fe() -> FeatureEngineer:
    return FeatureEngineer(clip=False).fit(pd.DataFrame())


def _one(fe: FeatureEngineer, feature: str, value: float, application: dict) -> tuple:
    """Contributions with ``value`` on one column only (base value 0.5), folded."""
    names = [str(n) for n in fe.get_feature_names_out()]
    X = fe.transform_records([application])
    contributions = np.zeros((1, len(names) + 1))
    contributions[0, names.index(feature)] = value
    contributions[0, -1] = 0.5
    return fold_contributions(contributions, X, names), names


def _shares(folded: object) -> dict[str, float]:
    values = folded.values[0]  # type: ignore[attr-defined]
    return {f: float(v) for f, v in zip(folded.fields, values, strict=True) if v != 0}  # type: ignore[attr-defined]


def test_a_ratio_of_two_given_fields_is_shared_equally(fe: FeatureEngineer) -> None:
    folded, _ = _one(fe, "debt_to_income", 0.8, APPLICATION)
    assert _shares(folded) == pytest.approx({"loan_annuity": 0.4, "client_income": 0.4})
    assert folded.base[0] == 0.5


def test_a_derived_feature_of_one_field_goes_to_that_field(fe: FeatureEngineer) -> None:
    folded, _ = _one(fe, "age_years", 0.3, APPLICATION)
    assert _shares(folded) == pytest.approx({"age_days": 0.3})


def test_a_ratio_missing_because_a_field_is_missing_goes_to_the_missing_field(
    fe: FeatureEngineer,
) -> None:
    app = {k: v for k, v in APPLICATION.items() if k != "loan_annuity"}
    folded, _ = _one(fe, "debt_to_income", 0.6, app)
    assert _shares(folded) == pytest.approx({"loan_annuity": 0.6})
    assert not folded.given[0, folded.fields.index("loan_annuity")]


def test_score_statistics_go_to_the_scores_given_and_missingness_to_the_missing(
    fe: FeatureEngineer,
) -> None:
    app = {**APPLICATION, "score_source_1": 0.2}
    folded, _ = _one(fe, "ext_score_mean", 0.6, app)
    assert _shares(folded) == pytest.approx({"score_source_1": 0.3, "score_source_2": 0.3})
    folded, _ = _one(fe, "ext_score_missing", 0.6, app)
    assert _shares(folded) == pytest.approx({"score_source_3": 0.6})
    everything = {**app, "score_source_3": 0.5}
    folded, _ = _one(fe, "ext_score_missing", -0.3, everything)
    assert _shares(folded) == pytest.approx({f"score_source_{i}": -0.1 for i in (1, 2, 3)})


def test_folding_keeps_the_sum_and_refuses_unknown_columns(fe: FeatureEngineer) -> None:
    names = [str(n) for n in fe.get_feature_names_out()]
    rng = np.random.default_rng(0)
    X = fe.transform_records([APPLICATION, {**APPLICATION, "client_income": 0.5}])
    contributions = rng.normal(size=(2, len(names) + 1))
    folded = fold_contributions(contributions, X, names)
    np.testing.assert_allclose(folded.values.sum(axis=1) + folded.base, contributions.sum(axis=1))
    with pytest.raises(ValueError, match="no source field known for model feature"):
        fold_contributions(contributions, X, [*names[:-1], "made_up"])


def _codes(share: float = 0.1) -> ReasonCodes:
    fields = reason_codes().codes
    return ReasonCodes({f: ReasonCode(f, f"bad {f}", f"no {f}") for f in fields}, share)


def test_missing_fields_are_cited_only_when_adverse_and_material(fe: FeatureEngineer) -> None:
    names = [str(n) for n in fe.get_feature_names_out()]
    X = fe.transform_records([APPLICATION])
    contributions = np.zeros((1, len(names) + 1))
    for name, value in [("client_income", 1.0), ("phone_change", 0.09),  # missing, 6%: not cited
                        ("accompany_client", -0.5),  # missing, favourable: never cited
                        ("credit_bureau", 0.4),  # missing, 27%: cited as missing
                        ("age_years", 0.01)]:  # fmt: skip
        contributions[0, names.index(name)] = value
    folded = fold_contributions(contributions, X, names)
    reasons = principal_reasons(folded, 0, APPLICATION, _codes(), limit=4)
    assert reasons == [
        {"feature": "client_income", "value": 6750.0, "contribution": 1.0,
         "reason": "bad client_income"},
        {"feature": "credit_bureau", "value": None, "contribution": 0.4,
         "reason": "no credit_bureau"},
        {"feature": "age_days", "value": 13957.0, "contribution": 0.01, "reason": "bad age_days"},
    ]  # fmt: skip
    lenient = principal_reasons(folded, 0, APPLICATION, _codes(0.0), limit=4)
    assert [r["feature"] for r in lenient] == [
        "client_income", "credit_bureau", "phone_change", "age_days"]  # fmt: skip


def test_the_docs_example_cites_no_field_twice_and_no_absent_field_by_its_value(
    fe: FeatureEngineer,
) -> None:
    """The issue's example: phone_change and accompany_client were never given; age_days and
    age_years took two slots with one sentence."""
    names = [str(n) for n in fe.get_feature_names_out()]
    X = fe.transform_records([APPLICATION])
    contributions = np.zeros((1, len(names) + 1))
    for name, value in [("age_days", 0.2), ("age_years", 0.2), ("phone_change", 0.05),
                        ("accompany_client", 0.04), ("debt_to_income", 0.3)]:  # fmt: skip
        contributions[0, names.index(name)] = value
    codes = reason_codes()
    reasons = principal_reasons(fold_contributions(contributions, X, names), 0, APPLICATION, codes)
    assert [(r["feature"], r["reason"]) for r in reasons] == [
        ("age_days", codes.codes["age_days"].reason),
        ("client_income", codes.codes["client_income"].reason),  # a tie: schema order
        ("loan_annuity", codes.codes["loan_annuity"].reason),
    ]  # phone_change (0.05 of 0.75) and accompany_client (0.04) are missing and immaterial


def test_validate_reason_codes_names_every_problem() -> None:
    codes = ReasonCodes({"client_income": ReasonCode("client_income", "low", "none")},
                        source="t.yaml")  # fmt: skip
    assert validate_reason_codes(["client_income"], codes) == []
    assert validate_reason_codes(["credit_to_income", "mystery"], codes) == [
        "model feature 'mystery' has no known source field (not a canonical or derived feature)",
        "field 'credit_amount' (scored through credit_to_income) has no reason code in t.yaml",
    ]
    assert validate_reason_codes([str(n) for n in FeatureEngineer().fit(pd.DataFrame())
                                  .get_feature_names_out()]) == []  # fmt: skip


def test_reason_code_table_lists_each_field_with_the_features_folded_into_it() -> None:
    rows = {row["field"]: row for row in reason_code_table()}
    assert rows["client_income"]["features"] == (
        "client_income, debt_to_income, credit_to_income, income_per_family_member"
    )
    assert rows["phone_change"]["missing_reason"] == "No telephone-change date given"
    only = reason_code_table(["age_days", "age_years"])
    assert only == [{"field": "age_days", "reason": rows["age_days"]["reason"],
                     "missing_reason": rows["age_days"]["missing_reason"],
                     "features": "age_days, age_years"}]  # fmt: skip
