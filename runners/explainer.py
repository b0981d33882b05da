"""The explainer: per-row contributions and principal reasons, in a worker of its own.

Contributions cost ~8 ms a row (170x a prediction), so they stay off the predict path: the API
service reaches this BentoML service through ``bentoml.depends`` and its worker runs them with
adaptive batching (concurrent /v1/explain calls are merged into one ``pred_contrib`` call).
"""

from __future__ import annotations

from typing import Any

import aiohttp
import bentoml

from loan_default.attribution import fold_contributions
from loan_default.errors import ConfigError, UnavailableError
from loan_default.reasons import ReasonCodes, principal_reasons, reason_codes, validate_reason_codes
from loan_default.store import LoadedModel
from runners.loading import load_serving_model
from runners.reasons import scorecard_points
from runners.reloader import ModelWatcher
from runners.settings import serving_settings
from runners.startup import startup_guard

EXPLAIN_MAX_BATCH = 16
EXPLAIN_MAX_LATENCY_MS = 10_000
"""A deadline, not a wait (BentoML answers 503 to requests that would miss it)."""


class ExplainerCore:
    """Contributions and reasons for validated applications (usable without BentoML).

    Args:
        loaded: the model to explain (the same version the API scores with).
        codes: the reason-code table; every field the model scores must have its statements.
        limit: principal reasons per application.

    Raises:
        ConfigError: the model's features fail :func:`loan_default.reasons.validate_reason_codes`.
    """

    def __init__(self, loaded: LoadedModel, codes: ReasonCodes, *, limit: int = 4) -> None:
        if problems := validate_reason_codes(loaded.model.feature_names, codes):
            raise ConfigError(f"{codes.source}: {'; '.join(problems)}")
        self.loaded = loaded
        self.codes = codes
        self.limit = limit
        self.features = loaded.model.feature_names

    def explain(self, applications: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Per application: ``model_version``, ``base_value`` and ``reasons`` (per application
        field, :mod:`loan_default.attribution`); for a scorecard (or a blend with one) also
        ``score`` and ``points`` per characteristic."""
        model = self.loaded.model
        X = model.features.transform_records(applications)
        folded = fold_contributions(model.contributions_matrix(X), X, self.features)
        version = self.loaded.metadata.version
        out = [
            {
                "model_version": version,
                "base_value": float(folded.base[i]),
                "reasons": principal_reasons(folded, i, app, self.codes, limit=self.limit),
            }
            for i, app in enumerate(applications)
        ]
        card = model.scorecard()
        if card is not None:
            for answer, points in zip(out, scorecard_points(card, X, applications), strict=True):
                answer.update(points)
        return out


@bentoml.service(name="loan_explainer", workers=1, traffic={"timeout": 30})
class Explainer:
    """BentoML service around :class:`ExplainerCore` (its own worker, adaptive batching)."""

    def __init__(self) -> None:
        with startup_guard():  # no model, bad settings: one line, the server stops
            settings = serving_settings()
            self.core = ExplainerCore(
                load_serving_model(settings),
                reason_codes(settings.reasons_path),
                limit=settings.max_reasons,
            )
        self.watcher = ModelWatcher(
            settings, lambda: self.core.loaded, self._swap, worker="explainer"
        )

    def _swap(self, loaded: LoadedModel) -> str:
        old = self.core
        self.core = ExplainerCore(loaded, old.codes, limit=old.limit)  # one assignment
        return old.loaded.metadata.version

    @bentoml.on_startup
    async def watch_champion(self) -> None:
        """Follow the registry's champion (``runners.reloader``) unless pinned by tag."""
        self.watcher.start()

    @bentoml.on_shutdown
    async def stop_watching(self) -> None:
        await self.watcher.stop()

    @bentoml.api(
        batchable=True, max_batch_size=EXPLAIN_MAX_BATCH, max_latency_ms=EXPLAIN_MAX_LATENCY_MS
    )
    def explain(self, applications: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Reasons for validated applications (the API service validates them first)."""
        return self.core.explain(applications)


async def explain_remotely(
    explainer: Any, applications: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Call the explainer worker (``bentoml.depends(Explainer)``); ``UnavailableError`` if down.

    One retry when the worker dropped a kept-alive connection as the call went out (aiohttp
    reports it as a connection error); explaining is idempotent, the explainer records nothing.
    """
    for attempt in (1, 2):
        try:
            result: list[dict[str, Any]] = await explainer.to_async.explain(applications)
            return result
        except aiohttp.ClientConnectionError as exc:
            if attempt == 2:
                raise UnavailableError(f"the explainer worker is unavailable: {exc}") from exc
        except (aiohttp.ClientError, bentoml.exceptions.BentoMLException) as exc:
            raise UnavailableError(f"the explainer worker is unavailable: {exc}") from exc
    raise UnavailableError("the explainer worker is unavailable")
