from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from loan_default.data.generate import simulate
from loan_default.reference import MONITORED_FIELDS, build_reference
from loan_default.schema import field
from monitoring.quality import QualityConfig, compute_quality, invalid_mask, lookup_quality


@pytest.fixture(scope="module")
def clean():
    return simulate(400, seed=3).frame


def _by_name(summary):
    return {f.name: f for f in summary.fields}


def test_generated_traffic_is_clean(clean):
    summary = compute_quality(clean)
    assert not summary.breach and summary.problems == []
    assert len(summary.fields) == len(MONITORED_FIELDS)
    assert all(f.invalid_rate == 0.0 for f in summary.fields)


@pytest.mark.parametrize(
    ("name", "values", "expected"),
    [
        ("client_income", [1.0, -5.0, np.inf, np.nan, "abc"], [0, 1, 1, 0, 1]),
        ("child_count", [0.0, 2.5, 21.0, 3.0], [0, 1, 1, 0]),
        ("car_owned", [0.0, 1.0, 0.5, 2.0, True], [0, 0, 1, 1, 0]),
        ("client_gender", ["male", "Male", "other", None], [0, 1, 1, 0]),
        ("type_organization", ["self_employed", "Self Employed", "x" * 65, None], [0, 1, 1, 0]),
    ],
)
def test_invalid_values_follow_the_schema_rule(name, values, expected):
    mask = invalid_mask(field(name), pd.Series(values, dtype=object))
    assert mask.astype(int).tolist() == expected


def test_missing_and_invalid_rates_and_breach(clean):
    frame = clean.copy()
    frame.loc[frame.index[:100], "client_income"] = -1.0  # 25% invalid
    frame.loc[frame.index[:300], "loan_annuity"] = np.nan  # 300 of 400 rows
    summary = compute_quality(frame, QualityConfig(max_invalid_rate=0.01, max_missing_rate=0.7))
    by = _by_name(summary)
    assert by["client_income"].invalid_rate == pytest.approx(0.25)
    assert by["loan_annuity"].missing_rate == pytest.approx(
        clean["loan_annuity"].iloc[300:].isna().mean() / 4 + 0.75
    )
    assert summary.breached_fields == ["client_income", "loan_annuity"]
    assert summary.breach
    assert any("client_income: 25.0% invalid" in p and "from 1 to 1e+09" in p
               for p in summary.problems)  # fmt: skip
    assert any(p.startswith("loan_annuity: 75") and "(limit 70.0%)" in p for p in summary.problems)


def test_missing_limit_relative_to_the_reference_and_per_field(clean):
    training = simulate(2_000, seed=4)
    reference = build_reference(training.frame, training.probability)
    expected = reference.stats.fields["own_house_age"].missing_rate
    summary = compute_quality(clean, reference=reference)
    assert _by_name(summary)["own_house_age"].missing_limit == pytest.approx(expected + 0.2)
    assert not summary.breach
    shifted = simulate(400, seed=5, shift="missing_scores").frame
    assert compute_quality(shifted, reference=reference).breached_fields == ["score_source_2"]
    relaxed = QualityConfig(missing_limits={"score_source_2": 0.9})
    assert not compute_quality(shifted, relaxed, reference=reference).breach


def test_absent_column_is_all_missing_and_small_windows_never_breach(clean):
    summary = compute_quality(clean.drop(columns=["credit_bureau"]))
    assert _by_name(summary)["credit_bureau"].missing_rate == 1.0
    assert summary.breached_fields == ["credit_bureau"]
    small = compute_quality(clean.iloc[:10].drop(columns=["credit_bureau"]))
    assert not small.breach
    assert compute_quality(clean.iloc[:0]).rows == 0


def test_lookup_quality_counts_outcomes_and_flags_many_misses():
    notes = [{"outcome": "hit"}] * 60 + [{"outcome": "miss"}] * 30 + [{"outcome": "error"}] * 10
    summary = lookup_quality([*notes, None, None], QualityConfig(max_lookup_miss_share=0.2))
    assert summary is not None
    assert summary.looked_up == 100 and summary.outcomes == {"hit": 60, "miss": 30, "error": 10}
    assert (summary.miss_share, summary.failure_share) == (0.3, 0.1)
    assert summary.flagged and summary.problem == (
        "feature store: 30.0% of 100 lookups found no client (limit 20.0%)"
    )
    for few_or_within_limit in (
        lookup_quality(notes, QualityConfig(max_lookup_miss_share=0.3)),
        lookup_quality(notes[60:], QualityConfig(min_rows=60)),  # 40 lookups: too few
    ):
        assert few_or_within_limit is not None and not few_or_within_limit.flagged
    assert lookup_quality([None, None]) is None
