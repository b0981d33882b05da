"""The canonical loan application: one definition used by every stage.

Each field of the public "Loan Default" table (the brief's data) is declared once here, renamed
to snake_case, with its unit, allowed range or categories, whether it is required, and what it
means. Everything else is derived from this table:

* the pydantic request model of the API (:func:`application_model`),
* the dtypes and checks of a canonical DataFrame (:func:`coerce_frame`, ``validation``),
* the source mappings' targets (``configs/sources/*.yaml``),
* the feature engineering inputs (``loan_default.features``),
* the feature store's bureau view (fields with ``provider=Provider.BUREAU``).

Conventions of the canonical form:

* day counts are positive numbers of days *before the application* (Home Credit stores them
  negative; the mappings flip them);
* "unknown" is missing (``None``/NaN), never a sentinel such as ``XNA`` or ``365243``;
* booleans are 0/1 in a DataFrame and ``true``/``false`` in JSON;
* categories are lower snake_case words from a closed list, except ``type_organization``,
  whose vocabulary is open (lenders use their own) and learned at training time.
"""

from __future__ import annotations

import enum
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any, Literal, get_args

import numpy as np
import pandas as pd
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    create_model,
)

DAYS_PER_YEAR = 365.25
_MAX_MONEY = 1e9
_MAX_DAYS = 100 * DAYS_PER_YEAR
EARLIEST_APPLICATION = datetime(2000, 1, 1, tzinfo=UTC)
"""The earliest ``application_date`` accepted: older applications are not scored today."""
FUTURE_TOLERANCE = timedelta(days=1)
"""How far ahead of the server's clock an ``application_date`` may be (time zones, skew)."""
TEXT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]+$"
"""Text fields refuse control characters (C0, C1), line separators and the invisible and
bidirectional formatting characters (a right-to-left override makes an identifier read
differently in a log viewer than it is stored)."""


class Kind(enum.StrEnum):
    """How a field is stored and validated."""

    NUMBER = "number"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    CATEGORY = "category"
    TEXT = "text"
    TIMESTAMP = "timestamp"


class Role(enum.StrEnum):
    """What a field is for."""

    FEATURE = "feature"
    """Scored by the model."""
    PROTECTED = "protected"
    """Kept for fairness monitoring and never scored (equal credit opportunity rules)."""
    IDENTIFIER = "identifier"
    """Identifies the application; never scored."""
    TIMESTAMP = "timestamp"
    """When the application was made; used for freshness and windows, never scored."""
    LABEL = "label"
    """The observed outcome."""


class Provider(enum.StrEnum):
    """Who supplies a field's value."""

    APPLICATION = "application"
    """The application form (or the lender's own systems at application time)."""
    BUREAU = "bureau"
    """A credit bureau's feed: also kept in the feature store's bureau view, by client."""


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One canonical field."""

    name: str
    kind: Kind
    description: str
    source_name: str
    """The column's name in the public Loan Default table (the ``loan_default`` source)."""
    role: Role = Role.FEATURE
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    categories: tuple[str, ...] | None = None
    required: bool = False
    """Critical: a row without it cannot be scored or trained on."""
    example: Any = None
    provider: Provider = Provider.APPLICATION
    """Who supplies the value (``bureau`` fields make the feature store's bureau view)."""

    @property
    def is_numeric(self) -> bool:
        return self.kind in (Kind.NUMBER, Kind.INTEGER, Kind.BOOLEAN)

    def rule(self) -> str:
        """The field's constraint in words, for error messages and documentation."""
        if self.kind is Kind.BOOLEAN:
            return "true or false"
        if self.kind is Kind.TEXT:
            return "a non-empty text of at most 64 characters without control characters"
        if self.kind is Kind.TIMESTAMP:
            return (
                "an ISO 8601 date-time string with a timezone, from "
                f"{EARLIEST_APPLICATION:%Y-%m-%d} to one day after the server's clock"
            )
        if self.kind is Kind.CATEGORY:
            if self.categories is None:
                return "a non-empty category name"
            return "one of " + ", ".join(self.categories)
        parts = ["an integer" if self.kind is Kind.INTEGER else "a finite number"]
        if self.minimum is not None and self.maximum is not None:
            parts.append(f"from {self.minimum:g} to {self.maximum:g}")
        elif self.minimum is not None:
            parts.append(f">= {self.minimum:g}")
        elif self.maximum is not None:
            parts.append(f"<= {self.maximum:g}")
        return " ".join(parts)


def _money(name: str, source: str, description: str, **kw: Any) -> FieldSpec:
    kw.setdefault("minimum", 0.0)
    return FieldSpec(
        name, Kind.NUMBER, description, source, unit="currency", maximum=_MAX_MONEY, **kw
    )


def _flag(name: str, source: str, description: str, **kw: Any) -> FieldSpec:
    return FieldSpec(name, Kind.BOOLEAN, description, source, minimum=0, maximum=1, **kw)


def _days(name: str, source: str, description: str, **kw: Any) -> FieldSpec:
    kw.setdefault("minimum", 0.0)
    kw.setdefault("maximum", _MAX_DAYS)
    return FieldSpec(name, Kind.NUMBER, description, source, unit="days", **kw)


def _score(name: str, source: str, description: str, **kw: Any) -> FieldSpec:
    kw.setdefault("provider", Provider.BUREAU)
    return FieldSpec(
        name, Kind.NUMBER, description, source, unit="score 0-1", minimum=0.0, maximum=1.0, **kw
    )


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "application_id",
        Kind.TEXT,
        "The lender's identifier of the application. Never scored.",
        "ID",
        role=Role.IDENTIFIER,
        example="APP-000123",
    ),
    FieldSpec(
        "client_id",
        Kind.TEXT,
        "The lender's identifier of the client (the person or business applying): the same for "
        "every application of one client, and the key of the feature store's bureau and "
        "client-history features. Never scored; pseudonymised in the audit log.",
        "Client_ID",
        role=Role.IDENTIFIER,
        example="CLI-004711",
    ),
    FieldSpec(
        "application_date",
        Kind.TIMESTAMP,
        "When the application was received (ISO 8601). Used for freshness checks, never scored.",
        "Application_Date",
        role=Role.TIMESTAMP,
        example="2026-11-02T10:15:00Z",
    ),
    _money(
        "client_income",
        "Client_Income",
        "Applicant's total income, in the lender's currency (the public table records Home "
        "Credit's annual income divided by 30). At least 1: no lender scores an application "
        "without an income.",
        minimum=1.0,
        required=True,
        example=6750.0,
    ),
    _flag("car_owned", "Car_Owned", "The applicant owns a car.", example=False),
    _flag("bike_owned", "Bike_Owned", "The applicant owns a motorbike.", example=False),
    _flag("active_loan", "Active_Loan", "The applicant has another loan running.", example=True),
    _flag("house_own", "House_Own", "The applicant owns their home.", example=True),
    FieldSpec(
        "child_count",
        Kind.INTEGER,
        "Number of children.",
        "Child_Count",
        unit="children",
        minimum=0,
        maximum=20,
        example=0,
    ),
    _money(
        "credit_amount",
        "Credit_Amount",
        "Amount of credit applied for (at least 1).",
        minimum=1.0,
        required=True,
        example=61190.55,
    ),
    _money(
        "loan_annuity",
        "Loan_Annuity",
        "Instalment due each period on the credit applied for.",
        example=3416.85,
    ),
    FieldSpec(
        "accompany_client",
        Kind.CATEGORY,
        "Who accompanied the applicant when applying.",
        "Accompany_Client",
        categories=("alone", "relative", "partner", "kids", "group", "others"),
        example="alone",
    ),
    FieldSpec(
        "client_income_type",
        Kind.CATEGORY,
        "The applicant's main source of income.",
        "Client_Income_Type",
        categories=(
            "service",
            "commercial",
            "govt_job",
            "retired",
            "businessman",
            "student",
            "unemployed",
            "maternity_leave",
        ),
        example="service",
    ),
    FieldSpec(
        "client_education",
        Kind.CATEGORY,
        "Highest education reached. Also a monitored fairness attribute.",
        "Client_Education",
        categories=(
            "junior_secondary",
            "secondary",
            "graduation_dropout",
            "graduation",
            "post_grad",
        ),
        example="secondary",
    ),
    FieldSpec(
        "client_marital_status",
        Kind.CATEGORY,
        "Marital status.",
        "Client_Marital_Status",
        categories=("single", "married", "divorced", "widowed"),
        example="married",
    ),
    FieldSpec(
        "client_gender",
        Kind.CATEGORY,
        "Gender. Protected: recorded for fairness monitoring and never used in scoring.",
        "Client_Gender",
        role=Role.PROTECTED,
        categories=("male", "female"),
        example="female",
    ),
    FieldSpec(
        "loan_contract_type",
        Kind.CATEGORY,
        "Cash loan (fixed term) or revolving loan (credit line).",
        "Loan_Contract_Type",
        categories=("cash", "revolving"),
        example="cash",
    ),
    FieldSpec(
        "client_housing_type",
        Kind.CATEGORY,
        "How the applicant is housed.",
        "Client_Housing_Type",
        categories=("home", "family", "rental", "municipal", "office", "shared"),
        example="home",
    ),
    FieldSpec(
        "population_region_relative",
        Kind.NUMBER,
        "Relative population of the applicant's region (higher is more populated).",
        "Population_Region_Relative",
        unit="share",
        minimum=0.0,
        maximum=1.0,
        example=0.0188,
    ),
    _days(
        "age_days",
        "Age_Days",
        "Applicant's age in days at application (18 to 100 years).",
        minimum=18 * DAYS_PER_YEAR,
        required=True,
        example=13957.0,
    ),
    _days(
        "employed_days",
        "Employed_Days",
        "Days in the current employment; missing when not employed (the source's 365243).",
        example=1062.0,
    ),
    _days(
        "registration_days",
        "Registration_Days",
        "Days since the applicant last changed their registration.",
        example=6123.0,
    ),
    _days(
        "id_days",
        "ID_Days",
        "Days since the applicant last changed their identity document.",
        example=383.0,
    ),
    FieldSpec(
        "own_house_age",
        Kind.NUMBER,
        "Age of the applicant's own asset in years (Home Credit's OWN_CAR_AGE; mostly missing).",
        "Own_House_Age",
        unit="years",
        minimum=0.0,
        maximum=100.0,
        example=None,
    ),
    _flag("mobile_tag", "Mobile_Tag", "The applicant gave a mobile phone.", example=True),
    _flag("homephone_tag", "Homephone_Tag", "The applicant gave a home phone.", example=False),
    _flag(
        "workphone_working",
        "Workphone_Working",
        "The applicant's work phone answered.",
        example=False,
    ),
    FieldSpec(
        "client_occupation",
        Kind.CATEGORY,
        "Occupation.",
        "Client_Occupation",
        categories=(
            "laborers",
            "low_skill_laborers",
            "core",
            "sales",
            "managers",
            "drivers",
            "high_skill_tech",
            "accountants",
            "medicine",
            "security",
            "cooking",
            "cleaning",
            "private_service",
            "waiters",
            "secretaries",
            "realty_agents",
            "hr",
            "it",
        ),
        example="sales",
    ),
    FieldSpec(
        "client_family_members",
        Kind.INTEGER,
        "Number of people in the applicant's family.",
        "Client_Family_Members",
        unit="people",
        minimum=1,
        maximum=25,
        example=2,
    ),
    FieldSpec(
        "client_city_rating",
        Kind.INTEGER,
        "Lender's rating of the applicant's city: 1 best, 3 worst (source spells it "
        "Cleint_City_Rating).",
        "Cleint_City_Rating",
        minimum=1,
        maximum=3,
        example=2,
    ),
    FieldSpec(
        "application_process_day",
        Kind.INTEGER,
        "Weekday the application was started: 0 = Monday ... 6 = Sunday.",
        "Application_Process_Day",
        unit="weekday",
        minimum=0,
        maximum=6,
        example=2,
    ),
    FieldSpec(
        "application_process_hour",
        Kind.INTEGER,
        "Hour of day the application was started.",
        "Application_Process_Hour",
        unit="hour",
        minimum=0,
        maximum=23,
        example=14,
    ),
    _flag(
        "client_permanent_match_tag",
        "Client_Permanent_Match_Tag",
        "The applicant's contact address matches their permanent address.",
        example=True,
    ),
    _flag(
        "client_contact_work_tag",
        "Client_Contact_Work_Tag",
        "The applicant's contact address matches their work address.",
        example=True,
    ),
    FieldSpec(
        "type_organization",
        Kind.CATEGORY,
        "Type of the applicant's employer (open vocabulary, e.g. self_employed, "
        "business_entity_type_3, government). Unseen values are scored as 'other'.",
        "Type_Organization",
        example="self_employed",
    ),
    _score(
        "score_source_1",
        "Score_Source_1",
        "External credit score 1, normalised to 0-1.",
        example=0.568,
    ),
    _score(
        "score_source_2",
        "Score_Source_2",
        "External credit score 2, normalised to 0-1.",
        example=0.478,
    ),
    _score(
        "score_source_3",
        "Score_Source_3",
        "External credit score 3, normalised to 0-1.",
        example=0.51,
    ),
    FieldSpec(
        "social_circle_default",
        Kind.NUMBER,
        "Share of the applicant's social circle that defaulted.",
        "Social_Circle_Default",
        unit="share",
        minimum=0.0,
        maximum=1.0,
        example=0.0825,
        provider=Provider.BUREAU,
    ),
    _days(
        "phone_change",
        "Phone_Change",
        "Days since the applicant last changed phone number.",
        example=63.0,
    ),
    FieldSpec(
        "credit_bureau",
        Kind.INTEGER,
        "Enquiries to the credit bureau about the applicant in the past year.",
        "Credit_Bureau",
        unit="enquiries",
        minimum=0,
        maximum=100,
        example=1,
        provider=Provider.BUREAU,
    ),
    FieldSpec(
        "default",
        Kind.INTEGER,
        "Observed outcome: 1 if the loan defaulted, 0 if not.",
        "Default",
        role=Role.LABEL,
        minimum=0,
        maximum=1,
    ),
)

LABEL = "default"
ID = "application_id"
CLIENT_ID = "client_id"
TIMESTAMP = "application_date"

FIELDS_BY_NAME: Mapping[str, FieldSpec] = {f.name: f for f in FIELDS}
FEATURE_FIELDS: tuple[FieldSpec, ...] = tuple(f for f in FIELDS if f.role is Role.FEATURE)
PROTECTED_FIELDS: tuple[FieldSpec, ...] = tuple(f for f in FIELDS if f.role is Role.PROTECTED)
INPUT_FIELDS: tuple[FieldSpec, ...] = tuple(f for f in FIELDS if f.role is not Role.LABEL)
"""Everything an application carries (features, protected attributes, ID, date): the API input."""
REQUIRED_FIELDS: tuple[FieldSpec, ...] = tuple(f for f in FIELDS if f.required)
BUREAU_FIELDS: tuple[FieldSpec, ...] = tuple(f for f in FIELDS if f.provider is Provider.BUREAU)
"""Fields a credit bureau supplies: the feature store's bureau view (by ``client_id``)."""
CANONICAL_COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS)

RiskCategory = Literal["LOW", "MEDIUM", "HIGH"]
"""The risk bands of a prediction, lowest first (thresholds: ``loan_default.model``)."""
RISK_CATEGORIES: tuple[RiskCategory, ...] = get_args(RiskCategory)


def field(name: str) -> FieldSpec:
    """The spec of a canonical field; ``KeyError`` naming the field if there is none."""
    try:
        return FIELDS_BY_NAME[name]
    except KeyError:
        raise KeyError(f"{name!r} is not a canonical field") from None


def _date_text(value: Any) -> Any:
    """Only a string (JSON) or a datetime (Python callers) may be an application date: pydantic
    would read a number as Unix seconds (``0`` = 1970)."""
    if isinstance(value, str | datetime):
        return value
    raise ValueError("must be an ISO 8601 date-time string with a timezone")


_EARLIEST_SECONDS = EARLIEST_APPLICATION.timestamp()
_TOLERANCE_SECONDS = FUTURE_TOLERANCE.total_seconds()


def _plausible_date(value: datetime) -> datetime:
    """Within :data:`EARLIEST_APPLICATION` .. now + :data:`FUTURE_TOLERANCE` (compared as Unix
    seconds: a third of the cost of aware-datetime arithmetic, on every row scored)."""
    seconds = value.timestamp()
    if seconds < _EARLIEST_SECONDS:
        raise ValueError(f"must not be before {EARLIEST_APPLICATION:%Y-%m-%d}")
    if seconds > time.time() + _TOLERANCE_SECONDS:
        raise ValueError("must not be more than one day in the future")
    return value


def _annotation(spec: FieldSpec) -> Any:
    """The pydantic type of one field, with its constraints."""
    extra: dict[str, Any] = {}
    if spec.unit:
        extra["unit"] = spec.unit
    kwargs: dict[str, Any] = {"description": spec.description, "json_schema_extra": extra or None}
    if spec.example is not None:
        kwargs["examples"] = [spec.example]
    tp: Any
    if spec.kind is Kind.NUMBER:
        tp = float
        kwargs.update(ge=spec.minimum, le=spec.maximum, allow_inf_nan=False, strict=True)
    elif spec.kind is Kind.INTEGER:
        tp = int
        kwargs.update(ge=spec.minimum, le=spec.maximum, strict=True)
    elif spec.kind is Kind.BOOLEAN:
        tp = bool
        kwargs.update(strict=True)
    elif spec.kind is Kind.CATEGORY and spec.categories is not None:
        tp = Literal[spec.categories]
    elif spec.kind is Kind.CATEGORY:
        tp = str
        kwargs.update(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")
    elif spec.kind is Kind.TEXT:
        tp = str
        kwargs.update(min_length=1, max_length=64, pattern=TEXT_PATTERN)
    else:  # TIMESTAMP
        tp = Annotated[AwareDatetime, BeforeValidator(_date_text), AfterValidator(_plausible_date)]
        kwargs["description"] += (
            f" Must carry a timezone; from {EARLIEST_APPLICATION:%Y-%m-%d} to one day after the "
            "server's clock."
        )
    if spec.required:
        return (tp, Field(..., **kwargs))
    return (tp | None, Field(None, **kwargs))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


@cache
def application_model() -> type[BaseModel]:
    """The pydantic model of one loan application, derived from :data:`FIELDS`.

    Unknown fields, wrong types (strings for numbers, numbers for booleans), NaN and infinity,
    and out-of-range values are rejected; optional fields may be omitted or null.
    """
    fields = {spec.name: _annotation(spec) for spec in INPUT_FIELDS}
    model = create_model(
        "LoanApplication",
        __base__=_Strict,
        __doc__="One loan application in the canonical schema. Optional fields may be omitted.",
        **fields,
    )
    return model


LoanApplication = application_model()


def canonical_dtypes() -> dict[str, str]:
    """pandas dtype of each canonical column: float64 for numbers, object for text."""
    out: dict[str, str] = {}
    for spec in FIELDS:
        if spec.is_numeric:
            out[spec.name] = "float64"
        elif spec.kind is Kind.TIMESTAMP:
            out[spec.name] = "datetime64[ns, UTC]"
        else:
            out[spec.name] = "object"
    return out


def coerce_frame(frame: pd.DataFrame, *, with_label: bool | None = None) -> pd.DataFrame:
    """A copy of ``frame`` with exactly the canonical columns, in order, with canonical dtypes.

    Absent optional columns are added as missing. Values are converted, not checked: range and
    category checks belong to ``loan_default.data.validation``. Non-canonical columns are dropped.

    Args:
        frame: a DataFrame whose columns are canonical names.
        with_label: keep the label column; by default only when ``frame`` has it.
    """
    keep_label = LABEL in frame.columns if with_label is None else with_label
    out: dict[str, Any] = {}
    n = len(frame)
    for spec in FIELDS:
        if spec.role is Role.LABEL and not keep_label:
            continue
        if spec.name not in frame.columns:
            col: Any = pd.Series(np.nan if spec.is_numeric else None, index=frame.index)
        else:
            col = frame[spec.name]
        if spec.is_numeric:
            out[spec.name] = pd.to_numeric(col, errors="coerce").astype("float64")
        elif spec.kind is Kind.TIMESTAMP:
            out[spec.name] = pd.to_datetime(col, errors="coerce", utc=True)
        else:
            values = col.astype("object")
            out[spec.name] = values.where(values.notna(), None)
    result = pd.DataFrame(out, index=frame.index if n else None)
    return result


def records_to_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Canonical DataFrame from application dicts (e.g. ``model_dump()`` of the API model)."""
    return coerce_frame(pd.DataFrame.from_records(list(records)), with_label=False)


def _json_value(kind: Kind, value: Any) -> Any:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if kind is Kind.BOOLEAN:
        return bool(value)
    if kind is Kind.INTEGER:
        return int(value)
    if kind is Kind.NUMBER:
        return float(value)
    if kind is Kind.TIMESTAMP:
        return pd.Timestamp(value).isoformat()
    return str(value)


def frame_to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The API's JSON applications from a canonical frame: the inverse of records_to_frame.

    Input fields only (no label), JSON types (bool, int, float, ISO dates), missing values
    left out, as an underwriting system would send them.
    """
    columns = [(f.name, f.kind) for f in INPUT_FIELDS if f.name in frame.columns]
    values = {name: frame[name].to_numpy(dtype=object) for name, _ in columns}
    out: list[dict[str, Any]] = []
    for i in range(len(frame)):
        record = {}
        for name, kind in columns:
            if (v := _json_value(kind, values[name][i])) is not None:
                record[name] = v
        out.append(record)
    return out


@cache
def schema_fingerprint() -> str:
    """A short hash of the input schema: a model is served only where this matches."""
    import hashlib
    import json

    described = [
        [f.name, f.kind.value, f.role.value, f.minimum, f.maximum, f.categories, f.required]
        for f in INPUT_FIELDS
    ]
    return hashlib.sha256(json.dumps(described).encode()).hexdigest()[:16]
