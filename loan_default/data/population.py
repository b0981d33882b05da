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

from loan_default.schema import DAYS_PER_YEAR, field

_LOG_INCOME = np.log(4500.0)
_OTHER_MISSING = 0.02
_WEEKDAY_WEIGHTS = np.array([0.165, 0.175, 0.167, 0.167, 0.163, 0.110, 0.054])

# Non-retired income types (retirement is drawn from age), with their effect on log income.
_INCOME_TYPES = {
    "service": (0.630, 0.0), "commercial": (0.285, 0.20), "govt_job": (0.077, 0.10),
    "businessman": (0.002, 0.60), "student": (0.002, -0.50), "unemployed": (0.002, -0.40),
    "maternity_leave": (0.002, -0.30),
}  # fmt: skip
_RETIRED_INCOME = -0.25
_EDUCATION = {  # probability, effect on log income, graduate
    "junior_secondary": (0.012, -0.15, False), "secondary": (0.715, 0.0, False),
    "graduation_dropout": (0.033, 0.10, False), "graduation": (0.239, 0.25, True),
    "post_grad": (0.001, 0.20, True),
}  # fmt: skip
_OCCUPATIONS = {  # probability, effect on log income, weight multiplier for graduates
    "laborers": (0.250, 0.05, 0.4), "sales": (0.160, -0.05, 0.8), "core": (0.136, 0.05, 1.8),
    "drivers": (0.093, 0.20, 0.4), "managers": (0.090, 0.35, 2.2),
    "high_skill_tech": (0.054, 0.15, 1.5), "accountants": (0.048, 0.20, 2.2),
    "medicine": (0.042, -0.10, 1.5), "security": (0.032, -0.10, 0.5),
    "cooking": (0.029, -0.15, 0.4), "cleaning": (0.019, -0.25, 0.3),
    "private_service": (0.013, -0.05, 1.0), "low_skill_laborers": (0.013, -0.20, 0.2),
    "secretaries": (0.009, -0.10, 1.0), "waiters": (0.006, 0.00, 0.5),
    "realty_agents": (0.004, 0.30, 1.5), "hr": (0.003, 0.05, 2.0), "it": (0.003, 0.50, 3.0),
}  # fmt: skip
_ORGANIZATIONS = {  # Home Credit ORGANIZATION_TYPE shares (private sector), snake_case
    "business_entity_type_3": 0.28, "self_employed": 0.165, "other": 0.071,
    "business_entity_type_2": 0.038, "trade_type_7": 0.027, "construction": 0.024,
    "transport_type_4": 0.021, "business_entity_type_1": 0.020, "housing": 0.015,
    "industry_type_3": 0.015, "trade_type_3": 0.014, "industry_type_11": 0.013,
    "industry_type_9": 0.013, "transport_type_2": 0.012, "security": 0.011, "services": 0.010,
    "bank": 0.010, "agriculture": 0.009, "postal": 0.009, "trade_type_2": 0.007,
    "restaurant": 0.006, "transport_type_3": 0.006, "industry_type_1": 0.005, "hotel": 0.005,
    "industry_type_7": 0.005, "electricity": 0.004, "trade_type_6": 0.003, "insurance": 0.003,
    "industry_type_12": 0.003, "advertising": 0.002, "telecom": 0.002, "mobile": 0.002,
    "legal_services": 0.002, "realtor": 0.001, "culture": 0.001, "cleaning": 0.001,
}  # fmt: skip
_PUBLIC_ORGANIZATIONS = {
    "government": 0.30, "school": 0.20, "medicine": 0.15, "kindergarten": 0.10, "police": 0.06,
    "military": 0.06, "security_ministries": 0.05, "university": 0.04, "emergency": 0.04,
}  # fmt: skip
# Marital status by age band (< 30, 30-55, > 55): single, married, divorced, widowed.
_MARITAL = np.array([[0.35, 0.58, 0.06, 0.01], [0.12, 0.77, 0.08, 0.03], [0.06, 0.66, 0.08, 0.20]])
# Housing by age band: home, family, rental, municipal, office, shared.
_HOUSING = np.array(
    [
        [0.80, 0.12, 0.03, 0.035, 0.01, 0.005],
        [0.90, 0.02, 0.015, 0.045, 0.01, 0.01],
        [0.94, 0.005, 0.005, 0.045, 0.003, 0.002],
    ]
)
_ACCOMPANY = np.array([0.81, 0.13, 0.036, 0.01, 0.001, 0.013])
_MISSING_RATES = {
    "score_source_1": 0.56,
    "score_source_3": 0.20,
    "social_circle_default": 0.50,
    "credit_bureau": 0.15,
    "score_source_2": 0.005,
}
_SCORE_MODEL = {  # weight of creditworthiness, of age; marginal: top * Beta(a, b) (Home Credit fit)
    "score_source_1": (0.35, 0.62, (2.12, 1.83), 0.94),
    "score_source_2": (0.40, 0.10, (2.02, 1.19), 0.82),
    "score_source_3": (0.40, 0.25, (2.21, 1.61), 0.88),
}
_TERMS_MONTHS = np.array([12, 18, 24, 30, 36, 48, 60])
_NEVER_MISSING = {"client_income", "credit_amount", "age_days"}


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
    itype = _pick(rng, _values(_INCOME_TYPES, 0), n)
    income_type = _labels(_INCOME_TYPES, itype)
    income_type[retired] = "retired"
    working = ~retired & ~np.isin(income_type, ["unemployed", "student"])
    edu = _pick(rng, _values(_EDUCATION, 0), n)
    graduate = _values(_EDUCATION, 2)[edu].astype(bool)
    weights = _values(_OCCUPATIONS, 0)
    by_degree = np.vstack([weights, weights * _values(_OCCUPATIONS, 2)])
    occ = _pick(rng, by_degree, graduate.astype(np.intp))
    occ_missing = ~working | (rng.random(n) < 0.15)
    private = _labels(_ORGANIZATIONS, _pick(rng, np.array(list(_ORGANIZATIONS.values())), n))
    public = _pick(rng, np.array(list(_PUBLIC_ORGANIZATIONS.values())), n)
    organization = np.where(
        income_type == "govt_job", _labels(_PUBLIC_ORGANIZATIONS, public), private
    )
    organization[~working] = None
    employed_years = np.exp(np.log(4.5) + 0.025 * (age - 40.0) + 0.95 * rng.standard_normal(n))
    employed_years = np.minimum(employed_years, 0.95 * (age - 17.0))
    cols["client_income_type"] = income_type
    cols["client_education"] = _labels(_EDUCATION, edu)
    cols["client_occupation"] = _labels(_OCCUPATIONS, occ, occ_missing)
    cols["type_organization"] = organization
    cols["employed_days"] = np.where(working, np.round(employed_years * DAYS_PER_YEAR), np.nan)
    cols["workphone_working"] = working & (rng.random(n) < 0.24)
    effect = (
        np.where(retired, _RETIRED_INCOME, _values(_INCOME_TYPES, 1)[itype])
        + _values(_EDUCATION, 1)[edu]
        + np.where(occ_missing, 0.0, _values(_OCCUPATIONS, 1)[occ])
    )
    return working, effect, graduate


def _household(rng: np.random.Generator, age: np.ndarray, cols: dict[str, np.ndarray]) -> None:
    """Marital status, children, family size, housing, region and its city rating."""
    n = len(age)
    band = np.digitize(age, [30.0, 55.0])
    marital = _pick(rng, _MARITAL, band)
    partner = marital == 1
    hump = np.exp(-(((age - 36.0) / 10.0) ** 2))
    children = np.minimum(rng.poisson(0.05 + (0.25 + 0.55 * partner) * hump), 8)
    region_population, region_rating, region_share = regions()
    region = _pick(rng, region_share, n)
    cols["client_marital_status"] = _labels(field("client_marital_status").categories, marital)
    cols["child_count"] = children
    cols["client_family_members"] = 1 + partner + children + (rng.random(n) < 0.02)
    housing = _pick(rng, _HOUSING, band)
    cols["client_housing_type"] = _labels(field("client_housing_type").categories, housing)
    cols["population_region_relative"] = region_population[region]
    cols["client_city_rating"] = region_rating[region]
    cols["house_own"] = rng.random(n) < 0.62 + 0.15 * (age > 40)
    cols["accompany_client"] = _labels(
        field("accompany_client").categories, _pick(rng, _ACCOMPANY, n)
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
        _LOG_INCOME
        + log_income_effect
        + 0.10 * ~female
        + np.select([rating == 1, rating == 3], [0.20, -0.10], 0.0)
        - 0.0004 * (age - 42.0) ** 2
        + 0.45 * rng.standard_normal(n)
    )
    income = np.maximum(np.round(np.exp(log_income) / 75.0) * 75.0, 750.0)
    centred_income = np.log(income) - _LOG_INCOME
    z = 0.25 * centred_income + 0.15 * graduate + rng.standard_normal(n)
    age_c = (age - 43.0) / 11.0
    for name, (wz, wa, shape, top) in _SCORE_MODEL.items():
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
    term = _TERMS_MONTHS[step.astype(np.intp)]
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
    weights = _WEEKDAY_WEIGHTS[(np.arange(days) + end.weekday() - days) % 7]
    day = _pick(rng, weights, n)
    hour = np.clip(np.round(rng.normal(12.0, 3.3, n)), 0, 23)
    seconds = (day - days) * 86400 + hour * 3600 + rng.integers(0, 3600, n)
    start = np.datetime64(end.date(), "s")
    dates = (start + seconds.astype("timedelta64[s]")).astype("datetime64[ns]")
    cols["application_date"] = dates
    cols["application_process_day"] = (dates.astype("datetime64[D]").astype(np.int64) - 4) % 7
    cols["application_process_hour"] = hour


def _mask(rng: np.random.Generator, cols: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """Missing values: the named rates, :data:`_OTHER_MISSING` elsewhere, none where required."""
    out: dict[str, np.ndarray] = {}
    for name, values in cols.items():
        if name == "application_date" or name in _NEVER_MISSING:
            out[name] = values
            continue
        spec = field(name)
        missing = rng.random(n) < _MISSING_RATES.get(name, _OTHER_MISSING)
        if spec.is_numeric:
            column = values.astype(np.float64)
            column[missing] = np.nan
        else:
            column = values.astype(object)
            column[missing] = None
        out[name] = column
    return out
