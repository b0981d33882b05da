"""Data validation: every rule of the canonical schema plus cross-field and data-set checks.

Row rules (a failing row goes to the quarantine with one reason per broken rule):

* ``completeness``: required (critical) fields present; the label present when the column is;
* ``range``: numbers within the schema's minimum/maximum, integers and flags whole (0/1);
* ``category``: values from the field's list (open vocabularies: lower snake_case);
* ``consistency``: employment shorter than adult life, instalment not above the credit,
  family members at least children + 1 (thresholds in ``configs/validation.yaml``);
* ``duplicate``: exact copies of an earlier row; one application_id with differing content;
* ``freshness``: application dates in the future.

Data-set rule: the newest application is at most ``max_age_days`` old (a finding, or an error).
When more than ``max_failure_share`` of the rows fail, :func:`validate` raises
:class:`DataValidationError`: a broken export stops the pipeline instead of training on scraps.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from loan_default.data.validation_config import (
    Consistency,
    Duplicates,
    Freshness,
    ValidationConfig,
)
from loan_default.errors import DataValidationError
from loan_default.schema import DAYS_PER_YEAR, FIELDS, ID, LABEL, TIMESTAMP, Kind, coerce_frame

_OPEN_CATEGORY = re.compile(r"^[a-z0-9_]+$")


@dataclass(slots=True)
class ValidationReport:
    """What validation found: counts per rule and per field, and data-set findings."""

    rows_in: int
    rows_valid: int
    max_failure_share: float
    by_rule: dict[str, int] = field(default_factory=dict)
    by_field: dict[str, int] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)
    stale_is_error: bool = False

    @property
    def rows_quarantined(self) -> int:
        return self.rows_in - self.rows_valid

    @property
    def failure_share(self) -> float:
        return self.rows_quarantined / self.rows_in if self.rows_in else 1.0

    @property
    def passed(self) -> bool:
        stale = self.stale_is_error and any(f.startswith("stale") for f in self.findings)
        within = self.failure_share <= self.max_failure_share
        return self.rows_valid > 0 and within and not stale

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "rows_in": self.rows_in,
            "rows_valid": self.rows_valid,
            "rows_quarantined": self.rows_quarantined,
            "failure_share": round(self.failure_share, 6),
            "max_failure_share": self.max_failure_share,
            "failures_by_rule": dict(sorted(self.by_rule.items())),
            "failures_by_field": dict(sorted(self.by_field.items())),
            "findings": list(self.findings),
        }

    def summary(self) -> str:
        """A few readable lines: verdict, counts, the worst rules and fields, findings."""
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [
            f"validation {verdict}: {self.rows_in} rows, {self.rows_valid} valid, "
            f"{self.rows_quarantined} quarantined ({self.failure_share:.1%}; "
            f"max {self.max_failure_share:.0%})"
        ]
        for rule, count in sorted(self.by_rule.items(), key=lambda item: -item[1]):
            lines.append(f"  rule {rule}: {count} failure(s)")
        for name, count in sorted(self.by_field.items(), key=lambda item: -item[1])[:10]:
            lines.append(f"  field {name}: {count} failure(s)")
        lines.extend(f"  finding: {finding}" for finding in self.findings)
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        """Raise :class:`DataValidationError` with the reason when the data set failed."""
        if self.passed:
            return
        if self.rows_in == 0:
            raise DataValidationError("validation failed: the data set has no rows")
        if self.rows_valid == 0:
            raise DataValidationError(
                f"validation failed: none of the {self.rows_in} rows passed (see the reasons "
                "in the quarantine file)"
            )
        worst = ", ".join(f"{rule} {count}" for rule, count in Counter(self.by_rule).most_common(4))
        if self.failure_share > self.max_failure_share:
            raise DataValidationError(
                f"validation failed: {self.rows_quarantined} of {self.rows_in} rows "
                f"({self.failure_share:.1%}) broke rules, above the maximum "
                f"{self.max_failure_share:.0%} (max_failure_share); worst: {worst}"
            )
        stale = next(f for f in self.findings if f.startswith("stale"))
        raise DataValidationError(f"validation failed: {stale} (freshness.stale: error)")


@dataclass(slots=True)
class ValidationResult:
    valid: pd.DataFrame
    """Canonical rows that passed every rule (the input's index is kept)."""
    quarantine: pd.DataFrame
    """Canonical rows that failed, with a ``reasons`` column."""
    report: ValidationReport


Check = tuple[str, str, pd.Series, str]
"""(rule, field, failing-rows mask, reason template: ``{v}`` is the failing value)."""


def _field_checks(frame: pd.DataFrame) -> Iterator[Check]:
    for spec in FIELDS:
        if spec.name not in frame.columns:
            continue
        col = frame[spec.name]
        name = spec.name
        if spec.required or (spec.name == LABEL):
            yield "completeness", name, col.isna(), f"{name}: missing (required)"
        if spec.is_numeric:
            bad = pd.Series(False, index=col.index)
            if spec.minimum is not None:
                bad |= col < spec.minimum
            if spec.maximum is not None:
                bad |= col > spec.maximum
            if spec.kind is not Kind.NUMBER:
                bad |= col.notna() & (col != col.round())
            yield "range", name, bad, f"{name}: {{v:g}} is not {spec.rule()}"
        elif spec.kind is Kind.CATEGORY:
            allowed = (
                col.isin(spec.categories)
                if spec.categories is not None
                else col.astype(str).str.fullmatch(_OPEN_CATEGORY.pattern)
            )
            bad = col.notna() & ~allowed.astype(bool)
            yield "category", name, bad, f"{name}: {{v!r}} is not {spec.rule()}"


def _consistency_checks(frame: pd.DataFrame, rules: Consistency) -> Iterator[Check]:
    if rules.min_working_age_years is not None:
        limit = frame["age_days"] - rules.min_working_age_years * DAYS_PER_YEAR
        yield (
            "consistency", "employed_days", frame["employed_days"] > limit,
            "employed_days: {v:g} is longer than adult life "
            f"(age_days - {rules.min_working_age_years:g} years)",
        )  # fmt: skip
    if rules.annuity_at_most_credit:
        yield (
            "consistency", "loan_annuity", frame["loan_annuity"] > frame["credit_amount"],
            "loan_annuity: {v:g} is above credit_amount",
        )  # fmt: skip
    if rules.family_covers_children:
        yield (
            "consistency", "client_family_members",
            frame["client_family_members"] < frame["child_count"] + 1,
            "client_family_members: {v:g} is less than child_count + 1",
        )  # fmt: skip


def _duplicate_checks(frame: pd.DataFrame, rules: Duplicates) -> Iterator[Check]:
    exact = frame.duplicated(keep="first") if rules.exact_rows else pd.Series(False, frame.index)
    if rules.exact_rows:
        yield "duplicate", "row", exact, "exact duplicate of an earlier row"
    if rules.application_id:
        ids = frame[ID].where(~exact)
        clash = ids.notna() & ids.duplicated(keep=False)
        yield (
            "duplicate", ID, clash,
            f"{ID}: {{v!r}} appears more than once with different values",
        )  # fmt: skip


def _freshness(frame: pd.DataFrame, rules: Freshness, now: datetime) -> tuple[Check, list[str]]:
    dates = frame[TIMESTAMP]
    horizon = pd.Timestamp(now + timedelta(minutes=rules.future_tolerance_minutes))
    check: Check = (
        "freshness", TIMESTAMP, dates > horizon,
        f"{TIMESTAMP}: {{v}} is in the future",
    )  # fmt: skip
    findings = []
    newest = dates[dates <= horizon].max()
    if rules.max_age_days is not None and pd.notna(newest):
        age = (pd.Timestamp(now) - newest).total_seconds() / 86400
        if age > rules.max_age_days:
            findings.append(
                f"stale data: the newest {TIMESTAMP} ({newest.date()}) is {age:.0f} days old "
                f"(freshness.max_age_days {rules.max_age_days:g})"
            )
    return check, findings


def validate(
    frame: pd.DataFrame,
    config: ValidationConfig | None = None,
    *,
    now: datetime | None = None,
    enforce: bool = True,
) -> ValidationResult:
    """Check a canonical DataFrame row by row and as a whole.

    Args:
        frame: canonical columns (absent optional columns count as missing).
        config: thresholds; default ``configs/validation.yaml``.
        now: the reference time of freshness checks (default: the current UTC time).
        enforce: raise when the data set failed (else only ``report.passed`` says so).

    Raises:
        DataValidationError: ``enforce`` and the failure share is above the maximum, the
            data set is empty, or it is stale and ``freshness.stale`` is ``error``.
    """
    config = config or ValidationConfig.load()
    now = now or datetime.now(UTC)
    data = coerce_frame(frame)
    if not data.index.is_unique:
        data = data.reset_index(drop=True)
    checks = [
        *_field_checks(data),
        *_consistency_checks(data, config.consistency),
        *_duplicate_checks(data, config.duplicates),
    ]
    findings: list[str] = []
    if data[TIMESTAMP].notna().any():
        future, findings = _freshness(data, config.freshness, now)
        checks.append(future)
    reasons: dict[Any, list[str]] = {}
    by_rule: Counter[str] = Counter()
    by_field: Counter[str] = Counter()
    for rule, name, mask, explain in checks:
        failing = mask.fillna(False).astype(bool)
        if not failing.any():
            continue
        by_rule[rule] += int(failing.sum())
        by_field[name] += int(failing.sum())
        source = data[name] if name in data.columns else pd.Series(None, index=data.index)
        for index, value in source[failing].items():
            reasons.setdefault(index, []).append(explain.format(v=value))
    bad = data.index.isin(list(reasons))
    quarantine = data[bad].copy()
    quarantine["reasons"] = ["; ".join(reasons[index]) for index in quarantine.index]
    report = ValidationReport(
        rows_in=len(data),
        rows_valid=int((~bad).sum()),
        max_failure_share=config.max_failure_share,
        by_rule=dict(by_rule),
        by_field=dict(by_field),
        findings=findings,
        stale_is_error=config.freshness.stale == "error",
    )
    if enforce:
        report.raise_if_failed()
    return ValidationResult(data[~bad], quarantine, report)
