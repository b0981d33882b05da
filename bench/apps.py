"""Baseline servers for ``bench/serve.py`` (never used by the service).

* ``naive``: what a user would write instead: FastAPI, a pydantic body, a one-row DataFrame,
  the feature pipeline and ``LGBMClassifier.predict_proba`` (the brief's FastAPI snippet, with
  the real feature engineering).
* ``lean``: the floor: a bare ASGI callable, ``orjson``, the numpy fast path and the raw
  LightGBM ``Booster`` with one thread; no validation, no logging.

Both load the pickled ScoringModel from ``BENCH_MODEL_DIR`` (a Bento model folder) on first use,
so ``uvicorn --workers 2 bench.apps:naive`` loads it once per worker.
"""

from __future__ import annotations

import os
import pickle
from functools import cache
from pathlib import Path
from typing import Any, cast

import numpy as np
import orjson
import pandas as pd
from fastapi import FastAPI
from pydantic import BaseModel

from loan_default.api import BatchRequest, LoanApplication
from loan_default.model import ScoringModel
from loan_default.store import MODEL_FILE


@cache
def _model() -> ScoringModel:
    with (Path(os.environ["BENCH_MODEL_DIR"]) / MODEL_FILE).open("rb") as fh:
        model: ScoringModel = pickle.load(fh)
    return model


naive = FastAPI(title="naive")


def _naive_score(frame: pd.DataFrame) -> list[dict[str, Any]]:
    model = _model()
    p = model.estimator.predict_proba(model.features.transform(frame))[:, 1]
    return [{"default_probability": float(x)} for x in p]


@naive.post("/v1/predict")
def naive_predict(application: LoanApplication) -> dict[str, Any]:  # type: ignore[valid-type]
    return _naive_score(pd.DataFrame([cast(BaseModel, application).model_dump()]))[0]


@naive.post("/v1/predict_batch")
def naive_batch(batch: BatchRequest) -> dict[str, Any]:
    frame = pd.DataFrame([cast(BaseModel, a).model_dump() for a in batch.applications])
    return {"predictions": _naive_score(frame)}


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def lean(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Raw ASGI: JSON -> numpy -> Booster (1 thread) -> JSON."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["method"] != "POST":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    payload = orjson.loads(await _body(receive))
    model = _model()
    batch = scope["path"].endswith("_batch")
    rows = payload["applications"] if batch else [payload]
    X = model.features.transform_records(rows)
    raw = model.estimator.booster_.predict(X, raw_score=True, num_threads=1)
    p = 1.0 / (1.0 + np.exp(-raw))
    out: Any = [{"default_probability": x} for x in p.tolist()]
    body = orjson.dumps({"predictions": out} if batch else out[0])
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
