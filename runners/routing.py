"""How requests reach the API's handlers: direct dispatch ahead of BentoML's router, and
connections spread over the workers.

:class:`ScoringApp` registers each route with FastAPI (for the OpenAPI page) and in a table
that its ``__call__`` serves directly; :class:`DirectRoutes` hands those paths to it from
inside BentoML's middleware chain; :class:`ConnectionRecycler` asks clients to reconnect now
and then, so the workers share the connections (docs/serving.md has the measurements).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Container
from typing import Any, TypeVar

import bentoml
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from loan_default.api import error_body
from loan_default.errors import LoanError
from runners import metrics
from runners.edge import BearerAuth
from runners.http import error_response, json_response

logger = logging.getLogger(__name__)
T = TypeVar("T")
Handler = Callable[[Request], Awaitable[Response]]


class ConnectionRecycler:
    """Asks clients to reconnect now and then, so that the workers share the connections.

    The API workers accept connections from one shared socket, and a burst of new keep-alive
    connections goes to whichever worker wakes first: measured, 64 connections opened together
    split anywhere from 32/32 to 64/0, and the worker holding them all answers at one worker's
    speed while the other idles (p99 64 ms instead of 41-45 ms). A ``Connection: close`` on an
    answer makes the client reconnect, and the new connection goes to the worker that accepts
    first: the idle one if there is one. Like nginx's ``keepalive_requests``, but counted in
    applications and at random (no per-connection state): a call of ``n`` applications closes
    its connection with probability ``n / applications_per_connection``, so a connection
    lives ~100 single calls by default, and a 1,000-row batch call always reconnects (a
    handshake against ~50 ms of scoring).

    Args:
        applications_per_connection: mean applications answered per connection; 0 never closes.
    """

    def __init__(self, applications_per_connection: int, *, seed: int | None = None) -> None:
        self.per_connection = applications_per_connection
        self._random = random.Random(seed).random

    def headers(self, applications: int) -> dict[str, str]:
        """``{"Connection": "close"}`` when this answer should end its connection, else ``{}``."""
        if self.per_connection > 0 and self._random() * self.per_connection < applications:
            return {"Connection": "close"}
        return {}


class ScoringApp(FastAPI):
    """FastAPI for the OpenAPI page and fallbacks; the API routes are dispatched directly.

    Each route is registered with FastAPI (so BentoML's ``/docs.json`` documents it) and in a
    ``(method, path) -> handler`` table that ``__call__`` serves without FastAPI's request
    machinery (middleware stack, dependency solving): the handlers read the raw body anyway.
    """

    def __init__(self, title: str, description: str) -> None:
        super().__init__(
            title=title,
            description=description,
            version="1",
            docs_url=None,
            redoc_url=None,
            openapi_url=None,
        )
        self.direct: dict[tuple[str, str], Handler] = {}
        self._paths: dict[str, list[str]] = {}
        self._requests: dict[tuple[str, int], Any] = {}  # (route, status) -> counter child
        for exc_class in (LoanError, HTTPException, OSError, Exception):
            self.add_exception_handler(exc_class, error_response)

    def route_direct(self, method: str, path: str, **options: Any) -> Callable[[Handler], Handler]:
        """Register ``handler(request) -> Response`` for OpenAPI and for direct dispatch."""

        def register(handler: Handler) -> Handler:
            self.add_api_route(path, handler, methods=[method], **options)
            self.direct[method, path] = handler
            self._paths.setdefault(path, []).append(method)
            return handler

        return register

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            route = path.removeprefix(root)
            handler = self.direct.get((scope["method"], route))
            if handler is None and route in self.paths:
                await self._wrong_method(scope, receive, send, route)
                return
            if handler is not None:
                request = Request(scope, receive)
                try:
                    response = await handler(request)
                except Exception as exc:  # every failure gets the API's error shape
                    response = await error_response(request, exc)
                await response(scope, receive, send)
                self._count(route, response.status_code)
                return
        await super().__call__(scope, receive, send)

    @property
    def paths(self) -> dict[str, list[str]]:
        """Each API path and the methods it answers."""
        return self._paths

    async def _wrong_method(self, scope: Scope, receive: Receive, send: Send, route: str) -> None:
        """405 with ``Allow`` for a known API path called with another method."""
        allowed = ", ".join(sorted(self.paths[route]))
        message = f"{scope['method']} {route}: method not allowed (allowed: {allowed})"
        response = json_response(error_body(message), 405, {"Allow": allowed})
        await response(scope, receive, send)
        self._count(route, 405)

    def _count(self, route: str, status: int) -> None:
        counter = self._requests.get((route, status))
        if counter is None:
            endpoint = route.rsplit("/", 1)[-1]
            counter = self._requests[route, status] = metrics.REQUESTS.labels(endpoint, status)
        counter.inc()


class DirectRoutes:
    """The worker's outermost ASGI app: the API's own routes go straight to ``api``, every
    other request to BentoML's app.

    BentoML's app wraps every request in its middleware chain (server-error, OpenTelemetry,
    timeout, request-context) and its router (a dozen routes tried in turn) before the mount of
    the API app. The API's routes need none of it: they read raw bodies, answer every error in
    their own shape, bound each of their awaits themselves (the body read, the explainer's and
    the feature store's calls) and do not use BentoML's request context. On calls of a few
    hundred microseconds that chain cost a third of a worker's time, and the timeout
    middleware alone one task, one future and one 60-second timer a request (docs/serving.md
    has the measurements). :class:`ScoringService` puts this ahead of the chain.

    It steps aside (``active`` False: every request takes the chain, the API app still serves
    its routes from behind BentoML's mount) when BentoML's configuration asks the chain for
    something these routes would miss: CORS, an access log, a concurrency limit, its HTTP
    metrics, or a tracing exporter.

    Args:
        app: BentoML's app, for every other request.
        api: what serves the API's routes (the API app behind the authentication edge).
        routes: the ``(method, path)`` pairs served by ``api``.
        active: False to send every request to ``app``.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        api: ASGIApp,
        routes: Container[tuple[str, str]],
        active: bool = True,
    ) -> None:
        self.app = app
        self.api = api
        self.routes = routes
        self.active = active

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        http = scope["type"] == "http"
        if self.active and http and (scope["method"], scope["path"]) in self.routes:
            await self.api(scope, receive, send)
        else:
            await self.app(scope, receive, send)


PASSABLE_MIDDLEWARE = frozenset(
    {"OpenTelemetryMiddleware", "TimeoutMiddleware", "ContextMiddleware", "BearerAuth"}
)
"""BentoML's middleware that the API's routes may go without (OpenTelemetry only while no
tracing exporter is configured: its spans would go nowhere) and our own authentication edge,
which :class:`ScoringService` puts in front of the API's routes itself."""


class ScoringService(bentoml.Service[T]):
    """A BentoML service whose API routes are served ahead of BentoML's middleware chain.

    Given to ``@bentoml.service(service_class=ScoringService)``; BentoML builds each worker's
    ASGI app with :meth:`to_asgi`, which puts :class:`DirectRoutes` in front of it. The API's
    routes are those of the :class:`ScoringApp` mounted with ``@bentoml.asgi_app``, behind the
    authentication edge (``runners.edge.BearerAuth``, which BentoML's chain also runs for every
    other path).
    """

    def to_asgi(self, is_main: bool = True) -> ASGIApp:
        chain = super().to_asgi(is_main)
        apis = [app for app, _, _ in self.mount_apps if isinstance(app, ScoringApp)]
        if len(apis) != 1:
            raise TypeError(f"{self.name}: expected one mounted ScoringApp, got {len(apis)}")
        (api,) = apis
        blocking = chain_needs(chain)
        if blocking:
            logger.info("the API routes take BentoML's full chain: %s", ", ".join(blocking))
        return DirectRoutes(chain, api=BearerAuth(api), routes=api.direct, active=not blocking)


def chain_needs(chain: ASGIApp) -> list[str]:
    """What BentoML's app does that the API's routes would miss ahead of it (empty: nothing)."""
    from bentoml._internal.configuration.containers import BentoMLContainer

    names = [m.cls.__name__ for m in getattr(chain, "user_middleware", [])]
    needs = sorted({name for name in names if name not in PASSABLE_MIDDLEWARE})
    if BentoMLContainer.tracing.exporter_type.get():
        needs.append("tracing exporter")
    return needs
