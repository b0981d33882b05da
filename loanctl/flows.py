"""The daily pipeline as a Prefect 3 flow: ingestion -> validation -> training.

Each task calls the platform's own stage, nothing is re-implemented here:

* ``ingest``: :func:`loan_default.data.sources.import_table` (what ``loanctl data import`` runs)
  maps the day's file from its source layout into the canonical schema; the canonical copy goes
  to ``<home>/data/ingested/`` (rows that cannot be mapped to their quarantine file beside it);
* ``validate``: :func:`loan_default.data.prepare.prepare_dataset` (rules, quarantine, data hash);
  a data set that fails stops the flow before training;
* ``train``: :func:`training.pipeline.run_training` on the validated set; it registers a
  ``challenger``, never promotes.

The monitoring sidecar's retraining triggers run the same flow (:func:`flow_trainer`), so a
scheduled run and a triggered one are one pipeline with one history.

Orchestration runs on the machine: with ``PREFECT_API_URL`` unset, :func:`local_orchestration`
starts Prefect's own local API (its ephemeral server, SQLite under ``<home>/prefect``) on a
free loopback port for the duration of the run, with analytics off: nothing leaves the machine.
With ``PREFECT_API_URL`` set, runs are recorded by that Prefect server instead.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from loan_default.settings import LoanSettings
from monitoring.responses import RetrainOutcome, Trainer
from monitoring.settings import RetrainConfig

FLOW_NAME = "loan-daily-pipeline"
SERVER_STARTUP_SECONDS = 240


@dataclass(frozen=True)
class PipelineResult:
    """What one run of the flow produced."""

    canonical: Path
    data_hash: str
    rows: int
    rows_quarantined: int
    bento_tag: str
    mlflow_version: str
    metrics: dict[str, float]


@task(name="ingest", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=10)
def ingest(data: Path, source: str | None, home: Path) -> Path:
    """The day's file in the canonical schema, written under ``<home>/data/ingested``."""
    from loan_default.data.io import write_table
    from loan_default.data.mappings import canonical_mapping, load_mapping
    from loan_default.data.sources import import_table

    mapping = load_mapping(source) if source else canonical_mapping()
    result = import_table(data, mapping)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = home / "data" / "ingested" / f"{stamp}-{Path(data).name.split('.')[0]}.parquet"
    if len(result.quarantine):
        write_table(result.quarantine, out.with_name(out.stem + "-unmapped.parquet"))
    write_table(result.data.reset_index(drop=True), out)
    return out


@task(name="validate", cache_policy=NO_CACHE)
def validate(canonical: Path) -> Any:
    """Validation rules, quarantine and data hash; raises when the set fails."""
    from loan_default.data.prepare import prepare_dataset

    return prepare_dataset(canonical)


@task(name="train", cache_policy=NO_CACHE)
def train(prepared: Any, config: Path | None, reason: str) -> Any:
    """Compare, calibrate and register a challenger."""
    from training.pipeline import run_training

    return run_training(prepared, config=config, reason=reason, quiet=True)


@flow(name=FLOW_NAME, log_prints=True)
def daily_pipeline(
    data: Path, source: str | None = None, config: Path | None = None, reason: str = "schedule"
) -> PipelineResult:
    """Ingest the day's file, validate it and train a challenger on it."""
    home = LoanSettings().home.resolve()
    canonical: Path = ingest(Path(data), source, home)
    prepared: Any = validate(canonical)  # a PreparedDataset
    trained: Any = train(prepared, config, reason)  # a TrainingResult
    return PipelineResult(
        canonical=canonical,
        data_hash=prepared.data_hash,
        rows=len(prepared.frame),
        rows_quarantined=prepared.rows_quarantined,
        bento_tag=trained.bento_tag,
        mlflow_version=trained.mlflow_version,
        metrics=trained.metrics.flat(),
    )


def _free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def local_orchestration(home: Path | None = None) -> Iterator[str]:
    """Where flow runs are recorded: ``PREFECT_API_URL`` if set, else a local API for the block.

    Prefect keeps its state (SQLite, logs) in ``PREFECT_HOME``: ``<home>/prefect`` unless the
    environment sets it. The local API is Prefect's ephemeral server started on a free
    127.0.0.1 port (Prefect's own choice would be a random port in 8000-8999) and stopped after
    the block. Settings apply to the calling thread only (Prefect's settings context), so a
    sidecar's training thread and the main thread never share a half-stopped server.
    Yields the API URL.
    """
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_HOME,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        temporary_settings,
    )

    prefect_home = os.environ.get("PREFECT_HOME") or str(
        (home or LoanSettings().home).resolve() / "prefect"
    )
    # Prefect creates its home without parents; its server then fails on the missing database.
    Path(prefect_home).mkdir(parents=True, exist_ok=True)
    updates: dict[Any, Any] = {PREFECT_HOME: prefect_home, PREFECT_SERVER_ANALYTICS_ENABLED: False}
    if url := os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value():
        with temporary_settings(updates=updates):
            yield url
        return
    from prefect.logging.handlers import APILogHandler
    from prefect.server.api.server import SubprocessASGIServer

    with temporary_settings(updates=updates):
        server = SubprocessASGIServer(port=_free_loopback_port())
        server.start(timeout=SERVER_STARTUP_SECONDS)
        try:
            with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
                try:
                    yield server.api_url
                finally:
                    APILogHandler().flush()  # the flow's last log lines, before the API goes
        finally:
            server.stop()


def run_pipeline(
    data: Path, *, source: str | None = None, config: Path | None = None, reason: str = "manual"
) -> PipelineResult:
    """One run of the flow, recorded locally unless ``PREFECT_API_URL`` names a server."""
    with local_orchestration():
        return daily_pipeline(Path(data), source, config, reason)


def flow_trainer(config: RetrainConfig) -> Trainer:
    """What the sidecar's triggers run: the daily pipeline on the configured data."""
    from loan_default.errors import ConfigError

    if config.data is None:
        raise ConfigError("retrain.data is not set in the monitoring config: triggers cannot train")
    data, source, training_config = config.data, config.source, config.config

    def retrain(reason: str) -> RetrainOutcome:
        result = run_pipeline(data, source=source, config=training_config, reason=reason)
        return RetrainOutcome(result.bento_tag, result.mlflow_version, result.metrics)

    return retrain
