"""The scorer: validated applications -> logged predictions, in the API worker's own process.

A benchmark decided where it runs (docs/serving.md): a prediction costs tens of microseconds of
model time, while a hop to a separate BentoML worker (``bentoml.depends``) costs more than that
in serialisation and IPC. So the scorer runs inline in each API worker; the calls that arrive
together are batched there (``runners.batching``, :meth:`Scorer.score_many`), and a batch call
is scored as one matrix. The explainer, whose per-row contributions cost ~170x a prediction,
has its own worker (``runners.explainer``).

Every prediction is appended to the traffic log and its id to the prediction index *before*
the caller can answer: a SIGKILLed worker has lost nothing it answered.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loan_default.bodies import (
    FeedbackLine,
    FeedbackReceiptBody,
    ModelInfoBody,
    PredictionBody,
    PredictionLine,
)
from loan_default.errors import NotFoundError, UnavailableError
from loan_default.schema import INPUT_FIELDS, RISK_CATEGORIES
from loan_default.store import LoadedModel
from loan_default.traffic import TrafficWriter, utcnow
from runners import metrics
from runners.ledger import PauseGate, PredictionIndex, new_prediction_ids
from runners.settings import ServingSettings


def _writer_name() -> str:
    """``<host>-w<worker index>``: stable across a worker's restarts, unique among workers."""
    import socket

    import bentoml

    index = bentoml.server_context.worker_index
    return f"{socket.gethostname()}-w{index if index is not None else os.getpid()}"


@dataclass(frozen=True, slots=True)
class ScoreRequest:
    """One call's validated applications, and where they came from (for the traffic log)."""

    applications: Sequence[Mapping[str, Any]]
    endpoint: str
    request_id: str | None = None


class Scorer:
    """Scores applications with one loaded model and records every answer.

    Args:
        loaded: the model (``runners.loading.load_serving_model``).
        settings: serving settings (thresholds override, traffic location, pause check).
    """

    def __init__(self, loaded: LoadedModel, settings: ServingSettings) -> None:
        self.loaded = loaded
        self.model = loaded.model
        self.meta = loaded.metadata
        self.settings = settings
        self.thresholds = settings.thresholds(loaded.metadata.thresholds.risk())
        traffic = settings.traffic_path
        self._predictions = TrafficWriter(traffic, "predictions", fsync=settings.traffic_fsync)
        self._feedback = TrafficWriter(traffic, "feedback", fsync=settings.traffic_fsync)
        self._index = PredictionIndex(settings.prediction_index_path, _writer_name())
        self._pause = PauseGate(settings.home, ttl=settings.pause_check_seconds)
        self._lock = threading.Lock()  # the service scores on its event loop; other callers may not
        metrics.MODEL_INFO.labels(self.meta.name, self.meta.version, self.meta.algorithm).set(1)
        self._counters = {
            risk: metrics.PREDICTIONS.labels(self.meta.version, risk) for risk in RISK_CATEGORIES
        }

    def check_open(self) -> None:
        """Raise ``UnavailableError`` while scoring is paused by an operator or the monitoring."""
        if (state := self._pause.current()) is not None:
            metrics.ERRORS.labels("paused").inc()
            raise UnavailableError(
                f"scoring is paused since {state.since.isoformat()} by {state.by}: {state.reason}"
            )

    def score(
        self,
        applications: Sequence[Mapping[str, Any]],
        *,
        endpoint: str,
        request_id: str | None = None,
    ) -> list[PredictionBody]:
        """Predictions (the REST body of each) for validated applications, logged first.

        Raises:
            UnavailableError: scoring is paused.
            OSError: the traffic log could not be written (nothing is answered then).
        """
        return self.score_many([ScoreRequest(applications, endpoint, request_id)])[0]

    def score_many(self, requests: Sequence[ScoreRequest]) -> list[list[PredictionBody]]:
        """:meth:`score` for several calls at once: one feature matrix, one model call, one
        traffic-log write and one index transaction for all of them (``runners.batching``)."""
        self.check_open()
        if len(requests) == 1:
            applications = requests[0].applications
        else:
            applications = [app for request in requests for app in request.applications]
        probabilities = self.model.predict_proba_records(applications).tolist()
        category = self.thresholds.category
        categories = [category(p) for p in probabilities]
        ids = new_prediction_ids(len(probabilities))
        now = utcnow().isoformat()
        name, version = self.meta.name, self.meta.version
        rows = list(zip(ids, probabilities, categories, strict=True))
        # Dict displays typed by the annotations (a TypedDict call costs ~3x a display per row).
        results: list[PredictionBody] = [
            {
                "prediction_id": pid,
                "default_probability": p,
                "risk_category": risk,
                "model_name": name,
                "model_version": version,
                "timestamp": now,
            }
            for pid, p, risk in rows
        ]
        records: list[PredictionLine] = []
        answers: list[list[PredictionBody]] = []
        start = 0
        for request in requests:
            stop = start + len(request.applications)
            lines: list[PredictionLine] = [
                {
                    "prediction_id": pid,
                    "request_id": request.request_id,
                    "timestamp": now,
                    "model_name": name,
                    "model_version": version,
                    "endpoint": request.endpoint,
                    "application": app,
                    "default_probability": p,
                    "risk_category": risk,
                }
                for (pid, p, risk), app in zip(rows[start:stop], request.applications, strict=True)
            ]
            records.extend(lines)
            answers.append(results[start:stop])
            start = stop
        with self._lock:
            self._predictions.write(records)
            self._index.add(ids, model_version=version)
        for risk, n in Counter(categories).items():
            self._counters[risk].inc(n)
        metrics.observe_many(metrics.PROBABILITY, probabilities)
        return answers

    def feedback(
        self, prediction_id: str, observed_default: int, *, request_id: str | None = None
    ) -> FeedbackReceiptBody:
        """Record an observed outcome; ``NotFoundError`` if the id was never issued."""
        with self._lock:
            model_version = self._index.lookup(prediction_id)
        if model_version is None:
            metrics.ERRORS.labels("not_found").inc()
            raise NotFoundError(f"prediction_id {prediction_id!r} was never issued here")
        now = utcnow().isoformat()
        record = FeedbackLine(
            prediction_id=prediction_id,
            observed_default=observed_default,
            timestamp=now,
            model_version=model_version,
            request_id=request_id,
        )
        with self._lock:
            self._feedback.write([record])
        return FeedbackReceiptBody(
            prediction_id=prediction_id,
            observed_default=observed_default,
            model_version=model_version,
            recorded_at=now,
        )

    def metadata(self) -> ModelInfoBody:
        """The /v1/metadata body."""
        meta = self.meta
        return {
            "model_name": meta.name,
            "model_version": meta.version,
            "algorithm": meta.algorithm,
            "training_date": meta.created_at.isoformat(),
            "data_hash": meta.data_hash,
            "data_rows": meta.data_rows,
            "data_source": meta.data_source,
            "mlflow_run_id": meta.mlflow_run_id,
            "mlflow_model_version": meta.mlflow_model_version,
            "git_commit": meta.git_commit,
            "training_metrics": meta.training_metrics.model_dump(mode="json"),
            "thresholds": {
                "medium": self.thresholds.medium,
                "high": self.thresholds.high,
                "decision": meta.thresholds.decision,
            },
            "schema_fingerprint": meta.schema_fingerprint,
            "input_schema": [
                {
                    "name": f.name,
                    "kind": f.kind.value,
                    "role": f.role.value,
                    "description": f.description,
                    "unit": f.unit,
                    "minimum": f.minimum,
                    "maximum": f.maximum,
                    "categories": list(f.categories) if f.categories else None,
                    "required": f.required,
                }
                for f in INPUT_FIELDS
            ],
            "features": self.model.feature_names,
        }

    def close(self) -> None:
        self._predictions.close()
        self._feedback.close()
        self._index.close()
