"""The service's Prometheus metrics (module-level, served by BentoML's ``/metrics``).

The names are a contract: the alert rules in ``configs/prometheus/`` query them.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
MODEL_INFO = Gauge(
    "loan_model_info",
    "The model this worker serves (value 1).",
    ["model_name", "model_version", "algorithm"],
)
