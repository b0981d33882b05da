"""Settings of the monitoring sidecar.

Two layers, as everywhere in the platform:

* :class:`MonitorSettings`, the process settings (``LOAN_MONITOR_*`` environment variables):
  where the sidecar listens, how often it polls, which YAML it reads;
* :class:`MonitoringConfig`, the thresholds people tune, read from ``configs/monitoring.yaml``:
  window sizes, trigger thresholds, report retention, the retraining data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from loan_default.errors import ConfigError
from loan_default.settings import LoanSettings
from monitoring.drift import DriftConfig
from monitoring.evidently_report import EvidentlyConfig
from monitoring.fairness import FairnessConfig
from monitoring.performance import PerformanceConfig
from monitoring.quality import QualityConfig

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "monitoring.yaml"


class MonitorSettings(LoanSettings):
    """The sidecar process: ``LOAN_MONITOR_PORT=9108 loanctl monitor run``."""

    monitor_config: Path = Field(
        DEFAULT_CONFIG, description="YAML of windows, thresholds, triggers and retention."
    )
    monitor_host: str = Field("127.0.0.1", description="Address of the sidecar's /metrics.")
    monitor_port: int = Field(9108, ge=0, le=65535, description="Port of the sidecar's /metrics.")
    monitor_poll_seconds: float = Field(
        10.0, gt=0, description="Pause between two reads of the traffic log when idle."
    )
    client_history_seconds: float = Field(
        3600.0,
        ge=0,
        description="Seconds between two client-history pushes to the feature store (0: "
        "never). Runs only once the feature repository exists (loanctl features apply).",
    )
    monitor_dir: Path | None = Field(
        None, description="State, reports and trigger log (default: <home>/monitoring)."
    )

    @property
    def monitor_path(self) -> Path:
        return self.monitor_dir or self.home / "monitoring"

    @property
    def state_db(self) -> Path:
        """SQLite: checkpoints, recent predictions, feedback, trigger state."""
        return self.monitor_path / "state.db"

    @property
    def reports_path(self) -> Path:
        return self.monitor_path / "reports"

    @property
    def quarantine_path(self) -> Path:
        """Unreadable log lines, with file, offset and reason (``monitoring.quarantine``)."""
        return self.monitor_path / "quarantine.jsonl"

    @property
    def trigger_log(self) -> Path:
        """One JSON line per fired trigger and per response outcome."""
        return self.monitor_path / "triggers.jsonl"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WindowConfig(_Section):
    """How scored applications are grouped into analysed windows."""

    max_records: int = Field(5000, ge=1, description="Close a window at this many records.")
    max_seconds: float = Field(
        3600.0, gt=0, description="...or once it spans this long (prediction timestamps)."
    )
    min_records: int = Field(
        500, ge=1, description="Never analyse fewer records: small windows wait for more."
    )

    @model_validator(mode="after")
    def _sizes(self) -> WindowConfig:
        if self.min_records > self.max_records:
            raise ValueError(
                f"min_records ({self.min_records}) must not exceed max_records ({self.max_records})"
            )
        return self


class OutcomeConfig(_Section):
    """Which observed outcomes (joined to predictions by ``prediction_id``) are scored."""

    window: int = Field(
        5000, ge=1, description="Labelled AUC over the latest this-many outcomes of a model."
    )


class TriggerConfig(_Section):
    """When the sidecar starts a retraining (the brief's four triggers)."""

    auc_below: float | None = Field(0.75, description="Labelled AUC under this.")
    drifted_features_above: int | None = Field(3, description="More drifted features than this.")
    max_model_age_days: float | None = Field(
        30.0, description="The serving model (or the last retraining) is older than this."
    )
    applications_since_training: int | None = Field(
        10_000, description="This many applications scored since the last training."
    )
    cooldown_hours: float = Field(
        24.0, ge=0, description="A fired trigger stays quiet this long (debounce)."
    )


class RetrainConfig(_Section):
    """What a trigger runs: ``training.pipeline.run_training(data, source=...)``."""

    enabled: bool = Field(True, description="False: triggers are reported, nothing runs.")
    data: Path | None = Field(None, description="Training data (canonical file or a source's).")
    source: str | None = Field(None, description="Source mapping name when data is raw.")
    config: Path | None = Field(
        None, description="Training config for triggered runs (default: configs/training.yaml)."
    )


class ResponseConfig(_Section):
    pause_on_quality_breach: bool = Field(
        True, description="A data-quality breach pauses scoring (503) until an operator resumes."
    )


class ReportConfig(_Section):
    evidently_columns: Literal["drifted", "all"] = Field(
        "drifted",
        description="Columns of Evidently's page: the drifted fields and the score (a plot "
        "costs about half a second), or every monitored field.",
    )


class RetentionConfig(_Section):
    """How long each kind of record is kept (days), enforced by the sidecar on a schedule
    and by ``loanctl privacy retention`` (:mod:`monitoring.retention`); every deletion is
    audited."""

    report_days: float = Field(30.0, gt=0, description="Window reports are deleted after this.")
    traffic_days: float = Field(
        400.0, gt=0, description="Prediction log days are deleted after this (but see below)."
    )
    feedback_days: float = Field(400.0, gt=0, description="Feedback log days after this.")
    quarantine_days: float = Field(90.0, gt=0, description="Quarantined lines after this.")
    feedback_window_days: float = Field(
        365.0,
        ge=0,
        description="Outcomes may arrive this long after a prediction: a prediction day is "
        "kept at least this long whatever traffic_days says (the hold is reported).",
    )
    run_every_hours: float = Field(24.0, gt=0, description="How often the sidecar enforces it.")
    prediction_days: float = Field(
        120.0, gt=0, description="Predictions kept for joining late outcomes."
    )
    max_predictions: int = Field(
        1_000_000, ge=1, description="Hard bound of the prediction store (oldest go first)."
    )


class MonitoringConfig(_Section):
    """``configs/monitoring.yaml``. Sections ``drift``, ``performance``, ``fairness``,
    ``quality`` and ``evidently`` are the configs of the statistics modules of those names
    (``evidently`` configures ``monitoring.evidently_report``)."""

    windows: WindowConfig = Field(default_factory=WindowConfig)
    outcomes: OutcomeConfig = Field(default_factory=OutcomeConfig)
    triggers: TriggerConfig = Field(default_factory=TriggerConfig)
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)
    responses: ResponseConfig = Field(default_factory=ResponseConfig)
    reports: ReportConfig = Field(default_factory=ReportConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    performance: PerformanceConfig = Field(default_factory=PerformanceConfig)
    fairness: FairnessConfig = Field(default_factory=FairnessConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    evidently: EvidentlyConfig = Field(default_factory=EvidentlyConfig)

    @classmethod
    def load(cls, path: str | Path) -> MonitoringConfig:
        """Read and check the YAML; a missing file or a bad value is a :class:`ConfigError`."""
        p = Path(path)
        try:
            raw = yaml.safe_load(p.read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"monitoring config {p} does not exist") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"monitoring config {p} is not valid YAML: {exc}") from None
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigError(f"monitoring config {p}: {problems}") from None
