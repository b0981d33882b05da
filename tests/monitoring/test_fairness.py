from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from loan_default.errors import InputError
from loan_default.schema import DAYS_PER_YEAR
from monitoring.fairness import FairnessConfig, age_bands, compute_fairness

DECLINE = FairnessConfig(adverse_decisions=["decline"])
"""Declines alone as adverse (the default also counts referrals: not approved)."""


def _decisions(n: int, high: int, medium: int = 0) -> list[str]:
    return ["decline"] * high + ["refer"] * medium + ["approve"] * (n - high - medium)


@pytest.fixture
def window():
    """200 men (20 declined, 40 referred), 200 women (60 declined, 10 referred), 20 missing
    (all declined)."""
    gender = ["male"] * 200 + ["female"] * 200 + [None] * 20
    risk = _decisions(200, 20, 40) + _decisions(200, 60, 10) + _decisions(20, 20)
    frame = pd.DataFrame(
        {
            "client_gender": pd.Series(gender, dtype=object),
            "client_education": ["secondary"] * 420,
            "age_days": [30 * DAYS_PER_YEAR] * 210 + [50 * DAYS_PER_YEAR] * 210,
        }
    )
    return frame, np.array(risk, dtype=object)


def _attr(summary, name):
    return next(a for a in summary.attributes if a.attribute == name)


def test_air_against_the_least_adverse_group(window):
    frame, risk = window
    gender = _attr(compute_fairness(frame, risk, config=DECLINE), "client_gender")
    by = {g.group: g for g in gender.groups}
    assert gender.reference_group == "male"
    assert by["male"].adverse_rate == pytest.approx(0.1)
    assert by["female"].adverse_rate == pytest.approx(0.3)
    assert by["female"].air == pytest.approx(0.7 / 0.9)  # favourable rates
    assert by["female"].adverse_ratio == pytest.approx(3.0)
    assert by["female"].flagged and not by["male"].flagged
    assert gender.flagged_groups == ["female"]
    assert gender.min_air == pytest.approx(0.7 / 0.9)
    assert by["missing"].small and not by["missing"].flagged  # 20 rows, all HIGH
    assert by["missing"].size == 20


def test_not_approved_is_adverse_by_default(window):
    frame, risk = window
    config = FairnessConfig(attributes=["client_gender"])
    gender = _attr(compute_fairness(frame, risk, config=config), "client_gender")
    by = {g.group: g for g in gender.groups}
    assert by["male"].adverse_rate == pytest.approx(0.3)
    assert by["female"].adverse_rate == pytest.approx(0.35)
    assert gender.reference_group == "male"
    assert by["female"].air == pytest.approx(0.65 / 0.7)
    assert not gender.flagged  # 0.93 >= 0.8


def test_age_bands_are_derived_from_age_days():
    days = pd.Series([20, 24.99, 25, 34, 64.9, 65, 90, np.nan]) * DAYS_PER_YEAR
    assert age_bands(days, [25, 35, 45, 55, 65]).tolist() == [
        "<25", "<25", "25-34", "25-34", "55-64", "65+", "65+", "missing",
    ]  # fmt: skip


def test_age_band_attribute(window):
    frame, risk = window
    age = _attr(compute_fairness(frame, risk, config=DECLINE), "age_band")
    by = {g.group: g for g in age.groups}
    assert by["25-34"].size == 210 and by["45-54"].size == 210
    # 25-34 holds the 200 men and 10 women: 20 + 10 HIGH; 45-54: 50 + 20 HIGH
    assert by["25-34"].adverse_rate == pytest.approx(30 / 210)
    assert by["45-54"].air == pytest.approx((1 - 70 / 210) / (1 - 30 / 210))


def test_true_and_false_positive_rate_gaps_with_outcomes(window):
    frame, risk = window
    y = np.zeros(len(frame), dtype=int)
    # men: 20 defaulters = the 20 HIGH -> TPR 1, FPR 0
    y[:20] = 1
    # women: 40 defaulters, 30 of them HIGH -> TPR 0.75; 30 of 160 good payers HIGH -> FPR 0.1875
    y[200:230] = 1
    y[270:280] = 1
    config = FairnessConfig(attributes=["client_gender"], adverse_decisions=["decline"])
    summary = compute_fairness(frame, risk, y, config)
    gender = summary.attributes[0]
    by = {g.group: g for g in gender.groups}
    assert summary.labelled
    assert by["male"].tpr == pytest.approx(1.0) and by["male"].fpr == pytest.approx(0.0)
    assert by["female"].tpr == pytest.approx(0.75)
    assert by["female"].fpr == pytest.approx(30 / 160)
    assert gender.tpr_gap == pytest.approx(0.25)
    assert gender.fpr_gap == pytest.approx(30 / 160)
    assert by["missing"].tpr is None  # no defaulter in that group: undefined, not 0
    assert json.loads(summary.model_dump_json())["flagged"] is True


def test_no_flag_when_rates_are_equal():
    frame = pd.DataFrame({"client_gender": ["male", "female"] * 150})
    risk = np.array(["decline", "refer"] * 15 + ["approve", "approve"] * 135, dtype=object)
    summary = compute_fairness(frame, risk, config=FairnessConfig(attributes=["client_gender"]))
    assert not summary.flagged
    assert all(g.air == pytest.approx(1.0) for g in summary.attributes[0].groups)


def test_bad_inputs_name_the_problem(window):
    frame, risk = window
    with pytest.raises(InputError, match="419 decisions"):
        compute_fairness(frame, risk[:-1])
    with pytest.raises(InputError, match="HIGH"):
        compute_fairness(frame, np.where(risk == "decline", "HIGH", risk))
    with pytest.raises(InputError, match="client_income_type"):
        compute_fairness(frame, risk, config=FairnessConfig(attributes=["client_income_type"]))
    with pytest.raises(InputError, match="0/1 outcome"):
        compute_fairness(frame, risk, np.full(len(frame), 2))


def test_empty_window_is_not_flagged():
    empty = pd.Series([], dtype=object)
    frame = pd.DataFrame({"client_gender": empty, "client_education": empty, "age_days": []})
    summary = compute_fairness(frame, np.array([], dtype=object))
    assert summary.rows == 0 and not summary.flagged
    assert all(a.groups == [] for a in summary.attributes)
