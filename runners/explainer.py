"""The explainer: per-row contributions and principal reasons, in a worker of its own.

Contributions cost ~8 ms a row (170x a prediction), so they stay off the predict path: the API
service reaches this BentoML service through ``bentoml.depends`` and its worker runs them with
adaptive batching (concurrent /v1/explain calls are merged into one ``pred_contrib`` call).
"""

from __future__ import annotations

from typing import Any

import bentoml

from loan_default.store import LoadedModel
from runners.loading import load_serving_model
from runners.reasons import ReasonBook, principal_reasons
from runners.settings import serving_settings

EXPLAIN_MAX_BATCH = 16
EXPLAIN_MAX_LATENCY_MS = 10_000
"""A deadline, not a wait (BentoML answers 503 to requests that would miss it)."""


class ExplainerCore:
    """Contributions and reasons for validated applications (usable without BentoML).

    Args:
        loaded: the model to explain (the same version the API scores with).
        book: the adverse-action reasons; every model feature must have one.
        limit: principal reasons per application.
    """

    def __init__(self, loaded: LoadedModel, book: ReasonBook, *, limit: int = 4) -> None:
        book.require(loaded.model.feature_names)
        self.loaded = loaded
        self.book = book
        self.limit = limit
        self.features = loaded.model.feature_names

    def explain(self, applications: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Per application: ``model_version``, ``base_value`` and ``reasons``."""
        model = self.loaded.model
        X = model.features.transform_records(applications)
        contributions = model.contributions_matrix(X)
        version = self.loaded.metadata.version
        return [
            {
                "model_version": version,
                "base_value": float(contributions[i, -1]),
                "reasons": principal_reasons(
                    contributions[i], self.features, X[i], app, self.book, limit=self.limit
                ),
            }
            for i, app in enumerate(applications)
        ]


@bentoml.service(name="loan_explainer", workers=1, traffic={"timeout": 30})
class Explainer:
    """BentoML service around :class:`ExplainerCore` (its own worker, adaptive batching)."""

    def __init__(self) -> None:
        settings = serving_settings()
        self.core = ExplainerCore(
            load_serving_model(settings),
            ReasonBook.load(settings.reasons_path),
            limit=settings.max_reasons,
        )

    @bentoml.api(
        batchable=True, max_batch_size=EXPLAIN_MAX_BATCH, max_latency_ms=EXPLAIN_MAX_LATENCY_MS
    )
    def explain(self, applications: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Reasons for validated applications (the API service validates them first)."""
        return self.core.explain(applications)
