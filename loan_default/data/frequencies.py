"""The frequencies of the synthetic population (:mod:`loan_default.data.population`).

Shares and effects fitted on the Home Credit ``application_train`` sample (``../shared/data``),
money on the Loan Default scale (Home Credit amounts divided by 30).
"""

from __future__ import annotations

import numpy as np

LOG_INCOME = np.log(4500.0)
OTHER_MISSING = 0.02
WEEKDAY_WEIGHTS = np.array([0.165, 0.175, 0.167, 0.167, 0.163, 0.110, 0.054])

# Non-retired income types (retirement is drawn from age), with their effect on log income.
INCOME_TYPES = {
    "service": (0.630, 0.0), "commercial": (0.285, 0.20), "govt_job": (0.077, 0.10),
    "businessman": (0.002, 0.60), "student": (0.002, -0.50), "unemployed": (0.002, -0.40),
    "maternity_leave": (0.002, -0.30),
}  # fmt: skip
RETIRED_INCOME = -0.25
EDUCATION = {  # probability, effect on log income, graduate
    "junior_secondary": (0.012, -0.15, False), "secondary": (0.715, 0.0, False),
    "graduation_dropout": (0.033, 0.10, False), "graduation": (0.239, 0.25, True),
    "post_grad": (0.001, 0.20, True),
}  # fmt: skip
OCCUPATIONS = {  # probability, effect on log income, weight multiplier for graduates
    "laborers": (0.250, 0.05, 0.4), "sales": (0.160, -0.05, 0.8), "core": (0.136, 0.05, 1.8),
    "drivers": (0.093, 0.20, 0.4), "managers": (0.090, 0.35, 2.2),
    "high_skill_tech": (0.054, 0.15, 1.5), "accountants": (0.048, 0.20, 2.2),
    "medicine": (0.042, -0.10, 1.5), "security": (0.032, -0.10, 0.5),
    "cooking": (0.029, -0.15, 0.4), "cleaning": (0.019, -0.25, 0.3),
    "private_service": (0.013, -0.05, 1.0), "low_skill_laborers": (0.013, -0.20, 0.2),
    "secretaries": (0.009, -0.10, 1.0), "waiters": (0.006, 0.00, 0.5),
    "realty_agents": (0.004, 0.30, 1.5), "hr": (0.003, 0.05, 2.0), "it": (0.003, 0.50, 3.0),
}  # fmt: skip
ORGANIZATIONS = {  # Home Credit ORGANIZATION_TYPE shares (private sector), snake_case
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
PUBLIC_ORGANIZATIONS = {
    "government": 0.30, "school": 0.20, "medicine": 0.15, "kindergarten": 0.10, "police": 0.06,
    "military": 0.06, "security_ministries": 0.05, "university": 0.04, "emergency": 0.04,
}  # fmt: skip
# Marital status by age band (< 30, 30-55, > 55): single, married, divorced, widowed.
MARITAL = np.array([[0.35, 0.58, 0.06, 0.01], [0.12, 0.77, 0.08, 0.03], [0.06, 0.66, 0.08, 0.20]])
# Housing by age band: home, family, rental, municipal, office, shared.
HOUSING = np.array(
    [
        [0.80, 0.12, 0.03, 0.035, 0.01, 0.005],
        [0.90, 0.02, 0.015, 0.045, 0.01, 0.01],
        [0.94, 0.005, 0.005, 0.045, 0.003, 0.002],
    ]
)
ACCOMPANY = np.array([0.81, 0.13, 0.036, 0.01, 0.001, 0.013])
MISSING_RATES = {
    "score_source_1": 0.56,
    "score_source_3": 0.20,
    "social_circle_default": 0.50,
    "credit_bureau": 0.15,
    "score_source_2": 0.005,
}
SCORE_MODEL = {  # weight of creditworthiness, of age; marginal: top * Beta(a, b) (Home Credit fit)
    "score_source_1": (0.35, 0.62, (2.12, 1.83), 0.94),
    "score_source_2": (0.40, 0.10, (2.02, 1.19), 0.82),
    "score_source_3": (0.40, 0.25, (2.21, 1.61), 0.88),
}
TERMS_MONTHS = np.array([12, 18, 24, 30, 36, 48, 60])
NEVER_MISSING = {"client_income", "credit_amount", "age_days"}
