"""Client history for the feature store, computed from the traffic and feedback logs.

:func:`client_history` is pure: from the scored applications (client key, application, time)
and the observed outcomes it gives, per client who applied in the last year, as of ``now``:
applications in the last 30 and 90 days, days since the latest application, and how many of
the client's applications of the last year were observed to default (outcomes arrive months
after the application). :class:`HistoryJob` is what the
sidecar runs on its schedule (``LOAN_CLIENT_HISTORY_SECONDS``): it reads the log day folders of
the lookback, computes, and pushes the rows to the feature store's push source
(``client_history_v1``), stamped ``now``. Reading a day folder that is not there is no work.

Pushed rows are as of the push: an application scored later sees history that excludes
itself. One application scored several times (predict, then explain) counts once (by its
``application_id``, else by prediction).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from loan_default.feature_store.repository import HISTORY
from loan_default.feature_store.tables import EVENT_TIME
from loan_default.schema import CLIENT_ID, ID
from loan_default.traffic import Kind, lines, log_files, parse_line

log = logging.getLogger(__name__)

RETRY_AFTER = timedelta(minutes=1)
"""A failed push (store down) is retried this long after, not at every poll."""
LOOKBACK = timedelta(days=365)
"""Log day folders read back this far (predictions and feedback)."""


def client_history(
    applications: pd.DataFrame, outcomes: pd.DataFrame, now: datetime
) -> pd.DataFrame:
    """History rows (``client_id``, ``event_timestamp`` = ``now``, history fields).

    Args:
        applications: ``client_id``, ``key`` (one per application), ``prediction_id``,
            ``timestamp`` (UTC).
        outcomes: ``prediction_id``, ``observed_default`` (0/1; the latest per prediction).
        now: the instant the history is computed at; later applications are ignored.
    """
    columns = [CLIENT_ID, EVENT_TIME, *HISTORY.fields]
    apps = applications[applications[CLIENT_ID].notna()]
    apps = apps[(apps["timestamp"] <= now) & (apps["timestamp"] > now - LOOKBACK)]
    if apps.empty:
        return pd.DataFrame(columns=columns)
    apps = apps.sort_values("timestamp").drop_duplicates("key", keep="first")
    defaulted = outcomes.drop_duplicates("prediction_id", keep="last")
    apps = apps.merge(defaulted, on="prediction_id", how="left")
    age = (now - apps["timestamp"]).dt.total_seconds() / 86400.0
    apps = apps.assign(
        in_30=age <= 30,
        in_90=age <= 90,
        age=age,
        defaulted=apps["observed_default"].fillna(0).clip(0, 1),
    )
    grouped = apps.groupby(CLIENT_ID, sort=True)
    out = pd.DataFrame(
        {
            "applications_30d": grouped["in_30"].sum().astype("float64"),
            "applications_90d": grouped["in_90"].sum().astype("float64"),
            "days_since_previous_application": grouped["age"].min().astype("float64"),
            "previous_defaults": grouped["defaulted"].sum().astype("float64"),
        }
    ).reset_index()
    out.insert(1, EVENT_TIME, pd.Timestamp(now).tz_convert("UTC"))
    return out[columns]


def _day_files(root: Path, kind: Kind, since: datetime) -> list[Path]:
    first = f"{since:%Y-%m-%d}"
    return [p for p in log_files(root, kind) if p.parent.name >= first]


def _records(root: Path, kind: Kind, since: datetime) -> list[dict[str, Any]]:
    out = []
    for path in _day_files(root, kind, since):
        for _, _, line in lines(path, 0):
            record, problem = parse_line(line, None)
            if problem is None:  # the sidecar's own reader quarantines bad lines
                out.append(record)
    return out


def read_logs(traffic: Path, now: datetime) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The applications and outcomes of the last year in the logs under ``traffic``."""
    rows = []
    for r in _records(traffic, "predictions", now - LOOKBACK):
        app = r.get("application") or {}
        prediction_id = r.get("prediction_id")
        rows.append(
            {
                CLIENT_ID: app.get(CLIENT_ID),
                "key": app.get(ID) or prediction_id,
                "prediction_id": prediction_id,
                "timestamp": r.get("timestamp"),
            }
        )
    applications = pd.DataFrame(rows, columns=[CLIENT_ID, "key", "prediction_id", "timestamp"])
    applications["timestamp"] = pd.to_datetime(applications["timestamp"], utc=True, errors="coerce")
    feedback = [
        {"prediction_id": r.get("prediction_id"), "observed_default": r.get("observed_default")}
        for r in _records(traffic, "feedback", now - LOOKBACK)
    ]
    outcomes = pd.DataFrame(feedback, columns=["prediction_id", "observed_default"])
    outcomes["observed_default"] = pd.to_numeric(outcomes["observed_default"], errors="coerce")
    return applications.dropna(subset=["timestamp"]), outcomes


@dataclass
class HistoryRun:
    """One computation: clients pushed and when."""

    at: datetime
    clients: int


def history_job(settings: Any) -> HistoryJob | None:
    """The sidecar's job from its settings: None when switched off
    (``client_history_seconds`` 0) or when no feature repository exists yet."""
    from functools import partial

    from loan_default.feature_store.settings import FeatureStoreSettings
    from loan_default.feature_store.store import push_history

    store = FeatureStoreSettings(home=settings.home)
    if (
        not settings.client_history_seconds
        or not (store.repo_path / "feature_store.yaml").is_file()
    ):
        return None
    return HistoryJob(
        settings.traffic_path, partial(push_history, store), settings.client_history_seconds
    )


class HistoryJob:
    """Computes the client history from the logs and pushes it, every ``every`` seconds.

    Args:
        traffic: the traffic log root.
        push: sends the rows to the store (``loan_default.feature_store.store.push_history``
            bound to the settings); returns the rows pushed.
        every: seconds between two runs.
    """

    def __init__(self, traffic: Path, push: Any, every: float) -> None:
        self.traffic = traffic
        self.push = push
        self.every = timedelta(seconds=every)
        self.last: HistoryRun | None = None
        self._retry_at: datetime | None = None

    def due(self, now: datetime) -> bool:
        if self._retry_at is not None:
            return now >= self._retry_at
        return self.last is None or now - self.last.at >= self.every

    def failed(self, now: datetime) -> None:
        """A run failed: try again after :data:`RETRY_AFTER` (or ``every`` if shorter)."""
        self._retry_at = now + min(RETRY_AFTER, self.every)

    def run(self, now: datetime) -> HistoryRun:
        """Compute and push now (the caller decides when; see :meth:`due`)."""
        applications, outcomes = read_logs(self.traffic, now)
        rows = client_history(applications, outcomes, now)
        pushed = int(self.push(rows)) if len(rows) else 0
        self.last = HistoryRun(at=now, clients=pushed)
        self._retry_at = None
        log.info("client history: %d client(s) pushed to the feature store", pushed)
        return self.last
