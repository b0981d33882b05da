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
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from loan_default.api import error_body
from loan_default.errors import LoanError
from runners import metrics
from runners.http import error_response, json_response

logger = logging.getLogger(__name__)
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
            if handler is None and route in self._paths:
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

    async def _wrong_method(self, scope: Scope, receive: Receive, send: Send, route: str) -> None:
        """405 with ``Allow`` for a known API path called with another method."""
        allowed = ", ".join(sorted(self._paths[route]))
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
    """ASGI middleware that hands the API's own routes straight to the :class:`ScoringApp`.

    Registered with ``Service.add_asgi_middleware``, it sits inside BentoML's timeout and
    OpenTelemetry middleware and ahead of its CORS and request-context middleware, its router
    (a dozen routes tried in turn) and the mount of the app. The API's routes need none of
    those: they read raw bodies, answer errors in their own shape and do not use BentoML's
    request context. On calls of ~0.4 ms that chain was a third of a worker's time (measured:
    2,250 -> 2,900-4,400 req/s at concurrency 64, ``docs/serving.md``). Every other path
    (``/livez``, ``/readyz``, ``/metrics``, docs) takes BentoML's chain. With CORS enabled in
    BentoML's configuration every request takes the chain, so no CORS header is ever skipped.

    Args:
        app: the rest of BentoML's chain.
        api: the app whose ``direct`` routes are served here.
    """

    def __init__(self, app: ASGIApp, *, api: ScoringApp) -> None:
        self.app = app
        self.api = api
        self.active = not isinstance(app, CORSMiddleware)
        if not self.active:
            logger.info("CORS is enabled: the API routes take BentoML's full middleware chain")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.active
            and scope["type"] == "http"
            and (scope["method"], scope["path"]) in self.api.direct
        ):
            await self.api(scope, receive, send)
        else:
            await self.app(scope, receive, send)
