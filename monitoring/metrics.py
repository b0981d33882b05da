"""Prometheus metrics of the monitoring sidecar, on its own port (default 9108).

Per-window gauges carry a ``model_version`` label and describe the latest analysed window:
each publication replaces the previous window's series, so a model version that stopped
serving (or a feature that stopped drifting) does not leave a stale series that keeps an
alert firing. Names are what ``configs/prometheus/alerts.yml`` and the Grafana dashboard use.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from monitoring.results import WindowResult

_V = ("model_version",)


class SidecarMetrics:
    """The sidecar's metrics in their own registry (tests create as many as they like)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.drift_score = Gauge(
            "loan_drift_score", "Share of monitored fields drifted in the last window.", _V,
            registry=r,
        )  # fmt: skip
        self.drifted_features = Gauge(
            "loan_drifted_features", "Number of drifted fields in the last window.", _V, registry=r
        )
        self.feature_psi = Gauge(
            "loan_feature_psi", "PSI of a field against the training reference.",
            (*_V, "feature"), registry=r,
        )  # fmt: skip
        self.feature_drift = Gauge(
            "loan_feature_drift", "1 when the field drifted in the last window.",
            (*_V, "feature"), registry=r,
        )  # fmt: skip
        self.score_psi = Gauge(
            "loan_score_psi", "PSI of the predicted default probability.", _V, registry=r
        )
        self.auc = Gauge(
            "loan_model_auc", "AUC on observed outcomes (absent until enough arrived).", _V,
            registry=r,
        )  # fmt: skip
        self.labelled = Gauge(
            "loan_model_labelled_outcomes", "Outcomes behind loan_model_auc.", _V, registry=r
        )
        self.estimated_auc = Gauge(
            "loan_model_estimated_auc", "AUC expected from the calibrated probabilities alone.",
            _V, registry=r,
        )  # fmt: skip
        self.air = Gauge(
            "loan_adverse_impact_ratio",
            "Approval rate of a group over the most approved group's (four-fifths rule).",
            (*_V, "attribute", "group"), registry=r,
        )  # fmt: skip
        self.quality_breach = Gauge(
            "loan_data_quality_breach", "1 when the last window breached data quality.", _V,
            registry=r,
        )  # fmt: skip
        self.lookup_miss_share = Gauge(
            "loan_feature_lookup_miss_share",
            "Share of the last window's feature-store lookups that found no client.", _V,
            registry=r,
        )  # fmt: skip
        self.lookup_failure_share = Gauge(
            "loan_feature_lookup_failure_share",
            "Share of the last window's feature-store lookups that timed out or failed.", _V,
            registry=r,
        )  # fmt: skip
        self.lookups = Gauge(
            "loan_feature_lookup_window_records",
            "Applications of the last window looked up in the feature store.", _V, registry=r,
        )  # fmt: skip
        self.paused = Gauge(
            "loan_scoring_paused", "1 while scoring is paused (pause switch set).", registry=r
        )
        self.records = Counter(
            "loan_monitor_records_processed", "Log records processed.", ("kind",), registry=r
        )
        self.bad_lines = Counter(
            "loan_monitor_bad_lines",
            "Unreadable log lines and records, read past and kept in the quarantine file.",
            ("kind",), registry=r,
        )  # fmt: skip
        self.windows = Counter("loan_monitor_windows", "Windows analysed.", registry=r)
        self.window_records = Gauge(
            "loan_monitor_window_records", "Records in the last analysed window.", registry=r
        )
        self.last_window = Gauge(
            "loan_monitor_last_window_timestamp_seconds",
            "When the last window was analysed (Unix time).", registry=r,
        )  # fmt: skip
        self.heartbeat = Gauge(
            "loan_monitor_heartbeat_timestamp_seconds",
            "Last time the sidecar loop went round (Unix time).", registry=r,
        )  # fmt: skip
        self.triggers = Counter(
            "loan_monitor_triggers", "Retraining triggers fired.", ("trigger",), registry=r
        )
        self.history_pushed = Gauge(
            "loan_feature_history_pushed_timestamp_seconds",
            "When the client history was last pushed to the feature store (Unix time).",
            registry=r,
        )  # fmt: skip
        self.history_clients = Gauge(
            "loan_feature_history_clients", "Clients in the last client-history push.", registry=r
        )
        self.history_failures = Counter(
            "loan_feature_history_failures", "Client-history runs that failed.", registry=r
        )
        self.bureau_newest = Gauge(
            "loan_feature_bureau_newest_event_timestamp_seconds",
            "Newest event in the feature store's bureau table (Unix time): its freshness.",
            registry=r,
        )  # fmt: skip
        self._per_window = (
            self.drift_score, self.drifted_features, self.feature_psi, self.feature_drift,
            self.score_psi, self.auc, self.labelled, self.estimated_auc, self.air,
            self.quality_breach, self.lookup_miss_share, self.lookup_failure_share, self.lookups,
        )  # fmt: skip

    def serve(self, host: str, port: int) -> Any:
        """Start the /metrics HTTP server in a daemon thread; returns the server."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server

    def beat(self) -> None:
        self.heartbeat.set(time.time())

    def publish(self, result: WindowResult, *, restored: bool = False) -> None:
        """Replace the per-window series with this window's.

        Args:
            restored: the window was analysed by an earlier run (a restart republishes the
                latest report, so alerts keep their state); counters are not incremented.
        """
        for gauge in self._per_window:
            gauge.clear()
        for seg in result.segments:
            v = seg.model_version
            self.drift_score.labels(v).set(seg.drift_score)
            self.drifted_features.labels(v).set(len(seg.drifted_features))
            for f in seg.features:
                self.feature_psi.labels(v, f.feature).set(f.psi)
                self.feature_drift.labels(v, f.feature).set(int(f.drifted))
            self.score_psi.labels(v).set(seg.score_psi)
            if seg.labelled is not None and seg.labelled.auc is not None:
                self.auc.labels(v).set(seg.labelled.auc)
                self.labelled.labels(v).set(seg.labelled.n)
            if seg.estimated_auc is not None:
                self.estimated_auc.labels(v).set(seg.estimated_auc)
            for g in seg.fairness:
                if g.adverse_impact_ratio is not None and not g.small:
                    self.air.labels(v, g.attribute, g.group).set(g.adverse_impact_ratio)
            self.quality_breach.labels(v).set(int(seg.quality_breach))
            if seg.lookups is not None:
                self.lookup_miss_share.labels(v).set(seg.lookups.miss_share)
                self.lookup_failure_share.labels(v).set(seg.lookups.failure_share)
                self.lookups.labels(v).set(seg.lookups.looked_up)
        self.window_records.set(result.records)
        self.last_window.set(result.analysed_at.timestamp())
        if restored:
            return
        for event in result.triggers:
            self.triggers.labels(event.trigger).inc()
        self.windows.inc()

    def metric_names(self) -> set[str]:
        """Every name a query may use: families and their ``_total`` / ``_bucket`` samples."""
        suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
        names: set[str] = set()
        for family in self.registry.collect():
            names.add(family.name)
            names.update(family.name + s for s in suffixes.get(family.type, ()))
        return names
