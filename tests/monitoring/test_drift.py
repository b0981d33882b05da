from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from loan_default.errors import InputError
from monitoring.drift import DriftConfig, compute_drift, ks_two_sample, psi, psi_band
from monitoring.reference import build_reference
from tests.monitoring.stats_frames import canonical_frame

REF_ROWS, WINDOW, WINDOWS = 20_000, 2_000, 20


@pytest.fixture(scope="module")
def population():
    """One population: the first REF_ROWS rows are the reference, the rest are windows."""
    frame = canonical_frame(REF_ROWS + WINDOW * WINDOWS, seed=11)
    scores = np.random.default_rng(12).beta(1.0, 8.0, size=len(frame))
    return frame, scores


@pytest.fixture(scope="module")
def reference(population):
    frame, scores = population
    return build_reference(frame.iloc[:REF_ROWS], scores[:REF_ROWS], sample_rows=REF_ROWS)


def _window(population, i):
    frame, scores = population
    start = REF_ROWS + i * WINDOW
    return frame.iloc[start : start + WINDOW].copy(), scores[start : start + WINDOW].copy()


def test_psi_by_hand_and_epsilon_for_empty_bins():
    expected = 0.25 * np.log(2) + 0.25 * np.log(1.5)  # (0.25-0.5)ln(0.5) + (0.75-0.5)ln(1.5)
    assert psi(np.array([0.5, 0.5]), np.array([0.25, 0.75])) == pytest.approx(expected)
    empty = psi(np.array([1.0, 0.0]), np.array([0.9, 0.1]), epsilon=1e-4)
    assert empty == pytest.approx((0.9 - 1) * np.log(0.9) + (0.1 - 1e-4) * np.log(0.1 / 1e-4))
    assert psi(np.array([0.3, 0.7, 0.0]), np.array([0.3, 0.7, 0.0])) == 0.0


def test_psi_bands():
    config = DriftConfig()
    assert [psi_band(v, config) for v in (0.0, 0.099, 0.1, 0.249, 0.25)] == [
        "stable", "stable", "watch", "watch", "act",
    ]  # fmt: skip


@pytest.mark.parametrize("discrete", [False, True])
def test_ks_matches_scipy(discrete):
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(size=3_000), rng.normal(0.1, 1.2, size=500)
    if discrete:
        ref, cur = np.round(ref * 2), np.round(cur * 2)
    expected = stats.ks_2samp(ref, cur, method="asymp")
    d, p = ks_two_sample(np.sort(ref), cur)
    assert d == pytest.approx(expected.statistic)
    assert p == pytest.approx(expected.pvalue)


def test_known_shift_flags_exactly_the_shifted_fields(population, reference):
    window, scores = _window(population, 0)
    window["client_income"] *= 1.6
    window["credit_bureau"] = window["credit_bureau"] + 8
    window["client_education"] = np.where(
        np.random.default_rng(5).random(WINDOW) < 0.6, "post_grad", window["client_education"]
    )
    window.loc[window.index[: WINDOW // 2], "score_source_2"] = np.nan  # a missing-rate shift
    summary = compute_drift(reference, window, scores, DriftConfig())
    shifted = {"client_income", "credit_bureau", "client_education", "score_source_2"}
    assert set(summary.drifted_features) == shifted
    assert summary.drift_detected
    assert summary.share_drifted == pytest.approx(len(shifted) / len(summary.features))
    by_name = {f.name: f for f in summary.features}
    assert by_name["client_income"].method == "ks"
    assert by_name["client_education"].method == "chi_square"
    assert by_name["score_source_2"].missing_rate_current == pytest.approx(0.5, abs=0.11)
    assert all(by_name[name].band == "act" for name in ("client_income", "client_education"))


def test_twenty_windows_without_shift_raise_at_most_one_alarm(population, reference):
    alarms = 0
    for i in range(WINDOWS):
        window, scores = _window(population, i)
        summary = compute_drift(reference, window, scores)
        alarms += summary.drift_detected
        assert summary.score_band == "stable"
        assert summary.max_psi < 0.1
    assert alarms <= 1


def test_score_drift_is_measured_on_the_reference_score_bins(population, reference):
    window, scores = _window(population, 1)
    summary = compute_drift(reference, window, np.clip(scores * 2.5, 0, 1))
    assert summary.score_band == "act"
    assert summary.score_ks > 0.2
    assert summary.drift_detected
    assert summary.drifted_features == []


def test_small_windows_are_reported_but_never_flagged(reference):
    window = canonical_frame(50, seed=99)
    summary = compute_drift(reference, window, np.full(50, 0.9))
    assert not summary.enough_data
    assert not summary.drift_detected
    assert summary.drifted_features == []
    assert len(summary.features) == len(reference.stats.fields)


def test_absent_optional_column_counts_as_missing(population, reference):
    window, scores = _window(population, 2)
    summary = compute_drift(reference, window.drop(columns=["own_house_age"]), scores)
    own = next(f for f in summary.features if f.name == "own_house_age")
    assert own.missing_rate_current == 1.0
    assert own.drifted


def test_configured_field_subset_and_bad_inputs(population, reference):
    window, scores = _window(population, 3)
    config = DriftConfig(features=["client_income", "client_gender"])
    summary = compute_drift(reference, window, scores, config)
    assert [f.name for f in summary.features] == ["client_income", "client_gender"]
    assert summary.alpha_per_test == pytest.approx(0.025)
    with pytest.raises(InputError, match="not_a_field"):
        compute_drift(reference, window, scores, DriftConfig(features=["not_a_field"]))
    with pytest.raises(InputError, match="1999 values"):
        compute_drift(reference, window, scores[:-1])


def test_summary_is_json_serialisable(population, reference):
    window, scores = _window(population, 4)
    summary = compute_drift(reference, window, scores)
    assert json.loads(summary.model_dump_json())["rows"] == WINDOW
