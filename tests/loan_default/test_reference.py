from __future__ import annotations

import numpy as np
import pytest

from loan_default.data.generate import simulate
from loan_default.errors import InputError, NotFoundError
from loan_default.reference import (
    MONITORED_FIELDS,
    PROBABILITY,
    CategoricalProfile,
    NumericProfile,
    ReferenceProfile,
    bin_counts,
    build_reference,
    category_counts,
)


@pytest.fixture(scope="module")
def training():
    return simulate(2_000, seed=1)


@pytest.fixture(scope="module")
def frame(training):
    return training.frame


@pytest.fixture(scope="module")
def probabilities(training):
    return training.probability


def test_bins_are_right_closed_with_open_ends_and_a_missing_bin():
    counts = bin_counts(np.array([-5.0, 1.0, 1.5, 2.0, 9.0, np.nan]), np.array([1.0, 2.0]))
    assert counts.tolist() == [2, 2, 1, 1]


def test_category_counts_separate_unseen_and_missing():
    import pandas as pd

    values = pd.Series(["a", "b", "a", "zzz", None], dtype="object")
    assert category_counts(values, ["a", "b"]).tolist() == [2, 1, 1, 1]


def test_profile_covers_every_monitored_field_with_proportions_summing_to_one(frame, probabilities):
    ref = build_reference(frame, probabilities, sample_rows=500, seed=3)
    assert set(ref.stats.fields) == {f.name for f in MONITORED_FIELDS}
    assert "application_id" not in ref.stats.fields
    assert "client_gender" in ref.stats.fields  # protected attributes are monitored too
    for name, profile in ref.stats.fields.items():
        assert sum(profile.proportions) == pytest.approx(1.0), name
    assert ref.stats.rows == 2_000
    assert ref.stats.sample_rows == 500 == len(ref.sample)
    assert ref.stats.label_rate == pytest.approx(frame["default"].mean())
    assert sum(ref.stats.score.proportions) == pytest.approx(1.0)


def test_numeric_bins_are_deciles_with_the_missing_share_apart(frame, probabilities):
    continuous = np.random.default_rng(5).lognormal(8.0, 0.6, size=len(frame))  # no ties
    ref = build_reference(frame.assign(client_income=continuous), probabilities)
    income = ref.stats.fields["client_income"]
    assert isinstance(income, NumericProfile)
    assert income.edges == pytest.approx(np.quantile(continuous, np.linspace(0.1, 0.9, 9)))
    assert np.allclose(income.proportions[:-1], 0.1, atol=0.001)
    assert income.missing_rate == 0.0
    assert income.mean == pytest.approx(continuous.mean())
    assert income.max == pytest.approx(continuous.max())
    score1 = ref.stats.fields["score_source_1"]
    assert score1.missing_rate == pytest.approx(frame["score_source_1"].isna().mean())
    assert score1.proportions[-1] == pytest.approx(score1.missing_rate)


def test_discrete_fields_get_deduplicated_edges(frame, probabilities):
    rating = build_reference(frame, probabilities).stats.fields["client_city_rating"]
    assert isinstance(rating, NumericProfile)
    assert rating.edges == sorted(set(rating.edges))
    assert len(rating.edges) <= 3


def test_booleans_and_categories_are_frequencies(frame, probabilities):
    ref = build_reference(frame, probabilities)
    car = ref.stats.fields["car_owned"]
    assert isinstance(car, CategoricalProfile)
    assert sorted(car.categories) == ["0", "1"]
    share_true = car.proportions[car.categories.index("1")]
    assert share_true == pytest.approx((frame["car_owned"] == 1).mean())
    occupation = ref.stats.fields["client_occupation"]
    assert occupation.proportions[-2] == 0.0  # no unseen category in the reference itself
    assert occupation.missing_rate == pytest.approx(frame["client_occupation"].isna().mean())


def test_save_and_load_round_trip(tmp_path, frame, probabilities):
    ref = build_reference(frame, probabilities, sample_rows=300, seed=4)
    ref.save(tmp_path / "ref")
    loaded = ReferenceProfile.load(tmp_path / "ref")
    assert loaded.stats == ref.stats
    assert loaded.sample[PROBABILITY].tolist() == ref.sample[PROBABILITY].tolist()
    assert loaded.sample["client_gender"].tolist() == ref.sample["client_gender"].tolist()
    assert np.array_equal(loaded.sorted_values("client_income"), ref.sorted_values("client_income"))


def test_sample_draw_is_seeded(frame, probabilities):
    a = build_reference(frame, probabilities, sample_rows=100, seed=7).sample
    b = build_reference(frame, probabilities, sample_rows=100, seed=7).sample
    assert a.equals(b)


def test_bad_inputs_are_named(tmp_path, frame, probabilities):
    with pytest.raises(InputError, match="1999 values"):
        build_reference(frame, probabilities[:-1])
    with pytest.raises(InputError, match="empty"):
        build_reference(frame.iloc[:0], probabilities[:0])
    with pytest.raises(NotFoundError, match=r"reference\.json"):
        ReferenceProfile.load(tmp_path / "nowhere")
