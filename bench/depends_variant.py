"""The arrangement ``service.py`` did not take, for ``bench/serve.py --variants``.

The API workers validate and build features, then call a separate scorer service through
``bentoml.depends`` with adaptive batching (``np.ndarray`` in and out), the textbook BentoML
1.4 layout. It writes no traffic log, so it is a lower bound on that arrangement's cost.
"""

from __future__ import annotations

from typing import Any

import bentoml
import numpy as np
from fastapi import Request
from fastapi.responses import Response

from loan_default.api import LoanApplication
from runners.http import json_response, parse, read_body
from runners.loading import load_serving_model
from runners.routing import ScoringApp
from runners.settings import serving_settings


@bentoml.service(name="bench_scorer", workers=1)
class BatchedScorer:
    """The model in its own worker, merging concurrent calls into batches."""

    def __init__(self) -> None:
        self.model = load_serving_model(serving_settings()).model

    @bentoml.api(batchable=True, max_batch_size=64, max_latency_ms=1000)
    def score(self, X: np.ndarray) -> np.ndarray:
        return self.model.predict_proba_matrix(X)


app = ScoringApp("bench variant", "API workers + a batched scorer service via bentoml.depends")


@bentoml.service(
    name="bench_api",
    workers=2,
    logging={"access": {"enabled": False}},
    tracing={"excluded_urls": ["/v1/predict"]},
)
@bentoml.asgi_app(app, path="/v1")
class DependsApi:
    """Validation and features here, the model behind ``bentoml.depends``."""

    scorer = bentoml.depends(BatchedScorer)

    def __init__(self) -> None:
        self.features = load_serving_model(serving_settings()).model.features


@app.route_direct("POST", "/predict")
async def predict(request: Request) -> Response:
    svc: Any = bentoml.get_current_service()
    application = parse(LoanApplication, await read_body(request, 65536))
    X = svc.features.transform_records([application.__dict__])
    p = await svc.scorer.to_async.score(X)
    return json_response({"default_probability": float(p[0])})
