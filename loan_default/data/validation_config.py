"""The thresholds of data validation (``configs/validation.yaml``), as settings models.

:mod:`loan_default.data.validation` applies them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loan_default.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Consistency(_Section):
    min_working_age_years: float | None = Field(
        14.0, ge=0, description="employed_days <= age_days - this many years (null: off)."
    )
    annuity_at_most_credit: bool = Field(True, description="loan_annuity <= credit_amount.")
    family_covers_children: bool = Field(True, description="family members >= children + 1.")


class Duplicates(_Section):
    application_id: bool = Field(True, description="One application_id, differing content.")
    exact_rows: bool = Field(True, description="Exact copies of an earlier row.")


class Freshness(_Section):
    max_age_days: float | None = Field(730, gt=0, description="Newest application's max age.")
    stale: Literal["warn", "error"] = Field("warn", description="What a stale data set does.")
    future_tolerance_minutes: float = Field(60, ge=0, description="Allowed clock skew.")


class ValidationConfig(_Section):
    """Thresholds of the validation rules (``configs/validation.yaml``)."""

    max_failure_share: float = Field(0.2, ge=0, le=1, description="Max share of failing rows.")
    consistency: Consistency = Consistency()
    duplicates: Duplicates = Duplicates()
    freshness: Freshness = Freshness()

    @classmethod
    def load(cls, path: str | Path | None = None) -> ValidationConfig:
        """Read a YAML config (default: the ``LOAN_VALIDATION_CONFIG`` setting's file)."""
        from loan_default.data.io import DataSettings

        path = Path(path) if path is not None else DataSettings().validation_config
        try:
            content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            return cls.model_validate(content)
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read validation config ({exc})") from exc
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"{path}: invalid validation config: {problems}") from exc
