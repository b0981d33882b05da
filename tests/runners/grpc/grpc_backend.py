"""The serving backend for the gRPC tests: the real ``ServingBackend`` over a tiny model.

The server is tested over the same backend the service runs (a ``Scorer`` writing a real
traffic log and prediction index, an in-process ``ExplainerCore``), so the tests check the
translation against genuine scores, validation errors, lookups and the pause.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from lightgbm import LGBMClassifier

from loan_default.api import CallContext
from loan_default.data.generate import generate_applications
from loan_default.errors import LoanError
from loan_default.features import FeatureEngineer
from loan_default.model import ScoringModel
from loan_default.reasons import reason_codes
from loan_default.schema import frame_to_records
from loan_default.store import load_model
from runners.backend import Application, ServingBackend
from runners.explainer import ExplainerCore
from runners.loading import load_serving_model
from runners.scorer import Scorer
from runners.settings import ServingSettings
from tests.runners.tiny_model import dev_guard


def train_tiny_model(rows: int = 3_000, *, seed: int = 0) -> ScoringModel:
    """FeatureEngineer + a small LightGBM on generated applications (about a second)."""
    frame = generate_applications(rows, seed=seed)
    features = FeatureEngineer(min_category_count=5).fit(frame)
    estimator = LGBMClassifier(
        n_estimators=40, num_leaves=7, learning_rate=0.1, random_state=seed, verbose=-1
    )
    estimator.fit(features.transform(frame), frame["default"].to_numpy())
    return ScoringModel(features, estimator, num_threads=1)


def to_requests(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Canonical rows as REST request bodies: JSON types, missing values omitted."""
    return frame_to_records(frame)


class FaultInjectingBackend(ServingBackend):
    """:class:`ServingBackend` that raises ``fail_with`` (when set) from every method, to check
    how the server maps errors no real input provokes (a generic ``LoanError``)."""

    fail_with: LoanError | None = None

    def _check(self) -> None:
        if self.fail_with is not None:
            raise self.fail_with

    async def predict(self, applications: Any, ctx: CallContext) -> Any:
        self._check()
        return await super().predict(applications, ctx)

    async def explain(self, application: Application, ctx: CallContext) -> Any:
        self._check()
        return await super().explain(application, ctx)

    async def metadata(self, ctx: CallContext) -> Any:
        self._check()
        return await super().metadata(ctx)

    async def feedback(self, request: Any, ctx: CallContext) -> Any:
        self._check()
        return await super().feedback(request, ctx)


def serving_backend(home: Path, tag: str, *, max_batch_rows: int = 10_000) -> FaultInjectingBackend:
    """The service's backend for the model ``tag``, writing under ``home``."""
    settings = ServingSettings(
        model_tag=tag, home=home, pause_check_seconds=0, max_batch_rows=max_batch_rows
    )
    scorer = Scorer(load_serving_model(settings), settings)
    explainer = ExplainerCore(load_model(tag), reason_codes(settings.reasons_path))

    async def explain(applications: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return explainer.explain(applications)

    guard = dev_guard(home)  # authentication off; tests/security covers it over gRPC
    return FaultInjectingBackend(scorer, explain, max_batch_rows=max_batch_rows, guard=guard)


T = TypeVar("T")


class Loop:
    """An event loop in a thread: the aio server lives there, blocking clients call it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()
