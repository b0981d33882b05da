"""Settings shared by every process: where the platform keeps its files.

Each process (service, training, monitoring) has its own settings class that extends
:class:`LoanSettings`; all read ``LOAN_*`` environment variables (and a ``.env`` file). The
home folder's default and the Bento store's location follow :mod:`loan_default.home`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from loan_default.home import default_home


class LoanSettings(BaseSettings):
    """Locations. Everything generated at run time lives under ``home``."""

    model_config = SettingsConfigDict(env_prefix="LOAN_", env_file=".env", extra="ignore")

    home: Path = Field(
        default_factory=default_home,
        description="Root of run-time files: data, MLflow store, Bento model store, traffic "
        "logs, reports (LOAN_HOME; default: the checkout's var/, or ~/.loan-default).",
    )
    traffic_dir: Path | None = Field(
        None, description="Traffic and feedback logs (default: <home>/traffic)."
    )
    mlflow_tracking_uri: str | None = Field(
        None,
        description="MLflow tracking/registry URI; MLFLOW_TRACKING_URI also works "
        "(default: SQLite at <home>/mlflow/mlflow.db).",
    )

    @field_validator("home")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def traffic_path(self) -> Path:
        return self.traffic_dir or self.home / "traffic"

    def tracking_uri(self) -> str:
        import os

        if self.mlflow_tracking_uri:
            return self.mlflow_tracking_uri
        if env := os.environ.get("MLFLOW_TRACKING_URI"):
            return env
        return f"sqlite:///{(self.home / 'mlflow' / 'mlflow.db').resolve()}"
