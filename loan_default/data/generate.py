"""Synthetic loan applications with a known default mechanism, for tests, demos and benchmarks.

:func:`generate_applications` draws a population in the canonical schema whose marginals,
correlations and missing values follow the public Loan Default / Home Credit tables (money on
the Loan Default scale, i.e. Home Credit amounts divided by 30):

* age drives the income type (``retired`` from the late fifties, with no employment days),
  employment length, marital status, children and housing; family members = 1 + partner +
  children;
* income depends on income type, education, occupation, city rating and age; the credit grows
  with income (credit-to-income falls as income rises); the instalment follows from the credit
  through a term (longer for larger credits) and an annual rate priced on the applicant's
  creditworthiness; revolving loans pay 5% a period;
* each applicant lives in one of 79 fixed regions: populous regions have the best city rating;
* the three external scores share a latent creditworthiness and rise with age (score 1 most);
* missing: score 1 ~56%, score 3 ~20%, own_house_age ~66% (present only for car owners),
  occupation ~30% (retired, plus 15% of workers), social circle ~50%, credit bureau ~15%,
  2% elsewhere; never in the required fields, the identifiers or the date;
* ``client_id`` repeats: about 15% of applications come from a client who applied before,
  often within weeks (loan stacking; :mod:`loan_default.data.clients`);
* ``application_date`` spreads over the ``months`` before ``period_end`` (fixed by default, so a
  seed always gives the same frame) and fixes ``application_process_day`` and ``_hour``.

The label follows a known logistic mechanism (:func:`default_logit`) of the *observed* features,
a missing value counting as the population's typical one (the fill):

======================================  ========  ======  =====================================
term                                    coeff.    fill    meaning
======================================  ========  ======  =====================================
score_source_1 - 0.50                   -2.6      0.50    better external scores, less risk
score_source_2 - 0.52                   -3.0      0.52
score_source_3 - 0.51                   -3.4      0.51
min(debt_to_income, 1.5) - 0.18         +2.5      0.18    annuity / income: heavier, riskier
log(credit_to_income) - 1.1             +0.20             larger credit for the income
age in years - 43                       -0.022            younger, riskier
log1p(employed years) - 1.5             -0.22     1.5     longer employment, less risk
social_circle_default - 0.04            +1.6      0.04    defaults among the social circle
client_city_rating - 2                  +0.25     2       worse city rating, riskier
credit_bureau - 1.9                     +0.06     1.9     more bureau enquiries, riskier
min(phone_change years, 8) - 2.6        -0.10     2.6     a recent phone change, riskier
car_owned / active_loan                 -0.2/+0.2 0
loan_contract_type, client_education,   table     0       :data:`CATEGORY_EFFECTS`
client_income_type, client_occupation
intercept                               -3.12             about 8% defaults
======================================  ========  ======  =====================================

``client_gender`` has NO effect (a protected attribute; it correlates mildly with income and
car ownership, as in the real table). The mechanism's own probability ranks defaults with a
ROC AUC of about 0.82; a LightGBM model trained on 20,000 rows about 0.81 (``bench/features.py``).

Shifts (:mod:`loan_default.data.shifts`) are applied *after* the population is drawn and move only
the features they name; the labels are then drawn from the unchanged mechanism on the shifted
features with the same random numbers (covariate shift), plus an optional logit offset
(concept drift). Everything is vectorised numpy: 100,000 rows take about a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from scipy.special import expit

from loan_default.data import population as pop
from loan_default.data.clients import client_ids
from loan_default.data.shifts import PRESETS, Shift, apply_shift, resolve_shift
from loan_default.errors import InputError
from loan_default.schema import DAYS_PER_YEAR, coerce_frame

__all__ = [
    "CATEGORY_EFFECTS",
    "DEFAULT_PERIOD_END",
    "PRESETS",
    "Shift",
    "Simulation",
    "default_logit",
    "default_probability",
    "generate_applications",
    "simulate",
]

DEFAULT_PERIOD_END = datetime(2026, 11, 1, tzinfo=UTC)
"""End of the default application window: fixed, so a seed always yields the same frame."""

INTERCEPT = -3.12
CATEGORY_EFFECTS: dict[str, dict[str, float]] = {
    "loan_contract_type": {"revolving": -0.25},
    "client_education": {
        "junior_secondary": 0.35,
        "secondary": 0.15,
        "graduation_dropout": 0.10,
        "graduation": -0.25,
        "post_grad": -0.50,
    },
    "client_income_type": {
        "service": 0.10,
        "govt_job": -0.30,
        "retired": -0.10,
        "businessman": -0.40,
        "unemployed": 0.60,
        "maternity_leave": 0.30,
    },
    "client_occupation": {
        "laborers": 0.15,
        "low_skill_laborers": 0.45,
        "drivers": 0.25,
        "waiters": 0.20,
        "cooking": 0.15,
        "security": 0.15,
        "cleaning": 0.10,
        "sales": 0.10,
        "core": -0.10,
        "managers": -0.20,
        "high_skill_tech": -0.20,
        "accountants": -0.30,
        "medicine": -0.10,
        "hr": -0.10,
        "it": -0.20,
    },
}
"""Additive logit effect of each category value (absent values and missing: 0)."""


@dataclass(frozen=True)
class Simulation:
    """A generated frame and the mechanism's true probability of default for each row."""

    frame: pd.DataFrame
    probability: np.ndarray


def _column(frame: pd.DataFrame, name: str, fill: float) -> np.ndarray:
    if name not in frame.columns:
        return np.full(len(frame), fill)
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(np.float64, na_value=np.nan)
    return np.where(np.isnan(values), fill, values)


def default_logit(frame: pd.DataFrame, *, logit_offset: float = 0.0) -> np.ndarray:
    """The generating mechanism's log-odds of default for each row of a canonical frame.

    See the module docstring for the terms; ``client_gender`` is never read. Absent columns
    count as missing (their fill value).
    """
    c = _column
    income = c(frame, "client_income", np.nan)
    credit = c(frame, "credit_amount", np.nan)
    dti = np.where(income > 0, c(frame, "loan_annuity", np.nan) / income, np.nan)
    dti = np.minimum(np.where(np.isnan(dti), 0.18, dti), 1.5)
    cti = np.where((income > 0) & (credit > 0), credit / income, np.e**1.1)
    employed_days = c(frame, "employed_days", np.nan)
    employed_term = np.where(np.isnan(employed_days), 1.5, np.log1p(employed_days / DAYS_PER_YEAR))
    phone_years = np.minimum(c(frame, "phone_change", 2.6 * DAYS_PER_YEAR) / DAYS_PER_YEAR, 8)
    logit = (
        INTERCEPT
        + logit_offset
        - 2.6 * (c(frame, "score_source_1", 0.50) - 0.50)
        - 3.0 * (c(frame, "score_source_2", 0.52) - 0.52)
        - 3.4 * (c(frame, "score_source_3", 0.51) - 0.51)
        + 2.5 * (dti - 0.18)
        + 0.20 * (np.log(cti) - 1.1)
        - 0.022 * (c(frame, "age_days", 43 * DAYS_PER_YEAR) / DAYS_PER_YEAR - 43)
        - 0.22 * (employed_term - 1.5)
        + 1.6 * (c(frame, "social_circle_default", 0.04) - 0.04)
        + 0.25 * (c(frame, "client_city_rating", 2) - 2)
        + 0.06 * (c(frame, "credit_bureau", 1.9) - 1.9)
        - 0.10 * (phone_years - 2.6)
        - 0.20 * c(frame, "car_owned", 0)
        + 0.20 * c(frame, "active_loan", 0)
    )
    for name, effects in CATEGORY_EFFECTS.items():
        if name in frame.columns:
            logit += frame[name].map(effects).fillna(0.0).to_numpy(np.float64)
    return np.asarray(logit, dtype=np.float64)


def default_probability(frame: pd.DataFrame, *, logit_offset: float = 0.0) -> np.ndarray:
    """The mechanism's true P(default) for each row of a canonical frame."""
    return np.asarray(expit(default_logit(frame, logit_offset=logit_offset)), dtype=np.float64)


def simulate(
    rows: int,
    *,
    seed: int,
    shift: str | Shift | None = None,
    period_end: datetime = DEFAULT_PERIOD_END,
    months: int = 6,
) -> Simulation:
    """Draw ``rows`` applications, apply ``shift``, then draw the labels from the mechanism.

    Args:
        rows: number of applications (>= 0).
        seed: the same seed (and arguments) always gives an identical frame.
        shift: a preset name (see :data:`PRESETS`), a :class:`Shift`, or None.
        period_end: applications are dated in the ``months`` before this instant (naive: UTC).
        months: length of the application window.

    Raises:
        InputError: a negative row count or seed, an unknown preset or an invalid shift.
    """
    if rows < 0:
        raise InputError(f"rows must be >= 0, got {rows}")
    if seed < 0:
        raise InputError(f"seed must be >= 0, got {seed}")
    if months < 1:
        raise InputError(f"months must be >= 1, got {months}")
    if period_end.tzinfo is None:
        period_end = period_end.replace(tzinfo=UTC)
    spec = resolve_shift(shift)
    rng = np.random.default_rng(seed)
    columns = pop.draw_population(rng, rows, period_end=period_end, months=months)
    uniforms = rng.random(rows)
    width = max(len(str(max(rows - 1, 0))), 7)
    pattern = f"APP-{seed}-%0{width}d"
    columns["application_id"] = np.array([pattern % i for i in range(rows)], dtype=object)
    columns["client_id"] = client_ids(columns["application_date"], seed=seed)
    frame = coerce_frame(pd.DataFrame(columns), with_label=False)
    offset = 0.0
    if spec is not None:
        frame = apply_shift(frame, spec, seed=seed)
        offset = spec.logit_offset
    probability = default_probability(frame, logit_offset=offset)
    frame["default"] = (uniforms < probability).astype(np.float64)
    return Simulation(frame=frame, probability=probability)


def generate_applications(
    rows: int,
    *,
    seed: int,
    shift: str | Shift | None = None,
    period_end: datetime = DEFAULT_PERIOD_END,
    months: int = 6,
) -> pd.DataFrame:
    """A canonical frame of ``rows`` synthetic applications with the label ``default``.

    Same arguments as :func:`simulate`, which also returns the true probabilities.
    """
    return simulate(rows, seed=seed, shift=shift, period_end=period_end, months=months).frame
