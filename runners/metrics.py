"""The service's Prometheus metrics, and their ``/metrics`` page.

The names are a contract: the alert rules in ``configs/prometheus/`` query them. BentoML's own
per-request HTTP metrics are switched off in ``service.py`` (they cost a quarter of a worker's
time, ``docs/serving.md``); :data:`REQUESTS` and :data:`LATENCY` count the API's calls instead,
and :func:`exposition` serves every worker's metrics (prometheus-client's multiprocess mode,
which ``bentoml serve`` sets up) at ``/metrics``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

PREDICTIONS = Counter(
    "loan_predictions_total",
    "Applications scored, by model version and risk category.",
    ["model_version", "risk_category"],
)
LATENCY = Histogram(
    "loan_prediction_latency_seconds",
    "Time to answer a scoring request (validation, scoring, traffic log), by endpoint.",
    ["endpoint"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
REQUESTS = Counter(
    "loan_requests_total",
    "API calls answered, by endpoint and HTTP status (REST; gRPC has grpc_server_*).",
    ["endpoint", "status"],
)
AUTH_REFUSALS = Counter(
    "loan_auth_refusals_total",
    "Calls refused: unauthenticated (401, gRPC UNAUTHENTICATED) at the REST or gRPC edge, or "
    "forbidden (403, PERMISSION_DENIED) by the backend or the REST edge (/metrics, docs).",
    ["reason", "at"],
)
ERRORS = Counter(
    "loan_prediction_errors_total",
    "Requests refused or failed, by kind (invalid_input, too_large, not_found, paused, "
    "unavailable, internal).",
    ["kind"],
)
PROBABILITY = Histogram(
    "loan_default_probability",
    "Predicted default probabilities (watch its shape for prediction drift).",
    buckets=(0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
)
MODEL_SWITCHES = Counter(
    "loan_model_switches_total",
    "Champion changes seen by the workers: switched to, or refused (failed check).",
    ["outcome"],
)
FEATURE_LOOKUPS = Counter(
    "loan_feature_lookups_total",
    "Applications with a client key looked up in the feature store, by outcome (hit, miss, "
    "timeout, error: timeout and error are scored from the request alone).",
    ["outcome"],
)
FEATURE_REJECTED = Counter(
    "loan_feature_rejected_values_total",
    "Stored values not used because they break their field's rule (range, type), by field.",
    ["field"],
)
MODEL_INFO = Gauge(
    "loan_model_info",
    "The model this worker serves (value 1).",
    ["model_name", "model_version", "algorithm"],
)


def observe_many(histogram: Histogram, values: Sequence[float]) -> None:
    """``histogram.observe(v)`` for each value, as one update per bucket.

    A 1,000-row batch otherwise takes 1,000 locked updates of the shared metric files (~5 ms).
    prometheus-client has no bulk observe, so this adds the bucket counts itself, through the
    attributes ``observe`` uses (``_upper_bounds``, ``_buckets``, ``_sum``); a test checks that
    the exported histogram equals the one-by-one result.
    """
    if len(values) <= 4:
        for v in values:
            histogram.observe(v)
        return
    bounds = np.asarray(histogram._upper_bounds)  # ends with +Inf
    counts = np.bincount(np.searchsorted(bounds, values, side="left"), minlength=len(bounds))
    histogram._sum.inc(float(np.sum(values)))
    for bucket, count in zip(histogram._buckets, counts.tolist(), strict=True):
        if count:
            bucket.inc(count)


_MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
"""Decided once, as prometheus-client decides where the values live when it is imported: a
variable set later in the process (by another library, or another test) must not make
``/metrics`` read files this process never wrote."""


def exposition() -> tuple[bytes, str]:
    """The ``/metrics`` body (every worker's metrics when served by ``bentoml serve``)."""
    if _MULTIPROCESS:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST  # one process (tests, ``to_asgi()``)
