"""Settings of the feature store: the repository folder and the online store."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from loan_default.settings import LoanSettings


class FeatureStoreSettings(LoanSettings):
    """Where the generated Feast repository lives and which online store it uses (``LOAN_*``)."""

    feature_repo_dir: Path | None = Field(
        None,
        description="The generated Feast repository: feature_store.yaml, registry, offline "
        "tables, SQLite online store (default: <home>/feature_repo).",
    )
    feature_online_store: Literal["sqlite", "redis"] = Field(
        "sqlite",
        description="Online store: the embedded SQLite file in the repository (default) or "
        "Redis (``LOAN_FEATURE_REDIS``), for a team or several serving hosts.",
    )
    feature_redis: str = Field(
        "localhost:6379",
        description="Redis connection string for the redis online store, e.g. "
        "``host:6379,password=...,ssl=true`` (Feast's ``connection_string``).",
    )
    feature_project: str = Field(
        "loan_default",
        pattern=r"^[a-z][a-z0-9_]*$",
        description="Feast project name (one namespace in the registry and online store).",
    )

    @property
    def repo_path(self) -> Path:
        return (self.feature_repo_dir or self.home / "feature_repo").expanduser().resolve()
