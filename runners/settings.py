"""Settings of the serving process (API workers, explainer worker, embedded gRPC server).

Every field reads a ``LOAN_*`` environment variable (or ``.env``); the BentoML worker processes
inherit the environment of ``bentoml serve``, so every worker sees the same values. Worker
counts are BentoML's own configuration (``BENTOML_CONFIG_OPTIONS``, see docs/serving.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from loan_default.api import MAX_BATCH_ROWS
from loan_default.errors import ConfigError
from loan_default.model import RiskThresholds
from loan_default.reasons import REASONS_PATH
from loan_default.settings import LoanSettings


class ServingSettings(LoanSettings):
    """How the model is chosen and served."""

    environment: Literal["development", "production"] = Field(
        "production",
        description="In development a missing champion falls back to the newest "
        "``loan_default`` model in the Bento store; in production it is a startup error.",
    )
    model_tag: str | None = Field(
        None,
        description="Bento model tag to serve (``loan_default:<version>``). Default: the MLflow "
        "alias ``champion`` resolved by ``loan_default.aliases.resolve_alias``.",
    )
    risk_medium: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Override of the model's MEDIUM threshold (P(default) >= it is MEDIUM).",
    )
    risk_high: float | None = Field(
        None, gt=0, lt=1, description="Override of the model's HIGH threshold."
    )
    max_batch_rows: int = Field(
        MAX_BATCH_ROWS,
        ge=1,
        le=MAX_BATCH_ROWS,
        description="Most applications in one /v1/predict_batch call (at most 10,000).",
    )
    max_body_bytes: int = Field(
        16 * 2**20, ge=1024, description="Largest request body accepted by the batch endpoint."
    )
    max_single_body_bytes: int = Field(
        64 * 2**10, ge=1024, description="Largest body of the single-application endpoints."
    )
    max_reasons: int = Field(
        4, ge=1, le=10, description="Principal reasons returned by /v1/explain (Reg B: 4)."
    )
    pause_check_seconds: float = Field(
        1.0, ge=0, le=60, description="How long a read of the scoring pause switch is reused."
    )
    traffic_fsync: bool = Field(
        False,
        description="fsync the traffic log before answering (survives a machine crash, not "
        "only a killed worker; costs a disk flush per request).",
    )
    keepalive_applications: int = Field(
        100,
        ge=0,
        description="Mean applications answered per HTTP keep-alive connection before the "
        "client is asked to reconnect (spreads connections over the workers; 0: never).",
    )
    reload_seconds: float = Field(
        2.0,
        ge=0,
        le=3600,
        description="How often each worker checks the MLflow 'champion' alias and switches to "
        "a new champion without a restart (0: never; a pinned LOAN_MODEL_TAG is never "
        "switched).",
    )
    grpc_enabled: bool = Field(True, description="Start the gRPC server inside each API worker.")
    grpc_port: int = Field(3001, ge=1, le=65535, description="Port of the embedded gRPC server.")
    grpc_host: str | None = Field(
        None,
        description="Interface the gRPC server binds (default: LOAN_BIND_HOST, the one REST "
        "is told with --host, so both transports listen on the same interface).",
    )
    feature_store: str = Field(
        "none",
        description="Where applications with a ``client_id`` are completed from: ``none``, "
        "``memory:<file>`` (a .jsonl or .csv file of feature rows, held in memory) or "
        "``feast:<repository>`` (a Feast feature repository's online store). See "
        "docs/feature-store.md.",
    )
    feature_store_feast_factory: str = Field(
        "loan_default.feature_store.online:FeastLookup",
        description="``module:callable`` building the Feast lookup from the repository path "
        "(imported only for ``feast:``, so the service never imports Feast otherwise).",
    )
    feature_lookup_timeout: float = Field(
        0.05,
        gt=0,
        le=5,
        description="Seconds a scoring call waits for the feature store; after it, the "
        "application is scored as sent (counted as a timeout).",
    )
    feature_lookup_threads: int = Field(
        2, ge=1, le=32, description="Threads per worker calling the feature store."
    )

    reasons_path: Path = Field(
        REASONS_PATH,
        description="YAML of the adverse-action reason codes per application field "
        "(`loan_default.reasons`).",
    )

    @model_validator(mode="after")
    def _check_thresholds(self) -> ServingSettings:
        if self.risk_medium is not None and self.risk_high is not None:
            try:
                RiskThresholds(self.risk_medium, self.risk_high)
            except ValueError as exc:
                raise ConfigError(f"LOAN_RISK_MEDIUM/LOAN_RISK_HIGH: {exc}") from None
        return self

    def thresholds(self, model_default: RiskThresholds) -> RiskThresholds:
        """The model's thresholds with any override from these settings applied."""
        medium = self.risk_medium if self.risk_medium is not None else model_default.medium
        high = self.risk_high if self.risk_high is not None else model_default.high
        try:
            return RiskThresholds(medium, high)
        except ValueError as exc:
            raise ConfigError(f"risk thresholds after LOAN_RISK_* overrides: {exc}") from None

    @property
    def prediction_index_path(self) -> Path:
        """Folder of the SQLite indexes of issued prediction ids (one file per worker)."""
        return self.traffic_path / "prediction_ids"


class BuildArguments(BaseModel):
    """Arguments of ``bentoml build --arg``: ``model_tag`` packs that model into the Bento;
    ``platform_version`` is the project's version (the Bento holds its sources, not its
    installed distribution nor ``pyproject.toml``; ``make bento`` passes it)."""

    model_tag: str | None = None
    platform_version: str | None = None


def build_arguments() -> BuildArguments:
    """The Bento's build arguments (empty when serving from the source tree)."""
    import bentoml

    arguments: BuildArguments = bentoml.use_arguments(BuildArguments)
    return arguments


def serving_settings() -> ServingSettings:
    """Settings from the environment; a Bento built with a model tag serves that model."""
    settings = ServingSettings()
    if settings.model_tag is None and (tag := build_arguments().model_tag):
        settings = settings.model_copy(update={"model_tag": tag})
    return settings
