from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from loan_default.data.generate import simulate
from loan_default.data.shifts import Shift, resolve_shift
from loan_default.errors import InputError
from loan_default.reference import build_reference
from monitoring.drift import DriftConfig, compute_drift, ks_two_sample, psi, psi_band

REF_ROWS, WINDOW, WINDOWS = 20_000, 2_000, 20


@pytest.fixture(scope="module")
def reference():
    """The training population of B's generator, scored with its true default probabilities."""
    training = simulate(REF_ROWS, seed=100)
    return build_reference(training.frame, training.probability, sample_rows=REF_ROWS)


def _window(seed: int, shift: str | Shift | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    window = simulate(WINDOW, seed=seed, shift=shift)
    return window.frame, window.probability


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


@pytest.mark.parametrize(
    "shift",
    [
        "income_drop",
        "younger",
        "score_shift",
        "credit_growth",
        "missing_scores",
        Shift("education", categories={"client_education": {"post_grad": 0.5, "secondary": 0.5}}),
        Shift("gender_mix", categories={"client_gender": {"female": 0.9, "male": 0.1}}),
        Shift(
            "bureau_and_occupation",
            offset={"credit_bureau": 3.0},
            missing={"client_occupation": 0.6},
        ),
    ],
    ids=lambda s: s if isinstance(s, str) else s.name,
)
def test_a_known_shift_flags_exactly_the_shifted_fields(reference, shift):
    frame, scores = _window(7, shift)
    summary = compute_drift(reference, frame, scores, DriftConfig())
    expected = resolve_shift(shift)
    assert expected is not None
    assert sorted(summary.drifted_features) == sorted(expected.features)
    assert summary.drift_detected
    assert summary.share_drifted == pytest.approx(
        len(summary.drifted_features) / len(summary.features)
    )


def test_methods_bands_and_missing_rates_of_a_shift(reference):
    shift = Shift("mixed", scale={"client_income": 0.7}, missing={"score_source_2": 0.5},
                  categories={"client_education": {"post_grad": 1.0}})  # fmt: skip
    frame, scores = _window(8, shift)
    by_name = {f.name: f for f in compute_drift(reference, frame, scores).features}
    assert by_name["client_income"].method == "ks"
    assert by_name["client_education"].method == "chi_square"
    assert by_name["car_owned"].method == "chi_square"  # booleans are compared by frequency
    assert by_name["client_income"].band == by_name["client_education"].band == "act"
    assert by_name["credit_amount"].band == "stable" and not by_name["credit_amount"].drifted
    assert by_name["score_source_2"].missing_rate_reference < 0.05
    assert by_name["score_source_2"].missing_rate_current == pytest.approx(0.5, abs=0.03)
    assert by_name["score_source_2"].psi > 1.0


def test_twenty_windows_without_shift_raise_at_most_one_alarm(reference):
    traffic = simulate(WINDOW * WINDOWS, seed=1_000)  # drawn once, cut into windows
    alarms = 0
    for i in range(WINDOWS):
        rows = slice(i * WINDOW, (i + 1) * WINDOW)
        summary = compute_drift(reference, traffic.frame.iloc[rows], traffic.probability[rows])
        alarms += summary.drift_detected
        assert summary.score_band == "stable"
        assert summary.max_psi < 0.1
    assert alarms <= 1


def test_concept_drift_moves_the_score_but_no_input(reference):
    frame, scores = _window(9, "default_surge")
    summary = compute_drift(reference, frame, scores)
    assert summary.drifted_features == []
    assert summary.score_band == "act"  # the generator's true probabilities rose
    assert summary.drift_detected


def test_score_drift_is_measured_on_the_reference_score_bins(reference):
    window, scores = _window(10)
    summary = compute_drift(reference, window, np.clip(scores * 2.5, 0, 1))
    assert summary.score_band == "act"
    assert summary.score_ks > 0.2
    assert summary.drift_detected
    assert summary.drifted_features == []


def test_small_windows_are_reported_but_never_flagged(reference):
    window, _ = _window(11)
    window = window.iloc[:50]
    summary = compute_drift(reference, window, np.full(50, 0.9))
    assert not summary.enough_data
    assert not summary.drift_detected
    assert summary.drifted_features == []
    assert len(summary.features) == len(reference.stats.fields)


def test_absent_optional_column_counts_as_missing(reference):
    window, scores = _window(12)
    summary = compute_drift(reference, window.drop(columns=["own_house_age"]), scores)
    own = next(f for f in summary.features if f.name == "own_house_age")
    assert own.missing_rate_current == 1.0
    assert own.drifted


def test_configured_field_subset_and_bad_inputs(reference):
    window, scores = _window(13)
    config = DriftConfig(features=["client_income", "client_gender"])
    summary = compute_drift(reference, window, scores, config)
    assert [f.name for f in summary.features] == ["client_income", "client_gender"]
    assert summary.alpha_per_test == pytest.approx(0.025)
    with pytest.raises(InputError, match="not_a_field"):
        compute_drift(reference, window, scores, DriftConfig(features=["not_a_field"]))
    with pytest.raises(InputError, match="1999 values"):
        compute_drift(reference, window, scores[:-1])


def test_summary_is_json_serialisable(reference):
    window, scores = _window(14)
    summary = compute_drift(reference, window, scores)
    assert json.loads(summary.model_dump_json())["rows"] == WINDOW


def test_a_misspelt_threshold_is_refused():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="alpah"):
        DriftConfig.model_validate({"alpah": 0.01})
