"""Where the platform's state lives, as one record (what backups copy and restores fill).

Every location follows the settings the stages already read (``LOAN_HOME``, ``BENTOML_HOME``,
``MLFLOW_TRACKING_URI``, ``LOAN_MONITOR_DIR``, ``LOAN_TRAFFIC_DIR``), so a backup taken with
the environment the service and the sidecar run with finds everything they write.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from loan_default.errors import ConfigError
from loan_default.settings import LoanSettings


class StateSettings(LoanSettings):
    """Locations that only backups need to be told about (``LOAN_*`` variables)."""

    monitor_dir: Path | None = Field(
        None,
        description="The sidecar's state, reports and trigger log (default <home>/monitoring).",
    )
    mlflow_db_uri: str | None = Field(
        None,
        description="The MLflow backend database (sqlite:///... or postgresql://...). Default: "
        "the tracking URI when it is one of those; required when tracking goes through a server.",
    )
    mlflow_artifacts_dir: Path | None = Field(
        None,
        description="The MLflow artifact root folder. Default: 'artifacts' beside a SQLite "
        "database (where `loanctl train` puts them); required with PostgreSQL.",
    )


@dataclass(frozen=True)
class StateLocations:
    """Every piece of state one platform home holds."""

    home: Path
    mlflow_db: str
    """``sqlite:///<file>`` or ``postgresql://...``."""
    mlflow_artifacts: Path
    bento_models: Path
    monitoring: Path
    traffic: Path
    audit: Path
    control: Path

    @classmethod
    def from_settings(cls, settings: StateSettings | None = None) -> StateLocations:
        """The locations the current environment points at.

        Raises:
            ConfigError: the MLflow database or its artifact root cannot be told from the
                settings (a tracking server: set ``LOAN_MLFLOW_DB_URI`` and
                ``LOAN_MLFLOW_ARTIFACTS_DIR``).
        """
        s = settings or StateSettings()
        home = s.home.resolve()
        db = s.mlflow_db_uri or s.tracking_uri()
        if not db.startswith(("sqlite:///", "postgresql://", "postgresql+psycopg2://")):
            raise ConfigError(
                f"MLflow tracking goes through {db}: back up its database where it runs, or set "
                "LOAN_MLFLOW_DB_URI (sqlite:///... or postgresql://...) and "
                "LOAN_MLFLOW_ARTIFACTS_DIR"
            )
        artifacts = s.mlflow_artifacts_dir
        if artifacts is None:
            if not db.startswith("sqlite:///"):
                raise ConfigError(
                    "LOAN_MLFLOW_ARTIFACTS_DIR is not set: with a PostgreSQL backend the "
                    "artifact root is the tracking server's --artifacts-destination folder"
                )
            artifacts = Path(db.removeprefix("sqlite:///")).parent / "artifacts"
        bento = Path(os.environ.get("BENTOML_HOME", Path.home() / "bentoml"))
        return cls(
            home=home,
            mlflow_db=db,
            mlflow_artifacts=artifacts.resolve(),
            bento_models=(bento / "models").resolve(),
            monitoring=(s.monitor_dir or home / "monitoring").resolve(),
            traffic=s.traffic_path.resolve(),
            audit=(home / "audit").resolve(),
            control=(home / "control").resolve(),
        )

    def folders(self) -> dict[str, Path]:
        """The folder components, by name (the MLflow database is handled apart)."""
        return {
            "mlflow-artifacts": self.mlflow_artifacts,
            "bento-models": self.bento_models,
            "monitoring": self.monitoring,
            "traffic": self.traffic,
            "audit": self.audit,
            "control": self.control,
        }
