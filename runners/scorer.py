"""The scorer: validated applications -> logged predictions, in the API worker's own process.

A benchmark decided where it runs (docs/serving.md): a prediction costs tens of microseconds of
model time, while a hop to a separate BentoML worker (``bentoml.depends``) costs more than that
in serialisation and IPC. So the scorer runs inline in each API worker; the calls that arrive
together are batched there (``runners.batching``, :meth:`Scorer.score_many`), and a batch call
is scored as one matrix. The explainer, whose per-row contributions cost ~170x a prediction,
has its own worker (``runners.explainer``).

Every prediction is appended to the traffic log and its id to the prediction index *before*
the caller can answer: a SIGKILLed worker has lost nothing it answered.

The model can be replaced while the worker serves (:meth:`Scorer.swap`, driven by
``runners.reloader``): everything that belongs to one model (the model, its metadata, its
thresholds, its counters) is one immutable :class:`ActiveModel`, read once per batch, so each
answer and each traffic-log record names the version that really scored it.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loan_default.bodies import (
    EnrichmentBody,
    FeedbackLine,
    FeedbackReceiptBody,
    ModelInfoBody,
    PredictionBody,
    PredictionLine,
)
from loan_default.decision import DecisionPolicy
from loan_default.errors import NotFoundError, UnavailableError
from loan_default.schema import INPUT_FIELDS, RISK_CATEGORIES
from loan_default.security.guard import Guard
from loan_default.store import LoadedModel
from loan_default.traffic import TrafficWriter, utcnow
from runners import metrics
from runners.ledger import PauseGate, PredictionIndex, new_prediction_ids
from runners.settings import ServingSettings


def writer_name() -> str:
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
    subject: str | None = None
    """Who asked (the token's ``sub``), for the audit trail."""
    enrichment: Sequence[EnrichmentBody | None] | None = None
    """What the feature store filled in, per application (``runners.enrichment``)."""


@dataclass(frozen=True)
class ActiveModel:
    """One model and what belongs to it; replaced as a whole by :meth:`Scorer.swap`."""

    loaded: LoadedModel
    thresholds: Any
    counters: dict[str, Any]
    policy: DecisionPolicy
    """The model's approved decision policy (never overridden by a deployment setting)."""

    @classmethod
    def of(cls, loaded: LoadedModel, settings: ServingSettings) -> ActiveModel:
        meta = loaded.metadata
        metrics.MODEL_INFO.labels(meta.name, meta.version, meta.algorithm).set(1)
        return cls(
            loaded,
            settings.thresholds(meta.thresholds.risk()),
            {risk: metrics.PREDICTIONS.labels(meta.version, risk) for risk in RISK_CATEGORIES},
            meta.policy(),
        )


def _note_enrichment(
    notes: Sequence[EnrichmentBody | None],
    results: list[PredictionBody],
    lines: list[PredictionLine],
) -> None:
    """Each answer and traffic-log line says what the feature store filled in."""
    for note, result, line in zip(notes, results, lines, strict=True):
        if note is not None:
            result["enrichment"] = note
            line["enrichment"] = note


class Scorer:
    """Scores applications with one loaded model and records every answer.

    Args:
        loaded: the model (``runners.loading.load_serving_model``).
        settings: serving settings (thresholds override, traffic location, pause check).
    """

    def __init__(
        self, loaded: LoadedModel, settings: ServingSettings, guard: Guard | None = None
    ) -> None:
        self.guard = guard
        cipher = guard.cipher if guard is not None else None
        self.settings = settings
        self.active = ActiveModel.of(loaded, settings)
        traffic = settings.traffic_path
        fsync = settings.traffic_fsync
        self._predictions = TrafficWriter(traffic, "predictions", fsync=fsync, cipher=cipher)
        self._feedback = TrafficWriter(traffic, "feedback", fsync=fsync, cipher=cipher)
        self._index = PredictionIndex(settings.prediction_index_path, writer_name())
        self._pause = PauseGate(settings.home, ttl=settings.pause_check_seconds)
        self._lock = threading.Lock()  # the service scores on its event loop; other callers may not

    @property
    def loaded(self) -> LoadedModel:
        return self.active.loaded

    @property
    def model(self) -> Any:
        return self.active.loaded.model

    @property
    def meta(self) -> Any:
        return self.active.loaded.metadata

    @property
    def thresholds(self) -> Any:
        return self.active.thresholds

    def swap(self, loaded: LoadedModel) -> str:
        """Serve ``loaded`` from the next batch on (one attribute assignment); the old version."""
        old = self.active.loaded.metadata
        self.active = ActiveModel.of(loaded, self.settings)
        if old.version != loaded.metadata.version:
            metrics.MODEL_INFO.labels(old.name, old.version, old.algorithm).set(0)
        return old.version

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
        active = self.active  # one model for the whole batch, whatever a swap does meanwhile
        if len(requests) == 1:
            applications = requests[0].applications
        else:
            applications = [app for request in requests for app in request.applications]
        scores = active.loaded.model.predict_proba_records(applications)
        probabilities = scores.tolist()
        # Value by value: a call holds a few rows, where numpy's per-call cost exceeds the work.
        category, decide = active.thresholds.category, active.policy.decision
        categories = [category(p) for p in probabilities]
        decisions = [decide(p) for p in probabilities]
        ids = new_prediction_ids(len(probabilities))
        now = utcnow().isoformat()
        name, version = active.loaded.metadata.name, active.loaded.metadata.version
        rows = list(zip(ids, probabilities, categories, decisions, strict=True))
        # Dict displays typed by the annotations (a TypedDict call costs ~3x a display per row).
        results: list[PredictionBody] = [
            {
                "prediction_id": pid,
                "default_probability": p,
                "risk_category": risk,
                "decision": decision,
                "model_name": name,
                "model_version": version,
                "timestamp": now,
            }
            for pid, p, risk, decision in rows
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
                    "decision": decision,
                }
                for (pid, p, risk, decision), app in zip(
                    rows[start:stop], request.applications, strict=True
                )
            ]
            if request.enrichment is not None:
                _note_enrichment(request.enrichment, results[start:stop], lines)
            records.extend(lines)
            answers.append(results[start:stop])
            start = stop
        audit = self._audit_events(requests, answers)
        with self._lock:
            self._predictions.write(records)
            self._index.add(ids, model_version=version)
            if audit:
                assert self.guard is not None
                self.guard.record(audit)
        for risk, n in Counter(categories).items():
            active.counters[risk].inc(n)
        metrics.observe_many(metrics.PROBABILITY, probabilities)
        return answers

    def _audit_events(
        self, requests: Sequence[ScoreRequest], answers: list[list[PredictionBody]]
    ) -> list[dict[str, Any]]:
        if self.guard is None or self.guard.audit is None:
            return []
        events: list[dict[str, Any]] = []
        tag = self.meta.tag
        for request, results in zip(requests, answers, strict=True):
            events.extend(
                self.guard.decision_events(
                    request.subject or "unknown", endpoint=request.endpoint, model=tag,
                    applications=request.applications, results=results,
                    request_id=request.request_id,
                )
            )  # fmt: skip
        return events

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
        active = self.active
        meta = active.loaded.metadata
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
                "medium": active.thresholds.medium,
                "high": active.thresholds.high,
                "decision": meta.thresholds.decision,
                "refer_at": active.policy.refer_at,
                "decline_at": active.policy.decline_at,
                "decision_rule": active.policy.rule,
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
            "features": active.loaded.model.feature_names,
        }

    def close(self) -> None:
        self._predictions.close()
        self._feedback.close()
        self._index.close()
