"""The loan default scoring service (BentoML 1.4): REST under /v1, gRPC beside it.

Serve it with ``bentoml serve`` (``make serve``). Each API worker loads the model once (the
``LOAN_MODEL_TAG`` tag, else the MLflow ``champion``), scores in-process, batching the calls that
arrive together (``runners.batching``), and writes every answer to the traffic log before
sending it; per-row explanations run in the ``loan_explainer`` worker (``runners.explainer``).
The routes are a FastAPI app mounted on the service, reading raw bodies and validating them
strictly, and reached ahead of BentoML's middleware and router (``runners.routing.ScoringService``
puts ``DirectRoutes`` in front of each worker's app); docs/serving.md
explains each choice with its benchmark. BentoML provides /livez, /readyz (``__is_ready__``: the
start-up canary, ``runners.readiness``) and the OpenAPI page at /; /metrics is served here.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import Any, cast

import bentoml
from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from loan_default.api import (
    BatchPrediction,
    BatchRequest,
    CallContext,
    Explanation,
    FeedbackReceipt,
    FeedbackRequest,
    LoanApplication,
    ModelInfo,
    Prediction,
)
from loan_default.home import project_version
from runners import apidocs, metrics, readiness
from runners.backend import ServingBackend
from runners.edge import BearerAuth, grpc_credentials, grpc_interceptors, worker_guard
from runners.enrichment import enricher
from runners.explainer import Explainer, explain_remotely
from runners.grpc.server import GrpcServer, start_server
from runners.http import json_response, parse, read_body
from runners.http import request_id as get_request_id
from runners.loading import load_serving_model
from runners.openapi import documented
from runners.reloader import ModelWatcher
from runners.routing import ConnectionRecycler, ScoringApp, ScoringService
from runners.scorer import Scorer
from runners.settings import build_arguments, serving_settings
from runners.startup import exit_nonzero_after_failed_startup, startup_guard

logger = logging.getLogger(__name__)
_BUILD = build_arguments()  # `bentoml build --arg model_tag=...` packs that model in the Bento
exit_nonzero_after_failed_startup()  # `bentoml serve` exits 3 when a worker cannot start

app = ScoringApp(apidocs.TITLE, apidocs.DESCRIPTION)
_BAD = {
    "s400": "Malformed JSON, a key given twice, or a bad `X-Request-ID`.",
    "s408": "The body did not arrive within 5 s.",
    "s413": "Body too large.",
    "s415": "The body is not `application/json`.",
    "s422": "Invalid fields.",
}
_AUTH = {
    "s401": "No valid bearer token (the WWW-Authenticate header says why).",
    "s403": "The token's roles lack the permission this endpoint needs (named in `error`).",
}
_PAUSED = {"s503": "Scoring paused (reason in `error`) or the model is unavailable."}


@bentoml.service(
    name="loan_default",
    workers=2,
    traffic={"timeout": 60},
    # The traffic log (with request ids) and our metrics record every scoring call; BentoML's
    # per-request access log, OpenTelemetry spans and HTTP metrics cost more than the model
    # (its metrics middleware alone: 2,200 -> 2,900 req/s when off, docs/serving.md), so they
    # are off, and /metrics is served below from the same multiprocess registry.
    metrics={"enabled": False},
    logging={"access": {"enabled": False}},
    tracing={"excluded_urls": ["/v1/predict"]},
    labels={"owner": "credit-risk", "stage": "serving"},
    service_class=ScoringService,
)
@bentoml.asgi_app(app, path="/")
class LoanDefaultService:
    """Loan default scoring: predict, predict_batch, explain, metadata, feedback."""

    explainer = bentoml.depends(Explainer)
    packed_model = bentoml.models.BentoModel(_BUILD.model_tag) if _BUILD.model_tag else None

    def __init__(self) -> None:
        with startup_guard():  # no model, bad settings: one line, the server stops
            self.settings = serving_settings()
            self.guard = worker_guard()  # keys, policy, audit stream: a bad setting fails here
            self.scorer = Scorer(load_serving_model(self.settings), self.settings, self.guard)
            self.enricher = enricher(self.settings)  # a bad LOAN_FEATURE_STORE fails here
        self.readiness = readiness.check(self.scorer.loaded)  # once: probes read the result
        self.backend = ServingBackend(
            self.scorer,
            self._explain,
            max_batch_rows=self.settings.max_batch_rows,
            guard=self.guard,
            enricher=self.enricher,
        )
        self.recycler = ConnectionRecycler(self.settings.keepalive_applications)
        self.watcher = ModelWatcher(
            self.settings, lambda: self.scorer.loaded, self.scorer.swap, worker="api"
        )
        endpoints = ("predict", "predict_batch", "explain")
        self.latency = {endpoint: metrics.LATENCY.labels(endpoint) for endpoint in endpoints}
        self.grpc: GrpcServer | None = None
        logger.info("serving %s (%s)", self.scorer.meta.tag, self.scorer.meta.algorithm)

    async def _explain(self, applications: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return await explain_remotely(self.explainer, applications)

    def __is_ready__(self) -> bool:
        """``/readyz``: the model loaded and answered the start-up canary (cached)."""
        return self.readiness.ready

    @bentoml.on_startup
    async def start_grpc(self) -> None:
        """Start the gRPC server in this worker's loop (every worker binds the port) and the
        champion watcher (``runners.reloader``), then freeze the objects of start-up (the
        worker's last start-up step)."""
        self.watcher.start()
        if self.settings.grpc_enabled:
            security = self.guard.settings
            self.grpc = await start_server(
                self.backend,
                host=self.settings.grpc_host or security.bind_host,
                port=self.settings.grpc_port,
                interceptors=grpc_interceptors(self.guard),
                credentials=grpc_credentials(security),
                serving=self.readiness.ready,
            )
        # Everything allocated so far (libraries, model) lives as long as the worker: move it
        # out of the collector's reach, so a full collection walks request garbage only, not
        # the ~10^6 objects of the imported libraries (a ~200 ms pause under load otherwise).
        gc.freeze()

    @bentoml.on_shutdown
    async def stop(self) -> None:
        await self.watcher.stop()
        if self.grpc is not None:
            await self.grpc.stop()
        self.scorer.close()
        if self.enricher is not None:
            self.enricher.close()
        self.guard.close()  # signs the audit stream's last checkpoint

    @property
    def single_limit(self) -> int:
        """Largest body of a single-application request."""
        return self.settings.max_single_body_bytes


# Every request is authenticated first (runners.edge.BearerAuth): the API's routes by the edge
# ScoringService puts in front of them, every other path here, the outermost of our middleware.
cast(bentoml.Service[Any], LoanDefaultService).add_asgi_middleware(BearerAuth)


_current_service = bentoml.get_current_service  # resolved once: bentoml's lazy module lookup


def _svc() -> LoanDefaultService:
    """This worker's service instance (created by BentoML at startup)."""
    return cast(LoanDefaultService, _current_service())


@app.route_direct(
    "POST",
    "/v1/predict",
    summary="Score one application",
    **documented(LoanApplication, Prediction, **_BAD, **_AUTH, **_PAUSED),
)
async def predict(request: Request) -> Response:
    """Default probability and risk category of one application (logged before answering)."""
    start = time.perf_counter()
    svc = _svc()
    application = parse(LoanApplication, await read_body(request, svc.single_limit))
    rid = get_request_id(request)
    ctx = CallContext("predict", "rest", rid)
    (result,) = await svc.backend.predict([application], ctx)
    svc.latency["predict"].observe(time.perf_counter() - start)
    return json_response(result, headers={"X-Request-ID": rid, **svc.recycler.headers(1)})


@app.route_direct(
    "POST",
    "/v1/predict_batch",
    summary="Score up to 10,000 applications",
    **documented(BatchRequest, BatchPrediction, **_BAD, **_AUTH, **_PAUSED),
)
async def predict_batch(request: Request) -> Response:
    """One prediction per application, in order; a bad row rejects the whole batch."""
    start = time.perf_counter()
    svc = _svc()
    batch = parse(BatchRequest, await read_body(request, svc.settings.max_body_bytes))
    rid = get_request_id(request)
    ctx = CallContext("predict_batch", "rest", rid)
    results = await svc.backend.predict(batch.applications, ctx)
    svc.latency["predict_batch"].observe(time.perf_counter() - start)
    headers = {"X-Request-ID": rid, **svc.recycler.headers(len(results))}
    return json_response({"predictions": results}, headers=headers)


@app.route_direct(
    "POST",
    "/v1/explain",
    summary="Score one application and give its principal reasons",
    **documented(LoanApplication, Explanation, **_BAD, **_AUTH, **_PAUSED),
)
async def explain(request: Request) -> Response:
    """The prediction plus up to 4 features that raised the risk most, with reasons."""
    start = time.perf_counter()
    svc = _svc()
    application = parse(LoanApplication, await read_body(request, svc.single_limit))
    rid = get_request_id(request)
    result = await svc.backend.explain(application, CallContext("explain", "rest", rid))
    svc.latency["explain"].observe(time.perf_counter() - start)
    return json_response(result, headers={"X-Request-ID": rid, **svc.recycler.headers(1)})


@app.route_direct(
    "GET", "/v1/metadata", summary="The model being served", **documented(None, ModelInfo, **_AUTH)
)
async def metadata(request: Request) -> Response:
    """Name, version, training date, data hash, MLflow run, metrics, thresholds, schema."""
    ctx = CallContext("metadata", "rest", get_request_id(request))
    return json_response(await _svc().backend.metadata(ctx))


@app.route_direct(
    "POST",
    "/v1/feedback",
    summary="Record the observed outcome of a prediction",
    **documented(FeedbackRequest, FeedbackReceipt, **_BAD, **_AUTH, s404="Unknown prediction_id."),
)
async def feedback(request: Request) -> Response:
    """Whether the loan of an earlier prediction defaulted (for performance monitoring)."""
    svc = _svc()
    body = parse(FeedbackRequest, await read_body(request, svc.single_limit))
    ctx = CallContext("feedback", "rest", get_request_id(request))
    return json_response(await svc.backend.feedback(body, ctx))


@app.route_direct("GET", "/", include_in_schema=False)
async def api_page(request: Request) -> Response:
    """Swagger UI of /docs.json, from local files only (runners.apidocs)."""
    return HTMLResponse(apidocs.page_html())


@app.route_direct("GET", "/docs.json", include_in_schema=False)
async def openapi_document(request: Request) -> Response:
    """BentoML's OpenAPI document with the project's title, version, groups and examples."""
    base = cast(bentoml.Service[Any], LoanDefaultService).openapi_spec.asdict()
    package_version = _BUILD.platform_version or project_version()  # a Bento has no dist-info
    spec = apidocs.project_spec(
        base, package_version=package_version, model_version=_svc().scorer.meta.tag
    )
    return JSONResponse(spec)


@app.get("/metrics", include_in_schema=False)
async def prometheus_metrics() -> Response:
    """Every worker's metrics, in Prometheus' text format."""
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)


@app.api_route("/v1/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
               include_in_schema=False)  # fmt: skip
async def not_found(request: Request, path: str) -> Response:
    """Unknown paths under /v1 get the API's error shape."""
    raise HTTPException(404, "no such endpoint")
