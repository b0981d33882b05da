"""The synthetic population: canonical, valid, realistic, deterministic, and shiftable."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from loan_default.data.cli import app as data_app
from loan_default.data.generate import (
    DEFAULT_PERIOD_END,
    PRESETS,
    Shift,
    Simulation,
    default_probability,
    generate_applications,
    simulate,
)
from loan_default.errors import InputError
from loan_default.schema import (
    CANONICAL_COLUMNS,
    FIELDS,
    REQUIRED_FIELDS,
    Kind,
    canonical_dtypes,
)

ROWS = 20_000


@pytest.fixture(scope="module")
def simulation() -> Simulation:
    return simulate(ROWS, seed=2024)


@pytest.fixture(scope="module")
def frame(simulation: Simulation) -> pd.DataFrame:
    return simulation.frame


def test_same_seed_same_frame_and_another_seed_another() -> None:
    first = generate_applications(500, seed=9)
    pd.testing.assert_frame_equal(first, generate_applications(500, seed=9))
    other = generate_applications(500, seed=10)
    assert not first["client_income"].equals(other["client_income"])
    assert set(first["application_id"]).isdisjoint(other["application_id"])


def test_canonical_columns_dtypes_and_unique_ids(frame: pd.DataFrame) -> None:
    assert tuple(frame.columns) == CANONICAL_COLUMNS
    assert frame.dtypes.astype(str).to_dict() == canonical_dtypes()
    assert frame["application_id"].is_unique
    assert generate_applications(0, seed=1).shape == (0, len(CANONICAL_COLUMNS))


def test_every_value_is_within_its_field_rule(frame: pd.DataFrame) -> None:
    for spec in FIELDS:
        values = frame[spec.name].dropna()
        if spec.is_numeric:
            low = -np.inf if spec.minimum is None else spec.minimum
            high = np.inf if spec.maximum is None else spec.maximum
            assert values.between(low, high).all(), spec.name
            if spec.kind is not Kind.NUMBER:
                assert (values == values.round()).all(), spec.name
        elif spec.kind is Kind.CATEGORY and spec.categories is not None:
            assert set(values) <= set(spec.categories), spec.name
        elif spec.kind is Kind.CATEGORY:
            assert all(re.fullmatch(r"[a-z0-9_]+", v) for v in values), spec.name
    for spec in REQUIRED_FIELDS:
        assert frame[spec.name].notna().all(), spec.name
    assert frame[["application_id", "application_date", "default"]].notna().all().all()


@pytest.mark.parametrize(
    ("name", "share"),
    [
        ("score_source_1", 0.56),
        ("score_source_3", 0.20),
        ("own_house_age", 0.66),
        ("client_occupation", 0.30),
        ("social_circle_default", 0.50),
        ("credit_bureau", 0.15),
        ("loan_annuity", 0.02),
        ("client_gender", 0.02),
    ],
)
def test_missing_values_where_real_tables_have_them(
    frame: pd.DataFrame, name: str, share: float
) -> None:
    assert frame[name].isna().mean() == pytest.approx(share, abs=0.04)


def test_relations_between_fields(frame: pd.DataFrame) -> None:
    retired = frame["client_income_type"] == "retired"
    assert frame.loc[retired, "employed_days"].isna().all()
    assert frame.loc[retired, "age_days"].median() > frame.loc[~retired, "age_days"].median()
    assert (
        frame["employed_days"].dropna().lt(frame["age_days"][frame["employed_days"].notna()]).all()
    )
    both = frame[["client_family_members", "child_count"]].dropna()
    assert (both["client_family_members"] >= both["child_count"] + 1).all()
    income = frame.groupby("client_education")["client_income"].median()
    assert income["graduation"] > income["secondary"] > income["junior_secondary"]
    by_job = frame.groupby("client_occupation")["client_income"].median()
    assert by_job["managers"] > by_job["cleaning"]
    logs = frame[["client_income", "credit_amount", "loan_annuity"]].transform(np.log)
    correlation = logs.corr().to_numpy()
    assert correlation[0, 1] > 0.3  # income and credit
    assert correlation[1, 2] > 0.8  # credit and instalment
    assert not (frame["loan_annuity"] >= frame["credit_amount"]).any()
    population = frame.groupby("client_city_rating")["population_region_relative"].median()
    assert population[1.0] > population[2.0]
    scores = frame[["score_source_1", "score_source_2", "score_source_3", "age_days"]].corr()
    assert (scores.to_numpy() > 0.05).all()
    has_age = frame["own_house_age"].notna()
    assert frame.loc[has_age, "car_owned"].dropna().eq(1).all()


def test_dates_lie_in_the_window_and_fix_day_and_hour(frame: pd.DataFrame) -> None:
    dates = frame["application_date"]
    assert dates.max() < pd.Timestamp("2026-11-01", tz="UTC")
    assert dates.min() > pd.Timestamp("2026-04-30", tz="UTC")
    day, hour = frame["application_process_day"], frame["application_process_hour"]
    assert (day.dropna() == dates.dt.weekday[day.notna()]).all()
    assert (hour.dropna() == dates.dt.hour[hour.notna()]).all()
    assert dates.dt.weekday.value_counts().idxmin() == 6  # Sundays are quiet


def test_default_rate_and_the_mechanism_discrimination(simulation: Simulation) -> None:
    y = simulation.frame["default"]
    assert 0.06 <= y.mean() <= 0.10
    assert 0.75 <= roc_auc_score(y, simulation.probability) <= 0.85
    np.testing.assert_array_equal(simulation.probability, default_probability(simulation.frame))


def test_mechanism_directions_and_gender_blindness(frame: pd.DataFrame) -> None:
    sample = frame.head(2000)
    base = default_probability(sample)
    swapped = sample.assign(
        client_gender=sample["client_gender"].map({"male": "female", "female": "male"})
    )
    np.testing.assert_array_equal(default_probability(swapped), base)
    heavier = sample.assign(loan_annuity=sample["loan_annuity"] * 1.5)
    assert (
        default_probability(heavier)[sample["loan_annuity"].notna()]
        > base[sample["loan_annuity"].notna()]
    ).all()
    better = sample.assign(score_source_3=sample["score_source_3"].fillna(0.5) + 0.1)
    assert (default_probability(better) < base).all()
    older = sample.assign(age_days=sample["age_days"] + 3650)
    assert (default_probability(older) < base).all()


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_shift_moves_only_the_features_it_names(name: str) -> None:
    shift = PRESETS[name]
    plain = generate_applications(3000, seed=5)
    moved = generate_applications(3000, seed=5, shift=name)
    for column in CANONICAL_COLUMNS:
        if column in shift.features or column == "default":
            continue
        pd.testing.assert_series_equal(moved[column], plain[column], obj=column)
    for column in shift.features:
        assert not moved[column].equals(plain[column]), column
    if name in ("income_drop", "younger", "score_shift", "credit_growth", "default_surge"):
        assert moved["default"].mean() > plain["default"].mean()  # riskier, same mechanism


@pytest.mark.parametrize(
    "shift",
    [
        *sorted(PRESETS),
        Shift(scale={"employed_days": 3.0, "child_count": 4.0, "loan_annuity": 30.0}),
        Shift(scale={"credit_amount": 0.01, "client_family_members": 0.2}),
    ],
)
def test_generated_and_shifted_data_pass_validation(shift: str | Shift) -> None:
    from loan_default.data.validation import validate

    frame = generate_applications(3000, seed=12, shift=shift)
    result = validate(frame, now=DEFAULT_PERIOD_END)
    assert result.quarantine.empty, result.report.summary()
    assert len(result.valid) == len(frame)


def test_preset_effects() -> None:
    plain = generate_applications(3000, seed=6)
    poorer = generate_applications(3000, seed=6, shift="income_drop")
    np.testing.assert_allclose(poorer["client_income"], plain["client_income"] * 0.7)
    younger = generate_applications(3000, seed=6, shift="younger")
    years = (plain["age_days"] - younger["age_days"]).median() / 365.25
    assert 4 < years < 7
    assert younger["age_days"].min() >= 18 * 365.25


def test_custom_shift_fraction_categories_and_clipping() -> None:
    shift = Shift(
        scale={"score_source_2": 3.0},
        categories={"client_education": {"post_grad": 1.0}},
        fraction=0.25,
    )
    plain = generate_applications(8000, seed=8)
    moved = generate_applications(8000, seed=8, shift=shift)
    changed = moved["score_source_2"] != plain["score_source_2"]
    assert changed[plain["score_source_2"].notna()].mean() == pytest.approx(0.25, abs=0.03)
    assert moved["score_source_2"].max() <= 1.0
    post_grad = moved["client_education"] == "post_grad"
    assert post_grad.mean() == pytest.approx(0.25 * 0.98, abs=0.03)
    assert moved["client_education"].isna().equals(plain["client_education"].isna())


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"scale": {"nope": 2.0}}, "'nope' is not a canonical feature"),
        ({"scale": {"client_gender": 2.0}}, "not numeric"),
        ({"scale": {"application_id": 2.0}}, "not a canonical feature"),
        ({"categories": {"client_income": {"a": 1.0}}}, "not a category"),
        ({"categories": {"client_education": {"wizard": 1.0}}}, "weights for 'client_education'"),
        ({"missing": {"client_income": 0.5}}, "'client_income'"),
        ({"fraction": 0.0}, "fraction"),
    ],
)
def test_invalid_shifts_are_refused_naming_the_field(kwargs: dict, words: str) -> None:
    with pytest.raises(InputError, match=re.escape(words)):
        Shift("bad", **kwargs)


def test_unknown_preset_and_bad_sizes() -> None:
    with pytest.raises(InputError, match="unknown shift 'nope'; choose one of none"):
        generate_applications(10, seed=1, shift="nope")
    with pytest.raises(InputError, match="rows must be >= 0"):
        generate_applications(-1, seed=1)
    with pytest.raises(InputError, match="seed must be >= 0, got -3"):
        generate_applications(10, seed=-3)


def test_the_mechanism_counts_absent_columns_as_missing(frame: pd.DataFrame) -> None:
    required = frame[["client_income", "credit_amount", "age_days"]].head(50)
    emptied = required.assign(score_source_2=None, client_education=None)
    np.testing.assert_allclose(default_probability(required), default_probability(emptied))


def test_cli_writes_the_file_and_refuses_bad_input(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "apps.parquet"
    result = runner.invoke(data_app, ["generate", "--rows", "300", "--seed", "4", str(out)])
    assert result.exit_code == 0, result.output
    assert "300 applications" in result.output and "generated in" in result.output
    written = pd.read_parquet(out)
    pd.testing.assert_frame_equal(written, generate_applications(300, seed=4), check_dtype=False)
    csv = tmp_path / "apps.csv"
    result = runner.invoke(
        data_app,
        ["generate", "--rows", "50", "--shift", "younger", "--end", "2026-01-31", str(csv)],
    )
    assert result.exit_code == 0, result.output
    dates = pd.to_datetime(pd.read_csv(csv)["application_date"])
    assert dates.max() < pd.Timestamp("2026-02-01", tz="UTC")
    bad = runner.invoke(data_app, ["generate", "--rows", "5", "--shift", "nope", str(out)])
    assert isinstance(bad.exception, InputError) and bad.exception.exit_code == 2
    usage = runner.invoke(data_app, ["generate", "--help"], terminal_width=200).output
    assert all(name in usage for name in PRESETS)
    wrong = runner.invoke(data_app, ["generate", "--rows", "5", str(tmp_path / "x.json")])
    assert isinstance(wrong.exception, InputError) and "x.json" in str(wrong.exception)


@pytest.mark.slow
def test_a_good_model_learns_the_mechanism(frame: pd.DataFrame) -> None:
    """A LightGBM on 10,000 rows ranks held-out defaults with an AUC in the 0.75-0.85 band."""
    import lightgbm as lgb

    from loan_default.features import FeatureEngineer

    train, test = frame.iloc[:10_000], frame.iloc[10_000:]
    features = FeatureEngineer().fit(train)
    model = lgb.LGBMClassifier(
        n_estimators=120, learning_rate=0.07, num_leaves=15, min_child_samples=50,
        subsample=0.8, subsample_freq=1, colsample_bytree=0.8, random_state=0, verbose=-1,
    )  # fmt: skip
    model.fit(features.transform(train), train["default"])
    p = np.asarray(model.predict_proba(features.transform(test)))[:, 1]
    assert 0.75 <= roc_auc_score(test["default"], p) <= 0.85
