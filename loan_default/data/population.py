"""The synthetic applicant population behind :mod:`loan_default.data.generate` (features only).

Frequencies come from the Home Credit ``application_train`` sample (``../shared/data``), money
on the Loan Default scale (Home Credit amounts divided by 30). Every draw is vectorised; the
order of the draws is fixed, so a generator seeded alike yields identical columns.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

import numpy as np
from scipy.special import betaincinv, expit, ndtr

from loan_default.data.frequencies import (
    ACCOMPANY,
    EDUCATION,
    HOUSING,
    INCOME_TYPES,
    LOG_INCOME,
    MARITAL,
    MISSING_RATES,
    NEVER_MISSING,
    OCCUPATIONS,
    ORGANIZATIONS,
    OTHER_MISSING,
    PUBLIC_ORGANIZATIONS,
    RETIRED_INCOME,
    SCORE_MODEL,
    TERMS_MONTHS,
    WEEKDAY_WEIGHTS,
)
from loan_default.schema import DAYS_PER_YEAR, field


def _pick(rng: np.random.Generator, probs: np.ndarray, group: np.ndarray | int) -> np.ndarray:
    """Category codes: ``probs`` (k,) for ``group`` rows, or a (g, k) table row per group code."""
    table = np.atleast_2d(np.asarray(probs, dtype=np.float64))
    cum = np.cumsum(table, axis=1)
    cum /= cum[:, -1:]
    groups = np.zeros(group, dtype=np.intp) if isinstance(group, int) else group
    u = rng.random(len(groups))
    out = np.empty(len(groups), dtype=np.intp)
    for g in range(len(table)):
        rows = groups == g
        out[rows] = np.searchsorted(cum[g], u[rows], side="right")
    return np.minimum(out, table.shape[1] - 1)


@cache
def _quantile_table(a: float, b: float) -> tuple[np.ndarray, np.ndarray]:
    """Beta(a, b) quantiles on a grid of standard-normal values (interpolated: ~100x faster)."""
    x = np.linspace(-6.0, 6.0, 4001)
    return x, betaincinv(a, b, ndtr(x))


def _labels(vocab: Any, codes: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
    out = np.asarray(list(vocab), dtype=object)[codes]
    if missing is not None:
        out[missing] = None
    return out


def _values(table: dict[str, tuple[Any, ...]], position: int) -> np.ndarray:
    return np.array([row[position] for row in table.values()], dtype=np.float64)


@cache
def regions() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 79 fixed regions: relative population, city rating (1 best) and applicant share."""
    rng = np.random.default_rng(20_261_101)
    population = np.sort(np.clip(np.exp(rng.normal(np.log(0.012), 0.75, 79)), 3e-4, 0.06))[::-1]
    population[0] = 0.0725  # the capital: fewer applicants than its size (as in Home Credit)
    share = population * np.where(np.arange(79) == 0, 0.4, 1.0)
    share /= share.sum()
    rating = np.where(np.arange(79) % 6 == 5, 3, 2)  # every sixth region, of every size
    rating[np.cumsum(share) <= 0.10] = 1
    return population.round(6), rating, share


def draw_population(
    rng: np.random.Generator, n: int, *, period_end: datetime, months: int
) -> dict[str, np.ndarray]:
    """The feature columns of ``n`` applicants, plus the application date (canonical names)."""
    age = 20.5 + 49.0 * rng.beta(1.6, 1.9, n)
    female = rng.random(n) < 0.66
    cols: dict[str, np.ndarray] = {
        "age_days": np.round(age * DAYS_PER_YEAR),
        "client_gender": np.where(female, "female", "male").astype(object),
    }
    working, log_income_effect, graduate = _work(rng, age, female, cols)
    _household(rng, age, cols)
    z = _money(rng, age, female, log_income_effect, graduate, cols)
    _history(rng, age, z, working, cols)
    _dates(rng, n, period_end, months, cols)
    return _mask(rng, cols, n)


def _work(
    rng: np.random.Generator, age: np.ndarray, female: np.ndarray, cols: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Income type, education, occupation, employer; (working, log-income effect, graduate)."""
    n = len(age)
    retired = rng.random(n) < 0.01 + 0.96 * expit((age - 57.5 + 2.0 * female) / 1.6)
    itype = _pick(rng, _values(INCOME_TYPES, 0), n)
    income_type = _labels(INCOME_TYPES, itype)
    income_type[retired] = "retired"
    working = ~retired & ~np.isin(income_type, ["unemployed", "student"])
    edu = _pick(rng, _values(EDUCATION, 0), n)
    graduate = _values(EDUCATION, 2)[edu].astype(bool)
    weights = _values(OCCUPATIONS, 0)
    by_degree = np.vstack([weights, weights * _values(OCCUPATIONS, 2)])
    occ = _pick(rng, by_degree, graduate.astype(np.intp))
    occ_missing = ~working | (rng.random(n) < 0.15)
    private = _labels(ORGANIZATIONS, _pick(rng, np.array(list(ORGANIZATIONS.values())), n))
    public = _pick(rng, np.array(list(PUBLIC_ORGANIZATIONS.values())), n)
    organization = np.where(
        income_type == "govt_job", _labels(PUBLIC_ORGANIZATIONS, public), private
    )
    organization[~working] = None
    employed_years = np.exp(np.log(4.5) + 0.025 * (age - 40.0) + 0.95 * rng.standard_normal(n))
    employed_years = np.minimum(employed_years, 0.95 * (age - 17.0))
    cols["client_income_type"] = income_type
    cols["client_education"] = _labels(EDUCATION, edu)
    cols["client_occupation"] = _labels(OCCUPATIONS, occ, occ_missing)
    cols["type_organization"] = organization
    cols["employed_days"] = np.where(working, np.round(employed_years * DAYS_PER_YEAR), np.nan)
    cols["workphone_working"] = working & (rng.random(n) < 0.24)
    effect = (
        np.where(retired, RETIRED_INCOME, _values(INCOME_TYPES, 1)[itype])
        + _values(EDUCATION, 1)[edu]
        + np.where(occ_missing, 0.0, _values(OCCUPATIONS, 1)[occ])
    )
    return working, effect, graduate


def _household(rng: np.random.Generator, age: np.ndarray, cols: dict[str, np.ndarray]) -> None:
    """Marital status, children, family size, housing, region and its city rating."""
    n = len(age)
    band = np.digitize(age, [30.0, 55.0])
    marital = _pick(rng, MARITAL, band)
    partner = marital == 1
    hump = np.exp(-(((age - 36.0) / 10.0) ** 2))
    children = np.minimum(rng.poisson(0.05 + (0.25 + 0.55 * partner) * hump), 8)
    region_population, region_rating, region_share = regions()
    region = _pick(rng, region_share, n)
    cols["client_marital_status"] = _labels(field("client_marital_status").categories, marital)
    cols["child_count"] = children
    cols["client_family_members"] = 1 + partner + children + (rng.random(n) < 0.02)
    housing = _pick(rng, HOUSING, band)
    cols["client_housing_type"] = _labels(field("client_housing_type").categories, housing)
    cols["population_region_relative"] = region_population[region]
    cols["client_city_rating"] = region_rating[region]
    cols["house_own"] = rng.random(n) < 0.62 + 0.15 * (age > 40)
    cols["accompany_client"] = _labels(
        field("accompany_client").categories, _pick(rng, ACCOMPANY, n)
    )


def _money(
    rng: np.random.Generator,
    age: np.ndarray,
    female: np.ndarray,
    log_income_effect: np.ndarray,
    graduate: np.ndarray,
    cols: dict[str, np.ndarray],
) -> np.ndarray:
    """Income, credit, instalment, car, external scores; returns the latent creditworthiness."""
    n = len(age)
    rating = cols["client_city_rating"]
    log_income = (
        LOG_INCOME
        + log_income_effect
        + 0.10 * ~female
        + np.select([rating == 1, rating == 3], [0.20, -0.10], 0.0)
        - 0.0004 * (age - 42.0) ** 2
        + 0.45 * rng.standard_normal(n)
    )
    income = np.maximum(np.round(np.exp(log_income) / 75.0) * 75.0, 750.0)
    centred_income = np.log(income) - LOG_INCOME
    z = 0.25 * centred_income + 0.15 * graduate + rng.standard_normal(n)
    age_c = (age - 43.0) / 11.0
    for name, (wz, wa, shape, top) in SCORE_MODEL.items():
        latent = wz * z + wa * age_c + rng.standard_normal(n) * np.sqrt(1 - wz**2 - wa**2)
        grid, quantiles = _quantile_table(*shape)
        cols[name] = (top * np.clip(np.interp(latent, grid, quantiles), 1e-4, 1.0)).round(6)
    revolving = rng.random(n) < 0.07 + 0.08 * (age < 35)
    log_cti = np.where(
        revolving,
        np.log(2.0) + 0.40 * rng.standard_normal(n),
        np.log(3.4) - 0.35 * centred_income + 0.65 * rng.standard_normal(n),
    )
    credit = np.clip(income * np.exp(log_cti), 500.0, 2e5).round(2)
    step = np.clip(np.round(3 + 1.2 * (log_cti - 1.2) + rng.normal(0, 1.2, n)), 0, 6)
    term = TERMS_MONTHS[step.astype(np.intp)]
    monthly_rate = (0.07 + 0.16 * ndtr(-0.8 * z + 0.4 * rng.standard_normal(n))) / 12.0
    factor = monthly_rate / (1.0 - (1.0 + monthly_rate) ** -term)
    car = rng.random(n) < expit(-1.25 + 1.55 * ~female + 0.6 * centred_income)
    cols["client_income"] = income
    cols["credit_amount"] = credit
    cols["loan_annuity"] = (credit * np.where(revolving, 0.05, factor)).round(2)
    cols["loan_contract_type"] = np.where(revolving, "revolving", "cash").astype(object)
    cols["car_owned"] = car
    own_age = np.where(car, np.minimum(np.round(rng.gamma(1.8, 6.0, n)), 65), np.nan)
    cols["own_house_age"] = own_age
    return z


def _history(
    rng: np.random.Generator,
    age: np.ndarray,
    z: np.ndarray,
    working: np.ndarray,
    cols: dict[str, np.ndarray],
) -> None:
    """Registration, ID and phone changes, social circle, bureau enquiries, contact flags."""
    n = len(age)
    adult_days = (age - 16.0) * DAYS_PER_YEAR
    phone = np.where(rng.random(n) < 0.10, 0.0, rng.gamma(1.1, 900.0, n).clip(0, 4300))
    social = np.where(rng.random(n) < 0.72 + 0.10 * np.tanh(z), 0.0, rng.beta(1.3, 5.0, n))
    cols["registration_days"] = np.round(adult_days * rng.beta(1.1, 1.6, n))
    cols["id_days"] = np.round(np.minimum(adult_days, 5800.0) * rng.beta(1.8, 1.2, n))
    cols["phone_change"] = np.round(phone)
    cols["social_circle_default"] = social.round(4)
    cols["credit_bureau"] = np.minimum(rng.negative_binomial(1.5, 1.5 / 3.4, n), 30)
    cols["bike_owned"] = rng.random(n) < 0.30
    cols["active_loan"] = rng.random(n) < 0.48
    cols["mobile_tag"] = rng.random(n) < 0.999
    cols["homephone_tag"] = rng.random(n) < 0.20 + 0.18 * (age > 50)
    cols["client_permanent_match_tag"] = rng.random(n) < 0.92
    cols["client_contact_work_tag"] = rng.random(n) < 0.82


def _dates(
    rng: np.random.Generator, n: int, period_end: datetime, months: int, cols: dict[str, np.ndarray]
) -> None:
    """Application instants in the window (fewer at weekends), and their weekday and hour."""
    days = int(months * 30.44)
    end = period_end.astimezone(UTC)
    weights = WEEKDAY_WEIGHTS[(np.arange(days) + end.weekday() - days) % 7]
    day = _pick(rng, weights, n)
    hour = np.clip(np.round(rng.normal(12.0, 3.3, n)), 0, 23)
    seconds = (day - days) * 86400 + hour * 3600 + rng.integers(0, 3600, n)
    start = np.datetime64(end.date(), "s")
    dates = (start + seconds.astype("timedelta64[s]")).astype("datetime64[ns]")
    cols["application_date"] = dates
    cols["application_process_day"] = (dates.astype("datetime64[D]").astype(np.int64) - 4) % 7
    cols["application_process_hour"] = hour


def _mask(rng: np.random.Generator, cols: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """Missing values: the named rates, :data:`OTHER_MISSING` elsewhere, none where required."""
    out: dict[str, np.ndarray] = {}
    for name, values in cols.items():
        if name == "application_date" or name in NEVER_MISSING:
            out[name] = values
            continue
        spec = field(name)
        missing = rng.random(n) < MISSING_RATES.get(name, OTHER_MISSING)
        if spec.is_numeric:
            column = values.astype(np.float64)
            column[missing] = np.nan
        else:
            column = values.astype(object)
            column[missing] = None
        out[name] = column
    return out
